// The capability table, the missing-capability rule and doctor's verdict, on hand-made facts.
#include <gtest/gtest.h>

#include "kleak/doctor.h"
#include "kleak/privileges.h"

namespace kleak {
namespace {

constexpr int kDacOverride = 1, kDacReadSearch = 2, kSysAdmin = 21, kSyslog = 34, kPerfmon = 38, kBpf = 39;

CapabilityState caps(std::initializer_list<int> held, int last_cap = 40) {
  CapabilityState s;
  for (int c : held) s.effective |= uint64_t{1} << c;
  s.last_cap = last_cap;
  return s;
}

using Names = std::vector<std::string>;

TEST(Privileges, RequiredSetIsTheDocumentedOne) {
  Names names;
  for (const auto& n : required_capabilities()) {
    names.emplace_back(n.name);
    EXPECT_EQ(capability_name(n.number), n.name);
    EXPECT_FALSE(n.why.empty());
  }
  EXPECT_EQ(names, (Names{"CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_DAC_READ_SEARCH"}));
}

TEST(Privileges, EveryMissingCapabilityIsNamed) {
  EXPECT_EQ(missing_capabilities(caps({})),
            (Names{"CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_DAC_READ_SEARCH"}));
  EXPECT_EQ(missing_capabilities(caps({kBpf, kPerfmon})), (Names{"CAP_SYSLOG", "CAP_DAC_READ_SEARCH"}));
  EXPECT_EQ(missing_capabilities(caps({kBpf, kPerfmon, kSyslog})), (Names{"CAP_DAC_READ_SEARCH"}));
  EXPECT_TRUE(missing_capabilities(caps({kBpf, kPerfmon, kSyslog, kDacReadSearch})).empty());
}

TEST(Privileges, BroaderCapabilitiesGrantTheSame) {
  // bpf_capable()/perfmon_capable() accept CAP_SYS_ADMIN; CAP_DAC_OVERRIDE reads what
  // CAP_DAC_READ_SEARCH reads.
  EXPECT_TRUE(missing_capabilities(caps({kSysAdmin, kSyslog, kDacOverride})).empty());
}

TEST(Privileges, BeforeFivePointEightSysAdminIsNamedOnce) {
  // cap_last_cap 37: no CAP_PERFMON (38) nor CAP_BPF (39) on this kernel.
  EXPECT_EQ(missing_capabilities(caps({kSyslog, kDacReadSearch}, 37)), (Names{"CAP_SYS_ADMIN"}));
  EXPECT_TRUE(missing_capabilities(caps({kSysAdmin, kSyslog, kDacReadSearch}, 37)).empty());
}

TEST(Privileges, MessageIsOneLineNamingEach) {
  EXPECT_EQ(missing_capabilities_message({}), "");
  std::string m = missing_capabilities_message({"CAP_SYSLOG", "CAP_DAC_READ_SEARCH"});
  EXPECT_EQ(m.rfind("missing capabilities CAP_SYSLOG, CAP_DAC_READ_SEARCH: kleak trace needs CAP_BPF", 0), 0u) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(Privileges, HeldNamesInOrder) {
  EXPECT_EQ(held_capabilities(caps({kBpf, kDacReadSearch})), (Names{"CAP_DAC_READ_SEARCH", "CAP_BPF"}));
}

TEST(Memlock, ChargedBeforeFiveEleven) {
  EXPECT_EQ(kernel_version("6.18.44-fc-v769"), (std::pair{6, 18}));
  EXPECT_EQ(kernel_version("5.10.0-28-amd64"), (std::pair{5, 10}));
  EXPECT_FALSE(kernel_version("garbage"));
  EXPECT_TRUE(memlock_charged("5.10.0-28-amd64"));
  EXPECT_TRUE(memlock_charged("4.19.0"));
  EXPECT_FALSE(memlock_charged("5.11.0"));
  EXPECT_FALSE(memlock_charged("6.1.0-18-amd64"));
  EXPECT_FALSE(memlock_charged("garbage"));
}

TEST(Memlock, HintOnlyWhereTheLimitCounts) {
  EXPECT_EQ(memlock_hint({false, 8 << 20, 8 << 20}), "");
  EXPECT_EQ(memlock_hint({true, UINT64_MAX, UINT64_MAX}), "");
  std::string h = memlock_hint({true, 8 << 20, 8 << 20});
  EXPECT_NE(h.find("RLIMIT_MEMLOCK, which is 8192 KiB"), std::string::npos) << h;
}

DoctorFacts healthy() {
  DoctorFacts f;
  f.kernel = "6.18.44";
  f.btf_path = "/sys/kernel/btf/vmlinux";
  for (const char* fam : {"kmalloc", "slab", "page", "percpu", "vmalloc"})
    f.families.push_back({fam, AttachMode::RawTp, ""});
  f.tracefs = "/sys/kernel/tracing";
  f.caps = caps({kBpf, kPerfmon, kSyslog, kDacReadSearch});
  f.kptr_restrict = "0";
  f.perf_event_paranoid = "2";
  f.memlock = {false, 8 << 20, 8 << 20};
  f.cgroup2 = "/sys/fs/cgroup";
  return f;
}

TEST(Doctor, HealthyBoxIsOkAndComplete) {
  DoctorFacts f = healthy();
  DoctorVerdict v = judge(f);
  EXPECT_TRUE(v.ok());
  EXPECT_TRUE(v.report_missing.empty());
  std::string t = render_doctor_text(f, v);
  EXPECT_NE(t.find("kleak trace would work here"), std::string::npos) << t;
  EXPECT_NE(t.find("vmalloc  raw_tp"), std::string::npos) << t;
}

TEST(Doctor, MissingCapabilityIsAProblem) {
  DoctorFacts f = healthy();
  f.caps = caps({kBpf, kPerfmon, kDacReadSearch});
  f.kallsyms_why = "/proc/kallsyms: every kernel address reads as zero";
  DoctorVerdict v = judge(f);
  ASSERT_EQ(v.problems.size(), 1u);  // the hidden kallsyms is the same cause: named once
  EXPECT_EQ(v.problems[0].rfind("missing capabilities CAP_SYSLOG:", 0), 0u) << v.problems[0];
  nlohmann::json j = doctor_json(f, v);
  EXPECT_EQ(j["capabilities"]["missing"], nlohmann::json({"CAP_SYSLOG"}));
  EXPECT_EQ(j["capabilities"]["have"], nlohmann::json({"CAP_DAC_READ_SEARCH", "CAP_PERFMON", "CAP_BPF"}));
  EXPECT_EQ(j["ok"], false);
}

TEST(Doctor, KptrRestrictTwoIsAProblemEvenWithSyslog) {
  DoctorFacts f = healthy();
  f.kallsyms_why = "/proc/kallsyms: every kernel address reads as zero: kernel.kptr_restrict=2";
  DoctorVerdict v = judge(f);
  ASSERT_EQ(v.problems.size(), 1u);
  EXPECT_NE(v.problems[0].find("kptr_restrict=2"), std::string::npos);
}

TEST(Doctor, UnattachableFamilyIsMissingFromTheReport) {
  DoctorFacts f = healthy();
  f.families[4] = {"vmalloc", AttachMode::None, "tracepoint vmalloc:alloc_vmap_area does not exist on this kernel"};
  DoctorVerdict v = judge(f);
  EXPECT_TRUE(v.ok());
  ASSERT_EQ(v.report_missing.size(), 1u);
  EXPECT_EQ(v.report_missing[0].rfind("vmalloc allocations (tracepoint", 0), 0u) << v.report_missing[0];
  for (auto& p : f.families) p.mode = AttachMode::None;
  EXPECT_FALSE(judge(f).ok());
}

TEST(Doctor, KprobeVariantWithoutSysAdminUnderParanoidThreeIsMissing) {
  DoctorFacts f = healthy();
  f.families[4] = {"vmalloc", AttachMode::Kprobe, "tracepoint vmalloc:alloc_vmap_area does not exist on this kernel"};
  f.perf_event_paranoid = "3";
  DoctorVerdict v = judge(f);
  EXPECT_TRUE(v.ok());
  ASSERT_EQ(v.report_missing.size(), 1u);
  EXPECT_EQ(v.report_missing[0].rfind("vmalloc allocations (its kprobe variant is refused without CAP_SYS_ADMIN", 0), 0u);
  f.caps.effective |= uint64_t{1} << kSysAdmin;
  EXPECT_TRUE(judge(f).report_missing.empty());
  f.caps = healthy().caps;
  f.perf_event_paranoid = "2";
  EXPECT_TRUE(judge(f).report_missing.empty());
}

// Measured on Debian 11's 5.10 (qemu lane): uid 65534 with the four capabilities got EACCES
// attaching kmalloc's classic tracepoint: like a kprobe it is a perf event (perf_event_open).
TEST(Doctor, TracepointVariantWithoutSysAdminUnderParanoidThreeIsMissing) {
  DoctorFacts f = healthy();
  f.families[0] = {"kmalloc", AttachMode::Tracepoint, "kmalloc has 6 arguments here, 7 expected"};
  f.perf_event_paranoid = "3";
  DoctorVerdict v = judge(f);
  EXPECT_TRUE(v.ok());
  ASSERT_EQ(v.report_missing.size(), 1u);
  EXPECT_EQ(v.report_missing[0].rfind("kmalloc allocations (its tracepoint variant is refused without CAP_SYS_ADMIN", 0), 0u)
      << v.report_missing[0];
  f.perf_event_paranoid = "2";
  EXPECT_TRUE(judge(f).report_missing.empty());
}

TEST(Doctor, SmallMemlockOnOldKernelIsAProblem) {
  DoctorFacts f = healthy();
  f.memlock = {true, 8 << 20, 8 << 20};
  DoctorVerdict v = judge(f);
  ASSERT_EQ(v.problems.size(), 1u);
  EXPECT_NE(v.problems[0].find("RLIMIT_MEMLOCK"), std::string::npos);
  f.memlock = {true, UINT64_MAX, UINT64_MAX};
  EXPECT_TRUE(judge(f).ok());
}

TEST(Doctor, JsonShape) {
  DoctorFacts f = healthy();
  nlohmann::json j = doctor_json(f, judge(f));
  for (const char* k : {"kernel", "ok", "problems", "report_missing", "btf", "families", "capabilities",
                        "tracefs", "kallsyms", "memlock", "cgroup2", "proc", "bpf"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["capabilities"].size(), 3u);
  EXPECT_EQ(j["capabilities"]["required"],
            nlohmann::json({"CAP_BPF", "CAP_PERFMON", "CAP_SYSLOG", "CAP_DAC_READ_SEARCH"}));
  EXPECT_EQ(j["capabilities"]["missing"], nlohmann::json::array());
  EXPECT_EQ(j["families"][0], nlohmann::json({{"family", "kmalloc"}, {"variant", "raw_tp"}, {"reason", ""}}));
  EXPECT_EQ(j["memlock"]["charged"], false);
}

}  // namespace
}  // namespace kleak
