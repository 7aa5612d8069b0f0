// Attach stage: which events exist on this kernel, which program variant serves each event
// family, and an RAII owner of the loaded skeleton and its links.
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

namespace kleak {

// How a family is attached. Preference order: raw_tp (prototype checked in BTF), tracepoint,
// kprobe.
enum class AttachMode { RawTp, Tracepoint, Kprobe, None };
std::string_view attach_mode_name(AttachMode m);

// One kernel event kleak listens to.
struct EventSpec {
  std::string_view family;    // "kmalloc", "slab", "page", "percpu", "vmalloc"
  std::string_view category;  // tracefs category: "kmem"
  std::string_view name;      // "kmalloc"
  bool is_free;               // frees: a miss here invents a leak
  std::string_view kprobe;    // kprobe fallback target ("" = none)
  // Only some kernels have it (kmalloc_node, kmem_cache_alloc_node: separate events before 6.0,
  // folded into kmalloc / kmem_cache_alloc since): where absent, the family attaches without it.
  bool optional = false;
};

// The fixed table of events, in family order.
const std::vector<EventSpec>& event_table();

// What the kernel offers for one event; filled by probe_event() on a live box, by hand in tests.
struct EventFacts {
  bool btf_ok = false;          // btf_trace_<name> exists with the prototype our raw_tp program expects
  std::string btf_why;          // why not, when !btf_ok
  bool tracepoint = false;      // tracefs has events/<category>/<name>
  std::string tracepoint_why;   // why not, when it cannot be told (tracefs unreadable)
  bool kprobe = false;          // a kprobe can be attached to EventSpec::kprobe
  std::string kprobe_why;
  bool absent = false;          // an optional event this kernel does not have (no BTF, no tracefs)
};

struct FamilyPlan {
  std::string family;
  AttachMode mode = AttachMode::None;
  std::string reason;  // why not raw_tp / why skipped
  std::set<std::string, std::less<>> absent;  // optional events this kernel does not have
};

// Which variant serves each family: the most preferred one that every event of the family
// supports (a family is attached whole or not at all, so an allocation is never tracked without
// its free). `forced` restricts the choice to one mode (--attach).
std::vector<FamilyPlan> plan_families(const std::function<EventFacts(const EventSpec&)>& facts,
                                      std::optional<AttachMode> forced, uint32_t kinds_mask);

// Probes of the live kernel.
struct KernelProbe {
  std::string btf_path = "/sys/kernel/btf/vmlinux";
  std::string tracefs;  // "" = find or mount it
};

// What the live kernel offers kleak, probed without loading anything: `kleak trace` plans from
// it, `kleak doctor` prints it.
struct KernelOffer {
  std::string tracefs;      // where tracefs is, "" when it cannot be used
  std::string tracefs_why;  // why not, when tracefs is ""
  bool kprobe_pmu = false;
  // CO-RE fallbacks (5.10): --cgroup through cgroup->ancestor_ids where tracing programs may not
  // call bpf_get_current_ancestor_cgroup_id; a slab cache filter on the classic tracepoint needs
  // its `name` field.
  bool cgroup_has_ancestor_ids = false;
  bool slab_tracepoint_has_name = false;
  std::vector<EventFacts> events;  // in event_table() order
  EventFacts facts(const EventSpec& e) const;
};
// Throws kleak::Error when the BTF cannot be parsed. `may_mount`: mount tracefs where it is
// missing (the tracer does; doctor only looks).
KernelOffer probe_kernel(const KernelProbe& probe, bool may_mount);

// Size and filter settings applied to the BPF object before load.
struct BpfSettings {
  uint32_t max_allocs = KLEAK_DEFAULT_MAX_ALLOCS;
  uint32_t max_stacks = KLEAK_DEFAULT_MAX_STACKS;
  uint32_t max_caches = KLEAK_DEFAULT_MAX_CACHES;
  uint32_t stack_depth = KLEAK_DEFAULT_STACK_DEPTH;
  uint32_t kinds_mask = 0xffffffffu;
  uint64_t min_bytes_req = 0, max_bytes_req = UINT64_MAX;
  uint64_t min_bytes_alloc = 0, max_bytes_alloc = UINT64_MAX;
  uint32_t tgid = 0;
  uint32_t self_tgid = 0;          // kleak's pid as getpid() sees it (set_self_identity())
  uint64_t self_pidns_dev = 0;      // and, in a child pid namespace, that namespace (else 0)
  uint64_t self_pidns_ino = 0;
  std::optional<std::string> cache;
  bool capture_stacks = true;
  uint32_t max_churn = KLEAK_DEFAULT_MAX_CHURN;
  uint32_t sample_every = 1;  // --sample N
  uint32_t stack_reuse = KLEAK_DEFAULT_STACK_REUSE;  // --stack-reuse N (1 = walk every allocation)
  uint32_t max_sites = KLEAK_DEFAULT_MAX_SITES;
  uint64_t cgroup_id = 0;  // only this cgroup v2 and below (0 = all)
  uint32_t cgroup_level = 0;
};

struct SourceStatus {
  std::string event;   // "kmem:kmalloc"
  std::string family;
  AttachMode mode = AttachMode::None;
  std::string status;  // "attached" or the reason it is not
};

// The helpers the programs read the current task with, probed on the live kernel: both exist from
// 5.15 (6.1, 6.18); 5.10 has neither, and the programs then read the task through
// bpf_probe_read_kernel (record.bpf.h: cfg_task_btf, cfg_task_pt_regs).
struct TaskHelpers {
  bool task_btf = true;  // bpf_get_current_task_btf (5.11+)
  bool pt_regs = true;   // bpf_task_pt_regs (5.15+)
};
// What the report says: "task: bpf_get_current_task_btf, syscall: bpf_task_pt_regs" or the
// probe-read variant.
std::string task_helpers_variant(const TaskHelpers& h);

// Checks that must pass before anything is loaded; each throws kleak::Error with one line.
// (Capabilities: kleak/privileges.h.)
void check_btf(const std::string& btf_path);

class Tracer {
 public:
  // Opens, sizes, plans, loads and attaches. Throws kleak::Error with the verifier's reason on
  // a failed load. Families that cannot attach are reported in sources(), not fatal, unless
  // none attaches at all.
  static std::unique_ptr<Tracer> start(const BpfSettings& settings, const KernelProbe& probe,
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
  std::unique_ptr<Impl> impl_;
  std::vector<SourceStatus> sources_;
  std::vector<std::string> warnings_;
  std::string bpf_variant_;
  uint64_t window_start_ns_ = 0;
  uint32_t sample_every_ = 1;
  uint32_t stack_reuse_ = 1;
};

uint64_t monotonic_ns();

// Sets the self_* fields of `s`, so kleak's own allocations are never recorded: in a child pid
// namespace getpid() is not the tgid the kernel hands BPF, so the namespace is passed as well.
void set_self_identity(BpfSettings& s);

}  // namespace kleak
