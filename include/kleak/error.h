// One error type for everything a user can get wrong or the box can refuse. main() catches it and
// prints `kleak: <message>` on one line with the exit code it carries: never a crash, never a
// silent empty report.
#pragma once
#include <stdexcept>
#include <string>

namespace kleak {

enum ExitCode : int {
  kExitOk = 0,
  kExitFailure = 1,  // the box refused: privileges, BTF, tracefs, load/attach failures
  // The user's input: flags, durations, filters, files they named, to read (unreadable, over a
  // cap, damaged) or to write (refused, or a write failed: a full disk, /dev/full, stdout).
  kExitUsage = 2,
  kExitIncomplete = 3,  // trace: a report was printed, but allocations were lost (map full)
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = kExitFailure)
      : std::runtime_error(message), code_(exit_code) {}
  int exit_code() const noexcept { return code_; }

 private:
  int code_;
};

// Convenience for input errors (exit code 2).
inline Error usage_error(const std::string& message) { return Error(message, kExitUsage); }

}  // namespace kleak
