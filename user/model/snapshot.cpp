// A meminfo snapshot's JSON: the --save format, and what recordings carry.
#include "kleak/snapshot.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "kleak/error.h"

namespace kleak {

namespace {
constexpr std::string_view kSchema = "kleak.meminfo.snapshot/1";
}  // namespace

std::string snapshot_to_json(const Snapshot& s) {
  nlohmann::json j;
  j["schema"] = kSchema;
  j["source"] = s.source;
  j["taken_at"] = s.taken_at;
  j["files"] = s.files;
  j["partial"] = s.partial;
  j["unreadable"] = s.unreadable;
  j["sysfs"] = s.sysfs;
  j["sys"] = s.sys;
  // /proc text is ASCII in practice; anything else is replaced rather than refused.
  return j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Snapshot snapshot_from_json(std::string_view text) {
  Snapshot s;
  try {
    // Snapshots nest 3 deep (files -> name -> text); the parser recurses, so depth is capped.
    nlohmann::json::parser_callback_t depth_cap = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
      if (depth > 16) throw usage_error("not a kleak meminfo snapshot: nested deeper than 16 levels, the cap");
      return true;
    };
    auto j = nlohmann::json::parse(text.begin(), text.end(), depth_cap);
    if (!j.is_object() || !j.contains("schema") || j.at("schema") != kSchema)
      throw usage_error(fmt::format("not a kleak meminfo snapshot (no \"schema\": \"{}\")", kSchema));
    s.source = j.value("source", std::string());
    s.taken_at = j.value("taken_at", std::int64_t{0});
    s.files = j.at("files").get<std::map<std::string, std::string>>();
    if (j.contains("partial")) s.partial = j.at("partial").get<std::set<std::string>>();
    if (j.contains("unreadable"))
      s.unreadable = j.at("unreadable").get<std::map<std::string, std::string>>();
    s.sysfs = j.value("sysfs", false);
    if (j.contains("sys")) s.sys = j.at("sys").get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw usage_error(fmt::format("not a kleak meminfo snapshot: {}", e.what()));
  }
  return s;
}

}  // namespace kleak
