// SIGINT/SIGTERM (and more) blocked for a loop that waits for "the next deadline or a signal"
// with sigtimedwait: no handler, no global. The old mask comes back on the way out, and a
// signal that arrived after the last wait is swallowed first (it was already acted on).
#pragma once
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <ctime>
#include <initializer_list>

namespace kleak {

class BlockedSignals {
 public:
  BlockedSignals(std::initializer_list<int> signals = {SIGINT, SIGTERM}) {
    sigemptyset(&set_);
    for (int s : signals) sigaddset(&set_, s);
    pthread_sigmask(SIG_BLOCK, &set_, &old_);
  }
  ~BlockedSignals() {
    timespec zero{};
    while (sigtimedwait(&set_, nullptr, &zero) > 0) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;

  // A signal already pending, or 0: never waits.
  int poll() const {
    timespec zero{};
    int sig = sigtimedwait(&set_, nullptr, &zero);
    return sig > 0 ? sig : 0;
  }

  // Waits up to `d`; the signal that arrived, or 0 when the time is up.
  int wait(std::chrono::nanoseconds d) const {
    auto deadline = std::chrono::steady_clock::now() + d;
    for (;;) {
      auto left = deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::nanoseconds::zero()) return 0;
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
      timespec ts{static_cast<time_t>(secs.count()),
                  static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(left - secs).count())};
      int sig = sigtimedwait(&set_, nullptr, &ts);
      if (sig > 0) return sig;
      if (errno != EINTR && errno != EAGAIN) return 0;
    }
  }

 private:
  sigset_t set_{};
  sigset_t old_{};
};

}  // namespace kleak
