// One kernel stack frame: a value from symbolization (report/symbolize.cpp) to every renderer,
// which read its fields and never parse its text.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kleak {

struct Frame {
  uint64_t addr = 0;    // the address from the stack (a return address)
  std::string func;     // symbol name, "" when the address is in no known text symbol
  uint64_t offset = 0;  // addr - start of func
  std::string module;   // "" for vmlinux, else the kallsyms module: "virtio_balloon", "bpf", ...
  // kleak's own stand-in for a stack it does not have: "[allocated before the window]",
  // "[stack not captured: ...]". Set: the frame is that text and nothing else.
  std::optional<std::string> marker;

  static Frame make_marker(std::string text) {
    Frame f;
    f.marker = std::move(text);
    return f;
  }

  bool known() const noexcept { return !marker && !func.empty(); }
  // "func+0x1c", "func+0x1c [virtio_balloon]"; unknown: "0xffffffffc0a01234"; a marker's text.
  std::string text() const;
  // The function, for flame graphs and profiles (offsets merged): "func" or "func [module]";
  // anything else as text(). Not sanitized.
  std::string function_name() const;
  // A marker with no text (a callsite group of an empty stack): renderers leave it out.
  bool blank() const noexcept { return marker && marker->empty(); }

  friend bool operator==(const Frame&, const Frame&) = default;
};

// `func` without the compiler's clone suffix: "__slab_alloc.isra.0" -> "__slab_alloc",
// "pcpu_alloc_noprof.cold" -> "pcpu_alloc_noprof".
std::string_view base_name(std::string_view func) noexcept;

// Frames compared as they print (<0, 0, >0): the report's order of groups that tie on every count.
int frames_text_compare(std::span<const Frame> a, std::span<const Frame> b);

}  // namespace kleak
