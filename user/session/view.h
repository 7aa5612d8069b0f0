// The options that choose how a report is viewed, as typed: trace, report and diff share them
// (cli/view_options.h registers them as flags). A session stage value: the trace window reads
// them, and nothing here knows the command line parser.
#pragma once
#include <cstddef>
#include <string>

#include "kleak/render.h"

namespace kleak {

struct ViewOptions {
  std::string filter;
  size_t top = 10;  // 0 = every group
  bool top_given = false;
  std::string format = "text";
  std::string output;
  std::string by = "stack";
  std::string sort = "growth";
  bool full_stacks = false;
  bool user_pages = false;
  bool force = false;  // -o (and trace's --record) over a symlink or another user's file
  std::string min_growth = "64k";  // per minute: growth that ranks first (verdict.h)

  // How many groups to show: --top (0 = all); without --top, all for flame graphs and profiles.
  size_t groups_shown() const;
};

// "256k", "1M", "4096" (bytes per minute) -> kB per minute; usage_error naming `option`.
double parse_rate_kb(const std::string& text, const std::string& option = "--min-growth");
// --min-growth in bytes per second.
double min_growth_bytes_per_s(const ViewOptions& o);

// Writes `text` to -o FILE, or to stdout; a binary format is refused on a terminal before
// anything runs (check_view_output), not after the window.
void check_view_output(const ViewOptions& o);

}  // namespace kleak
