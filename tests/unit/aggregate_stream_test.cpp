// Aggregation while draining: the records of the golden recordings fed a batch at a time, each
// batch's memory overwritten as soon as it is handed over (as the drain's reused buffer is),
// must give the report aggregate() gives of them whole, under every --by and a filter.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "kleak/collect.h"
#include "kleak/filter.h"
#include "kleak/recording.h"
#include "kleak/render.h"
#include "kleak/report.h"
#include "kleak/symbolize.h"

using namespace kleak;

namespace {

const char* const kRecordings[] = {KLEAK_GOLDEN "/pipes.kleak", KLEAK_GOLDEN "/box.kleak"};

// `c` without its records, the records fed in batches of `batch` through one reused buffer
// that is scribbled over after every add(): nothing may point into it.
Report streamed(const Collected& whole, size_t batch, const Kallsyms& syms, const Filter& filter,
                const AggregateOptions& opts) {
  Collected c = whole;
  c.allocs.clear();
  Aggregation agg(c, filter, opts);
  std::vector<AllocRecord> buf(batch);
  for (size_t i = 0; i < whole.allocs.size(); i += batch) {
    const size_t n = std::min(batch, whole.allocs.size() - i);
    std::copy_n(whole.allocs.begin() + static_cast<ptrdiff_t>(i), n, buf.begin());
    agg.add(std::span<const AllocRecord>(buf.data(), n));
    std::memset(static_cast<void*>(buf.data()), 0x5a, buf.size() * sizeof(AllocRecord));
  }
  return agg.finish(syms);
}

struct View {
  std::vector<GroupBy> by;
  const char* filter;
};

TEST(AggregateStream, BatchesGiveTheReportOfTheWholeOnTheGoldenRecordings) {
  const View views[] = {
      {{GroupBy::stack}, ""},
      {{GroupBy::callsite}, ""},
      {{GroupBy::comm, GroupBy::cache}, ""},
      {{GroupBy::pid}, ""},
      {{GroupBy::cgroup, GroupBy::stack}, ""},
      {{GroupBy::stack}, "bytes_req >= 256 && bytes_req <= 512"},
  };
  for (const char* path : kRecordings) {
    Recording rec = load_recording(path);
    ASSERT_GT(rec.collected.allocs.size(), 100u) << path;
    Kallsyms syms = Kallsyms::parse(rec.kallsyms);
    for (const View& v : views) {
      Filter filter = *v.filter ? Filter::parse(v.filter) : Filter::match_all();
      AggregateOptions opts;
      opts.by = v.by;
      opts.top = SIZE_MAX;
      const std::string whole = render_json(aggregate(rec.collected, syms, filter, opts));
      for (size_t batch : {size_t{1}, size_t{7}, size_t{4096}}) {
        const std::string parts = render_json(streamed(rec.collected, batch, syms, filter, opts));
        EXPECT_EQ(parts, whole) << path << " filter '" << v.filter << "' batch " << batch;
      }
    }
  }
}

TEST(AggregateStream, CountsTheRecordsFedAsOutstanding) {
  Recording rec = load_recording(kRecordings[0]);
  Kallsyms syms = Kallsyms::parse(rec.kallsyms);
  Report r = streamed(rec.collected, 100, syms, Filter::match_all(), {});
  EXPECT_EQ(r.events[EventCount::outstanding_records], rec.collected.allocs.size());
}

// The frees derived from the churn groups, records fed a batch at a time, equal the whole's.
TEST(AggregateStream, WindowFreesFromBatchesEqualTheWhole) {
  for (const char* path : kRecordings) {
    Recording rec = load_recording(path);
    const auto& allocs = rec.collected.allocs;
    // The recordings store the derived frees: take them back to what BPF counted.
    std::vector<std::pair<kleak_churn_key, kleak_churn>> churn = rec.collected.churn;
    ASSERT_FALSE(churn.empty()) << path;
    for (auto& [k, v] : churn) v.frees = v.free_bytes = 0;
    auto whole = churn;
    derive_window_frees(allocs, whole);
    auto parts = churn;
    HeldByChurnGroup held(parts);
    for (size_t i = 0; i < allocs.size(); i += 3)
      held.add(std::span<const AllocRecord>(allocs.data() + i, std::min<size_t>(3, allocs.size() - i)));
    held.derive_frees(parts);
    ASSERT_EQ(parts.size(), whole.size());
    uint64_t frees = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      EXPECT_EQ(parts[i].second.frees, whole[i].second.frees) << path << " group " << i;
      EXPECT_EQ(parts[i].second.free_bytes, whole[i].second.free_bytes) << path << " group " << i;
      frees += whole[i].second.frees;
    }
    EXPECT_GT(frees, 0u) << path << ": no group to check";
  }
}

// A group read after the records (born during a live drain) gets no frees invented.
TEST(AggregateStream, GroupsUnknownWhenTheRecordsWereReadKeepTheirCountedFrees) {
  std::vector<std::pair<kleak_churn_key, kleak_churn>> before;
  HeldByChurnGroup held(before);
  kleak_churn_key k{};
  k.stack_id = 3;
  kleak_churn v{};
  v.allocs = 10;
  v.alloc_bytes = 640;
  v.frees = 2;
  std::vector<std::pair<kleak_churn_key, kleak_churn>> after = {{k, v}};
  held.derive_frees(after);
  EXPECT_EQ(after[0].second.frees, 2u);
  EXPECT_EQ(after[0].second.free_bytes, 0u);
}

}  // namespace
