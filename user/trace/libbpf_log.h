// libbpf's messages, captured while a Tracer lives, so that a failed load is reported in one line
// (the verifier's reason) and nothing else of libbpf's reaches the terminal unless
// KLEAK_VERBOSE=1. Private to user/trace/.
#pragma once
#include <mutex>
#include <string>

namespace kleak {

class LibbpfLog {
 public:
  // Installs itself as libbpf's print function; the destructor puts the previous one back.
  explicit LibbpfLog(bool verbose);
  ~LibbpfLog();
  LibbpfLog(const LibbpfLog&) = delete;
  LibbpfLog& operator=(const LibbpfLog&) = delete;

  void clear();
  std::string text() const;

 private:
  void add(int level, const std::string& line);
  friend struct LibbpfLogSink;

  bool verbose_;
  mutable std::mutex mu_;
  std::string log_;
  LibbpfLog* previous_capture_;
  void* previous_print_;  // libbpf_print_fn_t
};

// The most telling line of a failed load's log: the verifier's last word before libbpf's
// "-- END PROG LOAD LOG --", else the first specific libbpf failure, else the last line.
std::string verifier_reason(const std::string& log);

// libbpf ends many lines with a bare negative errno ("failed to load BPF skeleton 'kleak_bpf': -1"):
// that number with its text ("...: -1 (Operation not permitted)"); other lines unchanged.
std::string with_errno_text(const std::string& line);

}  // namespace kleak
