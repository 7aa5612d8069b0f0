// kleak-bench-tracer: kleak's own Tracer (libkleak_core) driven with settings `kleak trace` has
// no flag for, to split where the tracer's time goes, and a drain of a full allocation map.
//
//   kleak-bench-tracer trace [--no-stacks] [--stack-depth N]
//       Loads and attaches exactly like `kleak trace` (same BPF object, same variant choice,
//       same map sizes), prints "kleak: tracing" on stderr, waits for SIGINT/SIGTERM, detaches,
//       drains and prints the event counters as one JSON object. --no-stacks sets the BPF
//       rodata cfg_capture_stacks = false: every allocation is still inserted into the
//       allocation map, only bpf_get_stackid() is skipped. No user-memory skipping or stack-map
//       gc runs (kleak trace does both every 5 s; neither matters for the bench workloads).
//
//   kleak-bench-tracer drain [--records N] [--stacks S] [--reps R] [--mode stream|whole|drain]
//       Starts a Tracer with --max-allocs sized for N records, detaches it at once, fills its
//       real `allocs` map with N synthetic records (bpf_map_update_batch from userspace; found
//       among this process's fds by map name), then times what a report does with them and
//       reports the RSS it needed: --mode stream (the default, `kleak trace`'s path) drains into
//       a kleak::Aggregation a batch at a time (Tracer::drain_into) and renders text and JSON;
//       --mode whole does the same with Tracer::drain() then aggregate() (the path before);
//       --mode drain times Tracer::drain() alone. /proc/kallsyms is loaded first in every mode,
//       so the RSS added is the report's. Stack maps cannot be written from
//       userspace, so drain() makes
//       one stack lookup per distinct id. The ids are real: the Tracer is attached for one second
//       first while a child walks the file system, and the planted records point (round-robin)
//       at up to S of the stacks it caught.
#include <bpf/bpf.h>
#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "kleak/attach.h"
#include "kleak/collect.h"
#include "kleak/error.h"
#include "kleak/filter.h"
#include "kleak/privileges.h"
#include "kleak/render.h"
#include "kleak/report.h"
#include "kleak/symbolize.h"
#include "proc_status.h"

namespace {

using Clock = std::chrono::steady_clock;

// The fd of this process's BPF map called `name`, or -1.
int own_map_fd(const char* name) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && std::strcmp(info.name, name) == 0) {
      found = fd;
      break;
    }
  }
  closedir(d);
  return found;
}

int run_trace(int argc, char** argv) {
  kleak::BpfConfig s;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--no-stacks") s.capture_stacks = false;
    else if (a == "--stack-depth" && i + 1 < argc) s.stack_depth = static_cast<uint32_t>(std::atoi(argv[++i]));
    else throw kleak::usage_error("unknown argument " + a);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  kleak::check_privileges();
  auto tracer = kleak::Tracer::start(s, kleak::KernelProbe{}, std::nullopt);
  size_t attached = 0;
  for (const auto& src : tracer->sources()) attached += src.mode != kleak::AttachMode::None;
  std::fprintf(stderr, "kleak: tracing %zu events (bench tracer, stacks %s)\n", attached,
               s.capture_stacks ? "on" : "off");
  int sig = 0;
  sigwait(&set, &sig);
  tracer->stop();
  kleak::Collected c = tracer->drain();
  uint64_t misses = 0;
  for (const auto& p : c.progs) misses += p.recursion_misses;
  std::printf(
      "{\"events\": {\"allocs_seen\": %llu, \"frees_seen\": %llu, \"allocs_tracked\": %llu, "
      "\"frees_matched\": %llu, \"outstanding_records\": %zu}, \"stack_collision\": %llu, "
      "\"stack_lost\": %llu, \"recursion_misses\": %llu, \"duration_s\": %.3f}\n",
      static_cast<unsigned long long>(kleak::counter_total(c.counters, KLEAK_ALLOC_SEEN)),
      static_cast<unsigned long long>(kleak::counter_total(c.counters, KLEAK_FREE_SEEN)),
      static_cast<unsigned long long>(kleak::counter_total(c.counters, KLEAK_ALLOC_TRACKED)),
      static_cast<unsigned long long>(kleak::counter_total(c.counters, KLEAK_FREE_MATCHED)), c.allocs.size(),
      static_cast<unsigned long long>(kleak::counter_total(c.counters, KLEAK_STACK_COLLISION)),
      static_cast<unsigned long long>(kleak::counter_total(c.counters, KLEAK_STACK_LOST)),
      static_cast<unsigned long long>(misses),
      static_cast<double>(c.now_ns - c.window_start_ns) / 1e9);
  return 0;
}

int run_drain(int argc, char** argv) {
  uint32_t n = 1'000'000, n_stacks = 10'000, reps = 3;
  std::string mode = "stream";
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--records" && i + 1 < argc) n = static_cast<uint32_t>(std::atol(argv[++i]));
    else if (a == "--stacks" && i + 1 < argc) n_stacks = static_cast<uint32_t>(std::atol(argv[++i]));
    else if (a == "--reps" && i + 1 < argc) reps = static_cast<uint32_t>(std::atol(argv[++i]));
    else if (a == "--mode" && i + 1 < argc) mode = argv[++i];
    else throw kleak::usage_error("unknown argument " + a);
  }
  if (mode != "stream" && mode != "whole" && mode != "drain")
    throw kleak::usage_error("--mode is stream, whole or drain, not " + mode);
  kleak::check_privileges();
  kleak::BpfConfig s;
  s.max_allocs = n + 262144;  // room for what the one second of real tracing records too
  auto tracer = kleak::Tracer::start(s, kleak::KernelProbe{}, std::nullopt);
  // A second of real tracing fills the stack map with real stacks; the planted records point
  // at those, so drain() copies real stacks (one lookup per distinct id).
  // Something for it to catch on an idle box: a second of directory walking (dentries, inodes,
  // page cache) by a child, which is not excluded like this process is.
  if (std::system("timeout 1 find / -xdev >/dev/null 2>&1; cat /proc/slabinfo /proc/vmallocinfo >/dev/null 2>&1") < 0)
    sleep(1);
  tracer->stop();
  int fd = own_map_fd("allocs");
  int sfd = own_map_fd("stacks");
  if (fd < 0 || sfd < 0) throw kleak::Error("cannot find the allocs/stacks maps among this process's fds");
  std::vector<int32_t> ids;
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (ids.size() < n_stacks && bpf_map_get_next_key(sfd, prev, &next) == 0) {
    ids.push_back(static_cast<int32_t>(next));
    key = next;
    prev = &key;
  }
  if (ids.empty()) ids.push_back(-1);  // no stack captured: drain() makes no stack lookups

  // Fill: synthetic slab records, in batches.
  auto f0 = Clock::now();
  const uint32_t chunk = 16384;
  std::vector<uint64_t> keys(chunk);
  std::vector<kleak_alloc> vals(chunk);
  for (uint32_t base = 0; base < n; base += chunk) {
    uint32_t cnt = std::min(chunk, n - base);
    for (uint32_t i = 0; i < cnt; ++i) {
      uint64_t idx = base + i;
      keys[i] = kleak_key(KLEAK_SPACE_SLAB, 0xffff888000000000ull + (idx << 6));
      kleak_alloc& a = vals[i];
      a = kleak_alloc{};
      a.ts_ns = 1;
      a.bytes_req = a.bytes_alloc = 64;
      a.kind = KLEAK_KIND_KMALLOC;
      a.stack_id = ids[idx % ids.size()];
      a.migratetype = -1;
      std::memcpy(a.comm, "bench", 6);
    }
    LIBBPF_OPTS(bpf_map_batch_opts, bopts);
    uint32_t count = cnt;
    if (bpf_map_update_batch(fd, keys.data(), vals.data(), &count, &bopts) != 0)
      throw kleak::Error(std::string("filling the allocs map failed: ") + std::strerror(errno));
  }
  double fill_s = std::chrono::duration<double>(Clock::now() - f0).count();
  keys = {};
  vals = {};
  const kleak::Kallsyms syms = kleak::Kallsyms::load("/proc/kallsyms");
  const kleak::Filter all = kleak::Filter::match_all();
  const kleak::AggregateOptions opts;  // kleak trace's defaults: --top 10
  size_t rendered = 0;  // bytes of text + JSON: the renderers ran
  // One report the way `mode` says; the records it saw.
  auto report = [&]() -> size_t {
    if (mode == "drain") return tracer->drain().allocs.size();
    kleak::Report r;
    if (mode == "whole") {
      kleak::Collected c = tracer->drain();
      r = kleak::aggregate(c, syms, all, opts);
    } else {
      kleak::Collected c;
      kleak::Aggregation agg(c, all, opts);
      tracer->drain_into(c, [&](std::span<const kleak::AllocRecord> b) { agg.add(b); });
      r = agg.finish(syms);
    }
    rendered = kleak::render_text(r).size() + kleak::render_json(r).size();
    return static_cast<size_t>(r.events[kleak::EventCount::outstanding_records]);
  };

  long rss_before_kb = status_kb("VmRSS");
  std::vector<double> times, cpu_times;
  size_t drained = 0;
  long hwm_first_kb = -1;
  for (uint32_t r = 0; r < reps; ++r) {
    timespec c0{}, c1{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    auto t0 = Clock::now();
    drained = report();
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    cpu_times.push_back(static_cast<double>(c1.tv_sec - c0.tv_sec) +
                        static_cast<double>(c1.tv_nsec - c0.tv_nsec) / 1e9);
    if (hwm_first_kb < 0) hwm_first_kb = status_kb("VmHWM");
  }
  std::vector<double> sorted = times, sorted_cpu = cpu_times;
  std::sort(sorted.begin(), sorted.end());
  std::sort(sorted_cpu.begin(), sorted_cpu.end());
  std::printf(
      "{\"mode\": \"%s\", \"records_planted\": %u, \"records_drained\": %zu, \"distinct_stacks\": %zu, \"fill_s\": %.3f, "
      "\"drain_s\": %.4f, \"drain_cpu_s\": %.4f, \"drain_s_all_reps\": [",
      mode.c_str(), n, drained, ids.size(), fill_s, sorted[sorted.size() / 2], sorted_cpu[sorted_cpu.size() / 2]);
  for (size_t i = 0; i < times.size(); ++i) std::printf("%s%.4f", i ? ", " : "", times[i]);
  std::printf("], \"rendered_bytes\": %zu, \"rss_before_kb\": %ld, \"peak_rss_kb\": %ld, \"peak_over_before_kb\": %ld}\n",
              rendered, rss_before_kb, hwm_first_kb, hwm_first_kb - rss_before_kb);
  return 0;
}

}  // namespace

int main(int argc, char** argv) try {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "trace") return run_trace(argc, argv);
  if (mode == "drain") return run_drain(argc, argv);
  std::fprintf(stderr,
               "usage: kleak-bench-tracer trace [--no-stacks] [--stack-depth N]\n"
               "       kleak-bench-tracer drain [--records N] [--stacks S] [--reps R]\n");
  return 2;
} catch (const kleak::Error& e) {
  std::fprintf(stderr, "kleak-bench-tracer: %s\n", e.what());
  return e.exit_code();
} catch (const std::exception& e) {
  std::fprintf(stderr, "kleak-bench-tracer: %s\n", e.what());
  return 1;
}
