#include "kleak/cgroup.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kleak/error.h"

namespace kleak {
namespace fs = std::filesystem;

std::optional<std::string> cgroup2_mount(std::string_view mountinfo) {
  // "36 25 0:31 / /sys/fs/cgroup/unified rw,nosuid ... shared:9 - cgroup2 cgroup2 rw,..."
  std::istringstream in{std::string(mountinfo)};
  std::string line;
  while (std::getline(in, line)) {
    auto dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream after(line.substr(dash + 3));
    std::string fstype;
    after >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream before(line.substr(0, dash));
    std::string id, parent, devno, root, mount;
    if (before >> id >> parent >> devno >> root >> mount) return mount;
  }
  return std::nullopt;
}

namespace {

std::string cgroup_root() {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = cgroup2_mount(ss.str());
  if (!m) throw Error("no cgroup v2 hierarchy is mounted (looked in /proc/self/mountinfo)");
  return *m;
}

uint64_t inode_of(const std::string& path) {
  struct stat st{};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
  return static_cast<uint64_t>(st.st_ino);
}

}  // namespace

CgroupTarget resolve_cgroup(const std::string& arg) {
  std::string root = cgroup_root();
  CgroupTarget t;
  bool numeric = !arg.empty() && arg.find_first_not_of("0123456789") == std::string::npos;
  std::string dir;
  if (numeric) {
    uint64_t want = std::stoull(arg);
    if (inode_of(root) == want) dir = root;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         dir.empty() && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_directory(ec) && inode_of(it->path()) == want) dir = it->path();
    }
    if (dir.empty()) throw usage_error("no cgroup with id " + arg + " under " + root);
  } else {
    dir = arg.starts_with("/") && arg.starts_with(root) ? arg : root + "/" + arg;
    if (arg.starts_with("/") && !arg.starts_with(root) && inode_of(arg))
      throw usage_error("--cgroup " + arg + " is not in the cgroup v2 hierarchy at " + root);
  }
  t.id = inode_of(dir);
  if (!t.id) throw usage_error("--cgroup " + arg + ": no such cgroup directory (" + dir + ")");
  std::string rel = fs::relative(fs::weakly_canonical(dir), fs::weakly_canonical(root)).string();
  t.path = rel == "." ? "/" : "/" + rel;
  for (char c : t.path)
    if (c == '/') ++t.level;
  if (t.path == "/") t.level = 0;
  return t;
}

CgroupNames CgroupNames::scan() {
  CgroupNames n;
  std::string root;
  try {
    root = cgroup_root();
  } catch (const Error&) {
    return n;
  }
  n.paths_[inode_of(root)] = "/";
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (!it->is_directory(ec)) continue;
    n.paths_[inode_of(it->path())] = "/" + fs::relative(it->path(), root).string();
  }
  return n;
}

std::string CgroupNames::name(uint64_t id) const {
  auto it = paths_.find(id);
  return it == paths_.end() ? "cgroup:" + std::to_string(id) : it->second;
}

}  // namespace kleak
