// kleak under a seccomp filter that refuses bpf() (tests/integration/deny_bpf.c, as podman's
// default profile does): doctor and trace name the filter and the fix, where trace used to say
// only "libbpf: failed to load BPF skeleton 'kleak_bpf': -1" and doctor blamed the kernel. Host
// only (.ci/run host_only): the lanes' initramfs has no kleak-deny-bpf.
#include <gtest/gtest.h>

#include <algorithm>

#include "harness.h"

namespace kleak::test {
namespace {

constexpr const char* kSeccompSays =
    "bpf() refused (Operation not permitted) by a seccomp filter on this process (/proc/self/status "
    "Seccomp: 2): run kleak with a profile that allows bpf()";

bool single_line(const std::string& err) { return std::count(err.begin(), err.end(), '\n') == 1; }

TEST(Seccomp, DoctorNamesTheFilterNotTheKernel) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  RunResult r = run({KLEAK_DENY_BPF, KLEAK_BIN, "doctor"});
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.out.find(std::string("BPF           ") + kSeccompSays), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("does not support"), std::string::npos) << r.out;
  EXPECT_TRUE(single_line(r.err)) << r.err;
  EXPECT_NE(r.err.find(kSeccompSays), std::string::npos) << r.err;
  RunResult j = run({KLEAK_DENY_BPF, KLEAK_BIN, "doctor", "--format", "json"});
  EXPECT_EQ(nlohmann::json::parse(j.out)["bpf"]["cause"], "seccomp") << j.out;
}

TEST(Seccomp, TraceNamesTheFilterInOneLine) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  RunResult r = run({KLEAK_DENY_BPF, KLEAK_BIN, "trace", "--duration", "1s"});
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(single_line(r.err)) << r.err;
  EXPECT_EQ(r.err.rfind(std::string("kleak: failed to load BPF programs: ") + kSeccompSays, 0), 0u) << r.err;
  EXPECT_EQ(r.out, "");
}

// The filter is the helper's, not the box's: without it the same doctor finds BPF loading.
TEST(Seccomp, WithoutTheFilterDoctorLoads) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  RunResult r = run({KLEAK_BIN, "doctor", "--format", "json"});
  EXPECT_EQ(nlohmann::json::parse(r.out)["bpf"]["cause"], "none") << r.out;
}

}  // namespace
}  // namespace kleak::test
