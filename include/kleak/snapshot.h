// A snapshot of the /proc and /sys files `kleak meminfo` reads, as raw text, and its JSON (the
// --save format, also inside recordings). A model value: recordings (model) carry two of them.
// Code: user/model/snapshot.cpp; collecting one from a live box is the meminfo stage's
// (collect_snapshot, meminfo.h).
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace kleak {

// What was read, kept as raw text so that a saved snapshot is parsed again by the same code.
struct Snapshot {
  std::string source;       // "/proc", the directory, or the file it was loaded from
  std::int64_t taken_at = 0;  // unix seconds; 0 when unknown (a copied directory)
  // Logical name -> raw text: "meminfo", "vmallocinfo", "slabinfo", "vmstat", "modules",
  // "kernel-release".
  std::map<std::string, std::string> files;
  std::set<std::string> partial;                  // files that are excerpts (NAME.partial)
  std::map<std::string, std::string> unreadable;  // logical name -> why it could not be read
  bool sysfs = false;                             // whether sysfs evidence could be looked at
  // sysfs path -> text: "" for paths whose presence is the evidence (/sys/module/vmw_balloon),
  // the trimmed contents otherwise (virtio features, /sys/kernel/slab/*/reclaim_account).
  std::map<std::string, std::string> sys;

  bool operator==(const Snapshot&) const = default;
};

// The --save format: {"schema": "kleak.meminfo.snapshot/1", "source", "taken_at", "files",
// "partial", "unreadable", "sysfs", "sys"}.
std::string snapshot_to_json(const Snapshot& snapshot);
// Throws kleak::usage_error when the text is not such a snapshot.
Snapshot snapshot_from_json(std::string_view text);

}  // namespace kleak
