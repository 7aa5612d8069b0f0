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
// load (Tracer::start). Made once from the options (bpf_config(), user/session/trace_config.cpp).
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
  bool budget = false;     // --max-cpu: the sampling rate is set while tracing (set_sample_every)
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
  // The same drain into `snap` with the records handed to `records` a batch at a time (4096)
  // instead of kept in snap.allocs (left empty): 1 M records are 104 MB that a report never
  // needs at once. The caches are in snap.caches before the first batch.
  void drain_into(Collected& snap, const RecordSink& records) const;

  // Frees stack map entries that no outstanding allocation has referenced in two passes in a
  // row (a stack whose allocations were all freed). Without it the stack map fills with stale
  // stacks over a long window and new stacks collide or are lost. Returns how many were freed.
  size_t gc_stacks();

  // The BPF counters now, summed over CPUs (no map walk).
  Counters counters() const;

  // About how many records the allocation map holds (from the counters, no map walk).
  uint64_t outstanding_estimate() const;

  // From now on, allocations with these stack ids are counted (KLEAK_USER_SKIPPED), not
  // tracked; records already tracked under them are removed (read from the map a batch at a
  // time). Their stack map entries are kept, so an id never comes to mean another stack.
  void skip_stacks(const std::vector<int32_t>& ids);

  const std::vector<SourceStatus>& sources() const { return sources_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Which task helpers the programs were loaded with (task_helpers_variant()).
  const std::string& bpf_variant() const { return bpf_variant_; }
  uint64_t window_start_ns() const { return window_start_ns_; }

  // --max-cpu. What the programs cost, per family, since they were attached: the kernel's own
  // run time where its BPF statistics are on (run_time_measured()), else 0 (the caller
  // estimates from the counters). Turned on for kleak's lifetime where it may
  // (BPF_ENABLE_STATS needs CAP_SYS_ADMIN; the kernel switches them off with kleak's fd).
  struct FamilyCost {
    std::string family;
    uint64_t run_time_ns = 0;
    uint64_t run_cnt = 0;
  };
  std::vector<FamilyCost> family_costs() const;
  bool run_time_measured() const;
  // The sampling rate in force (BpfConfig::budget only): 1 in `n` allocations.
  void set_sample_every(uint32_t n);
  uint32_t sample_every() const { return sample_every_; }
  // Detaches one family's programs. Its records are left out of every later drain: their frees
  // are no longer seen.
  void detach_family(const std::string& family);
  const std::vector<std::string>& detached() const { return detached_; }
  // What kleak's maps take (each map's memlock in /proc/self/fdinfo), for the report's header.
  uint64_t maps_bytes() const;

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
  std::vector<std::string> detached_;
  uint32_t detached_kinds_ = 0;  // bit (1 << kleak_kind)
};

uint64_t monotonic_ns();

}  // namespace kleak
