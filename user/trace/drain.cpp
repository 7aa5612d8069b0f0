// Drain: the BPF maps -> model records (Collected). Batch lookups, never a get_next_key walk of a
// map that changes; the stack map's stale entries are freed and user-memory stacks skipped here.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "kleak/error.h"
#include "trace/tracer_impl.h"

namespace kleak {

uint64_t Tracer::outstanding_estimate() const {
  // Tracked minus freed, from the per-CPU counters: cheap enough to ask every second.
  int nfd = bpf_map__fd(impl_->skel->maps.counters);
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> percpu(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
  auto sum = [&](int cause) {
    uint64_t s = 0;
    for (uint32_t k = 0; k < KLEAK_KIND_MAX; ++k) {
      uint32_t idx = k * KLEAK_CAUSE_MAX + static_cast<uint32_t>(cause);
      if (bpf_map_lookup_elem(nfd, &idx, percpu.data()) != 0) continue;
      for (uint64_t v : percpu) s += v;
    }
    return s;
  };
  uint64_t in = sum(KLEAK_ALLOC_TRACKED), out = sum(KLEAK_FREE_MATCHED) + sum(KLEAK_ALLOC_REPLACED) +
                                                impl_->removed_by_skip;
  return in > out ? in - out : 0;
}

namespace {

// Every entry of a hash map, by batch lookups (never a get_next_key walk while the map
// changes: that over-counts). Returns how many entries could not be read.
template <typename K, typename V, typename Out>
uint64_t read_batch(int fd, Out&& emit) {
  const uint32_t chunk = 4096;
  std::vector<K> keys(chunk);
  std::vector<V> vals(chunk);
  K batch{};
  bool first = true;
  for (;;) {
    uint32_t n = chunk;
    LIBBPF_OPTS(bpf_map_batch_opts, bopts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys.data(), vals.data(),
                                   &n, &bopts);
    int saved = errno;
    first = false;
    for (uint32_t i = 0; i < n; ++i) emit(keys[i], vals[i]);
    if (err) {
      if (saved == ENOENT) return 0;
      if (saved == ENOSPC) return 1;  // a bucket larger than the chunk: cannot happen at 4096
      throw Error(std::string("reading a BPF map failed: ") + std::strerror(saved));
    }
  }
}

// The two stack maps as one id space: ids from KLEAK_SPILL_STACK_ID on live in `stacks_spill`.
struct StackMaps {
  int main_fd, spill_fd;
  explicit StackMaps(const kleak_bpf* skel)
      : main_fd(bpf_map__fd(skel->maps.stacks)), spill_fd(bpf_map__fd(skel->maps.stacks_spill)) {}
  bool lookup(int32_t id, uint64_t* ips) const {
    uint32_t key = bucket(id);
    return bpf_map_lookup_elem(fd_of(id), &key, ips) == 0;
  }
  bool erase(int32_t id) const {
    uint32_t key = bucket(id);
    return bpf_map_delete_elem(fd_of(id), &key) == 0;
  }
  // Every id stored now, in both maps.
  std::vector<int32_t> ids() const {
    std::vector<int32_t> out;
    for (int fd : {main_fd, spill_fd}) {
      const int32_t base = fd == spill_fd ? KLEAK_SPILL_STACK_ID : 0;
      uint32_t key = 0, next = 0;
      const uint32_t* prev = nullptr;
      while (bpf_map_get_next_key(fd, prev, &next) == 0) {
        out.push_back(base + static_cast<int32_t>(next));
        key = next;
        prev = &key;
      }
    }
    return out;
  }

 private:
  int fd_of(int32_t id) const { return id >= KLEAK_SPILL_STACK_ID ? spill_fd : main_fd; }
  static uint32_t bucket(int32_t id) {
    return static_cast<uint32_t>(id >= KLEAK_SPILL_STACK_ID ? id - KLEAK_SPILL_STACK_ID : id);
  }
};

uint64_t read_allocs(int fd, std::vector<AllocRecord>& out) {
  return read_batch<uint64_t, kleak_alloc>(fd, [&](uint64_t k, const kleak_alloc& v) { out.push_back({k, v}); });
}

}  // namespace

void Tracer::skip_stacks(const std::vector<int32_t>& ids,
                         const std::vector<AllocRecord>& outstanding) {
  kleak_bpf* skel = impl_->skel.get();
  int kfd = bpf_map__fd(skel->maps.skip_stacks);
  std::set<int32_t> added;
  for (int32_t id : ids) {
    if (id < 0 || impl_->skipped.count(static_cast<uint32_t>(id))) continue;
    uint32_t key = static_cast<uint32_t>(id);
    uint8_t one = 1;
    if (bpf_map_update_elem(kfd, &key, &one, BPF_ANY) != 0) continue;  // full: keep tracking
    impl_->skipped.insert(key);
    added.insert(id);
  }
  int afd = bpf_map__fd(skel->maps.allocs);
  for (const auto& r : outstanding)
    if (added.count(r.a.stack_id) && bpf_map_delete_elem(afd, &r.key) == 0) ++impl_->removed_by_skip;
}

size_t Tracer::gc_stacks() {
  kleak_bpf* skel = impl_->skel.get();
  std::vector<AllocRecord> recs;
  read_allocs(bpf_map__fd(skel->maps.allocs), recs);
  std::set<uint32_t> referenced;
  for (const auto& r : recs)
    if (r.a.stack_id >= 0) referenced.insert(static_cast<uint32_t>(r.a.stack_id));
  // Call sites hand their last stack id to allocations to come (stack reuse).
  read_batch<kleak_site_key, kleak_site>(bpf_map__fd(skel->maps.sites),
                                         [&](const kleak_site_key&, const kleak_site& v) {
                                           if (v.stack_id >= 0) referenced.insert(static_cast<uint32_t>(v.stack_id));
                                         });
  // Churn groups name their stacks too, freed or not.
  read_batch<kleak_churn_key, kleak_churn>(bpf_map__fd(skel->maps.churn),
                                           [&](const kleak_churn_key& k, const kleak_churn&) {
                                             if (k.stack_id >= 0) referenced.insert(static_cast<uint32_t>(k.stack_id));
                                           });
  // Stacks with unseen frees keep their id: the count is about that stack.
  read_batch<int32_t, uint64_t>(bpf_map__fd(skel->maps.unseen), [&](const int32_t& k, const uint64_t&) {
    if (k >= 0) referenced.insert(static_cast<uint32_t>(k));
  });
  const StackMaps maps(skel);
  std::set<uint32_t> stale;
  size_t freed = 0;
  for (int32_t sid : maps.ids()) {
    const auto id = static_cast<uint32_t>(sid);
    if (referenced.count(id) || impl_->skipped.count(id)) continue;
    if (impl_->stale_stacks.count(id)) {
      freed += maps.erase(sid);
    } else {
      stale.insert(id);
    }
  }
  impl_->stale_stacks = std::move(stale);
  return freed;
}

Collected Tracer::drain() const {
  kleak_bpf* skel = impl_->skel.get();
  Collected snap;
  snap.window_start_ns = window_start_ns_;
  snap.sample_every = sample_every_;
  snap.stack_reuse = stack_reuse_;

  // Outstanding allocations.
  // Sized from the counters (a little over, capped by the map), not grown by doubling.
  const uint64_t estimate = outstanding_estimate();
  snap.allocs.reserve(std::min<uint64_t>(estimate + estimate / 8 + 4096, bpf_map__max_entries(skel->maps.allocs)));
  snap.dropped_in_drain = read_allocs(bpf_map__fd(skel->maps.allocs), snap.allocs);
  snap.dropped_in_drain += read_batch<kleak_churn_key, kleak_churn>(
      bpf_map__fd(skel->maps.churn),
      [&](const kleak_churn_key& k, const kleak_churn& v) { snap.churn.emplace_back(k, v); });
  snap.dropped_in_drain += read_batch<int32_t, uint64_t>(
      bpf_map__fd(skel->maps.unseen), [&](const int32_t& k, const uint64_t& v) { snap.unseen_frees[k] = v; });
  snap.now_ns = monotonic_ns();
  derive_window_frees(snap.allocs, snap.churn);

  // Stacks referenced by the records.
  const StackMaps maps(skel);
  size_t depth = bpf_map__value_size(skel->maps.stacks) / sizeof(uint64_t);
  std::vector<uint64_t> ips(depth);
  std::vector<int32_t> wanted;
  for (const auto& r : snap.allocs) wanted.push_back(r.a.stack_id);
  for (const auto& [k, v] : snap.churn) wanted.push_back(k.stack_id);
  std::set<int32_t> missing;  // ids whose lookup failed: asked once, not once per record
  for (int32_t id : wanted) {
    if (id < 0 || snap.stacks.count(id) || missing.count(id)) continue;
    std::fill(ips.begin(), ips.end(), 0);
    if (!maps.lookup(id, ips.data())) {
      missing.insert(id);
      continue;
    }
    std::vector<uint64_t> frames;
    for (uint64_t ip : ips) {
      if (!ip) break;
      frames.push_back(ip);
    }
    snap.stacks.emplace(id, std::move(frames));
  }

  // Cache names: the map only grows, so a key walk is exact here.
  int cfd = bpf_map__fd(skel->maps.caches);
  uint64_t ck = 0, next = 0;
  const uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
    kleak_cache c{};
    if (bpf_map_lookup_elem(cfd, &next, &c) == 0)
      snap.caches.emplace(next, std::string(c.name, strnlen(c.name, sizeof c.name)));
    ck = next;
    prev = &ck;
  }

  // Counters, summed over CPUs.
  int nfd = bpf_map__fd(skel->maps.counters);
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> percpu(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
  for (uint32_t i = 0; i < KLEAK_NR_COUNTERS; ++i) {
    if (bpf_map_lookup_elem(nfd, &i, percpu.data()) != 0) continue;
    uint64_t sum = 0;
    for (uint64_t v : percpu) sum += v;
    snap.counters[i] = sum;
  }

  // Recursion misses per attached program.
  for (const auto& a : impl_->attached) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    ProgStat ps{a.event, a.is_free, 0};
    if (bpf_obj_get_info_by_fd(bpf_program__fd(a.prog), &info, &len) == 0)
      ps.recursion_misses = info.recursion_misses;
    snap.progs.push_back(ps);
  }
  return snap;
}

}  // namespace kleak
