// `kleak doctor`: gather the facts with the probes `kleak trace` uses, judge them, render them.
#include "kleak/doctor.h"

#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "kleak/cgroup.h"
#include "kleak/error.h"
#include "kleak/symbolize.h"

namespace kleak {

namespace {

std::string read_sysctl(const std::string& path) {
  std::ifstream in(path);
  std::string v;
  return in >> v ? v : "";
}

std::string join(const std::vector<std::string>& v, std::string_view sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : std::string(sep)) + s;
  return out;
}

// Loads (and at once unloads) a minimal raw_tp program: a missing capability, a seccomp filter or
// the kernel refuse it here as they would refuse kleak's, and the errno tells which
// (libbpf_probe_bpf_prog_type said 0, "not supported", for EPERM too). Lockdown is judged from its
// file: the trivial program loads under it.
void probe_bpf_load(DoctorFacts& f) {
  Refusal r = explain_refusal(read_refusal_facts(probe_raw_tp_load()));
  f.bpf_cause = r.cause;
  f.bpf_why = r.message;
}

// Opened, not access(2)ed: access() checks the real uid without capabilities, so as uid 65534
// with CAP_DAC_READ_SEARCH it says EACCES for a file kleak can read.
std::vector<std::string> unreadable_reconcile_files() {
  std::vector<std::string> out;
  for (const char* p : {"/proc/slabinfo", "/proc/vmallocinfo"}) {
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0) out.push_back(std::string(p) + ": " + std::strerror(errno));
    else close(fd);
  }
  return out;
}

std::optional<std::string> live_cgroup2() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return cgroup2_mount(ss.str());
}

// The planner's view of this kernel, or the reason there is none (no BTF).
void plan_live(const KernelProbe& probe, DoctorFacts& f) {
  try {
    check_btf(probe.btf_path);
    KernelOffer offer = probe_kernel(probe, /*may_mount=*/false);
    f.tracefs = offer.tracefs;
    f.tracefs_why = offer.tracefs_why;
    f.families = plan_families([&](const EventSpec& e) { return offer.facts(e); }, std::nullopt,
                               0xffffffffu);
    f.bulk_frees = plan_bulk_frees(offer.bulk_frees, f.families);
  } catch (const Error& e) {
    f.btf_why = e.what();
  }
}

}  // namespace

DoctorFacts collect_doctor_facts(const KernelProbe& probe) {
  DoctorFacts f;
  utsname u{};
  if (uname(&u) == 0) f.kernel = u.release;
  f.btf_path = probe.btf_path;
  plan_live(probe, f);
  f.caps = read_capabilities();
  try {
    Kallsyms::load("/proc/kallsyms");
  } catch (const Error& e) {
    f.kallsyms_why = e.what();
  }
  f.kptr_restrict = read_sysctl("/proc/sys/kernel/kptr_restrict");
  f.perf_event_paranoid = read_sysctl("/proc/sys/kernel/perf_event_paranoid");
  // What kleak trace would have after raising it (doctor's own limit is its own to raise).
  f.memlock = prepare_memlock();
  f.cgroup2 = live_cgroup2();
  f.unreadable_proc = unreadable_reconcile_files();
  probe_bpf_load(f);
  return f;
}

// ---- judging ----------------------------------------------------------------------------------

namespace {

// kleak's maps at the default sizes: 76 MiB measured on 6.18 (bpftool map show, bytes_memlock:
// allocs 42, stacks 17.5, churn 9, skip_stacks 5, sites 1.8, caches 0.5).
constexpr uint64_t kDefaultMapsBytes = 80ull << 20;

// Debian's perf_event_paranoid=3 refuses perf_event_open to all but CAP_SYS_ADMIN, and kprobes
// and classic tracepoints attach as perf events (raw_tp does not). Measured: on Debian's 6.1,
// uid 65534 with the four required capabilities (and with CAP_DAC_OVERRIDE) got EACCES attaching
// the vmalloc kprobes; on Debian 11's 5.10, attaching kmalloc's classic tracepoint; with
// CAP_SYS_ADMIN they attached. kleak does not ask for CAP_SYS_ADMIN: the family goes untraced.
bool perf_event_refused(const DoctorFacts& f, AttachMode mode) {
  if (mode != AttachMode::Kprobe && mode != AttachMode::Tracepoint) return false;
  constexpr int kCapSysAdmin = 21;
  int paranoid = 0;
  auto [ptr, ec] = std::from_chars(f.perf_event_paranoid.data(),
                                   f.perf_event_paranoid.data() + f.perf_event_paranoid.size(), paranoid);
  return ec == std::errc() && paranoid >= 3 && !f.caps.has(kCapSysAdmin);
}

void judge_families(const DoctorFacts& f, DoctorVerdict& v) {
  size_t attachable = 0;
  for (const auto& p : f.families) {
    if (perf_event_refused(f, p.mode)) {
      v.report_missing.push_back(p.family + " allocations (its " + std::string(attach_mode_name(p.mode)) +
                                 " variant is refused without CAP_SYS_ADMIN while perf_event_paranoid=" +
                                 f.perf_event_paranoid + ")");
      continue;
    }
    if (p.mode != AttachMode::None) {
      ++attachable;
      continue;
    }
    v.report_missing.push_back(p.family + " allocations (" + p.reason + ")");
  }
  if (f.btf_why.empty() && attachable == 0)
    v.problems.push_back("no allocation family can be attached (see families)");
  for (const auto& b : f.bulk_frees)
    if (b.mode == AttachMode::None && !b.absent && attachable)
      v.report_missing.push_back("the frees of " + b.function + " (" + b.reason +
                                 "): found only when an address comes back, and growth they hide is unconfirmed");
}

}  // namespace

DoctorVerdict judge(const DoctorFacts& f) {
  DoctorVerdict v;
  if (!f.btf_why.empty()) v.problems.push_back(f.btf_why);
  std::vector<std::string> missing = missing_capabilities(f.caps);
  if (!missing.empty()) v.problems.push_back(missing_capabilities_message(missing));
  bool no_syslog = std::find(missing.begin(), missing.end(), "CAP_SYSLOG") != missing.end();
  if (!f.kallsyms_why.empty() && !no_syslog) v.problems.push_back(f.kallsyms_why);
  if (!f.bpf_why.empty() && missing.empty()) v.problems.push_back(f.bpf_why);
  if (f.memlock.charged && f.memlock.soft < kDefaultMapsBytes)
    v.problems.push_back(memlock_hint(f.memlock) + " (kleak's default maps take about " +
                         std::to_string(kDefaultMapsBytes >> 20) + " MiB)");
  judge_families(f, v);
  if (!f.unreadable_proc.empty())
    v.report_missing.push_back("the /proc/meminfo reconciliation (" + join(f.unreadable_proc, ", ") + ")");
  if (!f.cgroup2) v.report_missing.push_back("--cgroup and --by cgroup (no cgroup v2 hierarchy is mounted)");
  return v;
}

// ---- rendering --------------------------------------------------------------------------------

namespace {

std::string family_line(const FamilyPlan& p) {
  if (p.mode == AttachMode::None) return fmt::format("{:<8} not traced: {}", p.family, p.reason);
  if (p.reason.empty()) return fmt::format("{:<8} {}", p.family, attach_mode_name(p.mode));
  return fmt::format("{:<8} {} (not raw_tp: {})", p.family, attach_mode_name(p.mode), p.reason);
}

std::string capability_lines(const DoctorFacts& f) {
  std::vector<std::string> missing = missing_capabilities(f.caps);
  std::string o;
  for (const auto& need : required_capabilities()) {
    bool miss = std::find(missing.begin(), missing.end(), need.name) != missing.end();
    o += fmt::format("  {:<20} {:<8} {}\n", need.name, miss ? "MISSING" : "held", need.why);
  }
  for (const auto& m : missing)  // a substitute name (CAP_SYS_ADMIN before 5.8)
    if (std::none_of(required_capabilities().begin(), required_capabilities().end(),
                     [&](const CapabilityNeed& n) { return n.name == m; }))
      o += fmt::format("  {:<20} MISSING  this kernel has no CAP_BPF/CAP_PERFMON\n", m);
  return o;
}

std::string memlock_line(const MemlockState& m) {
  auto kib = [](uint64_t b) { return b == UINT64_MAX ? std::string("unlimited") : std::to_string(b / 1024) + " KiB"; };
  return fmt::format("{} (RLIMIT_MEMLOCK {} soft, {} hard)",
                     m.charged ? "BPF maps are charged to RLIMIT_MEMLOCK (kernel before 5.11)"
                               : "BPF maps are charged to the memory cgroup, not RLIMIT_MEMLOCK",
                     kib(m.soft), kib(m.hard));
}

}  // namespace

std::string render_doctor_text(const DoctorFacts& f, const DoctorVerdict& v) {
  std::string o = "kernel        " + f.kernel + "\n";
  o += "BTF           " + f.btf_path + ": " + (f.btf_why.empty() ? "ok" : f.btf_why) + "\n";
  o += "families      (the variant kleak trace attaches)\n";
  for (const auto& p : f.families) o += "  " + family_line(p) + "\n";
  if (f.families.empty()) o += "  unknown without BTF\n";
  o += "bulk frees    (frees without a tracepoint)\n";
  for (const auto& b : f.bulk_frees)
    o += fmt::format("  {:<22} {}\n", b.function,
                     b.absent ? "not in this kernel"
                     : b.mode == AttachMode::None
                         ? "not seen: " + b.reason
                         : std::string(attach_mode_name(b.mode)) + (b.reason.empty() ? "" : " (not fentry: " + b.reason + ")"));
  std::vector<std::string> held = held_capabilities(f.caps);
  bool all = static_cast<int>(held.size()) > f.caps.last_cap;
  o += "capabilities  (required; have: " + (all ? "all " + std::to_string(held.size()) : join(held, " ")) + ")\n";
  o += capability_lines(f);
  o += "tracefs       " + (f.tracefs.empty() ? "unusable: " + f.tracefs_why : f.tracefs) + "\n";
  o += fmt::format("kallsyms      {} (kptr_restrict={}, perf_event_paranoid={})\n",
                   f.kallsyms_why.empty() ? "real addresses visible" : f.kallsyms_why,
                   f.kptr_restrict.empty() ? "?" : f.kptr_restrict,
                   f.perf_event_paranoid.empty() ? "?" : f.perf_event_paranoid);
  o += "memlock       " + memlock_line(f.memlock) + "\n";
  o += "cgroup v2     " + f.cgroup2.value_or("not mounted") + "\n";
  o += "/proc         " + (f.unreadable_proc.empty() ? std::string("slabinfo, vmallocinfo readable")
                                                       : join(f.unreadable_proc, "; ")) + "\n";
  o += "BPF           " + (f.bpf_why.empty() ? std::string("a raw_tp program loads") : f.bpf_why) + "\n";
  o += "report        " + (v.report_missing.empty() ? std::string("complete")
                                                    : "would lack: " + join(v.report_missing, "; ")) + "\n";
  o += v.ok() ? "verdict       kleak trace would work here\n"
              : "verdict       kleak trace would NOT work here:\n";
  for (const auto& p : v.problems) o += "  - " + p + "\n";
  return o;
}

nlohmann::json doctor_json(const DoctorFacts& f, const DoctorVerdict& v) {
  using nlohmann::json;
  json families = json::array();
  for (const auto& p : f.families)
    families.push_back({{"family", p.family},
                        {"variant", p.mode == AttachMode::None ? json(nullptr) : json(attach_mode_name(p.mode))},
                        {"reason", p.reason}});
  json bulk = json::array();
  for (const auto& b : f.bulk_frees)
    bulk.push_back({{"function", b.function},
                    {"variant", b.mode == AttachMode::None ? json(nullptr) : json(attach_mode_name(b.mode))},
                    {"absent", b.absent},
                    {"reason", b.reason}});
  json required = json::array();
  for (const auto& need : required_capabilities()) required.push_back(need.name);
  auto limit = [](uint64_t b) { return b == UINT64_MAX ? json(nullptr) : json(b); };
  return {
      {"kernel", f.kernel},
      {"ok", v.ok()},
      {"problems", v.problems},
      {"report_missing", v.report_missing},
      {"btf", {{"path", f.btf_path}, {"ok", f.btf_why.empty()}, {"why", f.btf_why}}},
      {"families", families},
      {"bulk_frees", bulk},
      {"capabilities",
       {{"required", required}, {"have", held_capabilities(f.caps)}, {"missing", missing_capabilities(f.caps)}}},
      {"tracefs", {{"path", f.tracefs.empty() ? json(nullptr) : json(f.tracefs)}, {"why", f.tracefs_why}}},
      {"kallsyms",
       {{"addresses_visible", f.kallsyms_why.empty()}, {"why", f.kallsyms_why},
        {"kptr_restrict", f.kptr_restrict}, {"perf_event_paranoid", f.perf_event_paranoid}}},
      {"memlock", {{"charged", f.memlock.charged}, {"soft", limit(f.memlock.soft)}, {"hard", limit(f.memlock.hard)}}},
      {"cgroup2", f.cgroup2 ? json(*f.cgroup2) : json(nullptr)},
      {"proc", {{"unreadable", f.unreadable_proc}}},
      {"bpf", {{"loads", f.bpf_why.empty()}, {"why", f.bpf_why}, {"cause", refusal_cause_name(f.bpf_cause)}}},
  };
}

std::string render_doctor_json(const DoctorFacts& f, const DoctorVerdict& v) { return doctor_json(f, v).dump(2) + "\n"; }

std::span<const DoctorFormat> doctor_formats() {
  static constexpr DoctorFormat kFormats[] = {{"text", render_doctor_text}, {"json", render_doctor_json}};
  return kFormats;
}

}  // namespace kleak
