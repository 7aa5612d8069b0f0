// Syslog priorities on stderr lines, for journald (sd-daemon(3): a line starting "<N>" is logged
// at priority N, the prefix stripped). Only when stderr is the journal: on a terminal or in a
// file the "<6>" would be noise.
#pragma once
#include <string>
#include <string_view>

namespace kleak {

enum class LogLevel { err = 3, warning = 4, info = 6 };

// Whether `journal_stream` (the JOURNAL_STREAM value systemd sets: "DEVICE:INODE" of the stream
// it connected) names the file `fd` is open on. Compared, not just present, as sd-daemon(3)
// says: a child of the service whose stderr was redirected inherits the variable.
bool fd_is_journal_stream(int fd, const char* journal_stream);

// "<3>", "<4>", "<6>" when stderr is the journal stream, else "". Decided once per process.
std::string_view log_prefix(LogLevel level);

}  // namespace kleak
