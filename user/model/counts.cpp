#include "kleak/counts.h"

namespace kleak {
namespace {

template <typename E, size_t N>
std::optional<E> from_name(const std::array<CountName<E>, N>& rows, std::string_view name) {
  for (const auto& row : rows)
    if (row.name == name) return row.value;
  return std::nullopt;
}

}  // namespace

std::optional<kleak_cause> cause_from_name(std::string_view name) {
  for (int c = 0; c < KLEAK_CAUSE_MAX; ++c)
    if (kCauseNames[c] == name) return static_cast<kleak_cause>(c);
  return std::nullopt;
}

std::optional<Loss> loss_from_name(std::string_view name) { return from_name(kLosses, name); }
std::optional<EventCount> event_count_from_name(std::string_view name) { return from_name(kEventCounts, name); }

}  // namespace kleak
