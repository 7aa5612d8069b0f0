// Bounded, interruptible reads of the files kleak parses (bounded_read.h).
#include "kleak/bounded_read.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "kleak/error.h"

namespace kleak {

namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string not_regular(const std::string& path, std::string_view what, mode_t mode) {
  const char* kind = S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
                     : S_ISFIFO(mode) ? "a FIFO" : S_ISSOCK(mode) ? "a socket" : S_ISDIR(mode) ? "a directory"
                                                                                                : "not a regular file";
  return fmt::format("{}: {} is {}, not a regular file", path, what, kind);
}

std::string over_cap(const std::string& path, std::string_view what, uint64_t cap) {
  return fmt::format("{}: larger than {}, the cap for {}", path, format_cap(cap), what);
}

}  // namespace

std::string format_cap(uint64_t bytes) {
  if (bytes >= (1ull << 30) && bytes % (1ull << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (1ull << 10) && bytes % (1ull << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} bytes", bytes);
}

bool stop_requested() {
  sigset_t pending;
  if (sigpending(&pending) != 0) return false;
  return sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1;
}

void check_stop(std::string_view doing) {
  if (stop_requested()) throw Error(fmt::format("interrupted while {}", doing));
}

BoundedRead try_read_bounded(const std::string& path, uint64_t cap, std::string_view what) {
  BoundedRead r;
  // O_NONBLOCK: opening a FIFO must not wait for a writer before it can be refused.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    r.errnum = errno;
    r.error = fmt::format("cannot read {}: {}", path, std::strerror(errno));
    return r;
  }
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) {
    r.error = fmt::format("cannot read {}: {}", path, std::strerror(errno));
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.error = not_regular(path, what, st.st_mode);
    r.refused = true;
    return r;
  }
  // /proc and sysfs files say 0 (or a page) and are read to EOF; a stated size over the cap is
  // refused before reading.
  if (static_cast<uint64_t>(st.st_size) > cap) {
    r.error = over_cap(path, what, cap);
    r.refused = true;
    return r;
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  // Read straight into the string, a MiB at a time (kallsyms: 5 MB in ~100 reads of /proc).
  std::string text;
  size_t used = 0;
  for (;;) {
    if (stop_requested()) {
      r.error = fmt::format("interrupted while reading {}", path);
      return r;
    }
    if (text.size() - used < (256u << 10)) text.resize(std::min<uint64_t>(used + (1u << 20), cap + 1));
    if (used == text.size()) {  // cap + 1 bytes read
      r.error = over_cap(path, what, cap);
      r.refused = true;
      return r;
    }
    ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.errnum = errno;
      r.error = fmt::format("cannot read {}: {}", path, std::strerror(errno));
      return r;
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  if (used > cap) {
    r.error = over_cap(path, what, cap);
    r.refused = true;
    return r;
  }
  text.resize(used);
  r.text = std::move(text);
  return r;
}

std::string read_bounded(const std::string& path, uint64_t cap, std::string_view what, int exit_code) {
  BoundedRead r = try_read_bounded(path, cap, what);
  if (!r.text) throw Error(r.error, exit_code);
  return std::move(*r.text);
}

void check_regular_file(const std::string& path, uint64_t cap, std::string_view what, int exit_code) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) throw Error(fmt::format("cannot read {}: {}", path, std::strerror(errno)), exit_code);
  if (!S_ISREG(st.st_mode)) throw Error(not_regular(path, what, st.st_mode), exit_code);
  if (static_cast<uint64_t>(st.st_size) > cap) throw Error(over_cap(path, what, cap), exit_code);
}

}  // namespace kleak
