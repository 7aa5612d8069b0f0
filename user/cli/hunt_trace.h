// The one entry point `kleak hunt` uses into the trace pipeline (trace_cmd.cpp): a window with the
// families and cache filter hunt chose, verdicts on, the report handed back instead of printed.
#pragma once
#include <optional>
#include <string>

#include "kleak/filter.h"
#include "kleak/report.h"

namespace kleak {

struct HuntTraceRequest {
  std::string duration;     // --duration
  uint32_t kinds_mask = 0;  // --kinds: kind_bit()s (kind.h)
  std::string cache;        // --cache ("" = none)
  Filter filter;            // --filter, parsed (match_all = none)
  std::string record;    // --record ("" = none)
  bool force = false;    // --force for --record
  std::optional<int> ready_fd;  // --ready-fd: written when the trace attaches
};

// Exit code as `kleak trace` (3: the allocation map filled); throws kleak::Error as it does.
int trace_for_hunt(const HuntTraceRequest& req, Report& out);

}  // namespace kleak
