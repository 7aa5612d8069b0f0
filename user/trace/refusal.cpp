// A refused bpf() explained: the causes are tried from the most certain (a capability this process
// visibly lacks) to the least (a filter that may or may not be the one saying EPERM), so that the
// first one that fits is the one the user can act on.
#include "kleak/refusal.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kleak {

std::string_view refusal_cause_name(RefusalCause c) {
  switch (c) {
    case RefusalCause::None: return "none";
    case RefusalCause::Capability: return "capability";
    case RefusalCause::UnprivilegedBpf: return "unprivileged_bpf";
    case RefusalCause::Memlock: return "memlock";
    case RefusalCause::Seccomp: return "seccomp";
    case RefusalCause::Lockdown: return "lockdown";
    case RefusalCause::KernelLacks: return "kernel";
    case RefusalCause::Other: return "other";
  }
  return "other";
}

namespace {

constexpr std::string_view kGrant =
    "grant them (systemd AmbientCapabilities=, podman --cap-add, setpriv --ambient-caps) or run as root";

// The capabilities bpf() itself checks for a tracing program (CAP_SYS_ADMIN before 5.8), missing.
std::string missing_bpf_capabilities(const CapabilityState& caps) {
  std::string out;
  for (const auto& name : missing_capabilities(caps))
    if (name == "CAP_BPF" || name == "CAP_PERFMON" || name == "CAP_SYS_ADMIN")
      out += (out.empty() ? "" : ", ") + name;
  return out;
}

bool permission_errno(int e) { return e == EPERM || e == EACCES; }

std::string refused(int e) { return std::string("bpf() refused (") + std::strerror(e) + ")"; }

Refusal by_capability(const RefusalFacts& f) {
  std::string missing = missing_bpf_capabilities(f.caps);
  if (missing.empty() || !permission_errno(f.bpf_errno)) return {};
  const std::string& sysctl = f.unprivileged_bpf_disabled;
  if (!sysctl.empty() && sysctl != "0")
    return {RefusalCause::UnprivilegedBpf,
            refused(f.bpf_errno) + ": kernel.unprivileged_bpf_disabled=" + sysctl +
                " refuses bpf() to any process without CAP_BPF, and this one is missing " + missing +
                ": " + std::string(kGrant) + " (lowering the sysctl is not enough: tracing programs need them)"};
  return {RefusalCause::Capability,
          refused(f.bpf_errno) + ": missing capabilities " + missing + ": " + std::string(kGrant)};
}

Refusal by_memlock(const RefusalFacts& f) {
  // Before 5.11 a map over the limit fails with EPERM, not ENOMEM.
  bool short_of = f.memlock.soft != UINT64_MAX && (f.memlock_needed == 0 || f.memlock.soft < f.memlock_needed);
  if (!f.memlock.charged || !short_of || f.bpf_errno != EPERM) return {};
  return {RefusalCause::Memlock, refused(f.bpf_errno) + ": " + memlock_hint(f.memlock)};
}

Refusal by_seccomp(const RefusalFacts& f) {
  // A filter's SCMP_ACT_ERRNO is usually EPERM; ENOSYS is what profiles return for calls they
  // do not list.
  if (f.seccomp != 2 || !(permission_errno(f.bpf_errno) || f.bpf_errno == ENOSYS)) return {};
  return {RefusalCause::Seccomp,
          refused(f.bpf_errno) + " by a seccomp filter on this process (/proc/self/status Seccomp: 2): "
          "run kleak with a profile that allows bpf() and perf_event_open() (podman/docker "
          "--security-opt seccomp=deploy/container/seccomp.json; Kubernetes seccompProfile "
          "Localhost kleak.json)"};
}

Refusal by_lockdown(const RefusalFacts& f) {
  // Lockdown's confidentiality mode withholds bpf_probe_read_kernel from the verifier: kleak's
  // programs fail with EINVAL where a trivial program still loads.
  if (f.lockdown.find("[confidentiality]") == std::string::npos) return {};
  return {RefusalCause::Lockdown,
          "kernel lockdown is in confidentiality mode (/sys/kernel/security/lockdown), which forbids BPF "
          "reading kernel memory: boot with lockdown=integrity (or none), or without Secure Boot's lockdown"};
}

Refusal by_kernel(const RefusalFacts& f) {
  int e = f.bpf_errno;
  if (e != EINVAL && e != ENOENT && e != ENOSYS && e != EOPNOTSUPP && e != E2BIG) return {};
  return {RefusalCause::KernelLacks,
          std::string("this kernel does not support kleak's BPF programs (bpf(): ") + std::strerror(e) +
              "): it needs CONFIG_BPF_SYSCALL and CONFIG_BPF_EVENTS (Linux 5.10 or later with BTF)"};
}

}  // namespace

Refusal explain_refusal(const RefusalFacts& f) {
  if (f.bpf_errno == 0) return by_lockdown(f);  // the trivial probe loads under lockdown
  for (auto step : {by_capability, by_memlock, by_seccomp, by_lockdown, by_kernel})
    if (Refusal r = step(f); r.cause != RefusalCause::None) return r;
  return {RefusalCause::Other, std::string("bpf() failed: ") + std::strerror(f.bpf_errno)};
}

ProcStatus parse_proc_status(std::string_view status) {
  ProcStatus s;
  auto field = [&](std::string_view name) -> std::string_view {
    size_t at = status.find("\n" + std::string(name) + ":");
    if (at == std::string_view::npos) {
      if (!status.starts_with(std::string(name) + ":")) return {};
      at = 0;
    } else {
      ++at;
    }
    std::string_view v = status.substr(at + name.size() + 1);
    v = v.substr(0, v.find('\n'));
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    return v;
  };
  std::string_view cap = field("CapEff"), sec = field("Seccomp");
  std::from_chars(cap.data(), cap.data() + cap.size(), s.cap_eff, 16);
  std::from_chars(sec.data(), sec.data() + sec.size(), s.seccomp);
  return s;
}

namespace {
std::string read_all(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}
}  // namespace

int probe_raw_tp_load() {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "kleak_probe", "GPL", insns, 2, nullptr);
  if (fd < 0) return errno ? errno : EINVAL;
  close(fd);
  return 0;
}

RefusalFacts read_refusal_facts(int bpf_errno) {
  RefusalFacts f;
  f.bpf_errno = bpf_errno;
  ProcStatus st = parse_proc_status(read_all("/proc/self/status"));
  f.caps = read_capabilities();
  f.caps.effective = st.cap_eff;
  f.seccomp = st.seccomp;
  f.lockdown = read_all("/sys/kernel/security/lockdown");
  f.unprivileged_bpf_disabled = read_all("/proc/sys/kernel/unprivileged_bpf_disabled");
  f.memlock = read_memlock();
  return f;
}

}  // namespace kleak
