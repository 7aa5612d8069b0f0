// DirProcSource: /proc and /sys files read from two directories (the live ones or a copy).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "kleak/procfs.h"

namespace kleak {

DirProcSource::DirProcSource(std::filesystem::path proc_root, std::filesystem::path sys_root)
    : proc_root_(std::move(proc_root)), sys_root_(std::move(sys_root)) {}

std::filesystem::path DirProcSource::resolve(std::string_view path) const {
  constexpr std::string_view kSys = "/sys/";
  if (path.substr(0, kSys.size()) == kSys) return sys_root_ / std::string(path.substr(kSys.size()));
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return proc_root_ / std::string(path);
}

ReadResult DirProcSource::read(std::string_view path) const {
  // /proc files report size 0 and may be read in any number of chunks: read to EOF.
  ReadResult r;
  auto p = resolve(path);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.error = std::strerror(errno);
    return r;
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      r.error = std::strerror(errno);
      ::close(fd);
      return r;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  r.text = std::move(text);
  return r;
}

bool DirProcSource::exists(std::string_view path) const {
  std::error_code ec;
  return std::filesystem::exists(resolve(path), ec);
}

std::vector<std::string> DirProcSource::list(std::string_view dir) const {
  std::vector<std::string> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(resolve(dir), ec), end; !ec && it != end;
       it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string DirProcSource::describe() const {
  if (proc_root_ == "/proc") return "/proc";
  return proc_root_.string();
}

bool DirProcSource::has_sysfs() const {
  std::error_code ec;
  return std::filesystem::is_directory(sys_root_, ec);
}

}  // namespace kleak
