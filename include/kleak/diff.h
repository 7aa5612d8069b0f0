// kleak diff: two reports compared group by group (same identity, group_key() in report.h).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/report.h"

namespace kleak {

// B minus A (the rows are model values: ReportDiff in report.h; render_diff in render.h).
ReportDiff diff_reports(const Report& a, const Report& b, std::string a_name, std::string b_name, size_t top);

}  // namespace kleak
