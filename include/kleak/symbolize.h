// Kernel symbolizer: /proc/kallsyms parsed once into a sorted table of text symbols, then
// addresses from BPF stack traces resolved by binary search.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kleak/frames.h"

namespace kleak {

class Kallsyms {
 public:
  // A symbol's code is taken to end at the next symbol, but never more than kMaxSymbolSize past
  // its start (the longest x86_64 function of a 6.18 kernel is ~20 KiB); the last symbol of a
  // region (vmlinux, one module, one BPF program...) ends at most kMaxTailSize past its start.
  // Addresses beyond resolve to unknown rather than to "last_symbol+0x3ca0a6f0".
  static constexpr uint64_t kMaxSymbolSize = 256 * 1024;
  static constexpr uint64_t kMaxTailSize = 64 * 1024;

  Kallsyms() = default;  // empty: every address is unknown

  // Parses kallsyms text ("ffffffff81000000 T _text", "ffffffffc0a01000 t foo\t[mod]"). Keeps
  // text symbols only (t T w W); skips malformed lines and zero addresses. Never throws.
  // Where several symbols share an address, the kernel's own first choice is kept, except that
  // __pfx_ padding symbols and section markers (_stext, __*_text_start, ...) give way to a
  // function. End markers (_etext, _einittext, __*_text_end) cover nothing.
  static Kallsyms parse(std::string_view text);

  // Reads and parses a kallsyms file. Throws kleak::Error when it cannot be read, when every
  // address in it is zero (kptr_restrict / no CAP_SYSLOG: the message says so), or when it holds
  // no text symbol.
  static Kallsyms load(const std::string& path = "/proc/kallsyms");

  // Resolves a return address (the frames of bpf_get_stackid are return addresses): the symbol
  // is looked up for addr - 1, so a call that ends a function stays in it; the offset is from
  // addr, as in the kernel's own "%pB" backtraces. Unknown: Frame{addr, "", 0, ""}.
  Frame resolve(uint64_t addr) const;

  // Resolves a stack map entry, innermost first, stopping at the first zero address (unused
  // slots of a BPF stack trace are zero).
  std::vector<Frame> resolve_stack(std::span<const uint64_t> addrs) const;

  size_t size() const noexcept { return addrs_.size(); }  // text symbols kept

 private:
  struct Entry {
    uint64_t end;       // first address past the symbol's code
    uint32_t name_off;  // into names_
    uint16_t name_len;
    uint16_t module;    // into modules_, 0 = vmlinux
  };

  // Index of the symbol covering `addr`, or -1.
  ptrdiff_t find(uint64_t addr) const noexcept;
  std::string_view name_of(size_t i) const noexcept {
    return std::string_view(names_).substr(syms_[i].name_off, syms_[i].name_len);
  }

  std::vector<uint64_t> addrs_;  // sorted, unique: start addresses
  std::vector<Entry> syms_;      // parallel to addrs_
  std::string names_;            // all names, back to back
  std::vector<std::string> modules_{""};
  bool addresses_hidden_ = false;  // symbol lines were seen and every address was zero
};

}  // namespace kleak
