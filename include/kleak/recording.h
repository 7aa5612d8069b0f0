// kleak trace --record FILE: a run kept in one compressed file, to render again without root
// (kleak report) or to compare with another run (kleak diff).
//
// File format (gzip stream): the line "KLEAK-RECORDING 1\n", a JSON header line (everything but
// the records), then the outstanding records as raw struct kleak_alloc values (96 bytes each,
// little endian, as many as the header's "records" says) preceded by their 8-byte keys. The
// reader validates the magic, the version, the record size and every count against the bytes
// present: a damaged or hostile file is a one-line error, never a crash.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kleak/collect.h"
#include "kleak/meminfo.h"

namespace kleak {

struct Recording {
  Collected collected;
  std::string kallsyms;  // kallsyms lines for every symbol the stacks touch
  std::string kernel;
  std::map<std::string, std::string> sources, attach_mode;
  std::string bpf_variant;
  std::vector<std::string> warnings;
  std::optional<Snapshot> meminfo_start, meminfo_end;
  bool filtered_in_kernel = false;  // --cgroup/--filter applied in BPF during the run
  std::vector<double> sample_times;  // verdict samples (GrowthTracker state)
  std::map<std::string, std::map<size_t, uint64_t>> series;
};

void save_recording(const std::string& path, const Recording& r);  // throws kleak::Error
Recording load_recording(const std::string& path);                 // throws kleak::Error/usage

}  // namespace kleak
