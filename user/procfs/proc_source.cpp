// DirProcSource: /proc and /sys files read from two directories (the live ones or a copy).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "kleak/procfs.h"

#include "kleak/bounded_read.h"

namespace kleak {

DirProcSource::DirProcSource(std::filesystem::path proc_root, std::filesystem::path sys_root)
    : proc_root_(std::move(proc_root)), sys_root_(std::move(sys_root)) {}

std::filesystem::path DirProcSource::resolve(std::string_view path) const {
  constexpr std::string_view kSys = "/sys/";
  if (path.substr(0, kSys.size()) == kSys) return sys_root_ / std::string(path.substr(kSys.size()));
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  return proc_root_ / std::string(path);
}

std::uint64_t proc_file_cap(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  if (name.ends_with(".partial")) name.remove_suffix(8);
  if (name == "vmallocinfo") return 256ull << 20;
  if (name == "slabinfo" || name == "zoneinfo" || name == "modules") return 64ull << 20;
  if (path.starts_with("/sys/")) return kCapSysfsFile;
  return 4ull << 20;  // meminfo, vmstat, osrelease, kernel-release
}

ReadResult DirProcSource::read(std::string_view path) const {
  // /proc files report size 0 and may be read in any number of chunks: read to EOF, bounded.
  ReadResult r;
  auto b = try_read_bounded(resolve(path).string(), proc_file_cap(path), "a /proc file");
  r.text = std::move(b.text);
  r.error = b.errnum ? std::strerror(b.errnum) : std::move(b.error);  // "Permission denied", as before
  r.refused = b.refused;
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
