// The one entry point `kleak hunt` uses into the trace pipeline (trace_cmd.cpp): a window with the
// families and cache filter hunt chose, verdicts on, the report handed back instead of printed.
#pragma once
#include <optional>
#include <string>

#include "kleak/report.h"

namespace kleak {

struct HuntTraceRequest {
  std::string duration;  // --duration
  std::string kinds;     // --kinds
  std::string cache;     // --cache ("" = none)
  std::string filter;    // --filter ("" = none)
  std::string record;    // --record ("" = none)
  bool force = false;    // --force for --record
  std::optional<int> ready_fd;  // --ready-fd: written when the trace attaches
};

// Exit code as `kleak trace` (3: the allocation map filled); throws kleak::Error as it does.
int trace_for_hunt(const HuntTraceRequest& req, Report& out);

}  // namespace kleak
