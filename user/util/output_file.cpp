// AtomicFile: temporary file + fsync + rename (output_file.h).
#include "kleak/output_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "kleak/error.h"

namespace kleak {

namespace {

Error output_error(const std::string& what, const std::string& path, int err) {
  return Error(fmt::format("{} {}: {}", what, path, std::strerror(err)), kExitUsage);
}

std::string dir_of(const std::string& path) {
  std::string d = std::filesystem::path(path).parent_path().string();
  return d.empty() ? "." : d;
}

// How the target is written: replaced by a renamed temporary file (regular files and paths
// that do not exist yet), or in place (character devices and FIFOs: /dev/null, /dev/stdout's
// target, a pipe; renaming over them would replace the device node).
enum class Target { Replace, InPlace };

// The refusals. `path` is lstat'ed: a symlink is never followed unless forced.
Target check_target(std::string& path, const OutputOptions& opts) {
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Target::Replace;
    throw output_error("cannot write", path, errno);
  }
  if (S_ISLNK(st.st_mode)) {
    if (!opts.force)
      throw Error(fmt::format("refusing to write {}: it is a symlink, which kleak does not follow "
                              "(remove it, or pass --force to write where it points)",
                              path),
                  kExitUsage);
    std::error_code ec;
    auto real = std::filesystem::canonical(path, ec);
    if (ec) throw Error(fmt::format("cannot write {}: {}", path, ec.message()), kExitUsage);
    path = real.string();
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return Target::Replace;
      throw output_error("cannot write", path, errno);
    }
  }
  if (S_ISDIR(st.st_mode)) throw output_error("cannot write", path, EISDIR);
  const bool ours = st.st_uid == ::geteuid();
  if (S_ISREG(st.st_mode)) {
    if (!ours && !opts.force)
      throw Error(fmt::format("refusing to replace {}: it belongs to uid {}, not to this user "
                              "(remove it, or pass --force)",
                              path, st.st_uid),
                  kExitUsage);
    return Target::Replace;
  }
  // Devices owned by root (/dev/null, /dev/full) or by this user (a tty); a FIFO or device
  // another user made would hand them the report.
  if (!ours && st.st_uid != 0 && !opts.force)
    throw Error(fmt::format("refusing to write {}: it belongs to uid {}, not to this user (pass --force)",
                            path, st.st_uid),
                kExitUsage);
  return Target::InPlace;
}

// A new file next to `path`, O_EXCL|O_NOFOLLOW, mode 0600 until committed.
int create_temp(const std::string& path, std::string& tmp) {
  const std::string dir = dir_of(path);
  const std::string base = std::filesystem::path(path).filename().string();
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) r ^= static_cast<uint64_t>(::getpid()) << 20 ^ attempt;
    tmp = fmt::format("{}/.{}.kleak-tmp-{:016x}", dir, base.substr(0, 200), r);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) return fd;
    if (errno != EEXIST) throw output_error("cannot write", path, errno);
  }
  throw output_error("cannot write", path, EEXIST);
}

void fsync_dir(const std::string& path) {
  int dfd = ::open(dir_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return;  // the rename happened; a directory we cannot open cannot be synced either
  ::fsync(dfd);
  ::close(dfd);
}

}  // namespace

void check_output_path(const std::string& path, const OutputOptions& opts) {
  std::string p = path;
  if (check_target(p, opts) == Target::InPlace) {
    int fd = ::open(p.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 && errno != ENXIO) throw output_error("cannot write", path, errno);  // ENXIO: FIFO, no reader yet
    if (fd >= 0) ::close(fd);
    return;
  }
  std::string tmp;
  int fd = create_temp(p, tmp);
  ::close(fd);
  ::unlink(tmp.c_str());
}

AtomicFile::AtomicFile(std::string path, OutputOptions opts) : path_(std::move(path)), opts_(opts) {
  std::string target = path_;
  if (check_target(target, opts_) == Target::InPlace) {
    fd_ = ::open(target.c_str(), O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd_ < 0) throw output_error("cannot write", path_, errno);
    committed_ = true;  // nothing to rename: writes go where they go
    return;
  }
  fd_ = create_temp(target, tmp_);
  path_ = target;
  if (opts_.mode != 0600 && ::fchmod(fd_, opts_.mode) != 0) {
    int err = errno;
    ::close(fd_);
    ::unlink(tmp_.c_str());
    fd_ = -1;
    throw output_error("cannot write", path_, err);
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::write(std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw output_error("cannot write", path_, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void AtomicFile::sync() {
  // Devices and pipes cannot be synced (EINVAL/EROFS): only a file's data is made durable.
  if (::fsync(fd_) != 0 && errno != EINVAL && errno != EROFS) throw output_error("cannot write", path_, errno);
}

void AtomicFile::commit() {
  if (committed_) {
    sync();
    return;
  }
  // A full disk shows up at fsync on some filesystems (delayed allocation): before the rename,
  // so the previous file survives.
  if (::fsync(fd_) != 0) throw output_error("cannot write", path_, errno);
  std::string target = path_;
  check_target(target, opts_);  // again: the path may have been swapped during a long run
  if (::rename(tmp_.c_str(), target.c_str()) != 0) throw output_error("cannot replace", path_, errno);
  committed_ = true;
  fsync_dir(target);
}

void write_file_atomically(const std::string& path, std::string_view bytes, const OutputOptions& opts) {
  AtomicFile f(path, opts);
  f.write(bytes);
  f.commit();
}

void write_stdout(std::string_view bytes) {
  std::fflush(stdout);  // anything printed through stdio goes first
  while (!bytes.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("writing to stdout failed: {}", std::strerror(errno)), kExitUsage);
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace kleak
