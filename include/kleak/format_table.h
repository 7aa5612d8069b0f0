// The one mechanism every subcommand's --format goes through: a table per document type (a
// report, a report diff, a meminfo accounting, a hunt answer, doctor's facts, ...) mapping a
// format name to the renderer of that document, kept beside the renderers (render.h, meminfo.h,
// hunt.h, doctor.h, version.h). A name the table does not hold is the same one-line usage error
// (exit 2) in every subcommand, naming the formats that document has. The bytes go out through
// OutputSink (output_file.h).
#pragma once
#include <span>
#include <string>
#include <string_view>

#include "kleak/error.h"

namespace kleak {

// A format of a document: its --format name and its renderer. `Args` are what the renderer
// needs beside the document (meminfo's --top, doctor's verdict).
template <class Doc, class... Args>
struct DocFormat {
  std::string_view name;
  std::string (*render)(const Doc&, Args...);
};

// "text, json, folded, pprof or svg": the names of a table (any entry with a `name`), in order,
// for help texts and errors.
template <class Format>
std::string format_names(std::span<const Format> table) {
  std::string out;
  for (size_t i = 0; i < table.size(); ++i) {
    if (i) out += i + 1 == table.size() ? " or " : ", ";
    out += table[i].name;
  }
  return out;
}

// The entry named `name`, or usage_error "bad --format 'x' for <document> (use text or json)"
// (without " for ..." when `document` is empty: trace's and report's, the formats of a report).
template <class Format>
const Format& find_format(std::span<const Format> table, std::string_view name, std::string_view document) {
  for (const Format& f : table)
    if (f.name == name) return f;
  std::string where = document.empty() ? "" : " for " + std::string(document);
  throw usage_error("bad --format '" + std::string(name) + "'" + where + " (use " + format_names(table) + ")");
}

}  // namespace kleak
