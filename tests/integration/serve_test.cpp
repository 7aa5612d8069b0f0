// kleak trace --serve: a real scrape on loopback, parsed by the Prometheus client library's own
// text-format parser (Debian's python3-prometheus-client).
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <regex>

#include "pprof/profile.pb.h"

#include "kleak/gzip.h"
#include "harness.h"

namespace kleak::test {
namespace {

std::map<std::string, double> samples(const std::string& body, const std::string& suffix) {
  std::map<std::string, double> out;
  std::regex line("^(kleak_[a-z_]*" + suffix + "(\\{[^}]*\\})?) ([-0-9.e+]+)$");
  std::istringstream in(body);
  std::string l;
  std::smatch m;
  while (std::getline(in, l))
    if (std::regex_match(l, m, line)) out[m[1]] = std::stod(m[3]);
  return out;
}

double window_seconds(httplib::Client& cli) {
  auto res = cli.Get("/metrics");
  if (!res || res->status != 200) return -1;
  auto w = samples(res->body, "window_seconds");
  return w.count("kleak_window_seconds") ? w["kleak_window_seconds"] : -1;
}

// Waits until the served sample is newer than the one served now: one taken after whatever the
// caller just did (a plant). A condition, not a fixed time: under qemu TCG on a loaded host a
// sample came later than the 2.5 s these tests once slept (6.1 lane: a scrape of a 1.1 s window
// that held no pipe yet). False after `limit`.
bool wait_for_a_newer_sample(httplib::Client& cli, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  double now = window_seconds(cli);
  while (std::chrono::steady_clock::now() < deadline) {
    usleep(100'000);
    double w = window_seconds(cli);
    if (w >= 0 && w > now) return true;
  }
  return false;
}

TEST(Serve, MetricsPassAPrometheusParserAndShowThePlantedPipes) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--serve", "127.0.0.1:0", "--max-cpu", "0", "--kinds", "page"});
  const int port = t.metrics_port();
  std::map<std::string, std::string> planted;
  std::string body;
  {
    Planter p({"--pipes", "300"});
    planted = p.values;
    httplib::Client cli("127.0.0.1", port);
    ASSERT_TRUE(wait_for_a_newer_sample(cli)) << "no sample after the plant";
    auto res = cli.Get("/metrics");
    ASSERT_TRUE(res) << "no answer from the metrics endpoint";
    EXPECT_EQ(res->status, 200);
    EXPECT_NE(res->get_header_value("Content-Type").find("text/plain"), std::string::npos);
    body = res->body;
    EXPECT_EQ(t.stop(), 0) << t.err();
  }
  std::string file = ::testing::TempDir() + "kleak-metrics-" + std::to_string(getpid()) + ".txt";
  std::ofstream(file) << body;
  // The client library's parser: every family and sample must parse; print the pipe bytes.
  RunResult r = run({"/usr/bin/python3", "-c",
                     "import sys\n"
                     "from prometheus_client.parser import text_string_to_metric_families\n"
                     "n = 0\n"
                     "for f in text_string_to_metric_families(open(sys.argv[1]).read()):\n"
                     "    for s in f.samples:\n"
                     "        n += 1\n"
                     "        if s.name == 'kleak_kernel_outstanding_bytes' and s.labels.get('category') == 'pipe':\n"
                     "            print('pipe', int(s.value))\n"
                     "print('samples', n)\n",
                     file});
  unlink(file.c_str());
  ASSERT_EQ(r.status, 0) << r.err << body.substr(0, 2000);
  std::smatch pm;
  ASSERT_TRUE(std::regex_search(r.out, pm, std::regex("pipe ([0-9]+)"))) << r.out << body.substr(0, 2000);
  EXPECT_TRUE(within(std::stod(pm[1]), std::stod(planted.at("pipe_page_bytes")), 0.10)) << body.substr(0, 2000);
  EXPECT_NE(body.find("kleak_stack_outstanding_bytes{stack_id=\""), std::string::npos);
  EXPECT_NE(body.find("kleak_dropped_total{cause=\"alloc_map_full\"} 0"), std::string::npos);
}

// On the live box (hundreds of groups): 4a8f649 served 10 groups in /profile and 10 series for a
// documented --serve-top of 20, and outstanding_records as a counter went down between scrapes.
TEST(Serve, TheLiveBoxIsServedWholeWithCountersThatOnlyGoUp) {
  KLEAK_NEEDS_KERNEL(5, 11, "not passed on 5.10 yet: its one try there hung a TCG guest while the host built (tools/qemu/README.md)");
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--serve", "127.0.0.1:0", "--max-cpu", "0"});
  const int port = t.metrics_port();
  httplib::Client cli("127.0.0.1", port);
  Planter p({"--pipes", "50", "--eventfds", "50", "--sockets", "50", "--churn-seconds", "10"});
  ASSERT_TRUE(wait_for_a_newer_sample(cli)) << "no sample after the plant";
  auto first = cli.Get("/metrics");
  ASSERT_TRUE(first && first->status == 200);
  ASSERT_TRUE(wait_for_a_newer_sample(cli)) << "no second sample";
  auto second = cli.Get("/metrics");
  auto heap = cli.Get("/debug/pprof/heap");
  ASSERT_TRUE(second && heap && second->status == 200 && heap->status == 200);
  EXPECT_EQ(t.stop(), 0) << t.err();

  auto c1 = samples(first->body, "_total"), c2 = samples(second->body, "_total");
  EXPECT_GT(c1.size(), 10u);
  for (const auto& [name, v] : c1)
    if (c2.count(name)) EXPECT_GE(c2[name], v) << name << " is a counter and went down";
  double groups = samples(second->body, "groups").at("kleak_groups");
  ASSERT_GT(groups, 20) << "the box has more groups than --serve-top";
  size_t series = 0;
  for (size_t pos = 0; (pos = second->body.find("\nkleak_stack_outstanding_bytes{", pos)) != std::string::npos; ++pos) ++series;
  EXPECT_EQ(series, 20u) << "--serve-top defaults to 20";

  perftools::profiles::Profile prof;
  ASSERT_TRUE(prof.ParseFromString(gunzip(heap->body)));
  std::string comments;
  for (int64_t c : prof.comment()) comments += prof.string_table(static_cast<int>(c)) + "\n";
  std::smatch cm;
  ASSERT_TRUE(std::regex_search(comments, cm, std::regex("([0-9]+) of ([0-9]+) groups"))) << comments;
  EXPECT_EQ(cm[1], cm[2]) << "the profile holds every group: " << comments;
  EXPECT_GT(prof.sample_size(), 20);
}

// promtool's lint of a live scrape, apart from the test above so the qemu lanes (no promtool in
// the guest) run that one.
TEST(Serve, ALiveScrapePassesPromtoolLint) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  if (!std::filesystem::exists("/usr/bin/promtool")) {
    if (std::getenv("KLEAK_REQUIRE_TOOLS")) FAIL() << "/usr/bin/promtool is missing (tools/install-deps.sh)";
    GTEST_SKIP() << "/usr/bin/promtool is missing";
  }
  Tracing t({"--duration", "1h", "--serve", "127.0.0.1:0", "--max-cpu", "0"});
  const int port = t.metrics_port();
  httplib::Client cli("127.0.0.1", port);
  Planter p({"--pipes", "50", "--eventfds", "50", "--sockets", "50"});
  ASSERT_TRUE(wait_for_a_newer_sample(cli)) << "no sample after the plant";
  auto res = cli.Get("/metrics");
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(t.stop(), 0) << t.err();
  std::string file = ::testing::TempDir() + "kleak-live-metrics-" + std::to_string(getpid());
  std::ofstream(file) << res->body;
  RunResult lint = run({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file + " 2>&1"});
  unlink(file.c_str());
  EXPECT_EQ(lint.status, 0) << lint.out;
  EXPECT_EQ(lint.out, "") << "promtool lint of a live scrape";
}

// A report slower than --interval (here 1 ms: any report is) made the loop report back to back:
// the first sample was never served (/metrics said 503 for good) and SIGINT and SIGTERM were
// never read (kleak had to be killed). The same loop froze scrapes in the soak, in the real
// Prometheus test, and stalled the live-box test under qemu TCG, where a sample outlasts its period.
TEST(Serve, ReportsSlowerThanTheIntervalLeaveSamplesServedAndSignalsRead) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Planter p({"--pipes", "100"});
  Tracing t({"--duration", "1h", "--interval", "1ms", "--serve", "127.0.0.1:0", "--max-cpu", "0", "--kinds", "page", "--format", "json",
             "-o", "/dev/null"});
  const int port = t.metrics_port();
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(5, 0);
  double first = -1;
  for (int i = 0; i < 100 && first < 0; ++i, usleep(100'000)) first = window_seconds(cli);
  EXPECT_GE(first, 0) << "no sample served within 10 s";
  EXPECT_TRUE(wait_for_a_newer_sample(cli, std::chrono::seconds(30))) << "the served sample did not move in 30 s";
  double took = 0;
  EXPECT_EQ(t.stop_within(SIGTERM, std::chrono::seconds(20), &took), 0) << t.err();
  EXPECT_LT(took, 20);
  RecordProperty("sigterm_to_exit_ms", static_cast<int>(took * 1000));
}

// A daemon whose allocation map is full (the default 262144 entries, planted past) must still stop
// on SIGTERM within seconds with its report. Before: maintenance under map pressure ran back to
// back (each pass longer than the 200 ms between passes) and SIGTERM was never read: no exit in
// 128 s. The full map costs a few seconds to plant, which a smaller --max-allocs would not show:
// a pass over a small map ends well within 200 ms here.
TEST(Serve, AFullMapDaemonStopsWithinSecondsWithItsReport) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--serve", "127.0.0.1:0", "--max-cpu", "0", "--kinds", "percpu"});
  const int port = t.metrics_port();
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(10, 0);
  Planter p({"--percpu-map", "300000"});  // one percpu allocation per element
  double lost = 0;
  for (int i = 0; i < 60 && lost <= 0; ++i, sleep(1)) {
    auto res = cli.Get("/metrics");
    if (res && res->status == 200) lost = samples(res->body, "_total")["kleak_dropped_total{cause=\"alloc_map_full\"}"];
  }
  ASSERT_GT(lost, 0) << "the map did not fill";
  // Maintenance under pressure, several passes: at most 4x its cost apart (measured with a full
  // map, 51 % of a core before, 11.5 % after; less when the box is contended, never more).
  auto cpu_ticks = [&] {
    std::ifstream in("/proc/" + std::to_string(t.pid()) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), {});
    std::istringstream f(stat.substr(stat.rfind(')') + 2));
    std::string field;
    long ticks = 0;
    for (int i = 3; i <= 15 && f >> field; ++i)
      if (i == 14 || i == 15) ticks += std::stol(field);  // utime, stime
    return ticks;
  };
  long before = cpu_ticks();
  sleep(5);
  double cpu = static_cast<double>(cpu_ticks() - before) / static_cast<double>(sysconf(_SC_CLK_TCK)) / 5;
  RecordProperty("full_map_cpu_pct", static_cast<int>(cpu * 100));
  // Under qemu TCG ("QEMU TCG CPU" / "QEMU Virtual CPU") a full map's sample itself takes most of
  // its 5 s period (measured in the 6.1 lane: 81-88 % of a core): the bound is for real CPUs.
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string info((std::istreambuf_iterator<char>(cpuinfo)), {});
  if (info.find("model name\t: QEMU") == std::string::npos)
    EXPECT_LT(cpu, 0.35) << "of a core, with a full map and nothing else to do";
  double took = 0;
  EXPECT_EQ(t.stop_within(SIGTERM, std::chrono::seconds(20), &took), 3) << "exit 3: the map was full; " << t.err();
  EXPECT_LT(took, 10) << "SIGTERM to exit";
  RecordProperty("sigterm_to_exit_ms", static_cast<int>(took * 1000));
  EXPECT_NE(t.out().find("#1 "), std::string::npos) << "the final report: " << t.out().substr(0, 500);
  EXPECT_NE(t.err().find("allocation map (262144 entries) was full"), std::string::npos) << t.err();
}

// tls_server_config.client_ca_file (client_auth_type RequireAndVerifyClientCert by default, as in
// exporter-toolkit): curl with a certificate the CA signed gets the metrics; without one, or with
// one the CA did not sign, the handshake is refused.
TEST(Serve, ClientCertificatesAreRequiredAndVerified) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  for (const char* tool : {"/usr/bin/openssl", "/usr/bin/curl"})
    if (!std::filesystem::exists(tool)) {
      if (std::getenv("KLEAK_REQUIRE_TOOLS")) FAIL() << tool << " is missing (tools/install-deps.sh)";
      GTEST_SKIP() << tool << " is missing";
    }
  std::string dir = ::testing::TempDir() + "kleak-mtls-" + std::to_string(getpid());
  std::filesystem::create_directories(dir);
  // A CA; the server's certificate for 127.0.0.1 and a client's, both signed by it; a rogue
  // client certificate signed by nobody. P-256 keys: fast under qemu TCG too.
  RunResult pki = run({"/bin/sh", "-ec",
                       "cd \"$1\"\n"
                       "key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
                       "openssl req -x509 $key -keyout ca.key -out ca.pem -days 1 -subj /CN=kleak-test-ca\n"
                       "printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext\n"
                       "printf 'extendedKeyUsage=clientAuth\\n' > client.ext\n"
                       "for who in server client; do\n"
                       "  openssl req $key -keyout $who.key -out $who.csr -subj /CN=$who\n"
                       "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
                       "-extfile $who.ext -out $who.pem\n"
                       "done\n"
                       "openssl req -x509 $key -keyout rogue.key -out rogue.pem -days 1 -subj /CN=client\n",
                       "sh", dir});
  ASSERT_EQ(pki.status, 0) << pki.err;
  std::ofstream(dir + "/web.yml") << "tls_server_config:\n  cert_file: " << dir << "/server.pem\n  key_file: " << dir
                                  << "/server.key\n  client_ca_file: " << dir << "/ca.pem\n";
  Tracing t({"--duration", "1h", "--serve", "127.0.0.1:0", "--max-cpu", "0", "--web.config.file", dir + "/web.yml", "--kinds", "page"});
  const std::string url = t.ready().value("metrics", "");
  ASSERT_EQ(url.rfind("https://127.0.0.1:", 0), 0u) << t.ready().dump();
  auto get = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                                  "--cacert", dir + "/ca.pem"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    return run(argv);
  };
  RunResult ok;
  for (int i = 0; i < 50; ++i, usleep(100'000))  // 503 until the first sample
    if ((ok = get({"--cert", dir + "/client.pem", "--key", dir + "/client.key"})).out != "503") break;
  EXPECT_EQ(ok.out, "200") << ok.err;
  RunResult none = get({});
  EXPECT_NE(none.status, 0) << "no client certificate: " << none.out;
  EXPECT_EQ(none.out, "000") << none.err;
  RunResult rogue = get({"--cert", dir + "/rogue.pem", "--key", dir + "/rogue.key"});
  EXPECT_NE(rogue.status, 0) << "a certificate the CA did not sign: " << rogue.out;
  EXPECT_EQ(rogue.out, "000") << rogue.err;
  EXPECT_EQ(t.stop_within(SIGINT, std::chrono::seconds(20)), 0) << t.err();
  std::filesystem::remove_all(dir);
}

TEST(Serve, BadAddressIsAOneLineError) {
  RunResult r = run({KLEAK_BIN, "trace", "--serve", "nonsense"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("bad --serve"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kleak::test
