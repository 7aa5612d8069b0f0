// libbpf's print function: it takes no user pointer, so the one piece of static state is which
// capture is in scope (set by LibbpfLog's constructor, put back by its destructor).
#include "trace/libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <charconv>
#include <sstream>

namespace kleak {

namespace {
LibbpfLog* g_capture = nullptr;
}  // namespace

struct LibbpfLogSink {
  static int print(enum libbpf_print_level level, const char* fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    std::string buf(n > 0 ? static_cast<size_t>(n) : 0, '\0');
    if (n > 0) vsnprintf(buf.data(), buf.size() + 1, fmt, args);
    if (g_capture) g_capture->add(level, buf);
    return 0;
  }
};

LibbpfLog::LibbpfLog(bool verbose) : verbose_(verbose), previous_capture_(g_capture) {
  g_capture = this;
  previous_print_ = reinterpret_cast<void*>(libbpf_set_print(LibbpfLogSink::print));
}

LibbpfLog::~LibbpfLog() {
  libbpf_set_print(reinterpret_cast<libbpf_print_fn_t>(previous_print_));
  g_capture = previous_capture_;
}

void LibbpfLog::add(int level, const std::string& line) {
  std::lock_guard lk(mu_);
  if (level != LIBBPF_DEBUG || verbose_) log_ += line;
  if (verbose_) fputs(line.c_str(), stderr);
}

void LibbpfLog::clear() {
  std::lock_guard lk(mu_);
  log_.clear();
}

std::string LibbpfLog::text() const {
  std::lock_guard lk(mu_);
  return log_;
}

// The most telling line of a failed load: the verifier's last word before libbpf's
// "-- END PROG LOAD LOG --", else the first specific libbpf failure (a map that could not be
// created, a relocation that failed), else the last line.
std::string verifier_reason(const std::string& log) {
  std::istringstream in(log);
  std::string line, prev, verifier, specific, last;
  std::string prog;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.find("BEGIN PROG LOAD LOG") != std::string::npos) {
      auto q = line.find("prog '");
      if (q != std::string::npos) prog = line.substr(q + 6, line.find('\'', q + 6) - q - 6);
      continue;
    }
    if (line.find("END PROG LOAD LOG") != std::string::npos) {
      if (verifier.empty()) verifier = "program " + prog + " rejected by the verifier: " + prev;
      continue;
    }
    if (line.rfind("processed ", 0) != 0 && line.rfind("verification time", 0) != 0) prev = line;
    if (specific.empty() && line.find("failed to") != std::string::npos &&
        line.find("failed to load object") == std::string::npos &&
        line.find("failed to load BPF skeleton") == std::string::npos &&
        line.find("BPF program load failed") == std::string::npos)
      specific = line.rfind("libbpf: ", 0) == 0 ? line.substr(8) : line;
    last = line;
  }
  return !verifier.empty() ? verifier : !specific.empty() ? specific : last;
}

std::string with_errno_text(const std::string& line) {
  size_t digits = line.find_last_not_of("0123456789");
  if (digits == std::string::npos || digits + 1 == line.size() || line[digits] != '-') return line;
  if (digits > 0 && line[digits - 1] != ' ') return line;
  int e = 0;
  std::from_chars(line.data() + digits + 1, line.data() + line.size(), e);
  return e > 0 ? line + " (" + std::strerror(e) + ")" : line;
}

}  // namespace kleak
