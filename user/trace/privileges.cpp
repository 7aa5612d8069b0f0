// Capabilities and locked memory: measured on 6.18 as uid 65534 (tests/integration/privileges_test.cpp
// drops each capability in turn), kernel rules cited per entry.
#include "kleak/privileges.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>

#include "kleak/error.h"

namespace kleak {

namespace {
constexpr int kCapDacOverride = 1, kCapDacReadSearch = 2, kCapSysAdmin = 21, kCapSyslog = 34,
              kCapPerfmon = 38, kCapBpf = 39;
}  // namespace

const std::vector<CapabilityNeed>& required_capabilities() {
  static const std::vector<CapabilityNeed> table = {
      {"CAP_BPF", kCapBpf,
       "create kleak's maps and load its programs (bpf(2); before 5.8: CAP_SYS_ADMIN)",
       {kCapSysAdmin}},
      {"CAP_PERFMON", kCapPerfmon,
       "load tracing programs (raw_tp, tracepoint), the stack-trace map, read kernel memory "
       "(before 5.8: CAP_SYS_ADMIN)",
       {kCapSysAdmin}},
      // kallsyms_show_value(): kptr_restrict=0 shows addresses to everyone only while
      // perf_event_paranoid <= 1 (Debian: 2 or 3), kptr_restrict=1 only to CAP_SYSLOG.
      // Without names the allocator frames cannot be trimmed and user-memory pages cannot be
      // told apart: every group would be wrong.
      {"CAP_SYSLOG", kCapSyslog,
       "read real addresses in /proc/kallsyms to name stack frames (kernel.kptr_restrict)",
       {}},
      // /proc/slabinfo and /proc/vmallocinfo are 0400 root, tracefs is 0700 root: without it
      // the report cannot check its totals against /proc/meminfo, and a family whose raw_tp
      // prototype does not match this kernel has no classic-tracepoint fallback.
      {"CAP_DAC_READ_SEARCH", kCapDacReadSearch,
       "read /proc/slabinfo and /proc/vmallocinfo (0400) to reconcile with /proc/meminfo, and "
       "tracefs (0700) for the classic-tracepoint fallback",
       {kCapDacOverride}},
  };
  return table;
}

std::string capability_name(int number) {
  static constexpr const char* names[] = {
      "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
      "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
      "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
      "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
      "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
      "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
      "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
      "CAP_CHECKPOINT_RESTORE"};
  if (number >= 0 && number < static_cast<int>(std::size(names))) return names[number];
  return "cap_" + std::to_string(number);
}

CapabilityState read_capabilities() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0)
    throw Error(std::string("cannot read capabilities: ") + std::strerror(errno));
  CapabilityState s;
  s.effective = uint64_t{data[0].effective} | (uint64_t{data[1].effective} << 32);
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = 0;
  if (in >> last) s.last_cap = last;
  return s;
}

std::vector<std::string> missing_capabilities(const CapabilityState& s) {
  std::vector<std::string> missing;
  for (const auto& need : required_capabilities()) {
    bool ok = s.has(need.number);
    for (int alt : need.also_granted_by) ok = ok || s.has(alt);
    if (ok) continue;
    // A kernel without this capability (CAP_BPF/CAP_PERFMON before 5.8) checks the first
    // capability that also grants it instead.
    std::string name = need.number <= s.last_cap || need.also_granted_by.empty()
                           ? std::string(need.name)
                           : capability_name(need.also_granted_by.front());
    if (std::find(missing.begin(), missing.end(), name) == missing.end()) missing.push_back(name);
  }
  return missing;
}

std::vector<std::string> held_capabilities(const CapabilityState& s) {
  std::vector<std::string> held;
  for (int c = 0; c < 64; ++c)
    if (s.has(c)) held.push_back(capability_name(c));
  return held;
}

std::string missing_capabilities_message(const std::vector<std::string>& missing) {
  if (missing.empty()) return "";
  std::string list, all;
  for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  for (const auto& need : required_capabilities()) all += (all.empty() ? "" : ", ") + std::string(need.name);
  return "missing capabilities " + list + ": kleak trace needs " + all + " (or root)";
}

void check_privileges() {
  std::string msg = missing_capabilities_message(missing_capabilities(read_capabilities()));
  if (!msg.empty()) throw Error(msg + " (kleak doctor says more)");
}

std::optional<std::pair<int, int>> kernel_version(std::string_view release) {
  int major = 0, minor = 0;
  const char* p = release.data();
  const char* end = release.data() + release.size();
  auto r1 = std::from_chars(p, end, major);
  if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '.') return std::nullopt;
  auto r2 = std::from_chars(r1.ptr + 1, end, minor);
  if (r2.ec != std::errc()) return std::nullopt;
  return std::pair{major, minor};
}

bool memlock_charged(std::string_view release) {
  // 5.11 moved BPF map memory from RLIMIT_MEMLOCK to the memory cgroup (commit 3ac1f01b43b6).
  auto v = kernel_version(release);
  return v && *v < std::pair{5, 11};
}

MemlockState read_memlock() {
  MemlockState m;
  utsname u{};
  if (uname(&u) == 0) m.charged = memlock_charged(u.release);
  rlimit rl{};
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return m;
  auto bytes = [](rlim_t v) { return v == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(v); };
  m.soft = bytes(rl.rlim_cur);
  m.hard = bytes(rl.rlim_max);
  return m;
}

MemlockState prepare_memlock() {
  MemlockState m = read_memlock();
  if (!m.charged || m.soft == UINT64_MAX) return m;
  // Unlimited first, as libbpf's own bump does: raising the hard limit needs CAP_SYS_RESOURCE,
  // which root has on a stock box (Debian 11's 5.10 boots with 64 KiB, and kleak's default maps
  // take ~80 MiB: measured in the 5.10 lane, where root's doctor said "would not work").
  rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
  if (setrlimit(RLIMIT_MEMLOCK, &unlimited) == 0) return read_memlock();
  rlimit rl{};
  if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0) return m;
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_MEMLOCK, &rl);  // raising the soft limit up to the hard one needs no capability
  return read_memlock();
}

std::string memlock_hint(const MemlockState& m) {
  if (!m.charged || m.soft == UINT64_MAX) return "";
  return "this kernel (before 5.11) charges BPF maps to RLIMIT_MEMLOCK, which is " +
         std::to_string(m.soft / 1024) +
         " KiB here: raise it (ulimit -l unlimited, systemd LimitMEMLOCK=infinity) or grant "
         "CAP_SYS_RESOURCE";
}

}  // namespace kleak
