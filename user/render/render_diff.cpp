// kleak diff output: text and json.
#include <fmt/format.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "kleak/error.h"
#include "kleak/format_table.h"
#include "kleak/render.h"
#include "kleak/text_escape.h"

namespace kleak {

namespace {

std::string diff_json(const ReportDiff& d) {
  nlohmann::json j;
  j["schema"] = "kleak.diff/1";
  j["a"] = d.a;
  j["b"] = d.b;
  j["a_total_bytes"] = d.a_total_bytes;
  j["b_total_bytes"] = d.b_total_bytes;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& row : d.rows) {
    const StackGroup& g = row.group;
    arr.push_back({{"kind", g.kind},
                   {"category", g.category},
                   {"frames", frame_texts(g)},
                   {"group", g.group},
                   {"a_bytes", row.a_bytes},
                   {"b_bytes", row.b_bytes},
                   {"delta_bytes", row.delta_bytes()},
                   {"a_count", row.a_count},
                   {"b_count", row.b_count},
                   {"delta_count", row.delta_count()}});
  }
  j["groups"] = arr;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string diff_text(const ReportDiff& d) {
  std::string t = fmt::format("kleak diff: {} -> {}\noutstanding kernel memory: {} -> {}\n", d.a, d.b,
                              human_bytes(d.a_total_bytes), human_bytes(d.b_total_bytes));
  int i = 0;
  for (const auto& row : d.rows) {
    const StackGroup& g = row.group;
    int64_t delta = row.delta_bytes();
    t += fmt::format("\n#{} {}{} ({} -> {}), {:+} allocations  [{}]\n", ++i, delta >= 0 ? "+" : "-",
                     human_bytes(static_cast<uint64_t>(std::llabs(delta))), human_bytes(row.a_bytes),
                     human_bytes(row.b_bytes), row.delta_count(), kind_and_category(g));
    for (const auto& [dim, v] : g.group) t += fmt::format("    {}={}\n", dim, escape_text(v));
    for (const auto& f : frame_texts(g)) t += "    " + escape_text(f) + "\n";
  }
  if (d.rows.empty()) t += "\nno group changed.\n";
  return escape_lines(t);  // the recordings' names (d.a, d.b) and anything else not escaped above
}

}  // namespace

std::span<const DiffFormat> diff_formats() {
  static constexpr DiffFormat kFormats[] = {{"text", diff_text}, {"json", diff_json}};
  return kFormats;
}

const DiffFormat& diff_format(std::string_view name) { return find_format(diff_formats(), name, "diff"); }

std::string render_diff(const ReportDiff& d, std::string_view format) { return diff_format(format).render(d); }

}  // namespace kleak
