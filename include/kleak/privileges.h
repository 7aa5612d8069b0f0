// What `kleak trace` needs from the process and the kernel beyond BTF: capabilities and locked
// memory. The capability table here is the single source of truth: the start-up check, `kleak
// doctor` (and through its JSON the systemd unit and the DaemonSet, tests/package) all read it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kleak {

// One capability `kleak trace` requires. Required means: without it kleak refuses to start,
// because the report would be empty or wrong (not merely shorter).
struct CapabilityNeed {
  std::string_view name;  // "CAP_BPF"
  int number;             // linux/capability.h
  std::string_view why;   // what kleak does with it
  // Capabilities that grant the same right: CAP_SYS_ADMIN passes bpf_capable() and
  // perfmon_capable(); CAP_DAC_OVERRIDE passes every read CAP_DAC_READ_SEARCH would.
  std::vector<int> also_granted_by;
};

// In the order the error and doctor name them.
const std::vector<CapabilityNeed>& required_capabilities();

// The capability name of `number` ("CAP_SYS_ADMIN"), or "cap_<n>" past the table.
std::string capability_name(int number);

// A process's effective capabilities, and the highest capability this kernel knows.
struct CapabilityState {
  uint64_t effective = 0;  // bit n = capability n
  int last_cap = 40;       // /proc/sys/kernel/cap_last_cap (CAP_BPF is 39: since 5.8)
  bool has(int cap) const { return cap >= 0 && cap < 64 && ((effective >> cap) & 1u); }
};

// capget(2) directly (no libcap: the static build links nothing extra) and cap_last_cap.
CapabilityState read_capabilities();

// The required capabilities `s` does not satisfy, by the name to grant on this kernel: before
// 5.8 (no CAP_BPF / CAP_PERFMON) the name to grant for them is CAP_SYS_ADMIN.
std::vector<std::string> missing_capabilities(const CapabilityState& s);

// Names of every effective capability, lowest number first.
std::vector<std::string> held_capabilities(const CapabilityState& s);

// The one-line refusal naming every missing capability, or "" when none is missing.
std::string missing_capabilities_message(const std::vector<std::string>& missing);

// Throws kleak::Error with missing_capabilities_message() unless every required capability is
// held.
void check_privileges();

// Locked memory. Before 5.11 the kernel charges BPF maps to RLIMIT_MEMLOCK (since 5.11 to the
// memory cgroup), and libbpf's own bump to infinity needs CAP_SYS_RESOURCE.
struct MemlockState {
  bool charged = false;  // this kernel charges BPF maps to RLIMIT_MEMLOCK
  uint64_t soft = 0, hard = 0;  // bytes; UINT64_MAX = unlimited
};

// Major and minor of a uname release ("6.18.0-1-amd64" -> {6, 18}); nullopt when unreadable.
std::optional<std::pair<int, int>> kernel_version(std::string_view release);
// Whether a kernel of `release` charges BPF maps to RLIMIT_MEMLOCK (before 5.11).
bool memlock_charged(std::string_view release);

MemlockState read_memlock();
// Where the kernel charges maps to the limit, raises it to unlimited (with CAP_SYS_RESOURCE, as
// libbpf does) or else the soft limit to the hard one (no capability needed), then reads it.
MemlockState prepare_memlock();

// Why a failed load may be the memlock limit, for the error; "" where it cannot be.
std::string memlock_hint(const MemlockState& m);

}  // namespace kleak
