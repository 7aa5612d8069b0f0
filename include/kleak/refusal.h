// Why the kernel refused kleak's BPF, named with its fix. A refused bpf() says only EPERM (or
// EINVAL) and the same errno has different causes: a missing capability, a seccomp filter (podman's
// default profile), the unprivileged-BPF sysctl, the memlock limit of kernels before 5.11, kernel
// lockdown, or a kernel without the feature. explain_refusal() tells them apart from facts gathered
// by read_refusal_facts() (pure: unit-tested on fixtures, one per cause); `kleak doctor` and a
// failed `kleak trace` both print its message.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "kleak/privileges.h"

namespace kleak {

enum class RefusalCause { None, Capability, UnprivilegedBpf, Memlock, Seccomp, Lockdown, KernelLacks, Other };
// "capability", "unprivileged_bpf", ... (doctor's JSON).
std::string_view refusal_cause_name(RefusalCause c);

// What decides the cause, as read on the live box (or written by hand in tests).
struct RefusalFacts {
  int bpf_errno = 0;         // errno of the failing bpf() call (0: it succeeded)
  CapabilityState caps;      // /proc/self/status CapEff, /proc/sys/kernel/cap_last_cap
  int seccomp = 0;           // /proc/self/status Seccomp: 0 none, 1 strict, 2 filter
  std::string lockdown;      // /sys/kernel/security/lockdown ("none [integrity] confidentiality"); "" unreadable
  std::string unprivileged_bpf_disabled;  // /proc/sys/kernel/unprivileged_bpf_disabled; "" unreadable
  MemlockState memlock;
  uint64_t memlock_needed = 0;  // bytes the failing load needed charged (0: unknown)
};

struct Refusal {
  RefusalCause cause = RefusalCause::None;
  std::string message;  // one line with the fix; "" when cause is None
};

Refusal explain_refusal(const RefusalFacts& f);

// /proc/self/status's CapEff (hex) and Seccomp fields; absent fields stay 0.
struct ProcStatus {
  uint64_t cap_eff = 0;
  int seccomp = 0;
};
ProcStatus parse_proc_status(std::string_view status);

// Loads (and at once closes) a two-instruction raw_tp program, as kleak's programs are loaded:
// 0 when it loads, else bpf()'s errno (EPERM for permission, EINVAL/ENOENT for the kernel).
int probe_raw_tp_load();

// The facts of this process and kernel, with the errno of the bpf() call that failed.
RefusalFacts read_refusal_facts(int bpf_errno);

}  // namespace kleak
