// The BPF handlers themselves, driven with BPF_PROG_TEST_RUN through the raw_tp programs that
// `kleak trace` attaches (the classic tracepoint variants share their __always_inline bodies):
// insert, free, key spaces, filters, a full map, a reused address and the free twins, each
// checked in the maps and counters.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "harness.h"
#include "kleak.skel.h"
#include "kleak/abi.h"
#include "kleak/collect.h"

namespace kleak::test {
namespace {

struct SkelDeleter {
  void operator()(kleak_bpf* s) const { kleak_bpf__destroy(s); }
};

// Why this kernel refuses BPF_PROG_TEST_RUN for raw_tp programs, or "": asked with a
// two-instruction program, so that a refusal of kleak's own programs is never mistaken for it.
// (Before 5.10 raw_tp had no test_run; Debian 11's 5.10 runs these tests: measured, all pass.)
std::string raw_tp_test_run_refused() {
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "probe", "GPL", insns, 2, nullptr);
  if (fd < 0) return "";  // the load itself fails: let the test say why
  uint64_t arg = 0;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &arg, .ctx_size_in = sizeof arg);
  int err = bpf_prog_test_run_opts(fd, &opts);
  int saved = errno;
  close(fd);
  if (err == 0) return "";
  return std::string("this kernel refuses BPF_PROG_TEST_RUN for raw_tp programs (") +
         std::strerror(saved) + "), the harness these tests drive the handlers with";
}

class Handlers : public ::testing::Test {
 protected:
  void SetUp() override {
    KLEAK_REQUIRE_BPF_OR_SKIP();
    if (std::string why = raw_tp_test_run_refused(); !why.empty()) GTEST_SKIP() << why;
  }
  // Loads only the raw_tp programs, with the given config applied before load.
  void load(uint32_t max_allocs = 1024, void (*configure)(kleak_bpf*) = nullptr) {
    skel_.reset(kleak_bpf__open());
    ASSERT_TRUE(skel_);
    bpf_program* p;
    bpf_object__for_each_program(p, skel_->obj)
        bpf_program__set_autoload(p, std::strncmp(bpf_program__name(p), "raw_", 4) == 0);
    bpf_map__set_max_entries(skel_->maps.allocs, max_allocs);
    skel_->rodata->cfg_page_size = 4096;
    // The task helpers the kernel has, as kleak picks them (5.10 has neither).
    auto has = [](bpf_func_id id) {
      return libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, id, nullptr) == 1;
    };
    skel_->rodata->cfg_task_btf = has(BPF_FUNC_get_current_task_btf);
    skel_->rodata->cfg_task_pt_regs = skel_->rodata->cfg_task_btf && has(BPF_FUNC_task_pt_regs);
    if (configure) configure(skel_.get());
    ASSERT_EQ(kleak_bpf__load(skel_.get()), 0);
  }
  void fire(bpf_program* prog, std::vector<uint64_t> args) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = args.data(),
                .ctx_size_in = static_cast<uint32_t>(args.size() * sizeof(uint64_t)));
    ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0) << bpf_program__name(prog);
  }
  std::optional<kleak_alloc> lookup(kleak_space space, uint64_t addr) {
    uint64_t key = kleak_key(space, addr);
    kleak_alloc a{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.allocs), &key, &a) != 0) return std::nullopt;
    return a;
  }
  uint64_t count(int kind, int cause) {
    uint32_t idx = static_cast<uint32_t>(kind * KLEAK_CAUSE_MAX + cause);
    std::vector<uint64_t> v(static_cast<size_t>(libbpf_num_possible_cpus()));
    bpf_map_lookup_elem(bpf_map__fd(skel_->maps.counters), &idx, v.data());
    uint64_t s = 0;
    for (auto x : v) s += x;
    return s;
  }
  std::unique_ptr<kleak_bpf, SkelDeleter> skel_;
};

constexpr uint64_t kPtr = 0xffff888012345600ull;

// The primary marks each event it runs for; a twin that finds no mark of its event (its ctx
// and address) handles it. BPF_PROG_TEST_RUN gives every run a ctx of its own, so a twin run
// here never finds its primary's mark: that the twin then does nothing is proven on the real
// tracepoints (Trace.FreesThatInterruptTheirOwnProgramAreRescued: handled == skipped).
TEST_F(Handlers, FreeTwinActsOnlyWhenItsPrimaryLeftNoMark) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load();
  const int ncpu = libbpf_num_possible_cpus();
  int mfd = bpf_map__fd(skel_->maps.free_marks);
  auto marks = [&](uint32_t slot) {
    std::vector<kleak_free_marks> v(static_cast<size_t>(ncpu));
    EXPECT_EQ(bpf_map_lookup_elem(mfd, &slot, v.data()), 0);
    return v;
  };
  auto marked = [&](uint32_t slot, uint64_t id) {
    size_t n = 0;
    for (const auto& m : marks(slot))
      for (int i = 0; i < KLEAK_FREE_MARKS; ++i) n += m.ctx[i] != 0 && m.id[i] == id;
    return n;
  };
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 64, 64, 0xcc0, 0});
  fire(skel_->progs.raw_kmalloc, {0, kPtr + 64, 64, 64, 0xcc0, 0});
  // The primary frees its record and leaves one mark naming its event.
  fire(skel_->progs.raw_kfree, {0, kPtr});
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr));
  EXPECT_EQ(marked(KLEAK_SLOT_KFREE, kPtr), 1u);
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_FREE_RESCUED), 0u);
  // A kfree its primary never saw (as when the kernel skipped it): the twin frees the record and
  // says so; the other event's marks are untouched.
  fire(skel_->progs.raw_kfree_twin, {0, kPtr + 64});
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr + 64));
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_FREE_MATCHED), 2u);
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_FREE_RESCUED), 1u);
  EXPECT_EQ(marked(KLEAK_SLOT_CACHE_FREE, kPtr), 0u);
  // Marks are per event: a kmem_cache_free primary marks its own slot.
  fire(skel_->progs.raw_kmem_cache_free, {0, kPtr + 128, 0});
  EXPECT_EQ(marked(KLEAK_SLOT_CACHE_FREE, kPtr + 128), 1u);
}

TEST_F(Handlers, KmallocThenKfree) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load();
  fire(skel_->progs.raw_kmalloc, {0xffffffff81234567ull, kPtr, 320, 512, 0xcc0, 0});
  auto a = lookup(KLEAK_SPACE_SLAB, kPtr);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, KLEAK_KIND_KMALLOC);
  EXPECT_EQ(a->bytes_req, 320u);
  EXPECT_EQ(a->bytes_alloc, 512u);
  EXPECT_EQ(a->gfp_flags, 0xcc0u);
  EXPECT_EQ(a->call_site, 0xffffffff81234567ull);
  EXPECT_EQ(a->tgid, static_cast<uint32_t>(getpid()));
  EXPECT_GE(a->stack_id, 0);  // a stack was captured
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_ALLOC_TRACKED), 1u);

  fire(skel_->progs.raw_kfree, {0, kPtr});
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr));
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_FREE_MATCHED), 1u);
  // A free of something never tracked (allocated before the window) is counted, not an error.
  fire(skel_->progs.raw_kfree, {0, kPtr + 64});
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_FREE_UNTRACKED), 1u);
  // kfree(NULL) is not a free of anything.
  fire(skel_->progs.raw_kfree, {0, 0});
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_FREE_UNTRACKED), 1u);
}

TEST_F(Handlers, KfreeAlsoFreesCacheObjects) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load();
  // struct kmem_cache * is read with probe reads: a bogus pointer gives an unnamed cache.
  fire(skel_->progs.raw_kmem_cache_alloc, {0, kPtr, 0x1000, 0xcc0, 0});
  ASSERT_TRUE(lookup(KLEAK_SPACE_SLAB, kPtr));
  EXPECT_EQ(lookup(KLEAK_SPACE_SLAB, kPtr)->kind, KLEAK_KIND_SLAB);
  fire(skel_->progs.raw_kfree, {0, kPtr});
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr));
}

TEST_F(Handlers, AddressSpacesNeverCollide) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load();
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 64, 64, 0, 0});
  fire(skel_->progs.raw_mm_page_alloc, {kPtr, 2, 0x100cca, 1});
  fire(skel_->progs.raw_alloc_vmap_area, {kPtr, 8192, 4096, 0, 0, 0});
  // percpu: call_site, reserved, is_atomic, size, align, base_addr, off, ptr, bytes_alloc, gfp
  fire(skel_->progs.raw_percpu_alloc_percpu, {0, 0, 0, 8, 8, 0, 0, kPtr, 16, 0xcc0});
  ASSERT_TRUE(lookup(KLEAK_SPACE_SLAB, kPtr));
  ASSERT_TRUE(lookup(KLEAK_SPACE_PAGE, kPtr));
  ASSERT_TRUE(lookup(KLEAK_SPACE_VMAP, kPtr));
  ASSERT_TRUE(lookup(KLEAK_SPACE_PERCPU, kPtr));
  EXPECT_EQ(lookup(KLEAK_SPACE_PAGE, kPtr)->bytes_alloc, 16384u);  // order 2
  EXPECT_EQ(lookup(KLEAK_SPACE_PAGE, kPtr)->order, 2u);
  EXPECT_EQ(lookup(KLEAK_SPACE_PAGE, kPtr)->migratetype, 1);
  EXPECT_EQ(lookup(KLEAK_SPACE_VMAP, kPtr)->bytes_alloc, 8192u);
  EXPECT_EQ(lookup(KLEAK_SPACE_PERCPU, kPtr)->bytes_req, 8u);
  EXPECT_EQ(lookup(KLEAK_SPACE_PERCPU, kPtr)->bytes_alloc, 16u);

  // Each free removes only its own space's record.
  fire(skel_->progs.raw_mm_page_free, {kPtr, 2});
  EXPECT_FALSE(lookup(KLEAK_SPACE_PAGE, kPtr));
  EXPECT_TRUE(lookup(KLEAK_SPACE_SLAB, kPtr));
  fire(skel_->progs.raw_free_vmap_area_noflush, {kPtr, 0, 0});
  EXPECT_FALSE(lookup(KLEAK_SPACE_VMAP, kPtr));
  fire(skel_->progs.raw_percpu_free_percpu, {0, 0, kPtr});
  EXPECT_FALSE(lookup(KLEAK_SPACE_PERCPU, kPtr));
  EXPECT_TRUE(lookup(KLEAK_SPACE_SLAB, kPtr));
  // A failed vmap allocation is not an allocation.
  fire(skel_->progs.raw_alloc_vmap_area, {kPtr + 4096, 8192, 4096, 0, 0, 1});
  EXPECT_FALSE(lookup(KLEAK_SPACE_VMAP, kPtr + 4096));
}

TEST_F(Handlers, BatchedPageFreeIsIdempotent) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load();
  fire(skel_->progs.raw_mm_page_alloc, {kPtr, 0, 0, 0});
  fire(skel_->progs.raw_mm_page_free, {kPtr, 0});
  fire(skel_->progs.raw_mm_page_free_batched, {kPtr});  // the same page again: not a new loss
  EXPECT_EQ(count(KLEAK_KIND_PAGE, KLEAK_FREE_MATCHED), 1u);
  EXPECT_EQ(count(KLEAK_KIND_PAGE, KLEAK_FREE_UNTRACKED), 0u);
  fire(skel_->progs.raw_mm_page_alloc, {kPtr + 64, 0, 0, 0});
  fire(skel_->progs.raw_mm_page_free_batched, {kPtr + 64});
  EXPECT_FALSE(lookup(KLEAK_SPACE_PAGE, kPtr + 64));
}

TEST_F(Handlers, ReusedAddressCountsAMissedFree) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load();
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 100, 128, 0, 0});
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 200, 256, 0, 0});
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_ALLOC_REPLACED), 1u);
  EXPECT_EQ(lookup(KLEAK_SPACE_SLAB, kPtr)->bytes_req, 200u);  // the live allocation wins
}

TEST_F(Handlers, FullMapIsCounted) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load(4);
  for (uint64_t i = 0; i < 10; ++i) fire(skel_->progs.raw_kmalloc, {0, kPtr + i * 64, 64, 64, 0, 0});
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_ALLOC_TRACKED), 4u);
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_ALLOC_MAP_FULL), 6u);
}

TEST_F(Handlers, SizeAndKindFiltersRunBeforeTheMap) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  load(1024, [](kleak_bpf* s) {
    s->rodata->cfg_min_bytes_req = 256;
    s->rodata->cfg_max_bytes_req = 512;
    s->rodata->cfg_kinds_mask = 1u << KLEAK_KIND_KMALLOC;
  });
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 255, 256, 0, 0});
  fire(skel_->progs.raw_kmalloc, {0, kPtr + 64, 256, 256, 0, 0});
  fire(skel_->progs.raw_kmalloc, {0, kPtr + 128, 512, 512, 0, 0});
  fire(skel_->progs.raw_kmalloc, {0, kPtr + 192, 513, 1024, 0, 0});
  fire(skel_->progs.raw_mm_page_alloc, {kPtr, 0, 0, 0});
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr));
  EXPECT_TRUE(lookup(KLEAK_SPACE_SLAB, kPtr + 64));
  EXPECT_TRUE(lookup(KLEAK_SPACE_SLAB, kPtr + 128));
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr + 192));
  EXPECT_FALSE(lookup(KLEAK_SPACE_PAGE, kPtr));
  EXPECT_EQ(count(KLEAK_KIND_KMALLOC, KLEAK_ALLOC_FILTERED), 2u);
  EXPECT_EQ(count(KLEAK_KIND_PAGE, KLEAK_ALLOC_FILTERED), 1u);
}

TEST_F(Handlers, PidFilterAndSelfExclusion) {
  KLEAK_REQUIRE_BPF_OR_SKIP();
  static uint32_t self;
  self = static_cast<uint32_t>(getpid());
  load(1024, [](kleak_bpf* s) { s->rodata->cfg_self_tgid = self; });
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 64, 64, 0, 0});
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr));  // the tracer's own allocations are not recorded
  load(1024, [](kleak_bpf* s) { s->rodata->cfg_tgid = self + 1; });
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 64, 64, 0, 0});
  EXPECT_FALSE(lookup(KLEAK_SPACE_SLAB, kPtr));
  load(1024, [](kleak_bpf* s) { s->rodata->cfg_tgid = self; });
  fire(skel_->progs.raw_kmalloc, {0, kPtr, 64, 64, 0, 0});
  EXPECT_TRUE(lookup(KLEAK_SPACE_SLAB, kPtr));
}

}  // namespace
}  // namespace kleak::test
