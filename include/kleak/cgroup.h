// cgroup v2: find the hierarchy wherever it is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified
// on hybrid v1/v2 boxes), turn a --cgroup argument into the id and level the BPF filter checks,
// and name ids by path at report time.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kleak {

// The cgroup2 mount point in /proc/self/mountinfo text, or nullopt.
std::optional<std::string> cgroup2_mount(std::string_view mountinfo);

struct CgroupTarget {
  uint64_t id = 0;     // kernfs inode number = the cgroup id BPF sees
  uint32_t level = 0;  // depth below the root (root = 0)
  std::string path;    // "/system.slice/docker-abc.scope" (relative to the cgroup2 root)
};

// `arg` is a directory (absolute, or relative to the cgroup2 root) or a numeric id. Throws
// kleak::usage_error when it is neither, or kleak::Error when there is no cgroup2 hierarchy.
CgroupTarget resolve_cgroup(const std::string& arg);

// Cgroup ids to paths, by walking the hierarchy once. A cgroup removed meanwhile is "cgroup:<id>".
class CgroupNames {
 public:
  static CgroupNames scan();  // empty when there is no cgroup2 hierarchy
  std::string name(uint64_t id) const;

 private:
  std::unordered_map<uint64_t, std::string> paths_;
};

}  // namespace kleak
