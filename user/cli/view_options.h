// The view options (session/view.h) as flags, registered once for trace, report and diff.
#pragma once
#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>

#include "session/view.h"

namespace kleak {

// --top's check (trace, report, diff, hunt, meminfo): a whole number from 0 (all) to kMaxTop.
inline constexpr size_t kMaxTop = 1'000'000'000;
CLI::Validator top_validator();

// --filter, --top, --format, -o, --force, --by, --sort, --full-stacks, --user-pages. `formats` is the help
// text of --format (diff takes fewer).
void add_view_options(CLI::App* cmd, ViewOptions& o, const std::string& formats);

}  // namespace kleak
