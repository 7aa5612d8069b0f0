// The attach plan: from the kernel's facts (probe.cpp, or made by hand in tests) to which events
// are attached with which program variant. Nothing here touches the kernel.
#include <string>

#include "kleak/abi.h"
#include "kleak/error.h"
#include "kleak/event_names.h"
#include "kleak/kind.h"
#include "kleak/probe.h"

namespace kleak {

std::string_view attach_mode_name(AttachMode m) {
  switch (m) {
    case AttachMode::RawTp: return "raw_tp";
    case AttachMode::Tracepoint: return "tracepoint";
    case AttachMode::Kprobe: return "kprobe";
    case AttachMode::None: return "none";
    case AttachMode::Fentry: return "fentry";
  }
  return "none";
}

namespace {

// A registry column that may say `none`: "" then, else `value`.
constexpr std::string_view unless_none(std::string_view column, std::string_view value) {
  return column == "none" ? std::string_view{} : value;
}

constexpr bool is_free_role(std::string_view role) { return role == "FREE"; }

}  // namespace

const std::vector<EventSpec>& event_table() {
  static const std::vector<EventSpec> table = {
// One EventSpec per KLEAK_EVENT row; the program names come from kleak/event_names.h, as in BPF.
#define KLEAK_EVENT(kind_, category_, event_, role_, raw_params_, struct_pos_, struct_name_, kprobe_, \
                    optional_)                                                                        \
  EventSpec{                                                                                          \
      .kind = KLEAK_KIND_##kind_,                                                                     \
      .family = kind_name(KLEAK_KIND_##kind_),                                                        \
      .category = #category_,                                                                         \
      .name = #event_,                                                                                \
      .is_free = is_free_role(#role_),                                                                \
      .kprobe = unless_none(#kprobe_, #kprobe_),                                                      \
      .optional = (optional_) != 0,                                                                   \
      .raw_params = raw_params_,                                                                      \
      .struct_pos = struct_pos_,                                                                      \
      .struct_name = unless_none(#struct_name_, #struct_name_),                                       \
      .raw_prog = (raw_params_) ? KLEAK_STR(KLEAK_PROG_RAW(event_)) : "",                             \
      .twin_prog = (raw_params_) && is_free_role(#role_) ? KLEAK_STR(KLEAK_PROG_TWIN(event_)) : "",   \
      .tp_prog = KLEAK_STR(KLEAK_PROG_TP(event_)),                                                    \
      .kprobe_prog = unless_none(#kprobe_, is_free_role(#role_)                                       \
                                               ? KLEAK_STR(KLEAK_PROG_KPROBE(kprobe_))                \
                                               : KLEAK_STR(KLEAK_PROG_KRETPROBE(kprobe_))),           \
  },
#include "kleak/events.def"
#undef KLEAK_EVENT
  };
  return table;
}

const std::vector<BulkFreeSpec>& bulk_free_table() {
  static const std::vector<BulkFreeSpec> table = {
#define KLEAK_BULK_FREE(function_, fentry_, kprobe_) \
  BulkFreeSpec{#function_, unless_none(#fentry_, #fentry_), unless_none(#kprobe_, #kprobe_)},
#include "kleak/events.def"
#undef KLEAK_BULK_FREE
  };
  return table;
}

std::vector<BulkFreePlan> plan_bulk_frees(const std::vector<BulkFreeFacts>& facts,
                                          const std::vector<FamilyPlan>& families) {
  bool objects_traced = false;
  for (const auto& f : families)
    if ((f.family == "slab" || f.family == "kmalloc") && f.mode != AttachMode::None) objects_traced = true;
  std::vector<BulkFreePlan> plans;
  const auto& table = bulk_free_table();
  for (size_t i = 0; i < table.size(); ++i) {
    BulkFreeFacts f = i < facts.size() ? facts[i] : BulkFreeFacts{};
    BulkFreePlan p{std::string(table[i].function), AttachMode::None, "", false};
    if (!objects_traced) {
      p.reason = "slab and kmalloc objects are not traced";
    } else if (!f.exists) {
      p.absent = true;
      p.reason = "not in this kernel";
    } else if (!table[i].fentry.empty() && f.fentry) {
      p.mode = AttachMode::Fentry;
    } else if (!table[i].kprobe.empty() && f.kprobe) {
      p.mode = AttachMode::Kprobe;
      p.reason = f.fentry_why;
    } else {
      p.reason = f.fentry_why + "; " + (table[i].kprobe.empty() ? "no kprobe program" : f.kprobe_why);
    }
    plans.push_back(std::move(p));
  }
  return plans;
}


std::vector<FamilyPlan> plan_families(const std::function<EventFacts(const EventSpec&)>& facts,
                                      std::optional<AttachMode> forced, uint32_t kinds_mask) {
  std::vector<FamilyPlan> plans;
  const auto& table = event_table();
  for (size_t i = 0; i < table.size();) {
    std::string_view family = table[i].family;
    size_t end = i;
    while (end < table.size() && table[end].family == family) ++end;

    FamilyPlan plan{std::string(family), AttachMode::None, "", {}};
    if (!(kinds_mask & (1u << table[i].kind))) {
      plan.reason = "not selected (--kinds/--filter)";
      plans.push_back(plan);
      i = end;
      continue;
    }
    bool btf = true, tp = true, kp = true;
    std::string btf_why, tp_why, kp_why;
    for (size_t j = i; j < end; ++j) {
      EventFacts f = facts(table[j]);
      if (table[j].optional && f.absent) {
        plan.absent.insert(std::string(table[j].name));
        continue;
      }
      std::string ev = std::string(table[j].category) + ":" + std::string(table[j].name);
      if (!f.btf_ok) {
        btf = false;
        if (btf_why.empty()) btf_why = f.btf_why.empty() ? ev + ": no BTF tracepoint" : f.btf_why;
      }
      if (!f.tracepoint) {
        tp = false;
        if (tp_why.empty())
          tp_why = !f.tracepoint_why.empty() ? f.tracepoint_why
                                             : "tracepoint " + ev + " does not exist on this kernel";
      }
      if (table[j].kprobe.empty() || !f.kprobe) {
        kp = false;
        if (kp_why.empty())
          kp_why = table[j].kprobe.empty() ? "no kprobe fallback for " + ev
                                           : (f.kprobe_why.empty() ? "kprobes unavailable"
                                                                   : f.kprobe_why);
      }
    }
    auto allowed = [&](AttachMode m) { return !forced || *forced == m; };
    if (btf && allowed(AttachMode::RawTp)) {
      plan.mode = AttachMode::RawTp;
    } else if (tp && allowed(AttachMode::Tracepoint)) {
      plan.mode = AttachMode::Tracepoint;
      plan.reason = forced ? "" : btf_why;
    } else if (kp && allowed(AttachMode::Kprobe)) {
      plan.mode = AttachMode::Kprobe;
      plan.reason = tp_why;
    } else {
      plan.reason = forced ? "cannot attach as " + std::string(attach_mode_name(*forced)) + ": " +
                                 (*forced == AttachMode::RawTp        ? btf_why
                                  : *forced == AttachMode::Tracepoint ? tp_why
                                                                      : kp_why)
                           : tp_why + "; " + kp_why;
    }
    plans.push_back(plan);
    i = end;
  }
  return plans;
}


// Why a slab cache filter (--cache, `cache == ...`) would match nothing, or "": the cache comes
// from struct kmem_cache (raw_tp, 6.2+) or the classic tracepoint's `name` field (6.x after
// 6.2); 5.10's and 6.1's kmem_cache_alloc tracepoint carries neither.
std::string cache_filter_unsupported(const std::vector<FamilyPlan>& plans, const KernelOffer& offer) {
  for (const auto& p : plans) {
    if (p.family != "slab" || p.mode != AttachMode::Tracepoint) continue;
    if (offer.slab_tracepoint_has_name) return "";
    return "a slab cache filter cannot work with this kernel's kmem:kmem_cache_alloc " +
           std::string("tracepoint: it carries no cache (no struct kmem_cache * argument, no name field)");
  }
  return "";
}

EventFacts KernelOffer::facts(const EventSpec& e) const {
  const auto& table = event_table();
  for (size_t i = 0; i < table.size() && i < events.size(); ++i)
    if (table[i].name == e.name) return events[i];
  return {};
}

std::string task_helpers_variant(const TaskHelpers& h) {
  std::string v = h.task_btf ? "task: bpf_get_current_task_btf"
                             : "task: bpf_get_current_task + bpf_probe_read_kernel";
  v += h.pt_regs ? ", syscall: bpf_task_pt_regs" : ", syscall: pt_regs at the task's stack top";
  return v;
}

AttachPlan plan_attach(const KernelOffer& offer, const HelperFacts& helpers, const AttachRequest& req) {
  AttachPlan plan;
  plan.families = plan_families([&](const EventSpec& e) { return offer.facts(e); }, req.forced, req.kinds_mask);
  plan.bulk_frees = plan_bulk_frees(offer.bulk_frees, plan.families);
  if (!req.bulk_frees)
    for (auto& b : plan.bulk_frees)
      if (!b.absent) b = {b.function, AttachMode::None, "off (--bulk-frees off)", false};
  if (req.forced == AttachMode::Tracepoint && offer.tracefs.empty()) throw Error(offer.tracefs_why);
  if (req.cgroup) {
    plan.cgroup_by_helper = helpers.ancestor_cgroup;
    if (!plan.cgroup_by_helper && !offer.cgroup_has_ancestor_ids)
      throw Error("--cgroup cannot work on this kernel: tracing programs may not call "
                  "bpf_get_current_ancestor_cgroup_id and struct cgroup has no ancestor_ids");
  }
  if (req.cache) {
    if (std::string why = cache_filter_unsupported(plan.families, offer); !why.empty()) throw Error(why);
  }
  plan.task = helpers.task;
  return plan;
}

}  // namespace kleak
