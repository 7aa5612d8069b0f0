// What a report counts besides memory: the losses (Report::dropped), the events and what became
// of them (Report::events) and the BPF counters by kind (Report::events_by_kind). Keyed by enum
// between the stages; the names below are the one table the JSON, metrics and text edges print
// (docs/output.md documents them: keep them stable).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "kleak/abi.h"

namespace kleak {

// KLEAK_CAUSES's names by cause: events_by_kind's keys.
inline constexpr auto kCauseNames = [] {
  std::array<std::string_view, KLEAK_CAUSE_MAX> names{};
#define KLEAK_CAUSE_NAME_(cause, name, value) names[KLEAK_##cause] = #name;
  KLEAK_CAUSES(KLEAK_CAUSE_NAME_)
#undef KLEAK_CAUSE_NAME_
  return names;
}();

constexpr std::string_view cause_name(kleak_cause c) {
  return c >= 0 && c < KLEAK_CAUSE_MAX ? kCauseNames[c] : std::string_view("unknown");
}
std::optional<kleak_cause> cause_from_name(std::string_view name);

// Not a BPF counter: userspace's own count (recursion misses, the drain, the records).
inline constexpr int kNoCause = -1;

// X(name, cause): a count the report keeps, and the KLEAK_CAUSES counter it sums over the kinds
// (its name is then that counter's, asserted below) or kNoCause. In name order: the text and
// metrics print them in the order of the enum, as they did when these were string maps.
#define KLEAK_LOSSES(X)                                                                          \
  X(alloc_map_full, KLEAK_ALLOC_MAP_FULL)                                                        \
  X(alloc_recursion_misses, kNoCause)                                                            \
  /* objects of one bulk free past KLEAK_BULK_MAX: not followed */                               \
  X(bulk_frees_truncated, KLEAK_FREE_BULK_TRUNCATED)                                             \
  X(cache_map_full, KLEAK_CACHE_MAP_FULL)                                                        \
  /* allocations and frees not counted in their group's churn (outstanding bytes stay exact) */  \
  X(churn_map_full, KLEAK_CHURN_MAP_FULL)                                                        \
  /* records the last read of the maps could not read whole (a gauge, not in the total) */       \
  X(drain_incomplete, kNoCause)                                                                  \
  /* free programs' recursion misses their twin did not rescue */                                \
  X(free_recursion_misses, kNoCause)                                                             \
  X(stack_collision, KLEAK_STACK_COLLISION)                                                      \
  X(stack_lost, KLEAK_STACK_LOST)

#define KLEAK_EVENT_COUNTS(X)                                                                    \
  X(allocs_filtered_in_kernel, KLEAK_ALLOC_FILTERED)                                             \
  X(allocs_null, KLEAK_ALLOC_NULL)                                                               \
  X(allocs_seen, KLEAK_ALLOC_SEEN)                                                               \
  X(allocs_tracked, KLEAK_ALLOC_TRACKED)                                                         \
  X(frees_batched_unmatched, KLEAK_FREE_BATCHED_UNMATCHED)                                       \
  X(frees_in_bulk, KLEAK_FREE_BULK)                                                              \
  X(frees_matched, KLEAK_FREE_MATCHED)                                                           \
  X(frees_of_null, KLEAK_FREE_NULL)                                                              \
  X(frees_of_untracked, KLEAK_FREE_UNTRACKED)                                                    \
  /* KLEAK_FREE_RESCUED under the name reports always gave it */                                 \
  X(frees_rescued_from_recursion, kNoCause)                                                      \
  X(frees_sampled_out, KLEAK_FREE_SAMPLED_OUT)                                                   \
  X(frees_seen, KLEAK_FREE_SEEN)                                                                 \
  /* free programs' recursion misses (before their twin's rescues) */                            \
  X(frees_skipped_in_recursion, kNoCause)                                                        \
  /* gauges: records held in the map at the drain, and those the filter left out */              \
  X(outstanding_records, kNoCause)                                                               \
  X(records_filtered_out, kNoCause)

// Report::dropped: events kleak could not account for.
enum class Loss : uint8_t {
#define KLEAK_COUNT_ENUM_(name, cause) name,
  KLEAK_LOSSES(KLEAK_COUNT_ENUM_)
};

// Report::events: allocation and free events seen and what became of them.
enum class EventCount : uint8_t {
  KLEAK_EVENT_COUNTS(KLEAK_COUNT_ENUM_)
#undef KLEAK_COUNT_ENUM_
};

template <typename E>
struct CountName {
  E value;
  std::string_view name;
  int cause;  // the KLEAK_CAUSES counter summed, or kNoCause
};

#define KLEAK_COUNT_ROW_(name, cause) {Type::name, #name, cause},
#define KLEAK_COUNT_ONE_(name, cause) +1
inline constexpr auto kLosses = [] {
  using Type = Loss;
  return std::array<CountName<Loss>, 0 KLEAK_LOSSES(KLEAK_COUNT_ONE_)>{{KLEAK_LOSSES(KLEAK_COUNT_ROW_)}};
}();
inline constexpr auto kEventCounts = [] {
  using Type = EventCount;
  return std::array<CountName<EventCount>, 0 KLEAK_EVENT_COUNTS(KLEAK_COUNT_ONE_)>{{KLEAK_EVENT_COUNTS(KLEAK_COUNT_ROW_)}};
}();
#undef KLEAK_COUNT_ROW_
#undef KLEAK_COUNT_ONE_

namespace counts_detail {
// Row i is enum value i, names strictly ascending (so unique, and the enum's order is the
// names'), and a row that sums a counter has that counter's name.
template <typename E, size_t N>
constexpr bool well_formed(const std::array<CountName<E>, N>& rows) {
  for (size_t i = 0; i < N; ++i) {
    if (static_cast<size_t>(rows[i].value) != i) return false;
    if (i > 0 && !(rows[i - 1].name < rows[i].name)) return false;
    if (rows[i].cause != kNoCause &&
        (rows[i].cause < 0 || rows[i].cause >= KLEAK_CAUSE_MAX || kCauseNames[rows[i].cause] != rows[i].name))
      return false;
  }
  return true;
}
}  // namespace counts_detail
static_assert(counts_detail::well_formed(kLosses), "KLEAK_LOSSES: in name order, names of the causes they sum");
static_assert(counts_detail::well_formed(kEventCounts), "KLEAK_EVENT_COUNTS: in name order, names of the causes they sum");

constexpr std::string_view count_name(Loss l) { return kLosses[static_cast<size_t>(l)].name; }
constexpr std::string_view count_name(EventCount e) { return kEventCounts[static_cast<size_t>(e)].name; }
std::optional<Loss> loss_from_name(std::string_view name);
std::optional<EventCount> event_count_from_name(std::string_view name);

}  // namespace kleak
