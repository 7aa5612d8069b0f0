// --serve's pure parts: Prometheus metrics semantics, stack identity, the web config file, bcrypt,
// the listen address, and every comm in the pprof labels. Each case names the defect of 4a8f649
// it pins down.
#include <gtest/gtest.h>
#include <cstdio>
#include <fstream>
#include <regex>

#include "kleak/gzip.h"
#include "kleak/error.h"
#include "frame_text.h"
#include "kleak/render.h"
#include "kleak/serve.h"
#include "pprof/profile.pb.h"

namespace kleak {
namespace {

StackGroup group(const std::string& top, uint64_t bytes, double growth, const std::string& kind = "page") {
  StackGroup g;
  g.kind = kind;
  g.category = "pipe";
  g.frames = test::stack({top, "vfs_write+0x10", "ksys_write+0x20"});
  g.bytes = bytes;
  g.count = bytes / 4096;
  g.growth_bytes_per_s = growth;
  g.verdict = growth > 0 ? "growing" : "steady";
  return g;
}

Report sample_report() {
  Report r;
  r.kernel = "Linux 6.18 x86_64";
  r.duration_s = 12;
  r.attach_mode = {{"kmalloc", "raw_tp"}, {"mm_page_alloc", "raw_tp"}, {"percpu_alloc", "tracepoint"}};
  r.by_category = {{Category::slab, {4000, 10}},
                   {Category::pipe, {8192, 2}},
                   {Category::user_anon, {1 << 20, 256}},
                   {Category::slab_backing, {4096, 1}}};
  r.events = {{EventCount::allocs_seen, 100},
              {EventCount::frees_seen, 90},
              {EventCount::outstanding_records, 9419},
              {EventCount::records_filtered_out, 3}};
  r.dropped = {{Loss::alloc_map_full, 0}, {Loss::drain_incomplete, 2}};
  for (int i = 0; i < 30; ++i) r.stacks.push_back(group("f" + std::to_string(i) + "+0x1", 4096 * (i + 1), i % 3 ? 0 : i));
  r.groups_total = r.stacks.size();
  return r;
}

std::string render(const Report& r, size_t top = MetricsOptions{}.top) {
  MetricsOptions mo;
  mo.top = top;
  return render_metrics(r, mo, BuildInfo{"0.1.0", r.kernel, attach_modes(r)}, 1.5);
}

// outstanding_records went 9419 -> 8913 as a counter: what goes down is a gauge.
TEST(ServeMetrics, WhatGoesDownIsAGaugeNotACounter) {
  std::string m = render(sample_report());
  EXPECT_EQ(m.find("kleak_events_total{event=\"outstanding_records\"}"), std::string::npos);
  EXPECT_EQ(m.find("kleak_events_total{event=\"records_filtered_out\"}"), std::string::npos);
  EXPECT_NE(m.find("# TYPE kleak_outstanding_records gauge\nkleak_outstanding_records 9419\n"), std::string::npos) << m;
  EXPECT_EQ(m.find("kleak_dropped_total{cause=\"drain_incomplete\"}"), std::string::npos);  // per drain
  EXPECT_NE(m.find("kleak_last_drain_incomplete_records 2\n"), std::string::npos);
  EXPECT_NE(m.find("kleak_events_total{event=\"allocs_seen\"} 100\n"), std::string::npos);
}

// kleak_outstanding_bytes, "kernel memory", included user_anon.
TEST(ServeMetrics, KernelUserAndBackingMemoryAreSeparateFamilies) {
  std::string m = render(sample_report());
  EXPECT_EQ(m.find("kleak_kernel_outstanding_bytes{category=\"user_anon\"}"), std::string::npos);
  EXPECT_EQ(m.find("kleak_kernel_outstanding_bytes{category=\"slab_backing\"}"), std::string::npos);
  EXPECT_NE(m.find("kleak_user_outstanding_bytes{category=\"user_anon\"} 1048576\n"), std::string::npos) << m;
  EXPECT_NE(m.find("kleak_backing_outstanding_bytes{category=\"slab_backing\"} 4096\n"), std::string::npos);
  EXPECT_NE(m.find("kleak_kernel_outstanding_bytes{category=\"pipe\"} 8192\n"), std::string::npos);
}

// Ranks 2, 4 and 6 had identical labels; a stack changed series when another overtook it.
TEST(ServeMetrics, AStackKeepsItsSeriesWhateverItsRank) {
  Report r1 = sample_report(), r2 = sample_report();
  std::reverse(r2.stacks.begin(), r2.stacks.end());
  for (auto& g : r2.stacks) g.growth_bytes_per_s = -g.growth_bytes_per_s;  // the order of growth flips
  std::string m = render(r1, 100), m2 = render(r2, 100);
  std::regex line("kleak_stack_outstanding_bytes\\{([^}]*)\\} ([0-9]+)");
  auto series = [&](const std::string& text) {
    std::map<std::string, std::string> s;
    for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) s[(*it)[1]] = (*it)[2];
    return s;
  };
  auto s1 = series(m), s2 = series(m2);
  EXPECT_EQ(s1.size(), 30u) << "30 stacks, 30 distinct label sets";
  EXPECT_EQ(s1, s2) << "same stacks, same labels, same values";
  EXPECT_EQ(m.find("rank="), std::string::npos);
  StackGroup a = group("x+0x1", 1, 0), b = a;
  b.frames.back() = test::frame("ksys_write+0x21");  // differs only deep down
  EXPECT_NE(stack_id(a), stack_id(b));
  b = a;
  b.group["comm"] = "ld";
  EXPECT_NE(stack_id(a), stack_id(b));
  EXPECT_EQ(stack_id(a).size(), 12u);
}

// --serve-top was documented as 20 and served 10: the default is 20 and picks the fastest growing.
TEST(ServeMetrics, ServeTopDefaultsTo20AndPicksByGrowth) {
  EXPECT_EQ(MetricsOptions{}.top, 20u);
  std::string m = render(sample_report());
  size_t n = 0;
  for (size_t pos = 0; (pos = m.find("\nkleak_stack_outstanding_bytes{", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_EQ(n, 20u);
  EXPECT_NE(m.find("top_frame=\"f27+0x1\""), std::string::npos) << "the fastest growing is exported";
  EXPECT_NE(m.find("kleak_growing_stacks 9\n"), std::string::npos);
}

TEST(ServeMetrics, BuildInfo) {
  std::string m = render(sample_report());
  EXPECT_NE(m.find("kleak_build_info{version=\"0.1.0\",kernel=\"Linux 6.18 x86_64\",attach_mode=\"raw_tp,tracepoint\"} 1\n"),
            std::string::npos)
      << m.substr(0, 400);
}

// Issue 23 (found after it): a comm is any bytes its process chose. Invalid UTF-8 in a label
// value makes Prometheus reject the whole scrape, so one unprivileged process named "\xff"
// blinded the monitoring of the box under --by comm.
TEST(ServeMetrics, LabelValuesAreUtf8WhateverACommIs) {
  Report r = sample_report();
  r.by = {GroupBy::comm};
  r.stacks[27].group = {{"comm", "a\xff\xfe\"q\nb"}};  // the fastest growing: exported
  std::string m = render(r);
  EXPECT_NE(m.find("comm=\"a??\\\"q\\nb\""), std::string::npos) << m;
  EXPECT_EQ(sanitize_utf8(m), m) << "the exposition is not valid UTF-8";
}

// Prometheus' own linter on the exposition.
TEST(ServeMetrics, PromtoolCheckMetricsIsClean) {
  if (access("/usr/bin/promtool", X_OK) != 0) {
    if (std::getenv("KLEAK_REQUIRE_TOOLS")) FAIL() << "promtool is missing (tools/install-deps.sh: prometheus)";
    GTEST_SKIP() << "no promtool";
  }
  std::string file = ::testing::TempDir() + "kleak-metrics-" + std::to_string(getpid());
  std::ofstream(file) << render(sample_report());
  std::string cmd = "/usr/bin/promtool check metrics < " + file + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = pclose(p);
  unlink(file.c_str());
  EXPECT_EQ(st, 0) << out;
  EXPECT_EQ(out, "") << "promtool's lint findings";
}

TEST(WebConfig, ParsesTheExporterToolkitFile) {
  WebConfig c = parse_web_config(
      "tls_server_config:\n  cert_file: /c.pem\n  key_file: /k.pem\n  client_ca_file: /ca.pem\n  min_version: TLS13\n"
      "basic_auth_users:\n  prom: $2y$10$7F6P.0MV7sakbad24DUBGeET0L6CEB7f2T9qsB229C20x5aPywQh6\n");
  ASSERT_TRUE(c.tls);
  EXPECT_EQ(c.tls->cert_file, "/c.pem");
  EXPECT_EQ(c.tls->client_auth_type, "RequireAndVerifyClientCert");  // a CA alone means verify
  EXPECT_EQ(c.tls->min_version, "TLS13");
  EXPECT_EQ(c.basic_auth_users.at("prom").substr(0, 7), "$2y$10$");
  EXPECT_FALSE(parse_web_config("").tls);
  EXPECT_FALSE(parse_web_config("basic_auth_users:\n  a: $2y$10$7F6P.0MV7sakbad24DUBGeET0L6CEB7f2T9qsB229C20x5aPywQh6\n").tls);
}

TEST(WebConfig, MistakesAreOneLineUsageErrors) {
  for (const char* bad : {"basic_auth_user:\n  a: b\n",                           // typo: never an open endpoint
                          "basic_auth_users:\n  a: plaintext\n",                  // not bcrypt
                          "tls_server_config:\n  cert_file: /c.pem\n",            // no key
                          "tls_server_config:\n  cert_file: /c\n  key_file: /k\n  min_version: SSL3\n",
                          "tls_server_config:\n  cert_file: /c\n  key_file: /k\n  client_auth_type: RequireAndVerifyClientCert\n",
                          "[unclosed"}) {
    try {
      parse_web_config(bad);
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitUsage);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
  }
}

// Made with `htpasswd -nbBC 10 prom secret` (apache2-utils).
TEST(WebConfig, BcryptMatchesWithLibxcrypt) {
  const std::string h = "$2y$10$7F6P.0MV7sakbad24DUBGeET0L6CEB7f2T9qsB229C20x5aPywQh6";
  EXPECT_TRUE(bcrypt_matches("secret", h));
  EXPECT_FALSE(bcrypt_matches("secreT", h));
  EXPECT_FALSE(bcrypt_matches("", h));
  EXPECT_FALSE(bcrypt_matches("secret", "$2y$10$short"));
}

// /healthz and /readyz (Kubernetes' liveness and readiness probes): live while attached and the
// trace loop turns; ready once the first sample is also there, with Retry-After before it.
TEST(Probes, LiveWhileAttachedAndTurningReadyFromTheFirstSample) {
  using Phase = TracerHealth::Phase;
  using std::chrono::seconds;
  auto h = [](Phase p, seconds since_beat, bool sampled) { return TracerHealth{p, since_beat, sampled}; };
  for (bool readiness : {false, true}) {
    EXPECT_EQ(answer_probe(h(Phase::attaching, seconds(0), false), readiness).status, 503);
    EXPECT_EQ(answer_probe(h(Phase::detached, seconds(0), true), readiness).status, 503);
    ProbeAnswer stuck = answer_probe(h(Phase::attached, kLoopStallLimit + seconds(1), true), readiness);
    EXPECT_EQ(stuck.status, 503);
    EXPECT_EQ(stuck.body, "kleak: the trace loop has not run for 31 s\n");
    EXPECT_EQ(stuck.retry_after, 0) << "a stuck loop is not a matter of seconds";
    ProbeAnswer ok = answer_probe(h(Phase::attached, kLoopStallLimit, true), readiness);
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, "ok\n");
  }
  // Before the first sample: alive, not ready, ask again in a second (as /metrics says).
  EXPECT_EQ(answer_probe(h(Phase::attached, seconds(0), false), false).status, 200);
  ProbeAnswer early = answer_probe(h(Phase::attached, seconds(0), false), true);
  EXPECT_EQ(early.status, 503);
  EXPECT_EQ(early.retry_after, 1);
  EXPECT_EQ(early.body, "kleak: no sample yet\n");
}

TEST(ListenAddress, APortAloneIsLoopback) {
  EXPECT_EQ(parse_listen_address(":9464").host, "127.0.0.1");
  EXPECT_EQ(parse_listen_address(":9464").port, 9464);
  EXPECT_EQ(parse_listen_address("[::]:1").host, "::");
  EXPECT_EQ(parse_listen_address("0.0.0.0:2").host, "0.0.0.0");
  EXPECT_THROW(parse_listen_address("9464"), Error);
  EXPECT_THROW(parse_listen_address(":99999"), Error);
}

// pprof's comm label kept only a group's main process: -tagfocus comm=ld found 6 of 598.
TEST(ServeProfile, EveryCommOfAGroupIsALabel) {
  Report r = sample_report();
  r.stacks.resize(1);
  r.stacks[0].comms = {{"make", 600}, {"cc1", 300}, {"as", 40}, {"ld", 598}};
  perftools::profiles::Profile p;
  ASSERT_TRUE(p.ParseFromString(gunzip(render_pprof(r))));
  ASSERT_EQ(p.sample_size(), 1);
  std::set<std::string> comms;
  for (const auto& l : p.sample(0).label())
    if (p.string_table(static_cast<int>(l.key())) == "comm") comms.insert(p.string_table(static_cast<int>(l.str())));
  EXPECT_EQ(comms, (std::set<std::string>{"make", "cc1", "as", "ld"}));
}

}  // namespace
}  // namespace kleak
