// AtomicFile: temporary file + fsync + rename (output_file.h).
#include "kleak/output_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
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

// A writer holds an flock on its temporary file from its creation until it exits; a file its
// writer cannot lock any more outlived it (SIGKILL, a crash) and is nobody's. The age covers
// the instant between a writer's open and its flock.
constexpr time_t kStaleAfterSeconds = 10;

// Removes this user's temporary files of `prefix` ("." + target name + ".kleak-tmp-") in `dir`
// that no writer holds: each SIGKILLed write used to leave one behind for good.
void remove_stale_temps(const std::string& dir, const std::string& prefix) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (!name.starts_with(prefix) || name.size() != prefix.size() + 16 ||
        name.substr(prefix.size()).find_first_not_of("0123456789abcdef") != std::string_view::npos)
      continue;
    int fd = ::openat(::dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) continue;
    struct stat st{};
    bool stale = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
                 ::time(nullptr) - st.st_mtime >= kStaleAfterSeconds && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (stale) ::unlinkat(::dirfd(d), e->d_name, 0);
    ::close(fd);
  }
  ::closedir(d);
}

// A new file next to `path`, O_EXCL|O_NOFOLLOW, mode 0600 until committed, flock'ed while open.
int create_temp(const std::string& path, std::string& tmp) {
  const std::string dir = dir_of(path);
  const std::string base = std::filesystem::path(path).filename().string();
  const std::string prefix = "." + base.substr(0, 200) + ".kleak-tmp-";
  remove_stale_temps(dir, prefix);
  for (int attempt = 0; attempt < 100; ++attempt) {
    uint64_t r = 0;
    if (::getrandom(&r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) r ^= static_cast<uint64_t>(::getpid()) << 20 ^ attempt;
    tmp = fmt::format("{}/{}{:016x}", dir, prefix, r);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::flock(fd, LOCK_EX | LOCK_NB);  // ours: held until the fd closes (or the process dies)
      return fd;
    }
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

void OutputSink::check() const {
  if (!path_.empty()) check_output_path(path_, opts_);
}

void OutputSink::write(std::string_view text) {
  if (path_.empty()) return write_stdout(text);
  if (file_) {
    file_->write(text);
    file_->sync();
    return;
  }
  file_.emplace(path_, opts_);
  file_->write(text);
  file_->commit();
}

}  // namespace kleak
