// Probe and plan: what the live kernel offers kleak (probe_kernel, probe_helpers: BTF, tracefs,
// kprobes, helpers the verifier accepts) and, from those facts alone, which events to attach and
// with which program variant (plan_families, plan_attach: pure, unit-tested on facts made by hand).
// Code: user/trace/probe.cpp (probes) and user/trace/plan.cpp (the plan).
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kleak {

// How a family is attached. Preference order: raw_tp (prototype checked in BTF), tracepoint,
// kprobe.
enum class AttachMode { RawTp, Tracepoint, Kprobe, None, Fentry };
std::string_view attach_mode_name(AttachMode m);

// One kernel event kleak listens to: a row of include/kleak/events.def (which says what each
// field means), with its programs' names (kleak/event_names.h; "" where it has none).
struct EventSpec {
  uint32_t kind;              // enum kleak_kind
  std::string_view family;    // the kind's name: "kmalloc", "slab", "page", "percpu", "vmalloc"
  std::string_view category;  // tracefs category: "kmem"
  std::string_view name;      // "kmalloc"
  bool is_free;               // frees: a miss here invents a leak
  std::string_view kprobe;    // kprobe fallback target ("" = none)
  // Only some kernels have it (kmalloc_node, kmem_cache_alloc_node: separate events before 6.0,
  // folded into kmalloc / kmem_cache_alloc since): where absent, the family attaches without it.
  bool optional = false;
  unsigned raw_params = 0;       // btf_trace_<name>'s parameters our raw_tp program takes; 0: none
  unsigned struct_pos = 0;       // a parameter that must point to struct `struct_name` (0: none)
  std::string_view struct_name;
  std::string_view raw_prog, twin_prog, tp_prog, kprobe_prog;
};

// The fixed table of events, in family order (events.def).
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

// A kernel function that frees objects without a per-object tracepoint (kmem_cache_free_bulk,
// 6.18's __kfree_rcu_sheaf). Followed where a program can attach to it: fentry/fexit first, then
// kprobe; optional (nothing else depends on it) and reported either way.
struct BulkFreeSpec {
  std::string_view function;   // the kernel function
  std::string_view fentry;     // its fentry/fexit program in kleak.bpf.c ("" = none)
  std::string_view kprobe;     // its kprobe program ("" = none)
};
// The bulk-free functions of events.def, in its order.
const std::vector<BulkFreeSpec>& bulk_free_table();

// What the kernel offers for one bulk-free function.
struct BulkFreeFacts {
  bool exists = false;      // in the kernel's BTF or kallsyms
  bool fentry = false;      // a tracing program loads against it
  std::string fentry_why;
  bool kprobe = false;      // kprobes are available and the symbol is in kallsyms
  std::string kprobe_why;
};

struct BulkFreePlan {
  std::string function;
  AttachMode mode = AttachMode::None;  // Fentry, Kprobe or None
  std::string reason;                  // why not fentry / why not at all
  bool absent = false;                 // the kernel has no such function (not a blind spot)
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
  std::vector<BulkFreeFacts> bulk_frees;  // in bulk_free_table() order
  EventFacts facts(const EventSpec& e) const;
};
// Throws kleak::Error when the BTF cannot be parsed. `may_mount`: mount tracefs where it is
// missing (the tracer does; doctor only looks).
KernelOffer probe_kernel(const KernelProbe& probe, bool may_mount);

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

// Helpers the verifier accepts for kleak's raw_tp programs, asked on the live kernel
// (libbpf_probe_bpf_helper). `cgroup`: also ask for bpf_get_current_ancestor_cgroup_id (only
// --cgroup needs it). KLEAK_TASK_HELPERS=probe-read forces the 5.10 task variant (tests).
struct HelperFacts {
  TaskHelpers task;
  bool ancestor_cgroup = true;
};
HelperFacts probe_helpers(bool cgroup);

// What a trace asks of the attach plan.
struct AttachRequest {
  uint32_t kinds_mask = 0xffffffffu;
  std::optional<AttachMode> forced;  // --attach
  bool cgroup = false;               // --cgroup
  bool cache = false;                // a slab cache filter
  bool bulk_frees = true;            // --bulk-frees auto (off: none followed)
};

// The plan Tracer::start carries out.
struct AttachPlan {
  std::vector<FamilyPlan> families;
  std::vector<BulkFreePlan> bulk_frees;  // in bulk_free_table() order
  bool cgroup_by_helper = true;  // else through cgroup->ancestor_ids (5.10)
  TaskHelpers task;
};

// Which bulk-free functions are followed and how: only where the slab or kmalloc family is
// traced (their records are what a bulk free forgets). Pure.
std::vector<BulkFreePlan> plan_bulk_frees(const std::vector<BulkFreeFacts>& facts,
                                          const std::vector<FamilyPlan>& families);

// Why a slab cache filter would match nothing with these plans on this kernel, or "".
std::string cache_filter_unsupported(const std::vector<FamilyPlan>& plans, const KernelOffer& offer);

// Plans from the facts alone. Throws kleak::Error (one line) when the request cannot work on
// this kernel: --attach tracepoint without tracefs, --cgroup with neither the helper nor
// cgroup->ancestor_ids, a cache filter the slab tracepoint cannot see.
AttachPlan plan_attach(const KernelOffer& offer, const HelperFacts& helpers, const AttachRequest& req);

}  // namespace kleak
