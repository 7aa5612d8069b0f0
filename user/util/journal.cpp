// Syslog priority prefixes when stderr is the journal (journal.h).
#include "kleak/journal.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

namespace kleak {

bool fd_is_journal_stream(int fd, const char* journal_stream) {
  if (!journal_stream || !*journal_stream) return false;
  uintmax_t dev = 0, ino = 0;
  char rest = 0;
  if (std::sscanf(journal_stream, "%ju:%ju%c", &dev, &ino, &rest) != 2) return false;
  struct stat st{};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<uintmax_t>(st.st_dev) == dev && static_cast<uintmax_t>(st.st_ino) == ino;
}

std::string_view log_prefix(LogLevel level) {
  static const bool journal = fd_is_journal_stream(STDERR_FILENO, std::getenv("JOURNAL_STREAM"));
  if (!journal) return "";
  switch (level) {
    case LogLevel::err: return "<3>";
    case LogLevel::warning: return "<4>";
    case LogLevel::info: return "<6>";
  }
  return "";
}

}  // namespace kleak
