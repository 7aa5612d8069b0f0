// `kleak trace`'s options -> the checked TraceConfig and the BPF config: every flag is parsed and
// checked here, before anything touches the kernel.
#include <filesystem>
#include <tuple>

#include <fmt/format.h>

#include "session/trace.h"
#include "session/budget.h"
#include "session/cache_aliases.h"
#include "session/report_dir.h"
#include "kleak/bounded_read.h"
#include "kleak/readiness.h"
#include "kleak/duration.h"
#include "kleak/byte_size.h"
#include "kleak/error.h"
#include "kleak/kind.h"
#include "kleak/output_file.h"

namespace kleak {

uint64_t parse_size(const std::string& flag, const std::string& text) {
  if (auto bytes = parse_bytes(text)) return *bytes;
  throw usage_error("bad size for " + flag + ": '" + text + "' (use bytes, or a k/M/G or KiB/MiB/GiB suffix)");
}

TraceSelection parse_selection(const TraceOptions& o) {
  return {Filter::parse(o.view.filter), o.kinds.empty() ? 0 : parse_kinds(o.kinds)};
}

Filter build_filter(const TraceOptions& o) {
  const TraceSelection sel = o.selection ? *o.selection : parse_selection(o);
  Filter f = sel.filter;
  auto add = [&](const std::string& text) { f = conjoin(f, Filter::parse(text)); };
  if (!o.min_size.empty()) add("bytes_req >= " + std::to_string(parse_size("--min-size", o.min_size)));
  if (!o.max_size.empty()) add("bytes_req <= " + std::to_string(parse_size("--max-size", o.max_size)));
  if (o.pid) add("pid == " + std::to_string(*o.pid));
  if (!o.cache.empty()) add("cache == " + filter_quote(o.cache));
  if (sel.kinds_mask) {
    std::string any;
    for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
      if (!(sel.kinds_mask & kind_bit(static_cast<kleak_kind>(k)))) continue;
      if (!any.empty()) any += " || ";
      any += "kind == " + filter_quote(kind_name(static_cast<kleak_kind>(k)));
    }
    add(any);
  }
  return f;
}

BpfConfig bpf_config(const TraceOptions& o, const BpfPrefilter& pre, const std::optional<CgroupTarget>& cgroup) {
  BpfConfig c;
  c.max_allocs = o.max_allocs;
  c.max_stacks = o.max_stacks;
  c.max_caches = o.max_caches;
  c.max_churn = o.max_churn;
  c.max_sites = o.max_sites;
  c.stack_depth = o.stack_depth;
  c.sample_every = o.sample;
  c.stack_reuse = o.stack_reuse;
  if (o.bulk_frees != "auto" && o.bulk_frees != "off")
    throw usage_error("bad --bulk-frees '" + o.bulk_frees + "' (use auto or off)");
  c.bulk_frees = o.bulk_frees == "auto";
  c.kinds_mask = pre.kinds_mask;
  c.min_bytes_req = pre.min_bytes_req;
  c.max_bytes_req = pre.max_bytes_req;
  c.min_bytes_alloc = pre.min_bytes_alloc;
  c.max_bytes_alloc = pre.max_bytes_alloc;
  c.tgid = pre.pid.value_or(0);
  c.cache = pre.cache;
  if (cgroup) {
    c.cgroup_id = cgroup->id;
    c.cgroup_level = cgroup->level;
  }
  return c;
}

namespace {

// Entries a BPF map of kleak's may be given: 16M allocations is a map of ~2.5 GiB; past 2^31
// the kernel refuses any map (E2BIG), and libbpf's error said exit 1.
constexpr uint32_t kMaxMapEntries = 1u << 24;

std::optional<AttachMode> parse_attach(const std::string& s) {
  if (s == "auto") return std::nullopt;
  if (s == "raw_tp") return AttachMode::RawTp;
  if (s == "tracepoint") return AttachMode::Tracepoint;
  if (s == "kprobe") return AttachMode::Kprobe;
  throw usage_error("bad --attach '" + s + "' (use auto, raw_tp, tracepoint or kprobe)");
}

// --tracefs names a directory that must be a tracefs: checked with the other flags, so a typo is
// not accepted silently when the attach mode chosen does not need tracefs.
// A directory that is there but cannot be looked into (EACCES without CAP_DAC_READ_SEARCH, a
// symlink loop) is the box refusing (exit 1) and says the errno; one that is not there is a typo
// (exit 2).
void check_tracefs_dir(const std::string& dir) {
  std::error_code ec;
  std::string events = (std::filesystem::path(dir) / "events").string();
  if (std::filesystem::is_directory(events, ec)) return;
  if (ec && ec != std::errc::no_such_file_or_directory && ec != std::errc::not_a_directory)
    throw Error(events + ": " + ec.message());
  throw usage_error("no tracefs at " + dir + " (--tracefs: it has no events/ directory)");
}

void check_limits(const TraceOptions& o) {
  if (o.stack_depth < 1 || o.stack_depth > KLEAK_MAX_STACK_DEPTH)
    throw usage_error("--stack-depth must be between 1 and " + std::to_string(KLEAK_MAX_STACK_DEPTH));
  if (o.sample < 1) throw usage_error("--sample must be at least 1");
  if (o.stack_reuse < 1) throw usage_error("--stack-reuse must be at least 1 (1 walks every allocation's stack)");
  // Map sizes: a 0 or a size no kernel can create (4000000000 entries) was handed to libbpf and
  // came back as its error, exit 1, as if the box had refused.
  for (auto [flag, v, max] : {std::tuple{"--max-allocs", o.max_allocs, kMaxMapEntries},
                              std::tuple{"--max-stacks", o.max_stacks, static_cast<uint32_t>(KLEAK_MAX_MAX_STACKS)},
                              std::tuple{"--max-caches", o.max_caches, kMaxMapEntries},
                              std::tuple{"--max-churn", o.max_churn, kMaxMapEntries},
                              std::tuple{"--max-sites", o.max_sites, kMaxMapEntries}}) {
    if (v < 1 || v > max)
      throw usage_error(fmt::format("{} must be between 1 and {}, got {}", flag, max, v));
  }
}

// An empty --btf reached libbpf (exit 1, its error); a file that is missing is the box's lack of
// BTF (exit 1) and one that is not a regular file is refused when it is read (probe.cpp).
void check_btf_option(const std::string& btf) {
  if (btf.empty()) throw usage_error("--btf needs a file (default /sys/kernel/btf/vmlinux)");
}

// --report-dir writes the final report of each window, nowhere else: -o would be a second
// destination and --interval reports a stream that has no file there.
void check_report_dir_options(const TraceOptions& o) {
  if (o.keep_reports && *o.keep_reports < 1) throw usage_error("--keep-reports must be at least 1");
  if (o.report_dir.empty()) {
    if (o.keep_reports) throw usage_error("--keep-reports needs --report-dir");
    return;
  }
  if (!o.view.output.empty()) throw usage_error("--report-dir and -o/--output cannot be combined");
  if (!o.interval.empty()) throw usage_error("--report-dir and --interval cannot be combined");
  check_report_dir(o.report_dir);
}

}  // namespace

TraceConfig check_trace_options(const TraceOptions& o) {
  TraceConfig c;
  c.duration = parse_duration(o.duration);
  if (o.ready_fd) check_ready_fd(*o.ready_fd);
  if (!o.interval.empty()) c.interval = parse_duration(o.interval);
  report_format(o.view.format);
  check_view_output(o.view);
  check_limits(o);
  c.forced = parse_attach(o.attach);
  c.by = parse_group_by(o.view.by);
  c.sort = parse_sort(o.view.sort);
  c.min_growth_bytes_per_s = min_growth_bytes_per_s(o.view);
  // A daemon keeps a budget unless told otherwise (`--max-cpu 0`): 5% of one CPU.
  if (o.max_cpu == "0" || o.max_cpu == "0%") c.max_cpu_pct = 0;
  else if (!o.max_cpu.empty()) c.max_cpu_pct = parse_max_cpu(o.max_cpu);
  else if (!o.serve.empty()) c.max_cpu_pct = kDefaultServeMaxCpuPct;
  if (!o.cgroup.empty()) c.cgroup = resolve_cgroup(o.cgroup);
  // A cache name may be an alias of a merged cache: BPF sees only the merged one's name.
  const SlabAliases aliases = live_slab_aliases();
  c.filter = resolve_cache_aliases(build_filter(o), aliases);
  c.cache_aliases = {aliases.aliases.begin(), aliases.aliases.end()};
  BpfPrefilter pre = c.filter.prefilter();
  if (pre.matches_nothing) throw usage_error("the filter '" + c.filter.to_string() + "' can match no allocation");
  c.bpf = bpf_config(o, pre, c.cgroup);
  c.bpf.budget = c.max_cpu_pct > 0;

  // Output paths are checked now, so an unwritable or refused path fails before the window,
  // not after; nothing is written (or truncated) until there is something to write.
  OutputOptions out_opts;
  out_opts.force = o.view.force;
  if (!o.view.output.empty()) check_output_path(o.view.output, out_opts);
  if (!o.record.empty()) check_output_path(o.record, out_opts);
  check_report_dir_options(o);
  if (!o.tracefs.empty()) check_tracefs_dir(o.tracefs);
  check_btf_option(o.btf);
  if (!o.kallsyms.starts_with("/proc/")) check_regular_file(o.kallsyms, kCapKallsyms, "a kallsyms file");
  if (!o.web_config.empty() && o.serve.empty()) throw usage_error("--web.config.file needs --serve");
  if (o.serve_top < 1) throw usage_error("--serve-top must be at least 1");
  return c;
}

}  // namespace kleak
