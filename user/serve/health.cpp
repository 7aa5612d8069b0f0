// What /healthz and /readyz answer (serve.h): a pure function of what the tracer last told the
// server, so the rule is tested without a kernel (tests/unit/serve_test.cpp).
#include <fmt/format.h>

#include "kleak/serve.h"

namespace kleak {

ProbeAnswer answer_probe(const TracerHealth& h, bool readiness) {
  using Phase = TracerHealth::Phase;
  if (h.phase == Phase::attaching) return {503, "kleak: attaching its programs\n"};
  if (h.phase == Phase::detached) return {503, "kleak: its programs are detached (the window ended)\n"};
  if (h.since_beat > kLoopStallLimit)
    return {503, fmt::format("kleak: the trace loop has not run for {} s\n",
                             std::chrono::duration_cast<std::chrono::seconds>(h.since_beat).count())};
  // Before its first sample, as /metrics says: ask again in a second (the first is at 1 s).
  if (readiness && !h.sampled) return {503, "kleak: no sample yet\n", 1};
  return {200, "ok\n"};
}

}  // namespace kleak
