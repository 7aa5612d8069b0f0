// The one path from `kleak trace`'s options to what the BPF programs are configured with.
#include <gtest/gtest.h>

#include "session/trace.h"
#include "kleak/error.h"

using namespace kleak;

namespace {

BpfConfig config_of(const TraceOptions& o, const std::optional<CgroupTarget>& cg = std::nullopt) {
  return bpf_config(o, build_filter(o).prefilter(), cg);
}

}  // namespace

TEST(TraceConfig, DefaultsConfigureNothingAway) {
  BpfConfig c = config_of(TraceOptions{});
  EXPECT_EQ(c.kinds_mask, BpfPrefilter{}.kinds_mask);
  EXPECT_EQ(c.min_bytes_req, 0u);
  EXPECT_EQ(c.max_bytes_req, UINT64_MAX);
  EXPECT_EQ(c.tgid, 0u);
  EXPECT_FALSE(c.cache);
  EXPECT_EQ(c.cgroup_id, 0u);
  EXPECT_EQ(c.max_allocs, KLEAK_DEFAULT_MAX_ALLOCS);
  EXPECT_EQ(c.stack_reuse, KLEAK_DEFAULT_STACK_REUSE);
  EXPECT_EQ(c.sample_every, 1u);
}

TEST(TraceConfig, ShorthandsAndFilterMeetInTheKernelSide) {
  TraceOptions o;
  o.min_size = "4k";
  o.view.filter = "bytes_req <= 65536 && bytes_alloc >= 8192";
  o.pid = 42;
  o.cache = "dentry";
  o.kinds = "slab,page";
  BpfConfig c = config_of(o);
  EXPECT_EQ(c.min_bytes_req, 4096u);
  EXPECT_EQ(c.max_bytes_req, 65536u);
  EXPECT_EQ(c.min_bytes_alloc, 8192u);
  EXPECT_EQ(c.tgid, 42u);
  ASSERT_TRUE(c.cache);
  EXPECT_EQ(*c.cache, "dentry");
  EXPECT_EQ(c.kinds_mask, kind_bit(KLEAK_KIND_SLAB) | kind_bit(KLEAK_KIND_PAGE));
}

TEST(TraceConfig, SizesSamplingAndCgroupComeThrough) {
  TraceOptions o;
  o.max_allocs = 7;
  o.max_stacks = 8;
  o.max_caches = 9;
  o.max_churn = 10;
  o.max_sites = 11;
  o.stack_depth = 12;
  o.sample = 13;
  o.stack_reuse = 1;
  BpfConfig c = config_of(o, CgroupTarget{1234, 3, "/a/b/c"});
  EXPECT_EQ(c.max_allocs, 7u);
  EXPECT_EQ(c.max_stacks, 8u);
  EXPECT_EQ(c.max_caches, 9u);
  EXPECT_EQ(c.max_churn, 10u);
  EXPECT_EQ(c.max_sites, 11u);
  EXPECT_EQ(c.stack_depth, 12u);
  EXPECT_EQ(c.sample_every, 13u);
  EXPECT_EQ(c.stack_reuse, 1u);
  EXPECT_EQ(c.cgroup_id, 1234u);
  EXPECT_EQ(c.cgroup_level, 3u);
}

TEST(TraceConfig, BadSizesAreUsageErrors) {
  EXPECT_THROW(parse_size("--min-size", "-1"), Error);
  EXPECT_THROW(parse_size("--min-size", "4X"), Error);
  EXPECT_EQ(parse_size("--min-size", "1M"), 1u << 20);
}

// kleak hunt hands --filter and --kinds typed (TraceOptions::selection); the trace makes of them
// what it makes of the same text from the command line.
TEST(TraceConfig, ATypedSelectionIsTheTextParsed) {
  TraceOptions text;
  text.view.filter = "bytes_req >= 128";
  text.kinds = "slab,page";
  text.cache = "dentry";
  TraceOptions typed;
  typed.selection = TraceSelection{Filter::parse("bytes_req >= 128"), kind_bit(KLEAK_KIND_SLAB) | kind_bit(KLEAK_KIND_PAGE)};
  typed.cache = "dentry";
  EXPECT_EQ(build_filter(typed).to_string(), build_filter(text).to_string());
  BpfConfig a = config_of(text), b = config_of(typed);
  EXPECT_EQ(b.kinds_mask, a.kinds_mask);
  EXPECT_EQ(b.min_bytes_req, 128u);
  ASSERT_TRUE(b.cache);
  EXPECT_EQ(*b.cache, "dentry");
  EXPECT_EQ(parse_selection(text).kinds_mask, typed.selection->kinds_mask);
}
