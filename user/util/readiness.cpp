// --ready-fd and sd_notify(3) (include/kleak/readiness.h). The notify protocol is systemd's
// documented, stable one (one datagram of NAME=VALUE lines to the AF_UNIX socket in
// NOTIFY_SOCKET), written here rather than linking libsystemd: Debian ships no static archive
// of it, and kleak's static binary needs one.
#include "kleak/readiness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kleak/error.h"

namespace kleak {

std::string ready_line(const Readiness& r, int pid) {
  nlohmann::ordered_json j{{"ready", true}, {"pid", pid}, {"events", r.events}};
  if (!r.metrics_url.empty()) j["metrics"] = r.metrics_url;
  return j.dump() + "\n";
}

std::string notify_ready_message(const Readiness& r, int pid) {
  std::string status = fmt::format("tracing {} events", r.events);
  if (!r.metrics_url.empty()) status += ", serving " + r.metrics_url;
  return fmt::format("READY=1\nMAINPID={}\nSTATUS={}", pid, status);
}

void check_ready_fd(int fd) {
  if (fd <= 2)
    throw usage_error(fmt::format("--ready-fd {}: must be 3 or more (0, 1 and 2 are stdin, stdout and stderr)", fd));
  if (fcntl(fd, F_GETFD) < 0)
    throw usage_error(fmt::format("--ready-fd {}: not an open file descriptor ({})", fd, std::strerror(errno)));
}

std::string sd_notify_to(const char* notify_socket, const std::string& message) {
  if (!notify_socket || !*notify_socket) return "";
  std::string_view path(notify_socket);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Only filesystem and abstract sockets: systemd's vsock: form is for VMs kleak does not run as.
  if ((path[0] != '/' && path[0] != '@') || path.size() >= sizeof addr.sun_path)
    return fmt::format("NOTIFY_SOCKET={} is not a socket path kleak can use", path);
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (path[0] == '@') addr.sun_path[0] = '\0';
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fmt::format("sd_notify: socket: {}", std::strerror(errno));
  ssize_t n = sendto(fd, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
  int err = errno;
  close(fd);
  if (n < 0) return fmt::format("sd_notify to {}: {}", path, std::strerror(err));
  return "";
}

namespace {

// The whole line, through EINTR and short writes; false with errno set on a failure.
bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = write(fd, s.data(), s.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

std::optional<std::string> announce_ready(std::optional<int> fd, const Readiness& r) {
  std::string warnings;
  if (fd) {
    // A reader that went away must not kill the tracer with SIGPIPE: EPIPE is a warning.
    struct sigaction ignore {}, old {};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, &old);
    if (!write_all(*fd, ready_line(r, getpid())))
      warnings = fmt::format("--ready-fd {}: {} (nobody was waiting)", *fd, std::strerror(errno));
    sigaction(SIGPIPE, &old, nullptr);
    close(*fd);
  }
  std::string why = sd_notify_to(getenv("NOTIFY_SOCKET"), notify_ready_message(r, getpid()));
  if (!why.empty()) warnings += (warnings.empty() ? "" : "; ") + why;
  if (warnings.empty()) return std::nullopt;
  return warnings;
}

void announce_stopping() { (void)sd_notify_to(getenv("NOTIFY_SOCKET"), "STOPPING=1"); }

}  // namespace kleak
