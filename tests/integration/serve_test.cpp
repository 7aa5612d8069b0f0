// kleak trace --serve: a real scrape on loopback, parsed by the Prometheus client library's own
// text-format parser (Debian's python3-prometheus-client).
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <regex>

#include "harness.h"

namespace kleak::test {
namespace {

TEST(Serve, MetricsPassAPrometheusParserAndShowThePlantedPipes) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--serve", "127.0.0.1:0", "--kinds", "page"});
  std::string line = t.next_err_line();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(line, m, std::regex("http://127\\.0\\.0\\.1:([0-9]+)/metrics"))) << line;
  int port = std::stoi(m[1]);
  std::map<std::string, std::string> planted;
  std::string body;
  {
    Planter p({"--pipes", "300"});
    planted = p.values;
    usleep(2'500'000);  // at least one sample after the plant (every second at first)
    httplib::Client cli("127.0.0.1", port);
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

TEST(Serve, BadAddressIsAOneLineError) {
  RunResult r = run({KLEAK_BIN, "trace", "--serve", "nonsense"});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("bad --serve"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kleak::test
