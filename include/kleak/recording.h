// kleak trace --record FILE: a run kept in one compressed file, to render again without root
// (kleak report) or to compare with another run (kleak diff).
//
// File format 2 (one gzip member, nothing after it): the line "KLEAK-RECORDING 2\n", a JSON
// header line (everything but the records), then the outstanding records as raw struct
// kleak_alloc values (96 bytes each, little endian, as many as the header's "records" says)
// preceded by their 8-byte keys, then the footer line "KLEAK-END crc32=XXXXXXXX\n": the CRC-32
// of every byte before it. gzip's own CRC covers the compressed layer; ours binds the payload to
// the writer whatever happens to the compression (a file gunzipped, edited and recompressed, a
// truncated member that another tool re-wrapped), and zlib already has it. Format 1 (no footer)
// is refused with a line saying so.
//
// The reader is bounded: the stored file at most kCapRecording (bounded_read.h), the header line
// at most kMaxRecordingHeader decompressed bytes and 16 levels of JSON nesting, the records at
// most what the header announces (never more than kMaxRecords), everything checked against the
// bytes present as they arrive, and SIGINT/SIGTERM stop it. A damaged or hostile file is a
// one-line error naming what is wrong (exit 2), never a crash or a gigabyte of memory.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/collect.h"
#include "kleak/snapshot.h"
#include "kleak/output_file.h"

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
  std::map<std::string, std::map<size_t, uint64_t>> ledgers;  // the kernel's counts (optional)
  std::map<std::string, uint64_t> ledgers_end;  // and at the final report (optional)
  std::map<std::string, std::vector<std::string>> cache_aliases;  // SLUB merged caches (optional)
};

// A 10-minute run on this box has a 2 MB header; 64k stacks of 32 frames would be 45 MB.
inline constexpr uint64_t kMaxRecordingHeader = 128ull << 20;
inline constexpr uint64_t kMaxRecords = 1ull << 24;  // 64x the default --max-allocs
inline constexpr int kRecordingFormat = 2;

std::string recording_bytes(const Recording& r);  // the file's bytes (gzip)
// `name` is what errors call the file. Throws kleak::Error (exit 2).
Recording parse_recording(std::string_view bytes, const std::string& name);

void save_recording(const std::string& path, const Recording& r, const OutputOptions& opts = {});  // AtomicFile
Recording load_recording(const std::string& path);                 // throws kleak::Error/usage

}  // namespace kleak
