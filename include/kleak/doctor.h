// `kleak doctor`: what this kernel and this process offer `kleak trace`, without tracing. The
// facts are gathered by collect_doctor_facts() (the same probes and planner `kleak trace` uses);
// judging and rendering them are pure functions, tested on hand-made facts.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kleak/attach.h"
#include "kleak/format_table.h"
#include "kleak/privileges.h"
#include "kleak/refusal.h"

namespace kleak {

struct DoctorFacts {
  std::string kernel;                  // uname -r
  std::string btf_path;
  std::string btf_why;                 // "" = BTF present and parsed
  std::vector<FamilyPlan> families;    // the variant `kleak trace` would attach, per family
  std::vector<BulkFreePlan> bulk_frees;  // frees without a tracepoint, and how they are seen
  std::string tracefs;                 // "" = unusable
  std::string tracefs_why;
  CapabilityState caps;
  std::string kallsyms_why;            // "" = real addresses visible to this process
  std::string kptr_restrict;           // "" = unreadable
  std::string perf_event_paranoid;
  MemlockState memlock;
  std::optional<std::string> cgroup2;  // mount point
  std::vector<std::string> unreadable_proc;  // /proc files reconciliation needs but cannot read
  std::string bpf_why;                 // "" = a tiny raw_tp program loaded (and was unloaded)
  RefusalCause bpf_cause = RefusalCause::None;  // why it did not (kleak/refusal.h)
};

struct DoctorVerdict {
  std::vector<std::string> problems;        // each one stops `kleak trace`
  std::vector<std::string> report_missing;  // what a report made here would lack
  bool ok() const { return problems.empty(); }
};

DoctorVerdict judge(const DoctorFacts& f);
std::string render_doctor_text(const DoctorFacts& f, const DoctorVerdict& v);
// {"kernel", "ok", "problems", "report_missing", "btf", "families", "bulk_frees", "capabilities":
// {"required", "have", "missing"}, "tracefs", "kallsyms", "memlock", "cgroup2", "proc", "bpf"}
nlohmann::json doctor_json(const DoctorFacts& f, const DoctorVerdict& v);
std::string render_doctor_json(const DoctorFacts& f, const DoctorVerdict& v);  // doctor_json, indented, '\n'

// doctor's --format table (format_table.h): text, json.
using DoctorFormat = DocFormat<DoctorFacts, const DoctorVerdict&>;
std::span<const DoctorFormat> doctor_formats();

DoctorFacts collect_doctor_facts(const KernelProbe& probe);

}  // namespace kleak
