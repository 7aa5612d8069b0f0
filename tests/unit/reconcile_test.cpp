// The meminfo line each trace category lands in, and the reconciliation table, on values made
// by hand.
#include <gtest/gtest.h>

#include "kleak/reconcile.h"

using namespace kleak;

namespace {

Accounting acc(std::initializer_list<std::pair<const char*, int64_t>> parts) {
  Accounting a;
  for (auto [k, kb] : parts) a.parts.push_back({*meminfo_part_from_name(k), k, PartGroup::kKernel, kb, ""});
  return a;
}

const Report::ReconcileRow* row(const Report& r, const std::string& line) {
  for (const auto& x : r.reconciliation)
    if (meminfo_part_name(x.line) == line) return &x;
  return nullptr;
}

}  // namespace

TEST(Reconcile, EveryCategoryHasALine) {
  EXPECT_EQ(meminfo_line_for(Category::slab, true), MeminfoPart::slab_reclaimable);
  EXPECT_EQ(meminfo_line_for(Category::slab, false), MeminfoPart::slab_unreclaimable);
  EXPECT_EQ(meminfo_line_for(Category::kmalloc_large, false), MeminfoPart::slab_unreclaimable);
  EXPECT_EQ(meminfo_line_for(Category::vmalloc, false), MeminfoPart::vmalloc);
  EXPECT_EQ(meminfo_line_for(Category::percpu, false), MeminfoPart::percpu);
  EXPECT_EQ(meminfo_line_for(Category::page_tables, false), MeminfoPart::page_tables);
  EXPECT_EQ(meminfo_line_for(Category::kernel_stack, false), MeminfoPart::kernel_stack);
  EXPECT_EQ(meminfo_line_for(Category::user_anon, false), MeminfoPart::user_anon);
  EXPECT_EQ(meminfo_line_for(Category::page_cache, false), MeminfoPart::user_file);
  EXPECT_EQ(meminfo_line_for(Category::balloon, false), MeminfoPart::balloon);
  for (Category c : {Category::pipe, Category::socket, Category::page_direct})
    EXPECT_EQ(meminfo_line_for(c, false), MeminfoPart::unaccounted);
  // Backing pages explain nothing on their own: their objects do.
  for (Category c : {Category::slab_backing, Category::kmalloc_large_backing, Category::vmalloc_backing,
                     Category::percpu_backing})
    EXPECT_EQ(meminfo_line_for(c, false), std::nullopt);
}

TEST(Reconcile, LinesMovedNextToWhatTheTraceExplains) {
  Report r;
  r.by_category[Category::pipe] = {30720000, 7500};
  r.by_category[Category::vmalloc] = {4 * (4198400 + 4096), 4};  // 4 areas, one guard page each
  r.by_category[Category::vmalloc_backing] = {4 * 4198400, 4100};
  r.by_category[Category::slab] = {300 * 1024, 600};
  r.by_category[Category::balloon] = {8 << 20, 2048};  // no Balloon: line here -> unaccounted
  r.slab_by_cache["dentry"] = {200 * 1024, 400};
  r.slab_by_cache["kmalloc-512"] = {100 * 1024, 200};
  StackGroup dentries;
  dentries.category = "slab";
  dentries.cache = "dentry";
  r.stacks.push_back(dentries);
  StackGroup pipes;
  pipes.category = "pipe";
  r.stacks.push_back(pipes);
  Snapshot end_snap;
  end_snap.sys["/sys/kernel/slab/dentry/reclaim_account"] = "1";
  Accounting start = acc({{"free", 1000000}, {"free_pcp", 5000}, {"unaccounted", 100}, {"vmalloc", 10},
                          {"slab_reclaimable", 50}, {"slab_unreclaimable", 60}});
  Accounting end = acc({{"free", 900000}, {"free_pcp", 4000}, {"unaccounted", 38000}, {"vmalloc", 16410},
                        {"slab_reclaimable", 250}, {"slab_unreclaimable", 160}});
  reconcile(r, start, end, end_snap, 4096);

  const auto* u = row(r, "unaccounted");
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(u->moved_kb, 37900);
  EXPECT_EQ(u->explained_kb, 30000 + 8192);  // pipes and the unreported balloon
  const auto* v = row(r, "vmalloc");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->moved_kb, 16400);
  EXPECT_EQ(v->explained_kb, 4 * 4198400 / 1024);  // guard pages taken off, backing not added
  EXPECT_EQ(row(r, "slab_reclaimable")->explained_kb, 200);
  EXPECT_EQ(row(r, "slab_unreclaimable")->explained_kb, 100);
  const auto* f = row(r, "free");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->moved_kb, -100000 - 1000);  // MemFree and the per-CPU lists together
  EXPECT_EQ(row(r, "free_pcp"), nullptr);
  EXPECT_FALSE(r.reconciliation_note.empty());
  EXPECT_EQ(r.stacks[0].meminfo_line, MeminfoPart::slab_reclaimable);
  EXPECT_EQ(r.stacks[1].meminfo_line, MeminfoPart::unaccounted);
  // Sorted by the larger of moved and explained.
  EXPECT_EQ(r.reconciliation.front().line, MeminfoPart::free);
}

// A kmalloc or slab object is in Slab whatever stack it is under: a pipe's pipe_inode_info and a
// socket's sk are categorised pipe and socket (what they belong to), yet their bytes are in
// SUnreclaim, not in the remainder no counter shows (where pipe and socket pages are).
TEST(Reconcile, ObjectsUnderPipesAndSocketsAreInSlab) {
  Report r;
  r.by_category[Category::pipe] = {4096 * 100 + 1024 * 100, 200};  // 100 pages + 100 pipe_inode_info
  r.objects_by_category[Category::pipe] = {1024 * 100, 100};
  r.by_category[Category::socket] = {1024 * 50, 50};  // sk objects only
  r.objects_by_category[Category::socket] = {1024 * 50, 50};
  r.slab_by_cache["kmalloc-1024"] = {1024 * 100, 100};
  r.slab_by_cache["UNIX"] = {1024 * 50, 50};
  StackGroup pages, info, sk;
  pages.kind = "page";
  pages.category = "pipe";
  info.kind = "kmalloc";
  info.category = "pipe";
  info.cache = "kmalloc-1024";
  sk.kind = "slab";
  sk.category = "socket";
  sk.cache = "UNIX";
  r.stacks = {pages, info, sk};
  Accounting a = acc({{"free", 1000}, {"unaccounted", 100}, {"slab_unreclaimable", 60}});
  reconcile(r, a, a, Snapshot{}, 4096);
  EXPECT_EQ(row(r, "unaccounted")->explained_kb, 400);  // the pipe pages only
  EXPECT_EQ(row(r, "slab_unreclaimable")->explained_kb, 150);
  EXPECT_EQ(r.stacks[0].meminfo_line, MeminfoPart::unaccounted);
  EXPECT_EQ(r.stacks[1].meminfo_line, MeminfoPart::slab_unreclaimable);
  EXPECT_EQ(r.stacks[2].meminfo_line, MeminfoPart::slab_unreclaimable);
}
