// Attach and drain: Tracer is the RAII owner of the loaded BPF object and its links (attach.cpp:
// carries out the plan of kleak/probe.h) and reads the maps into model records (drain.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/collect.h"
#include "kleak/probe.h"

namespace kleak {

// What the BPF programs are configured with, written to the object's rodata and map sizes before
// load (Tracer::start). Made once from the options (bpf_config(), user/cli/trace_config.cpp).
struct BpfConfig {
  uint32_t max_allocs = KLEAK_DEFAULT_MAX_ALLOCS;
  uint32_t max_stacks = KLEAK_DEFAULT_MAX_STACKS;
  uint32_t max_caches = KLEAK_DEFAULT_MAX_CACHES;
  uint32_t stack_depth = KLEAK_DEFAULT_STACK_DEPTH;
  uint32_t kinds_mask = 0xffffffffu;
  uint64_t min_bytes_req = 0, max_bytes_req = UINT64_MAX;
  uint64_t min_bytes_alloc = 0, max_bytes_alloc = UINT64_MAX;
  uint32_t tgid = 0;
  std::optional<std::string> cache;
  bool capture_stacks = true;
  uint32_t max_churn = KLEAK_DEFAULT_MAX_CHURN;
  uint32_t sample_every = 1;  // --sample N
  uint32_t stack_reuse = KLEAK_DEFAULT_STACK_REUSE;  // --stack-reuse N (1 = walk every allocation)
  uint32_t max_sites = KLEAK_DEFAULT_MAX_SITES;
  uint64_t cgroup_id = 0;  // only this cgroup v2 and below (0 = all)
  uint32_t cgroup_level = 0;
  bool bulk_frees = true;  // follow frees without a tracepoint where the kernel lets kleak
};

struct SourceStatus {
  std::string event;   // "kmem:kmalloc"
  std::string family;
  AttachMode mode = AttachMode::None;
  std::string status;  // "attached" or the reason it is not
};

class Tracer {
 public:
  // Opens, sizes, plans, loads and attaches. Throws kleak::Error with the verifier's reason on
  // a failed load. Families that cannot attach are reported in sources(), not fatal, unless
  // none attaches at all.
  static std::unique_ptr<Tracer> start(const BpfConfig& config, const KernelProbe& probe,
                                       std::optional<AttachMode> forced);
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Detach every program (idempotent). Maps stay readable.
  void stop();
  // Read the maps with batch lookups. Safe while attached (each record is read whole).
  Collected drain() const;

  // Frees stack map entries that no outstanding allocation has referenced in two passes in a
  // row (a stack whose allocations were all freed). Without it the stack map fills with stale
  // stacks over a long window and new stacks collide or are lost. Returns how many were freed.
  size_t gc_stacks();

  // About how many records the allocation map holds (from the counters, no map walk).
  uint64_t outstanding_estimate() const;

  // From now on, allocations with these stack ids are counted (KLEAK_USER_SKIPPED), not
  // tracked; records already tracked under them are removed (`outstanding` is a recent drain).
  // Their stack map entries are kept, so an id never comes to mean another stack.
  void skip_stacks(const std::vector<int32_t>& ids, const std::vector<AllocRecord>& outstanding);

  const std::vector<SourceStatus>& sources() const { return sources_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Which task helpers the programs were loaded with (task_helpers_variant()).
  const std::string& bpf_variant() const { return bpf_variant_; }
  uint64_t window_start_ns() const { return window_start_ns_; }

  struct Impl;

 private:
  Tracer();
  void attach_families(const std::vector<FamilyPlan>& plans);
  void attach_bulk_frees(const std::vector<BulkFreePlan>& plans);
  std::unique_ptr<Impl> impl_;
  std::vector<SourceStatus> sources_;
  std::vector<std::string> warnings_;
  std::string bpf_variant_;
  uint64_t window_start_ns_ = 0;
  uint32_t sample_every_ = 1;
  uint32_t stack_reuse_ = 1;
};

uint64_t monotonic_ns();

}  // namespace kleak
