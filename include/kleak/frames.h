// Frame patterns, and the trimming of the tracer's plumbing and the allocator from the innermost
// end of a stack (report/frames.cpp). The frame value itself is in frame.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "kleak/frame.h"

namespace kleak {

// Frame patterns, the one syntax of the trimming and classification tables:
//   "allocate_slab"    the base name equals it
//   "__kmalloc*"       the base name starts with "__kmalloc"
//   "[bpf]"            the frame is in that kallsyms module
// Unknown frames match nothing. Built at compile time from the table's string literals.
class FramePattern {
 public:
  enum class How : uint8_t { exact, prefix, module };

  constexpr FramePattern(std::string_view pattern) noexcept  // NOLINT: implicit on purpose
      : how_(How::exact), text_(pattern) {
    if (pattern.size() >= 2 && pattern.front() == '[' && pattern.back() == ']') {
      how_ = How::module;
      text_ = pattern.substr(1, pattern.size() - 2);
    } else if (!pattern.empty() && pattern.back() == '*') {
      how_ = How::prefix;
      text_ = pattern.substr(0, pattern.size() - 1);
    }
  }
  constexpr FramePattern(const char* pattern) noexcept  // NOLINT
      : FramePattern(std::string_view(pattern)) {}

  constexpr How how() const noexcept { return how_; }
  constexpr std::string_view text() const noexcept { return text_; }

  // `base` is base_name(frame.func) of a known frame, `module` its module.
  constexpr bool matches(std::string_view base, std::string_view module) const noexcept {
    switch (how_) {
      case How::exact:
        return base.size() == text_.size() && (text_.empty() || base[0] == text_[0]) &&
               base == text_;
      case How::prefix:
        return base.size() >= text_.size() && (text_.empty() || base[0] == text_[0]) &&
               base.starts_with(text_);
      case How::module:
        return module == text_;
    }
    return false;
  }
  bool matches(const Frame& frame) const noexcept {
    return frame.known() && matches(base_name(frame.func), frame.module);
  }

 private:
  How how_;
  std::string_view text_;
};

// frame_matches(f, "__kmalloc*") == FramePattern("__kmalloc*").matches(f).
bool frame_matches(const Frame& frame, std::string_view pattern) noexcept;

// The tracer's own frames: JIT-ed BPF programs, tracepoint dispatch, bpf_get_stackid.
bool is_tracer_frame(const Frame& frame) noexcept;
// The allocator's frames: kmalloc/slab/page/vmalloc/percpu internals and thin wrappers.
bool is_allocator_frame(const Frame& frame) noexcept;

// How many innermost frames the report hides: frames are skipped from the innermost end while
// they are tracer plumbing or allocator, so the first frame shown is the caller that matters.
// An unknown address stops the skipping. Never hides every frame: with all frames skippable the
// last (outermost) one stays. 0 for an empty stack.
size_t trim_count(std::span<const Frame> frames) noexcept;

}  // namespace kleak
