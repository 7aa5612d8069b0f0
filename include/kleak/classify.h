// What an outstanding allocation is, decided from its event kind and its stack frames (never from
// gfp flags: balloon drivers take GFP_HIGHUSER_MOVABLE pages and those are what users look for).
#pragma once
#include <cstdint>
#include <span>
#include <string_view>

#include "kleak/abi.h"
#include "kleak/category.h"
#include "kleak/frames.h"

namespace kleak {

// First matching rule of the table in classify.cpp, searching the frames from the innermost one
// outward (the nearest owner wins; rules on the same frame win in table order); then a default
// by kind: kmalloc/slab -> slab, page -> page_direct, vmalloc -> vmalloc, percpu -> percpu.
Category classify(kleak_kind kind, std::span<const Frame> frames) noexcept;

// "irq" or "softirq" when the stack shows the allocation was made in interrupt context (it is
// then nobody's process: not the interrupted task's), else "". Searched innermost first.
std::string_view interrupt_context(std::span<const Frame> frames) noexcept;

}  // namespace kleak
