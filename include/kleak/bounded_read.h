// The one way kleak reads a file it parses (/proc copies, kallsyms, BTF, snapshots, recordings):
// regular files only (the live /proc and /sys files are regular too; /dev/zero, FIFOs and other
// devices are refused before a byte is read), at most `cap` bytes (a bigger file is refused with
// the cap named), and interruptible: SIGINT/SIGTERM, blocked by `kleak trace` while it waits,
// stop a long read or parse (stop_requested()) instead of being ignored.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kleak {

// The caps, sized from this 6.18 box (kallsyms 5.4 MB, BTF 5.5 MB, vmallocinfo 136 kB) with
// room for kernels ten times bigger.
inline constexpr uint64_t kCapKallsyms = 64ull << 20;
inline constexpr uint64_t kCapBtf = 256ull << 20;
inline constexpr uint64_t kCapSnapshot = 256ull << 20;  // a saved meminfo snapshot (JSON)
inline constexpr uint64_t kCapRecording = 1ull << 30;   // a recording as stored (gzip)
inline constexpr uint64_t kCapSysfsFile = 64ull << 10;
// --web.config.file (a few hundred bytes in practice) and the TLS files it names (a CA bundle
// of every public CA is 220 kB).
inline constexpr uint64_t kCapWebConfig = 1ull << 20;
inline constexpr uint64_t kCapTlsFile = 16ull << 20;

// "64 MiB": caps and sizes in errors.
std::string format_cap(uint64_t bytes);

struct BoundedRead {
  std::optional<std::string> text;  // nullopt when not read
  std::string error;                // one line naming the path and why
  bool refused = false;             // it exists but is not a regular file or is over the cap
  int errnum = 0;                   // the errno when open or read failed
};

// Never throws: for readers that report a missing file instead of failing (procfs).
BoundedRead try_read_bounded(const std::string& path, uint64_t cap, std::string_view what);

// Throws kleak::Error: exit 2 (the user named the file) unless `exit_code` says otherwise.
std::string read_bounded(const std::string& path, uint64_t cap, std::string_view what, int exit_code = 2);

// Checks `path` is a regular file of at most `cap` bytes without reading it (for files a
// library reads itself, such as BTF for libbpf). Throws kleak::Error.
void check_regular_file(const std::string& path, uint64_t cap, std::string_view what, int exit_code = 2);

// True when SIGINT or SIGTERM is pending (kleak blocks them while tracing; unblocked, they end
// the process anyway). Long loops call check_stop() and unwind with a one-line error.
bool stop_requested();
void check_stop(std::string_view doing);

}  // namespace kleak
