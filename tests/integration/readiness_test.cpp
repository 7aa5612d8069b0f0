// Readiness in machine terms (issue 26): `--ready-fd N` and systemd's NOTIFY_SOCKET. The line
// arrives only once kleak is really tracing: an allocation planted right after it is in the
// report. Bad descriptors are refused before anything touches the kernel.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

namespace kleak::test {
namespace {

using nlohmann::json;

TEST(Readiness, TheReadyLineComesOnceTracingAndNamesTheEventsAndTheEndpoint) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  Tracing t({"--duration", "1h", "--format", "json", "--top", "1000", "--serve", "127.0.0.1:0", "--max-cpu", "0"});
  EXPECT_EQ(t.ready()["ready"], true);
  EXPECT_EQ(t.ready()["pid"], t.pid());
  EXPECT_GE(t.ready()["events"].get<int>(), 9) << t.ready().dump();  // 5.10 has the _node events too
  EXPECT_GT(t.metrics_port(), 0);
  {
    // Planted after the line, held past the window's end: found only if the programs were attached.
    Planter p({"--pipes", "50", "--fill", "60000"});
    EXPECT_EQ(t.stop(), 0) << t.err();
  }
  EXPECT_GT(find_stacks(t.json(), "page", pipe_write_function()).count, 0u) << t.out().substr(0, 2000);
}

TEST(Readiness, ABadReadyFdIsRefusedBeforeTracing) {
  for (const char* fd : {"1", "2", "0", "97"}) {
    RunResult r = run({KLEAK_BIN, "trace", "--duration", "1s", "--ready-fd", fd});
    EXPECT_EQ(r.status, 2) << fd << ": " << r.err;
    EXPECT_NE(r.err.find(std::string("--ready-fd ") + fd + ":"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("kleak: tracing"), std::string::npos) << r.err;
  }
  RunResult h = run({KLEAK_BIN, "hunt", "--watch", "1s", "--ready-fd", "97"});
  EXPECT_EQ(h.status, 2) << h.err;
  EXPECT_NE(h.err.find("--ready-fd 97: not an open file descriptor"), std::string::npos) << h.err;
}

// A datagram socket standing in for systemd's: what kleak sends is what systemd reads
// (sd_notify(3)); the unit is Type=notify on it.
class NotifySocket {
 public:
  NotifySocket() : path_("/tmp/kleak-notify-" + std::to_string(getpid())) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    unlink(path_.c_str());
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("bind");
    timeval tv{60, 0};  // a bound on a broken kleak, not a wait for a condition
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  std::string next() {
    char buf[4096];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
};

TEST(Readiness, SystemdIsToldReadyThenStopping) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  NotifySocket sock;
  Tracing t({"--duration", "1h", "--kinds", "page"}, {}, KLEAK_BIN, {"NOTIFY_SOCKET=" + sock.path()});
  std::string ready = sock.next();
  EXPECT_NE(ready.find("READY=1\n"), std::string::npos) << ready;
  EXPECT_NE(ready.find("MAINPID=" + std::to_string(t.pid()) + "\n"), std::string::npos) << ready;
  EXPECT_NE(ready.find("STATUS=tracing "), std::string::npos) << ready;
  EXPECT_EQ(t.stop(), 0) << t.err();
  EXPECT_EQ(sock.next(), "STOPPING=1");
}

}  // namespace
}  // namespace kleak::test
