// --report-dir and the daemon's one line per window (report_dir.h).
#include "session/report_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kleak/error.h"
#include "kleak/output_file.h"
#include "kleak/render.h"
#include "kleak/text_escape.h"

namespace kleak {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPrefix = "kleak-report-";

std::string_view extension(std::string_view format) {
  if (format == "json") return ".json";
  if (format == "folded") return ".folded";
  if (format == "pprof") return ".pb.gz";
  if (format == "svg") return ".svg";
  return ".txt";
}

// "%Y%m%dT%H%M%S" (or another strftime format) of `t` in UTC.
std::string utc(std::chrono::system_clock::time_point t, const char* format) {
  const time_t secs = std::chrono::system_clock::to_time_t(t);
  struct tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  return std::string(buf, std::strftime(buf, sizeof buf, format, &tm));
}

// A symlink is followed only where it stays in its own directory (systemd's private/kleak):
// one that leads elsewhere would put kernel addresses where its owner chose.
void check_symlink_stays(const std::string& dir) {
  std::error_code ec;
  const fs::path target = fs::canonical(dir, ec);
  if (ec) throw usage_error(fmt::format("--report-dir {}: {}", dir, ec.message()));
  const fs::path parent = fs::canonical(fs::absolute(dir).parent_path(), ec);
  const fs::path rel = target.lexically_relative(parent);
  if (ec || rel.empty() || *rel.begin() == "..")
    throw usage_error(fmt::format("refusing --report-dir {}: it is a symlink to {}, outside {}", dir,
                                  target.string(), parent.string()));
}

}  // namespace

void check_report_dir(const std::string& given) {
  // Without its trailing slashes: "link/" would resolve the symlink before lstat sees it.
  std::string dir = given;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  struct stat st{};
  if (::lstat(dir.c_str(), &st) != 0)
    throw usage_error(fmt::format("--report-dir {}: {}", dir, std::strerror(errno)));
  if (S_ISLNK(st.st_mode)) {
    check_symlink_stays(dir);
    if (::stat(dir.c_str(), &st) != 0) throw usage_error(fmt::format("--report-dir {}: {}", dir, std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) throw usage_error(fmt::format("--report-dir {}: not a directory", dir));
  // Another user could read, replace or remove the reports in a directory of theirs.
  if (st.st_uid != ::geteuid())
    throw usage_error(fmt::format("refusing --report-dir {}: it belongs to uid {}, not to this user", dir, st.st_uid));
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    throw usage_error(fmt::format("--report-dir {}: {}", dir, std::strerror(errno)));
}

std::string report_file_name(std::chrono::system_clock::time_point end, std::string_view format) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(end.time_since_epoch()).count() % 1000;
  return fmt::format("{}{}.{:03}Z{}", kPrefix, utc(end, "%Y%m%dT%H%M%S"), ms, extension(format));
}

void prune_reports(const std::string& dir, uint32_t keep) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;  // the report was just written there: nothing to prune is better than a failure
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    struct stat st{};
    if (std::string_view(e->d_name).starts_with(kPrefix) &&
        ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
      names.emplace_back(e->d_name);
  }
  std::sort(names.begin(), names.end());  // UTC names: oldest first
  for (size_t i = 0; i + keep < names.size(); ++i) ::unlinkat(::dirfd(d), names[i].c_str(), 0);
  ::closedir(d);
}

std::string save_window_report(const std::string& dir, uint32_t keep, std::chrono::system_clock::time_point end,
                               std::string_view format, std::string_view text) {
  const std::string path = (fs::path(dir) / report_file_name(end, format)).string();
  write_file_atomically(path, text);
  prune_reports(dir, keep);
  return path;
}

std::string window_line(const Report& r, std::chrono::system_clock::time_point end, const std::string& path) {
  const auto start = end - std::chrono::milliseconds(static_cast<int64_t>(r.duration_s * 1000));
  std::string line = fmt::format("window {}-{} UTC: ", utc(start, "%Y-%m-%d %H:%M:%S"), utc(end, "%H:%M:%S"));
  const auto growing = std::count_if(r.stacks.begin(), r.stacks.end(), [](const StackGroup& g) { return g.verdict == "growing"; });
  line += fmt::format("{} group{} growing", growing, growing == 1 ? "" : "s");
  // The top group: the first growing one (the report's order), else the first holding memory.
  auto top = std::find_if(r.stacks.begin(), r.stacks.end(), [](const StackGroup& g) { return g.verdict == "growing"; });
  if (top == r.stacks.end()) top = r.stacks.begin();
  if (top != r.stacks.end()) {
    std::vector<std::string> frames = frame_texts(*top);
    frames.resize(std::min<size_t>(frames.size(), 3));
    line += fmt::format(", top {} at {}", human_bytes(top->bytes), escape_capped(fmt::format("{}", fmt::join(frames, " <- ")), 300));
  }
  return line + "; report " + escape_capped(path, 4096);
}

}  // namespace kleak
