// kleak diff: two reports compared group by group (same identity, group_key() in report.h).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/report.h"

namespace kleak {

struct GroupDiffRow {
  StackGroup group;  // as in the later report, or the earlier one when it is gone
  uint64_t a_bytes = 0, b_bytes = 0, a_count = 0, b_count = 0;
  int64_t delta_bytes() const { return static_cast<int64_t>(b_bytes) - static_cast<int64_t>(a_bytes); }
  int64_t delta_count() const { return static_cast<int64_t>(b_count) - static_cast<int64_t>(a_count); }
};

struct ReportDiff {
  std::string a, b;  // what the two sides are (file names)
  uint64_t a_total_bytes = 0, b_total_bytes = 0;
  std::vector<GroupDiffRow> rows;  // changed groups, biggest change in bytes first, at most `top`
};

// B minus A (report stage).
ReportDiff diff_reports(const Report& a, const Report& b, std::string a_name, std::string b_name, size_t top);

// The diff's formats (render stage): text and json.
std::string render_diff(const ReportDiff& d, std::string_view format);  // usage_error otherwise
void check_diff_format(std::string_view format);

}  // namespace kleak
