// Which program variant serves each family, for kernels described by hand.
#include <gtest/gtest.h>

#include "kleak/attach.h"

using namespace kleak;

namespace {

EventFacts all_good(const EventSpec&) {
  EventFacts f;
  f.btf_ok = f.tracepoint = true;
  f.kprobe = true;
  return f;
}

const FamilyPlan& plan_of(const std::vector<FamilyPlan>& plans, std::string_view family) {
  for (const auto& p : plans)
    if (p.family == family) return p;
  throw std::runtime_error("no plan for family");
}

}  // namespace

TEST(AttachPlan, PrefersRawTpEverywhere) {
  auto plans = plan_families(all_good, std::nullopt, 0xffffffff);
  ASSERT_EQ(plans.size(), 5u);
  for (const auto& p : plans) EXPECT_EQ(p.mode, AttachMode::RawTp) << p.family;
}

TEST(AttachPlan, AFamilyFallsBackWholeWhenOneEventLacksBtf) {
  // 5.x percpu_alloc_percpu has fewer arguments: the whole percpu family uses tracepoints so
  // the free is traced the same way as the allocation.
  auto facts = [](const EventSpec& e) {
    EventFacts f = all_good(e);
    if (e.name == "percpu_alloc_percpu") {
      f.btf_ok = false;
      f.btf_why = "percpu_alloc_percpu has 9 arguments here, 11 expected";
    }
    return f;
  };
  auto plans = plan_families(facts, std::nullopt, 0xffffffff);
  EXPECT_EQ(plan_of(plans, "percpu").mode, AttachMode::Tracepoint);
  EXPECT_NE(plan_of(plans, "percpu").reason.find("9 arguments"), std::string::npos);
  EXPECT_EQ(plan_of(plans, "kmalloc").mode, AttachMode::RawTp);
}

TEST(AttachPlan, VmallocUsesKprobesWhereItsTracepointsAreMissing) {
  // Kernels before 6.2 (e.g. 6.1) have no vmalloc tracepoints.
  auto facts = [](const EventSpec& e) {
    EventFacts f = all_good(e);
    if (e.category == "vmalloc") f.btf_ok = f.tracepoint = false;
    return f;
  };
  auto plans = plan_families(facts, std::nullopt, 0xffffffff);
  EXPECT_EQ(plan_of(plans, "vmalloc").mode, AttachMode::Kprobe);
  EXPECT_NE(plan_of(plans, "vmalloc").reason.find("does not exist"), std::string::npos);
}

TEST(AttachPlan, MissingEverywhereIsSkippedWithTheReason) {
  // This machine: no vmalloc tracepoints would leave vmalloc untraced, since kprobes are out.
  auto facts = [](const EventSpec& e) {
    EventFacts f = all_good(e);
    f.kprobe = false;
    f.kprobe_why = "kprobes are not available on this kernel (CONFIG_KPROBES)";
    if (e.category == "vmalloc") f.btf_ok = f.tracepoint = false;
    return f;
  };
  auto plans = plan_families(facts, std::nullopt, 0xffffffff);
  const auto& vm = plan_of(plans, "vmalloc");
  EXPECT_EQ(vm.mode, AttachMode::None);
  EXPECT_NE(vm.reason.find("CONFIG_KPROBES"), std::string::npos) << vm.reason;
  EXPECT_NE(vm.reason.find("vmalloc:alloc_vmap_area does not exist"), std::string::npos) << vm.reason;
}

TEST(AttachPlan, ForcedModeAndKindSelection) {
  auto plans = plan_families(all_good, AttachMode::Tracepoint, 1u << KLEAK_KIND_PAGE);
  EXPECT_EQ(plan_of(plans, "page").mode, AttachMode::Tracepoint);
  EXPECT_EQ(plan_of(plans, "kmalloc").mode, AttachMode::None);
  EXPECT_EQ(plan_of(plans, "kmalloc").reason, "not selected (--kinds/--filter)");
  // Only vmalloc has a kprobe variant.
  plans = plan_families(all_good, AttachMode::Kprobe, 0xffffffff);
  EXPECT_EQ(plan_of(plans, "vmalloc").mode, AttachMode::Kprobe);
  EXPECT_EQ(plan_of(plans, "slab").mode, AttachMode::None);
}

TEST(AttachPlan, EventTableCoversTheIssueList) {
  std::vector<std::string> names;
  for (const auto& e : event_table()) names.push_back(std::string(e.category) + ":" + std::string(e.name));
  for (const char* want : {"kmem:kmalloc", "kmem:kfree", "kmem:kmem_cache_alloc", "kmem:kmem_cache_free",
                           "kmem:mm_page_alloc", "kmem:mm_page_free", "kmem:mm_page_free_batched",
                           "percpu:percpu_alloc_percpu", "percpu:percpu_free_percpu",
                           "vmalloc:alloc_vmap_area", "vmalloc:free_vmap_area_noflush"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
}

TEST(AttachPlan, OptionalNodeEventsJoinTheirFamilyOnlyWhereTheKernelHasThem) {
  // 6.x: kmalloc_node / kmem_cache_alloc_node are gone (folded into kmalloc / kmem_cache_alloc).
  auto gone = [](const EventSpec& e) {
    EventFacts f = all_good(e);
    if (e.optional) f = EventFacts{.absent = true};
    return f;
  };
  auto plans = plan_families(gone, std::nullopt, 0xffffffff);
  EXPECT_EQ(plan_of(plans, "kmalloc").mode, AttachMode::RawTp);
  EXPECT_EQ(plan_of(plans, "kmalloc").absent, (std::set<std::string, std::less<>>{"kmalloc_node"}));
  EXPECT_EQ(plan_of(plans, "slab").absent, (std::set<std::string, std::less<>>{"kmem_cache_alloc_node"}));
  // 5.10: they exist as classic tracepoints only: the family must attach them (or it misses
  // every allocation made with an explicit node), so it cannot be raw_tp.
  auto old = [](const EventSpec& e) {
    EventFacts f = all_good(e);
    if (e.optional) {
      f.btf_ok = false;
      f.btf_why = "no raw_tp program for " + std::string(e.name);
    }
    return f;
  };
  plans = plan_families(old, std::nullopt, 0xffffffff);
  EXPECT_EQ(plan_of(plans, "kmalloc").mode, AttachMode::Tracepoint);
  EXPECT_TRUE(plan_of(plans, "kmalloc").absent.empty());
  EXPECT_EQ(plan_of(plans, "slab").mode, AttachMode::Tracepoint);
}

// plan_attach: the checks that refuse a request this kernel cannot serve, from facts alone.
namespace {

KernelOffer offer_all_good() {
  KernelOffer o;
  o.tracefs = "/sys/kernel/tracing";
  for (const auto& e : event_table()) o.events.push_back(all_good(e));
  return o;
}

}  // namespace

TEST(AttachPlan, PlanAttachCarriesTheHelpers) {
  HelperFacts h;
  h.task = {false, false};
  AttachPlan p = plan_attach(offer_all_good(), h, AttachRequest{});
  EXPECT_EQ(p.families.size(), 5u);
  EXPECT_FALSE(p.task.task_btf);
  EXPECT_TRUE(p.cgroup_by_helper);
}

TEST(AttachPlan, ForcedTracepointNeedsTracefs) {
  KernelOffer o = offer_all_good();
  o.tracefs = "";
  o.tracefs_why = "tracefs is not mounted";
  AttachRequest req;
  req.forced = AttachMode::Tracepoint;
  try {
    plan_attach(o, HelperFacts{}, req);
    FAIL() << "accepted";
  } catch (const std::exception& e) {
    EXPECT_STREQ(e.what(), "tracefs is not mounted");
  }
}

TEST(AttachPlan, CgroupThroughAncestorIdsWithoutTheHelper) {
  KernelOffer o = offer_all_good();
  HelperFacts h;
  h.ancestor_cgroup = false;
  AttachRequest req;
  req.cgroup = true;
  EXPECT_THROW(plan_attach(o, h, req), std::exception);  // neither helper nor ancestor_ids
  o.cgroup_has_ancestor_ids = true;  // 5.10
  EXPECT_FALSE(plan_attach(o, h, req).cgroup_by_helper);
  h.ancestor_cgroup = true;
  EXPECT_TRUE(plan_attach(o, h, req).cgroup_by_helper);
}

TEST(AttachPlan, CacheFilterNeedsACacheTheSlabTracepointCarries) {
  KernelOffer o = offer_all_good();
  for (size_t i = 0; i < o.events.size(); ++i)
    if (event_table()[i].family == "slab") o.events[i].btf_ok = false;  // slab on the classic tracepoint
  AttachRequest req;
  req.cache = true;
  EXPECT_THROW(plan_attach(o, HelperFacts{}, req), std::exception);  // 6.1: no name field
  o.slab_tracepoint_has_name = true;
  EXPECT_EQ(plan_of(plan_attach(o, HelperFacts{}, req).families, "slab").mode, AttachMode::Tracepoint);
  req.kinds_mask = 1u << KLEAK_KIND_KMALLOC;  // slab not selected: nothing to refuse
  o.slab_tracepoint_has_name = false;
  EXPECT_NO_THROW(plan_attach(o, HelperFacts{}, req));
}

// Bulk frees (kmem_cache_free_bulk, __kfree_rcu_sheaf): fentry where it loads, else a kprobe,
// else not followed with the reason; absent functions are not blind spots; nothing is followed
// when no slab or kmalloc records are kept.
TEST(AttachPlan, BulkFreesTakeFentryThenKprobeAndSayWhyNot) {
  std::vector<FamilyPlan> families = {{"kmalloc", AttachMode::RawTp, "", {}}, {"page", AttachMode::RawTp, "", {}}};
  BulkFreeFacts fentry{true, true, "", true, ""};
  BulkFreeFacts kprobe_only{true, false, "fentry refused here (Operation not permitted)", true, ""};
  BulkFreeFacts neither{true, false, "fentry refused here (Operation not permitted)", false,
                        "kprobes are not available on this kernel (CONFIG_KPROBES)"};
  BulkFreeFacts absent{};
  auto plans = plan_bulk_frees({fentry, absent}, families);
  ASSERT_EQ(plans.size(), bulk_free_table().size());
  EXPECT_EQ(plans[0].function, "kmem_cache_free_bulk");
  EXPECT_EQ(plans[0].mode, AttachMode::Fentry);
  EXPECT_TRUE(plans[1].absent);
  plans = plan_bulk_frees({kprobe_only, kprobe_only}, families);
  EXPECT_EQ(plans[0].mode, AttachMode::Kprobe);
  EXPECT_EQ(plans[0].reason, "fentry refused here (Operation not permitted)");
  // __kfree_rcu_sheaf has no kprobe program: its return value decides.
  EXPECT_EQ(plans[1].mode, AttachMode::None);
  EXPECT_NE(plans[1].reason.find("no kprobe program"), std::string::npos);
  plans = plan_bulk_frees({neither, neither}, families);
  EXPECT_EQ(plans[0].mode, AttachMode::None);
  EXPECT_NE(plans[0].reason.find("CONFIG_KPROBES"), std::string::npos);
  plans = plan_bulk_frees({fentry, fentry}, {{"page", AttachMode::RawTp, "", {}}});
  EXPECT_EQ(plans[0].mode, AttachMode::None);
  EXPECT_EQ(plans[0].reason, "slab and kmalloc objects are not traced");
}
