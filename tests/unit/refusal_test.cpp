// Why bpf() was refused, one fixture per cause: the same EPERM is a capability, the sysctl, the
// memlock limit or a seccomp filter depending on the facts beside it (include/kleak/refusal.h).
#include <gtest/gtest.h>

#include <cerrno>

#include "kleak/doctor.h"
#include "kleak/refusal.h"
#include "trace/libbpf_log.h"

namespace kleak {
namespace {

constexpr int kSyslog = 34, kDacReadSearch = 2, kPerfmon = 38, kBpf = 39;

// Root's facts on a stock 6.18 box: every capability, no filter, no lockdown, sysctl 2.
RefusalFacts root_facts(int bpf_errno) {
  RefusalFacts f;
  f.bpf_errno = bpf_errno;
  f.caps.effective = (uint64_t{1} << 41) - 1;
  f.caps.last_cap = 40;
  f.lockdown = "[none] integrity confidentiality";
  f.unprivileged_bpf_disabled = "2";
  f.memlock = {false, UINT64_MAX, UINT64_MAX};
  return f;
}

RefusalFacts nobody_facts(int bpf_errno) {
  RefusalFacts f = root_facts(bpf_errno);
  f.caps.effective = (uint64_t{1} << kSyslog) | (uint64_t{1} << kDacReadSearch);
  return f;
}

TEST(Refusal, NothingRefusedIsNone) {
  Refusal r = explain_refusal(root_facts(0));
  EXPECT_EQ(r.cause, RefusalCause::None);
  EXPECT_EQ(r.message, "");
}

TEST(Refusal, MissingCapabilityIsNamedNotTheKernel) {
  RefusalFacts f = nobody_facts(EPERM);
  f.unprivileged_bpf_disabled = "0";
  Refusal r = explain_refusal(f);
  EXPECT_EQ(r.cause, RefusalCause::Capability);
  EXPECT_EQ(r.message,
            "bpf() refused (Operation not permitted): missing capabilities CAP_BPF, CAP_PERFMON: grant them "
            "(systemd AmbientCapabilities=, podman --cap-add, setpriv --ambient-caps) or run as root");
}

TEST(Refusal, OnlyTheMissingOneIsNamed) {
  RefusalFacts f = nobody_facts(EPERM);
  f.unprivileged_bpf_disabled = "0";
  f.caps.effective |= uint64_t{1} << kBpf;
  EXPECT_NE(explain_refusal(f).message.find("missing capabilities CAP_PERFMON: grant"), std::string::npos);
}

TEST(Refusal, BeforeCapBpfTheCapabilityIsSysAdmin) {
  RefusalFacts f = nobody_facts(EPERM);
  f.unprivileged_bpf_disabled = "0";
  f.caps.last_cap = 37;  // 5.4: no CAP_PERFMON, no CAP_BPF
  EXPECT_NE(explain_refusal(f).message.find("missing capabilities CAP_SYS_ADMIN: grant"), std::string::npos);
}

TEST(Refusal, UnprivilegedBpfSysctlIsNamedWithTheCapabilities) {
  Refusal r = explain_refusal(nobody_facts(EPERM));
  EXPECT_EQ(r.cause, RefusalCause::UnprivilegedBpf);
  EXPECT_EQ(r.message,
            "bpf() refused (Operation not permitted): kernel.unprivileged_bpf_disabled=2 refuses bpf() to any "
            "process without CAP_BPF, and this one is missing CAP_BPF, CAP_PERFMON: grant them (systemd "
            "AmbientCapabilities=, podman --cap-add, setpriv --ambient-caps) or run as root (lowering the "
            "sysctl is not enough: tracing programs need them)");
}

TEST(Refusal, SeccompFilterIsNamedWhenTheCapabilitiesAreThere) {
  RefusalFacts f = root_facts(EPERM);
  f.seccomp = 2;
  Refusal r = explain_refusal(f);
  EXPECT_EQ(r.cause, RefusalCause::Seccomp);
  EXPECT_EQ(r.message.rfind("bpf() refused (Operation not permitted) by a seccomp filter on this process "
                            "(/proc/self/status Seccomp: 2): run kleak with a profile that allows bpf()",
                            0),
            0u)
      << r.message;
  f.bpf_errno = ENOSYS;  // a profile's answer for calls it does not list
  EXPECT_EQ(explain_refusal(f).cause, RefusalCause::Seccomp);
}

TEST(Refusal, StrictSeccompOrNoneIsNotAFilter) {
  RefusalFacts f = root_facts(EPERM);
  f.seccomp = 0;
  EXPECT_NE(explain_refusal(f).cause, RefusalCause::Seccomp);
}

TEST(Refusal, LockdownConfidentialityIsNamedEvenWhereATrivialProgramLoads) {
  RefusalFacts f = root_facts(EINVAL);
  f.lockdown = "none integrity [confidentiality]";
  Refusal r = explain_refusal(f);
  EXPECT_EQ(r.cause, RefusalCause::Lockdown);
  EXPECT_NE(r.message.find("boot with lockdown=integrity"), std::string::npos) << r.message;
  f.bpf_errno = 0;  // doctor's two-instruction probe loads under lockdown; kleak's programs would not
  EXPECT_EQ(explain_refusal(f).cause, RefusalCause::Lockdown);
  f.lockdown = "none [integrity] confidentiality";
  EXPECT_EQ(explain_refusal(f).cause, RefusalCause::None);
}

TEST(Refusal, MemlockLimitOnKernelsThatChargeIt) {
  RefusalFacts f = root_facts(EPERM);
  f.memlock = {true, 64 * 1024, 64 * 1024};  // Debian 11's 5.10 default
  Refusal r = explain_refusal(f);
  EXPECT_EQ(r.cause, RefusalCause::Memlock);
  EXPECT_NE(r.message.find("RLIMIT_MEMLOCK, which is 64 KiB here: raise it"), std::string::npos) << r.message;
  f.memlock = {true, UINT64_MAX, UINT64_MAX};
  EXPECT_NE(explain_refusal(f).cause, RefusalCause::Memlock);
  f.memlock = {false, 64 * 1024, 64 * 1024};  // 5.11+: the cgroup is charged, not the limit
  EXPECT_NE(explain_refusal(f).cause, RefusalCause::Memlock);
}

TEST(Refusal, KernelWithoutTheFeatureIsTheKernel) {
  for (int e : {EINVAL, ENOENT, ENOSYS}) {
    Refusal r = explain_refusal(root_facts(e));
    EXPECT_EQ(r.cause, RefusalCause::KernelLacks) << e;
    EXPECT_EQ(r.message.rfind("this kernel does not support kleak's BPF programs (bpf(): ", 0), 0u) << r.message;
  }
}

TEST(Refusal, AnythingElseCarriesItsErrnoText) {
  Refusal r = explain_refusal(root_facts(ENOMEM));
  EXPECT_EQ(r.cause, RefusalCause::Other);
  EXPECT_EQ(r.message, "bpf() failed: Cannot allocate memory");
}

TEST(Refusal, ProcStatusFields) {
  ProcStatus s = parse_proc_status(
      "Name:\tkleak\nCapInh:\t0000000000000000\nCapEff:\t000001c000000006\nNoNewPrivs:\t1\nSeccomp:\t2\n"
      "Seccomp_filters:\t1\n");
  EXPECT_EQ(s.cap_eff, (uint64_t{1} << 40) | (uint64_t{1} << kBpf) | (uint64_t{1} << kPerfmon) | 6u);
  EXPECT_EQ(s.seccomp, 2);
  EXPECT_EQ(parse_proc_status("Name:\tx\n").seccomp, 0);
}

TEST(Refusal, DoctorPutsTheCauseBesideBpf) {
  DoctorFacts f;
  f.caps.effective = (uint64_t{1} << 41) - 1;
  f.bpf_cause = RefusalCause::Seccomp;
  f.bpf_why = "bpf() refused (Operation not permitted) by a seccomp filter";
  DoctorVerdict v = judge(f);
  EXPECT_EQ(doctor_json(f, v)["bpf"]["cause"], "seccomp");
  EXPECT_NE(render_doctor_text(f, v).find("BPF           bpf() refused (Operation not permitted) by a seccomp"),
            std::string::npos);
}

TEST(LibbpfLog, BareErrnoGetsItsText) {
  EXPECT_EQ(with_errno_text("libbpf: failed to load BPF skeleton 'kleak_bpf': -1"),
            "libbpf: failed to load BPF skeleton 'kleak_bpf': -1 (Operation not permitted)");
  EXPECT_EQ(with_errno_text("R2 invalid mem access 'scalar'"), "R2 invalid mem access 'scalar'");
  EXPECT_EQ(with_errno_text("map 'allocs': failed to create: Operation not permitted(-1)"),
            "map 'allocs': failed to create: Operation not permitted(-1)");
}

}  // namespace
}  // namespace kleak
