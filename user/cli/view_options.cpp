#include "cli/view_options.h"

#include <charconv>
#include <cstdint>
#include <string>

#include "kleak/error.h"

namespace kleak {

CLI::Validator top_validator() {
  // Checked before CLI11's conversion, which takes "-3" as a huge size_t and a 30-digit number
  // as SIZE_MAX.
  return CLI::Validator(
      [](std::string& v) {
        size_t n = 0;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos || ec != std::errc() ||
            end != v.data() + v.size())
          return "must be a whole number, 0 for all, got '" + v + "'";
        if (n > kMaxTop) return "must be at most " + std::to_string(kMaxTop) + " (0 shows all), got " + v;
        return std::string();
      },
      "");  // no ":N" after the placeholder (docs.cpp name_placeholders says N)
}

void add_view_options(CLI::App* cmd, ViewOptions& o, const std::string& formats) {
  cmd->add_option("-f,--filter", o.filter,
                  "ftrace-style filter over bytes_req, bytes_alloc, order, gfp_flags, cache, comm, "
                  "pid, tid, kind, call_site, migratetype, cgroup, e.g. 'bytes_req >= 256 && bytes_req <= 512'");
  cmd->add_option("-n,--top", o.top, "How many groups to show, 0 = all (default 10; folded/pprof/svg: all)")
      ->check(top_validator())
      ->each([&o](const std::string&) { o.top_given = true; });
  cmd->add_option("--format", o.format, formats);
  cmd->add_option("-o,--output", o.output,
                  "Write the report to FILE instead of stdout (mode 0600, replaced whole: temporary file + rename)");
  cmd->add_flag("--force", o.force,
                "Write -o (trace: and --record) even where FILE is a symlink (to where it points) or another "
                "user's file");
  cmd->add_option("--by", o.by,
                  "Group by stack (default), callsite, cache, comm, pid or cgroup; combine with commas: cgroup,cache");
  cmd->add_option("--sort", o.sort, "growth (default: growing groups first, by rate), bytes, count or age");
  cmd->add_option("--min-growth", o.min_growth,
                  "Growing groups rank first when they grow at least this much per minute (default 64k); "
                  "slower ones rank with the other holders, by bytes")
      ->type_name("RATE");
  cmd->add_flag("--full-stacks", o.full_stacks, "Do not hide allocator and tracer frames");
  cmd->add_flag("--user-pages", o.user_pages, "Show stacks of pages backing user memory (anon, page cache)");
}

}  // namespace kleak
