// Telling a supervisor that kleak is tracing, in machine terms rather than the human stderr line:
//   --ready-fd N  one JSON line on file descriptor N once every program is attached (and, with
//                 --serve, the listener is bound), then N is closed: tests, the bench, the qemu
//                 lanes and scripts wait for it instead of matching "kleak: tracing";
//   NOTIFY_SOCKET sd_notify(3)'s READY=1 (with a STATUS= line) at the same moment, and STOPPING=1
//                 when the window ends, so the systemd unit can be Type=notify.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace kleak {

// What is ready: the events attached and, with --serve, where /metrics is.
struct Readiness {
  size_t events = 0;
  std::string metrics_url;  // "" without --serve
};

// The --ready-fd line: {"ready":true,"pid":P,"events":N[,"metrics":"URL"]} and a newline.
std::string ready_line(const Readiness& r, int pid);

// The sd_notify(3) message for it: READY=1, MAINPID and a STATUS= line.
std::string notify_ready_message(const Readiness& r, int pid);

// --ready-fd N must be an open descriptor above stderr; throws usage_error otherwise.
void check_ready_fd(int fd);

// Writes the line to `fd` (if any) and closes it, and notifies systemd when NOTIFY_SOCKET is
// set. A supervisor that went away is not kleak's failure: returns the warnings to print.
std::optional<std::string> announce_ready(std::optional<int> fd, const Readiness& r);

// STOPPING=1 to systemd when NOTIFY_SOCKET is set (the window ended; a report follows).
void announce_stopping();

// Sends `message` to the socket NOTIFY_SOCKET names ("/path" or "@abstract"); "" when sent or
// when `notify_socket` is null, else why not.
std::string sd_notify_to(const char* notify_socket, const std::string& message);

}  // namespace kleak
