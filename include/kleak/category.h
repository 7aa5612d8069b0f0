// What an outstanding allocation is, as a value: the categories classify() (report stage) decides
// and every stage names the same way. Code: user/model/category.cpp.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace kleak {

// Names (category_name) are stable JSON strings.
enum class Category : uint8_t {
  // Kernel objects.
  slab,           // slab objects: kmem_cache_alloc, and kmalloc served by a kmalloc-N cache
  kmalloc_large,  // a kmalloc record whose frames show the large (page) path
  vmalloc,        // vmalloc areas
  percpu,         // percpu allocations
  // Page records under an object counted by its own record: not added to totals.
  slab_backing,           // pages of new slabs
  kmalloc_large_backing,  // pages of large kmallocs
  vmalloc_backing,        // pages mapped into vmalloc areas
  percpu_backing,         // pages populating percpu chunks
  // User memory: not kernel leaks, one summary line by default.
  user_anon,   // anonymous (and swap-cache, THP, hugetlb pool) pages of processes
  page_cache,  // file and shmem pages
  // Other page owners.
  page_tables,   // page table pages
  kernel_stack,  // task stacks (vmalloc'ed on x86_64)
  pipe,          // pipe buffers and pipe bookkeeping
  socket,        // skbs, socket objects, network page frags
  balloon,       // pages inflated into a memory balloon
  page_direct,   // any other page: straight from the page allocator, in no /proc/meminfo counter
  unknown,       // the record's kind is not one of the five event kinds
};

inline constexpr size_t kCategoryCount = static_cast<size_t>(Category::unknown) + 1;

// Pages of processes and files: summarised, not reported as kernel memory.
bool is_user_memory(Category c) noexcept;
// Pages under an object that has its own record: counted there, never added again.
bool is_backing(Category c) noexcept;

// "slab", "kmalloc_large", ..., "page_direct", "unknown".
std::string_view category_name(Category c) noexcept;
// Inverse of category_name; nullopt for any other string.
std::optional<Category> category_from_name(std::string_view name) noexcept;

// Orders categories by name: maps keyed by Category print as they did when keyed by name.
struct CategoryNameOrder {
  bool operator()(Category a, Category b) const noexcept { return category_name(a) < category_name(b); }
};

}  // namespace kleak
