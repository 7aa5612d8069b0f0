// kleak-bench-agg: the userspace cost of a report. Builds a synthetic kleak::Collected of N
// outstanding allocations over S distinct stacks of D frames (real addresses from
// /proc/kallsyms, so symbolization does real work), then times kleak::aggregate() +
// render_text() + render_json() with a Kallsyms loaded from /proc/kallsyms, and reports the
// process's peak RSS (VmHWM) before and after. One JSON object on stdout: wall-clock medians
// per step (aggregate_s, render_text_s, render_json_s, total_s) and the CPU time of the whole
// (total_cpu_s), over --reps repetitions.
//
//   kleak-bench-agg [--records N] [--stacks S] [--depth D] [--reps R] [--kallsyms FILE]
//                   [--mode stream|whole]
//
// --mode stream (the default: what `kleak trace` does since it aggregates while draining) feeds
// the records to a kleak::Aggregation 4096 at a time, as Tracer::drain_into() reads them, from
// one reused buffer: they are never all held, and only the aggregation's CPU time is counted
// (not the generator's). --mode whole builds the whole Collected first and calls aggregate() on
// it, which is what `kleak report` does with a recording (and every report did before).
//
// Stacks look like the ones BPF hands over on a raw_tp program: the tracer's plumbing
// (bpf_prog / bpf_trace_run / __traceiter) and an allocator frame innermost, which trim_count()
// removes, then D-4 distinct random kernel functions (each at a return address inside the
// function), so every stack prints differently and nothing merges. Allocations are spread over
// stacks with a skew (a few big stacks, a long tail), over kmalloc/slab/page kinds, 200 slab
// caches and 64 comms (70% of a stack's allocations from its own comm, the rest from any).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/collect.h"
#include "kleak/error.h"
#include "kleak/filter.h"
#include "kleak/render.h"
#include "kleak/report.h"
#include "kleak/symbolize.h"
#include "proc_status.h"

namespace {

using Clock = std::chrono::steady_clock;

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time of this process, seconds: on a box where other tasks share the CPU it is what the
// work costs; the wall-clock times are reported beside it.
double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Sym {
  uint64_t start, end;  // end: next symbol's start
  std::string name;
};

// Text symbols of vmlinux (no module), sorted, with the next symbol as the end.
std::vector<Sym> read_text_symbols(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw kleak::Error("cannot read " + path);
  std::vector<Sym> v;
  std::string line;
  while (std::getline(f, line)) {
    // "ffffffff81000000 T _text" (modules have a trailing "\t[mod]": skipped)
    if (line.find('[') != std::string::npos) continue;
    size_t sp1 = line.find(' ');
    if (sp1 == std::string::npos || sp1 + 3 >= line.size()) continue;
    char type = line[sp1 + 1];
    if (type != 't' && type != 'T') continue;
    uint64_t addr = 0;
    auto [p, ec] = std::from_chars(line.data(), line.data() + sp1, addr, 16);
    if (ec != std::errc() || addr == 0) continue;
    v.push_back({addr, 0, line.substr(sp1 + 3)});
  }
  std::sort(v.begin(), v.end(), [](const Sym& a, const Sym& b) { return a.start < b.start; });
  for (size_t i = 0; i + 1 < v.size(); ++i) v[i].end = v[i + 1].start;
  if (!v.empty()) v.pop_back();
  return v;
}

}  // namespace

int main(int argc, char** argv) try {
  size_t n_records = 1'000'000, n_stacks = 10'000, depth = 20, reps = 3;
  std::string kallsyms = "/proc/kallsyms", mode = "stream";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) throw kleak::usage_error("missing value for " + a);
      return argv[++i];
    };
    if (a == "--records") n_records = std::stoull(next());
    else if (a == "--stacks") n_stacks = std::stoull(next());
    else if (a == "--depth") depth = std::stoull(next());
    else if (a == "--reps") reps = std::stoull(next());
    else if (a == "--kallsyms") kallsyms = next();
    else if (a == "--mode") mode = next();
    else throw kleak::usage_error("unknown argument " + a);
  }
  if (depth < 6 || n_stacks < 1 || n_records < 1 || reps < 1) throw kleak::usage_error("bad sizes");
  if (mode != "stream" && mode != "whole") throw kleak::usage_error("--mode is stream or whole, not " + mode);
  const bool stream = mode == "stream";

  long rss_start_kb = status_kb("VmRSS");

  // ---- symbols: the table the input is drawn from, and the symbolizer under test
  auto t0 = Clock::now();
  kleak::Kallsyms syms = kleak::Kallsyms::load(kallsyms);
  double kallsyms_load_s = secs(Clock::now() - t0);
  long rss_after_kallsyms_kb = status_kb("VmRSS");

  std::vector<Sym> text = read_text_symbols(kallsyms);
  auto find = [&](std::string_view name) -> const Sym* {
    for (const auto& s : text)
      if (s.name == name) return &s;
    return nullptr;
  };
  // A return address inside the function, as a stack trace holds it.
  auto ret_addr = [](const Sym& s, uint64_t salt) {
    uint64_t size = s.end - s.start;
    if (size < 2) return s.start + 1;
    return s.start + 1 + salt % std::min<uint64_t>(size - 1, 0x400);
  };
  std::vector<const Sym*> plumbing;
  for (const char* n : {"bpf_trace_run2", "bpf_trace_run4", "__traceiter_kmalloc"})
    if (const Sym* s = find(n)) plumbing.push_back(s);
  std::vector<const Sym*> allocators;
  for (const char* n : {"__kmalloc_noprof", "__kmalloc_cache_noprof", "kmem_cache_alloc_noprof",
                        "kmem_cache_alloc_lru_noprof", "alloc_pages_noprof", "__alloc_pages_noprof"})
    if (const Sym* s = find(n)) allocators.push_back(s);
  // Ordinary functions (not the plumbing or allocator families) for the rest of the frames.
  std::vector<const Sym*> pool;
  for (const auto& s : text) {
    std::string_view n = s.name;
    if (s.end - s.start < 16 || n.starts_with("__pfx_") || n.starts_with("bpf_") ||
        n.starts_with("__traceiter") || n.starts_with("kmalloc") || n.starts_with("__kmalloc") ||
        n.starts_with("kmem_cache") || n.find("alloc_pages") != std::string_view::npos ||
        n.starts_with("_") )
      continue;
    pool.push_back(&s);
  }
  if (pool.size() < 1000) throw kleak::Error("too few text symbols in " + kallsyms);

  // ---- input: what Tracer::drain() would hand over
  t0 = Clock::now();
  std::mt19937_64 rng(42);
  kleak::Collected c;
  std::vector<int> stack_kind(n_stacks);
  for (size_t s = 0; s < n_stacks; ++s) {
    std::vector<uint64_t> ips;
    ips.reserve(depth);
    // innermost: BPF program frame (an address in no text symbol of vmlinux), tracer plumbing,
    // one allocator frame; then the caller chain.
    ips.push_back(0xffffffffc0000000ull + (rng() & 0xffff0));
    for (const Sym* p : plumbing)
      if (ips.size() < 3) ips.push_back(ret_addr(*p, rng()));
    int kind = (s % 10 < 5) ? KLEAK_KIND_SLAB : (s % 10 < 9 ? KLEAK_KIND_KMALLOC : KLEAK_KIND_PAGE);
    stack_kind[s] = kind;
    if (!allocators.empty()) ips.push_back(ret_addr(*allocators[rng() % allocators.size()], rng()));
    while (ips.size() < depth) ips.push_back(ret_addr(*pool[rng() % pool.size()], rng()));
    c.stacks.emplace(static_cast<int32_t>(s), std::move(ips));
  }
  const int n_caches = 200;
  for (int i = 0; i < n_caches; ++i)
    c.caches.emplace(0xffff888100000000ull + static_cast<uint64_t>(i) * 0x1000,
                     "bench_cache_" + std::to_string(i));
  std::vector<std::string> comms;
  for (int i = 0; i < 64; ++i) comms.push_back("comm" + std::to_string(i));

  const uint64_t now = 3'600'000'000'000ull;
  c.now_ns = now;
  c.window_start_ns = now - 60'000'000'000ull;
  // Skewed stack popularity: id = floor(S * u^3), so the first stacks hold most records and
  // every stack gets some (the first n_stacks records take one stack each).
  // Record i from the generator's state: both modes draw the same records in the same order.
  const std::mt19937_64 rng_at_records = rng;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto make_record = [&](size_t i, kleak::AllocRecord& r, std::mt19937_64& rng) {
    size_t s = i < n_stacks ? i : static_cast<size_t>(static_cast<double>(n_stacks) * std::pow(u(rng), 3));
    if (s >= n_stacks) s = n_stacks - 1;
    r = kleak::AllocRecord{};
    kleak_alloc& a = r.a;
    a.kind = static_cast<uint8_t>(stack_kind[s]);
    a.stack_id = static_cast<int32_t>(s);
    a.ts_ns = c.window_start_ns + rng() % 60'000'000'000ull;
    a.tid = a.tgid = 1000 + static_cast<uint32_t>(rng() % 5000);
    a.migratetype = -1;
    // Most allocations of a stack come from one command, the rest from any.
    std::string_view comm = comms[rng() % 10 < 7 ? s % comms.size() : rng() % comms.size()];
    std::memcpy(a.comm, comm.data(), comm.size());
    uint64_t addr = 0xffff888000000000ull + (static_cast<uint64_t>(i) << 6);
    switch (a.kind) {
      case KLEAK_KIND_SLAB:
        a.cache = 0xffff888100000000ull + static_cast<uint64_t>(s % n_caches) * 0x1000;
        a.bytes_req = a.bytes_alloc = 64u << (s % 6);
        r.key = kleak_key(KLEAK_SPACE_SLAB, addr);
        break;
      case KLEAK_KIND_KMALLOC:
        a.bytes_alloc = 8u << (s % 10);
        a.bytes_req = a.bytes_alloc - (rng() % 8);
        r.key = kleak_key(KLEAK_SPACE_SLAB, addr);
        break;
      default:
        a.order = static_cast<uint16_t>(s % 3);
        a.bytes_req = a.bytes_alloc = 4096u << a.order;
        a.migratetype = 0;
        r.key = kleak_key(KLEAK_SPACE_PAGE, 0xffffea0000000000ull + (static_cast<uint64_t>(i) << 6));
        break;
    }
    a.gfp_flags = 0xcc0;
  };
  if (!stream) {
    c.allocs.resize(n_records);
    for (size_t i = 0; i < n_records; ++i) make_record(i, c.allocs[i], rng);
  }
  double build_input_s = secs(Clock::now() - t0);
  long rss_input_kb = status_kb("VmRSS");
  long hwm_input_kb = status_kb("VmHWM");
  // The synthetic generator's own tables are not part of what kleak holds.
  text.clear();
  text.shrink_to_fit();

  // ---- the measured part
  kleak::AggregateOptions opts;  // kleak trace's defaults: --top 10, trimmed stacks
  std::vector<double> agg_s, text_s, json_s, total_s, cpu_s;
  size_t text_bytes = 0, json_bytes = 0;
  long hwm_first_kb = -1;  // after one report, as kleak trace makes it
  uint64_t groups = 0, total_count = 0;
  for (size_t rep = 0; rep < reps; ++rep) {
    double c0 = cpu_now();
    auto a0 = Clock::now();
    double gen_cpu = 0;  // the generator's share, taken out of the stream mode's times
    Clock::duration gen_wall{};
    kleak::Report r;
    if (stream) {
      const kleak::Filter all = kleak::Filter::match_all();
      kleak::Aggregation agg(c, all, opts);
      std::mt19937_64 g = rng_at_records;
      std::vector<kleak::AllocRecord> batch(4096);
      for (size_t i = 0; i < n_records; i += batch.size()) {
        const double g0 = cpu_now();
        const auto w0 = Clock::now();
        const size_t n = std::min(batch.size(), n_records - i);
        for (size_t j = 0; j < n; ++j) make_record(i + j, batch[j], g);
        gen_cpu += cpu_now() - g0;
        gen_wall += Clock::now() - w0;
        agg.add(std::span<const kleak::AllocRecord>(batch.data(), n));
      }
      r = agg.finish(syms);
    } else {
      r = kleak::aggregate(c, syms, kleak::Filter::match_all(), opts);
    }
    auto a1 = Clock::now() - gen_wall;
    std::string t = kleak::render_text(r);
    auto a2 = Clock::now() - gen_wall;
    std::string j = kleak::render_json(r);
    auto a3 = Clock::now() - gen_wall;
    cpu_s.push_back(cpu_now() - c0 - gen_cpu);
    if (hwm_first_kb < 0) hwm_first_kb = status_kb("VmHWM");
    agg_s.push_back(secs(a1 - a0));
    text_s.push_back(secs(a2 - a1));
    json_s.push_back(secs(a3 - a2));
    total_s.push_back(secs(a3 - a0));
    text_bytes = t.size();
    json_bytes = j.size();
    groups = r.groups_total;
    total_count = r.total_count;
  }
  long hwm_end_kb = status_kb("VmHWM");
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf(
      "{\"mode\": \"%s\", \"records\": %zu, \"stacks\": %zu, \"depth\": %zu, \"reps\": %zu, \"kallsyms_symbols\": %zu,\n"
      " \"kallsyms_load_s\": %.4f, \"build_input_s\": %.4f,\n"
      " \"aggregate_s\": %.4f, \"render_text_s\": %.4f, \"render_json_s\": %.4f, \"total_s\": %.4f,\n"
      " \"total_cpu_s\": %.4f, \"total_s_all_reps\": [",
      mode.c_str(), n_records, n_stacks, depth, reps, syms.size(), kallsyms_load_s, build_input_s, median(agg_s),
      median(text_s), median(json_s), median(total_s), median(cpu_s));
  for (size_t i = 0; i < total_s.size(); ++i) std::printf("%s%.4f", i ? ", " : "", total_s[i]);
  std::printf(
      "],\n \"groups_total\": %llu, \"reported_count\": %llu, \"text_bytes\": %zu, \"json_bytes\": %zu,\n"
      " \"rss_start_kb\": %ld, \"rss_after_kallsyms_kb\": %ld, \"rss_with_input_kb\": %ld,\n"
      " \"hwm_with_input_kb\": %ld, \"peak_rss_kb\": %ld, \"peak_over_input_kb\": %ld,\n"
      " \"peak_rss_all_reps_kb\": %ld, \"ru_maxrss_kb\": %ld,\n"
      " \"input_bytes\": %zu}\n",
      static_cast<unsigned long long>(groups), static_cast<unsigned long long>(total_count), text_bytes,
      json_bytes, rss_start_kb, rss_after_kallsyms_kb, rss_input_kb, hwm_input_kb, hwm_first_kb,
      hwm_first_kb - rss_input_kb, hwm_end_kb, ru.ru_maxrss,
      stream ? size_t{0} : c.allocs.size() * sizeof(kleak::AllocRecord));
  return 0;
} catch (const kleak::Error& e) {
  std::fprintf(stderr, "kleak-bench-agg: %s\n", e.what());
  return e.exit_code();
} catch (const std::exception& e) {
  std::fprintf(stderr, "kleak-bench-agg: %s\n", e.what());
  return 1;
}
