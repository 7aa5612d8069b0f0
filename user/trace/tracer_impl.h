// The state a Tracer owns, shared by attach.cpp (start, stop) and drain.cpp (reading the maps).
// Private to user/trace/.
#pragma once
#include <bpf/libbpf.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kleak.skel.h"
#include "kleak/attach.h"
#include "trace/libbpf_log.h"

namespace kleak {

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

struct SkelDeleter {
  void operator()(kleak_bpf* s) const { kleak_bpf__destroy(s); }
};

// The churn groups' counters (`churn_slots`, see struct kleak_churn_slot), mapped read-only: a
// drain reads them without a syscall per group. Construction also hands every slot index to
// the BPF side (the `churn_free` queue), before any program is attached.
class ChurnSlots {
 public:
  ChurnSlots() = default;
  explicit ChurnSlots(kleak_bpf* skel);
  ChurnSlots(ChurnSlots&& o) noexcept { *this = std::move(o); }
  ChurnSlots& operator=(ChurnSlots&& o) noexcept;
  ~ChurnSlots();
  // The slots that count something, in index order. Only those below the count BPF has popped
  // are read: a short trace touches a few pages of the mapping, not all of it (64 Ki slots: 5 MiB).
  template <class Emit>
  void for_each(Emit&& emit) const {
    const size_t used = std::min<size_t>(n_, static_cast<size_t>(*popped_));
    for (size_t i = 0; i < used; ++i) {
      kleak_churn_slot s;
      std::memcpy(&s, &slots_[i], sizeof s);  // a copy: BPF adds to it meanwhile
      if (s.counts.allocs || s.counts.frees) emit(s.key, s.counts);
    }
  }

 private:
  const kleak_churn_slot* slots_ = nullptr;
  const volatile __u64* popped_ = nullptr;  // the skeleton's .bss churn_popped
  size_t n_ = 0, bytes_ = 0;
};

struct Tracer::Impl {
  std::unique_ptr<LibbpfLog> log;  // first in, last out: libbpf may print while the rest is freed
  std::unique_ptr<kleak_bpf, SkelDeleter> skel;
  std::vector<LinkPtr> links;
  std::vector<std::string> link_family;  // the family of links[i] (detach_family)
  struct Attached {
    std::string event;
    bool is_free;
    bpf_program* prog;
    std::string family;
  };
  std::vector<Attached> attached;
  int stats_fd = -1;  // BPF_ENABLE_STATS: the kernel keeps run times while it is open
  std::set<uint32_t> stale_stacks;  // unreferenced at the previous gc_stacks() pass
  std::set<uint32_t> skipped;       // ids in the skip_stacks map: never freed by gc_stacks()
  uint64_t removed_by_skip = 0;     // records skip_stacks() deleted from the map
  ChurnSlots churn_slots;
  // Links go newest first, as in Tracer::stop(): a free twin never outlives its primary.
  ~Impl() {
    while (!links.empty()) links.pop_back();
    if (stats_fd >= 0) close(stats_fd);
  }
};

}  // namespace kleak
