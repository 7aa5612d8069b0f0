// Allocation kinds (enum kleak_kind in kleak/abi.h) by name: kmalloc, slab, page, vmalloc, percpu.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kleak/abi.h"

namespace kleak {

// Bit of `kind` in a kinds mask: 1 << kind (the layout the BPF config uses).
constexpr uint32_t kind_bit(kleak_kind kind) { return 1u << static_cast<unsigned>(kind); }

// Every real kind (KLEAK_KIND_KMALLOC .. KLEAK_KIND_PERCPU).
inline constexpr uint32_t kAllKindsMask = ((1u << KLEAK_KIND_MAX) - 1) & ~kind_bit(KLEAK_KIND_NONE);

// "kmalloc" -> KLEAK_KIND_KMALLOC, ...; nullopt for anything else (including "none").
std::optional<kleak_kind> kind_from_name(std::string_view name) noexcept;

// KLEAK_KIND_KMALLOC -> "kmalloc", ...; "none" for KLEAK_KIND_NONE, "unknown" out of range.
std::string_view kind_name(kleak_kind kind) noexcept;

// Parses a `--kinds` list such as "kmalloc,slab" (spaces around names allowed) into a mask of
// kind_bit()s. Throws kleak::usage_error on an empty list, an empty item or an unknown name.
uint32_t parse_kinds(std::string_view list);

// The mask as a list parse_kinds() reads back, in enum order: "kmalloc,slab". "" for 0.
std::string kinds_to_string(uint32_t mask);

}  // namespace kleak
