// /healthz and /readyz, what a kubelet's liveness and readiness probes ask (deploy/kubernetes):
// live while the programs are attached and the trace loop turns, ready once the first sample is
// served; both without credentials and without data. Before: both were 404 (401 with basic auth).
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <regex>

#include "harness.h"

namespace kleak::test {
namespace {

// A port nothing listens on now (bound to 0, read, closed).
int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0)
    throw std::runtime_error("no free port");
  close(fd);
  return ntohs(a.sin_port);
}

struct Answer {
  int status = 0;  // 0: no answer
  std::string body, retry_after, content_type;
};

Answer get(int port, const std::string& path, const std::string& user = "", const std::string& password = "") {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1, 0);
  cli.set_read_timeout(5, 0);
  if (!user.empty()) cli.set_basic_auth(user.c_str(), password.c_str());
  auto res = cli.Get(path.c_str());
  if (!res) return {};
  return {res->status, res->body, res->get_header_value("Retry-After"), res->get_header_value("Content-Type")};
}

// Asks `path` until it says `status` (at most `seconds`); the last answer.
Answer wait_for(int port, const std::string& path, int status, int seconds) {
  Answer a;
  for (int i = 0; i < seconds * 10; ++i, usleep(100'000))
    if ((a = get(port, path)).status == status) break;
  return a;
}

TEST(Probes, HealthzIsOkWhileTracingAndReadyzWaitsForTheFirstSample) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "5m", "--serve", "127.0.0.1:0", "--kinds", "page"});
  int port = t.metrics_port();
  // The window opened under a second ago; the first sample is at 1 s.
  Answer ready = get(port, "/readyz");
  Answer live = get(port, "/healthz");
  EXPECT_EQ(live.status, 200) << live.body;
  EXPECT_EQ(live.body, "ok\n");
  EXPECT_EQ(live.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_EQ(ready.body, "kleak: no sample yet\n");
  EXPECT_EQ(ready.retry_after, "1");
  ready = wait_for(port, "/readyz", 200, 10);
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body, "ok\n");
  EXPECT_EQ(get(port, "/metrics").status, 200) << "ready means /metrics answers";
  EXPECT_EQ(t.stop(), 0) << t.err();
}

// The server listens before the programs are attached (a bad address fails before the kernel is
// touched): a probe then hears 503, then 200 once attached, never the other way round.
TEST(Probes, HealthzSays503UntilTheProgramsAreAttached) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  int port = free_port();
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<Answer> heard;
  std::thread poller([&] {
    while (!stop) {
      Answer a = get(port, "/healthz");
      if (a.status) {
        std::lock_guard lk(mu);
        heard.push_back(a);
      }
      usleep(2'000);
    }
  });
  Tracing t({"--duration", "5m", "--serve", "127.0.0.1:" + std::to_string(port), "--kinds", "page"});
  usleep(300'000);
  stop = true;
  poller.join();
  EXPECT_EQ(t.stop(), 0) << t.err();
  ASSERT_FALSE(heard.empty()) << "no answer from /healthz";
  EXPECT_EQ(heard.front().status, 503) << "before attach";
  EXPECT_EQ(heard.front().body, "kleak: attaching its programs\n");
  EXPECT_EQ(heard.back().status, 200) << "attached";
  size_t first_ok = 0;
  while (first_ok < heard.size() && heard[first_ok].status != 200) ++first_ok;
  for (size_t i = first_ok; i < heard.size(); ++i) EXPECT_EQ(heard[i].status, 200) << "answer " << i << " after attach";
  RecordProperty("answers_before_attach", static_cast<int>(first_ok));
}

// Basic auth guards the data; the probes carry none and answer without credentials (a kubelet
// probe sends no password), with nothing but "ok" or why not.
TEST(Probes, AnswerWithoutCredentialsWhereTheDataNeedsThem) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  std::string file = ::testing::TempDir() + "kleak-probes-" + std::to_string(getpid()) + ".yml";
  // prom:secret, made with `htpasswd -nbBC 10 prom secret` (tests/unit/serve_test.cpp).
  std::ofstream(file) << "basic_auth_users:\n  prom: $2y$10$7F6P.0MV7sakbad24DUBGeET0L6CEB7f2T9qsB229C20x5aPywQh6\n";
  Tracing t({"--duration", "5m", "--serve", "127.0.0.1:0", "--web.config.file", file, "--kinds", "page"});
  int port = t.metrics_port();
  EXPECT_EQ(get(port, "/metrics").status, 401);
  EXPECT_EQ(get(port, "/").status, 401);
  Answer live = get(port, "/healthz");
  EXPECT_EQ(live.status, 200);
  EXPECT_EQ(live.body, "ok\n");
  Answer ready = wait_for(port, "/readyz", 200, 10);
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(ready.body, "ok\n");
  EXPECT_EQ(get(port, "/metrics", "prom", "secret").status, 200);
  EXPECT_EQ(get(port, "/metrics", "prom", "wrong").status, 401);
  EXPECT_EQ(t.stop(), 0) << t.err();
  unlink(file.c_str());
}

// The HTTP thread alive is not kleak alive: with its loop blocked (here writing --interval
// reports to a stdout nobody reads, as a stalled log pipe would), /healthz turns 503 after
// kLoopStallLimit (30 s) and 200 again once the loop runs.
TEST(Probes, AStuckTraceLoopFailsHealthzAndRecovers) {
  KLEAK_NEEDS(HostOnly);
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "5m", "--serve", "127.0.0.1:0", "--kinds", "page", "--interval", "200ms"});
  int port = t.metrics_port();
  auto t0 = std::chrono::steady_clock::now();
  Answer stuck = wait_for(port, "/healthz", 503, 90);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(stuck.status, 503) << "the loop never looked stuck: " << stuck.body;
  EXPECT_TRUE(stuck.body.starts_with("kleak: the trace loop has not run for 3")) << stuck.body;
  EXPECT_GT(took, 30) << "503 only past the stall limit";
  EXPECT_EQ(get(port, "/metrics").status, 200) << "the last sample is still served";
  RecordProperty("seconds_to_503", static_cast<int>(took));
  std::thread reader([&] { t.read_out_to_eof(); });
  Answer back = wait_for(port, "/healthz", 200, 10);
  EXPECT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(t.stop(), 0) << t.err();
  reader.join();
}

}  // namespace
}  // namespace kleak::test
