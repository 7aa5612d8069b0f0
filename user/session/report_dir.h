// --report-dir: a daemon's window reports kept as files (one per window, named by its end time,
// private, the oldest removed past --keep-reports), and the one line it logs per window instead
// of the report itself (a multi-line report in the journal drowned everything else).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "kleak/report.h"

namespace kleak {

// Reports kept when --keep-reports is not given.
constexpr uint32_t kDefaultKeepReports = 30;

// Refuses (usage_error, one line) a --report-dir that is missing, not a directory, another
// user's, or a symlink that leads out of the directory holding it. A symlink within it is
// followed: systemd's StateDirectory= with DynamicUser= is /var/lib/kleak -> private/kleak.
void check_report_dir(const std::string& dir);

// "kleak-report-20261207T121000.123Z.txt": UTC, so names sort as the windows ended; the
// extension says the --format.
std::string report_file_name(std::chrono::system_clock::time_point end, std::string_view format);

// Writes `text` as the report of the window that ended at `end` (0600, temporary file and
// rename: output_file.h), then removes the oldest reports past `keep`. Returns its path.
std::string save_window_report(const std::string& dir, uint32_t keep, std::chrono::system_clock::time_point end,
                               std::string_view format, std::string_view text);

// Removes this directory's oldest kleak-report-* files until `keep` remain.
void prune_reports(const std::string& dir, uint32_t keep);

// The window in one line, without the "kleak: " prefix: when it ran, how many groups grow, the
// top group and its innermost frames, and where the whole report is.
std::string window_line(const Report& r, std::chrono::system_clock::time_point end, const std::string& path);

}  // namespace kleak
