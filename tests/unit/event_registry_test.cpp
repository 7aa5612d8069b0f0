// The event registry (include/kleak/events.def) against the BPF object kleak ships: every program
// the loader will look for is there under the section it expects, and every program there is one
// the registry names. Opens the embedded object (bpf_object__open: no bpf() call, no privilege).
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>

#include "kleak.skel.h"
#include "kleak/abi.h"
#include "kleak/kind.h"
#include "kleak/probe.h"

using namespace kleak;

namespace {

struct SkelClose {
  void operator()(kleak_bpf* s) const { kleak_bpf__destroy(s); }
};

// Program name -> its ELF section, as compiled into the kleak binary.
std::map<std::string, std::string> programs_in_object() {
  std::unique_ptr<kleak_bpf, SkelClose> skel(kleak_bpf__open());
  if (!skel) throw std::runtime_error("cannot open the embedded BPF object");
  std::map<std::string, std::string> out;
  bpf_program* p;
  bpf_object__for_each_program(p, skel->obj) out[bpf_program__name(p)] = bpf_program__section_name(p);
  return out;
}

// Program name -> the section the registry implies for it.
std::map<std::string, std::string> programs_in_registry() {
  std::map<std::string, std::string> out;
  auto add = [&](std::string_view prog, std::string section) {
    if (!prog.empty()) out[std::string(prog)] = std::move(section);
  };
  for (const EventSpec& e : event_table()) {
    const std::string name(e.name);
    add(e.raw_prog, "raw_tp/" + name);
    add(e.twin_prog, "raw_tp/" + name);
    add(e.tp_prog, "tracepoint/" + std::string(e.category) + "/" + name);
    add(e.kprobe_prog, (e.is_free ? "kprobe/" : "kretprobe/") + std::string(e.kprobe));
  }
  for (const BulkFreeSpec& b : bulk_free_table()) {
    const std::string fn(b.function);
    add(b.fentry, (b.fentry.starts_with("fexit_") ? "fexit/" : "fentry/") + fn);
    add(b.kprobe, "kprobe/" + fn);
  }
  return out;
}

}  // namespace

TEST(EventRegistry, EveryProgramItNamesIsInTheObjectUnderItsSection) {
  const auto object = programs_in_object();
  for (const auto& [prog, section] : programs_in_registry()) {
    auto it = object.find(prog);
    ASSERT_NE(it, object.end()) << prog << " is in events.def but not in kleak.bpf.c";
    EXPECT_EQ(it->second, section) << prog;
  }
}

TEST(EventRegistry, EveryProgramInTheObjectIsOneItNames) {
  const auto registry = programs_in_registry();
  for (const auto& [prog, section] : programs_in_object())
    EXPECT_TRUE(registry.count(prog)) << prog << " (" << section << ") is not in events.def: the loader never attaches it";
}

TEST(EventRegistry, EveryFreeHasItsTwinAndEveryFamilyAnAllocationAndAFree) {
  std::map<std::string, std::set<bool>> roles;
  for (const EventSpec& e : event_table()) {
    EXPECT_EQ(e.family, kind_name(static_cast<kleak_kind>(e.kind))) << e.name;
    EXPECT_EQ(!e.twin_prog.empty(), e.is_free && e.raw_params > 0) << e.name;
    EXPECT_EQ(e.struct_pos == 0, e.struct_name.empty()) << e.name;
    EXPECT_LT(e.struct_pos, e.raw_params == 0 ? 1u : e.raw_params) << e.name;
    roles[std::string(e.family)].insert(e.is_free);
  }
  EXPECT_EQ(roles.size(), static_cast<size_t>(KLEAK_KIND_MAX - 1));
  for (const auto& [family, r] : roles) EXPECT_EQ(r.size(), 2u) << family << " needs an allocation and a free event";
}

// plan_families walks the table one family at a time: a family split in two would be planned twice.
TEST(EventRegistry, EachFamilysEventsAreContiguous) {
  std::set<std::string_view> done;
  std::string_view current;
  for (const EventSpec& e : event_table()) {
    if (e.family == current) continue;
    EXPECT_FALSE(done.count(e.family)) << e.family << " appears twice in events.def";
    done.insert(current = e.family);
  }
}

TEST(EventRegistry, CauseNamesAreUnique) {
  std::set<std::string_view> names;
  size_t n = 0;
#define KLEAK_CAUSE_NAME_(cause, name, value) names.insert(#name), ++n;
  KLEAK_CAUSES(KLEAK_CAUSE_NAME_)
#undef KLEAK_CAUSE_NAME_
  EXPECT_EQ(names.size(), n);
  EXPECT_EQ(n, static_cast<size_t>(KLEAK_CAUSE_MAX));
}
