// Drain: the BPF maps -> model records (Collected). Batch lookups, never a get_next_key walk of a
// map that changes; the stack map's stale entries are freed and user-memory stacks skipped here.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <span>
#include <unordered_set>
#include <utility>

#include "kleak/error.h"
#include "trace/tracer_impl.h"

namespace kleak {

Counters Tracer::counters() const {
  // Summed over CPUs; cheap (one lookup per counter), so --max-cpu reads it every second.
  Counters c{};
  int nfd = bpf_map__fd(impl_->skel->maps.counters);
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> percpu(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
  for (uint32_t i = 0; i < KLEAK_NR_COUNTERS; ++i) {
    if (bpf_map_lookup_elem(nfd, &i, percpu.data()) != 0) continue;
    uint64_t sum = 0;
    for (uint64_t v : percpu) sum += v;
    c[i] = sum;
  }
  return c;
}

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

ChurnSlots::ChurnSlots(kleak_bpf* skel) {
  bpf_map* map = skel->maps.churn_slots;
  n_ = bpf_map__max_entries(map);
  bytes_ = n_ * sizeof(kleak_churn_slot);
  void* p = mmap(nullptr, bytes_, PROT_READ, MAP_SHARED, bpf_map__fd(map), 0);
  if (p == MAP_FAILED) throw Error(std::string("cannot map the churn counters: ") + std::strerror(errno));
  slots_ = static_cast<const kleak_churn_slot*>(p);
  popped_ = &skel->bss->churn_popped;
  const int qfd = bpf_map__fd(skel->maps.churn_free);
  for (uint32_t i = 0; i < n_; ++i)
    if (bpf_map_update_elem(qfd, nullptr, &i, BPF_ANY) != 0)
      throw Error(std::string("cannot fill the churn slot queue: ") + std::strerror(errno));
}

ChurnSlots& ChurnSlots::operator=(ChurnSlots&& o) noexcept {
  if (this != &o) {
    this->~ChurnSlots();
    slots_ = std::exchange(o.slots_, nullptr);
    popped_ = std::exchange(o.popped_, nullptr);
    n_ = std::exchange(o.n_, 0);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

ChurnSlots::~ChurnSlots() {
  if (slots_) munmap(const_cast<kleak_churn_slot*>(slots_), bytes_);
  slots_ = nullptr;
}

namespace {

// Records handed on at a time: 4096 x 104 bytes, the size of one batch lookup.
constexpr size_t kRecordBatch = 4096;

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

// The allocs map a batch of records at a time. Returns how many could not be read.
uint64_t read_allocs(int fd, const RecordSink& sink) {
  std::vector<AllocRecord> batch;
  batch.reserve(kRecordBatch);
  uint64_t dropped = read_batch<uint64_t, kleak_alloc>(fd, [&](uint64_t k, const kleak_alloc& v) {
    batch.push_back({k, v});
    if (batch.size() == kRecordBatch) {
      sink(batch);
      batch.clear();
    }
  });
  if (!batch.empty()) sink(batch);
  return dropped;
}

// Cache names: the map only grows, so a key walk is exact.
void read_caches(int cfd, std::unordered_map<uint64_t, std::string>& caches) {
  uint64_t ck = 0, next = 0;
  const uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
    kleak_cache c{};
    if (!caches.count(next) && bpf_map_lookup_elem(cfd, &next, &c) == 0)
      caches.emplace(next, std::string(c.name, strnlen(c.name, sizeof c.name)));
    ck = next;
    prev = &ck;
  }
}

}  // namespace

void Tracer::skip_stacks(const std::vector<int32_t>& ids) {
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
  if (added.empty()) return;
  // Keys first, deleted after the walk: a batch walk of a map that shrinks under it may skip.
  int afd = bpf_map__fd(skel->maps.allocs);
  std::vector<uint64_t> keys;
  read_allocs(afd, [&](std::span<const AllocRecord> batch) {
    for (const auto& r : batch)
      if (added.count(r.a.stack_id)) keys.push_back(r.key);
  });
  for (uint64_t k : keys)
    if (bpf_map_delete_elem(afd, &k) == 0) ++impl_->removed_by_skip;
}

size_t Tracer::gc_stacks() {
  kleak_bpf* skel = impl_->skel.get();
  std::set<uint32_t> referenced;
  read_allocs(bpf_map__fd(skel->maps.allocs), [&](std::span<const AllocRecord> batch) {
    for (const auto& r : batch)
      if (r.a.stack_id >= 0) referenced.insert(static_cast<uint32_t>(r.a.stack_id));
  });
  // Call sites hand their last stack id to allocations to come (stack reuse).
  read_batch<kleak_site_key, kleak_site>(bpf_map__fd(skel->maps.sites),
                                         [&](const kleak_site_key&, const kleak_site& v) {
                                           if (v.stack_id >= 0) referenced.insert(static_cast<uint32_t>(v.stack_id));
                                         });
  // Churn groups name their stacks too, freed or not.
  impl_->churn_slots.for_each([&](const kleak_churn_key& k, const kleak_churn&) {
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
  Collected snap;
  // Sized from the counters (a little over, capped by the map), not grown by doubling.
  const uint64_t estimate = outstanding_estimate();
  std::vector<AllocRecord> allocs;
  allocs.reserve(std::min<uint64_t>(estimate + estimate / 8 + 4096, bpf_map__max_entries(impl_->skel->maps.allocs)));
  drain_into(snap, [&](std::span<const AllocRecord> batch) { allocs.insert(allocs.end(), batch.begin(), batch.end()); });
  snap.allocs = std::move(allocs);
  return snap;
}

void Tracer::drain_into(Collected& snap, const RecordSink& records) const {
  kleak_bpf* skel = impl_->skel.get();
  snap.window_start_ns = window_start_ns_;
  snap.sample_every = sample_every_;
  snap.stack_reuse = stack_reuse_;
  // A family detached by --max-cpu: its records' frees are no longer seen, so they are left out.
  auto gone = [&](uint8_t kind) { return detached_kinds_ && ((detached_kinds_ >> kind) & 1u); };
  auto read_churn = [&](std::vector<std::pair<kleak_churn_key, kleak_churn>>& out) {
    impl_->churn_slots.for_each([&](const kleak_churn_key& k, const kleak_churn& v) {
      if (!gone(k.kind)) out.emplace_back(k, v);
    });
    return uint64_t{0};  // a mapped read misses nothing
  };
  // The churn groups as they are before the records: which groups to count held records for
  // (their values are read again after the records, below).
  std::vector<std::pair<kleak_churn_key, kleak_churn>> groups;
  read_churn(groups);
  HeldByChurnGroup held(groups);
  groups = {};
  // Cache names before the records, so that each batch is named as it comes; a cache added
  // since is looked up when a record names it.
  const int cfd = bpf_map__fd(skel->maps.caches);
  read_caches(cfd, snap.caches);
  std::unordered_set<uint64_t> unnamed;
  std::unordered_set<int32_t> stack_ids;  // referenced by the records: at most the stack map's size

  // Outstanding allocations, a batch at a time.
  std::vector<AllocRecord> kept;
  kept.reserve(kRecordBatch);
  snap.dropped_in_drain += read_allocs(bpf_map__fd(skel->maps.allocs), [&](std::span<const AllocRecord> batch) {
    if (detached_kinds_) {
      kept.clear();
      for (const auto& r : batch)
        if (!gone(r.a.kind)) kept.push_back(r);
      batch = kept;
    }
    for (const auto& r : batch) {
      stack_ids.insert(r.a.stack_id);
      if (!r.a.cache || snap.caches.count(r.a.cache) || unnamed.count(r.a.cache)) continue;
      kleak_cache c{};
      if (bpf_map_lookup_elem(cfd, &r.a.cache, &c) == 0)
        snap.caches.emplace(r.a.cache, std::string(c.name, strnlen(c.name, sizeof c.name)));
      else
        unnamed.insert(r.a.cache);
    }
    held.add(batch);
    records(batch);
  });
  snap.dropped_in_drain += read_churn(snap.churn);
  snap.dropped_in_drain += read_batch<int32_t, uint64_t>(
      bpf_map__fd(skel->maps.unseen), [&](const int32_t& k, const uint64_t& v) { snap.unseen_frees[k] = v; });
  snap.now_ns = monotonic_ns();
  held.derive_frees(snap.churn);

  // Stacks referenced by the records and the churn groups.
  for (const auto& [k, v] : snap.churn) stack_ids.insert(k.stack_id);
  const StackMaps maps(skel);
  size_t depth = bpf_map__value_size(skel->maps.stacks) / sizeof(uint64_t);
  std::vector<uint64_t> ips(depth);
  for (int32_t id : stack_ids) {
    if (id < 0) continue;
    std::fill(ips.begin(), ips.end(), 0);
    if (!maps.lookup(id, ips.data())) continue;
    std::vector<uint64_t> frames;
    for (uint64_t ip : ips) {
      if (!ip) break;
      frames.push_back(ip);
    }
    snap.stacks.emplace(id, std::move(frames));
  }

  // Caches added while the records were read (the churn groups may name them).
  read_caches(cfd, snap.caches);

  snap.counters = counters();

  // Recursion misses per attached program.
  for (const auto& a : impl_->attached) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    ProgStat ps{a.event, a.is_free, 0};
    if (bpf_obj_get_info_by_fd(bpf_program__fd(a.prog), &info, &len) == 0)
      ps.recursion_misses = info.recursion_misses;
    snap.progs.push_back(ps);
  }
}

}  // namespace kleak
