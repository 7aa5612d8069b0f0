// `kleak doctor [--format text|json]`: exit 0 when `kleak trace` would work here, 1 (and one
// `kleak: ...` line on stderr naming why) when it would not.
#include <fmt/format.h>

#include "kleak/commands.h"
#include "kleak/doctor.h"
#include "kleak/error.h"
#include "kleak/output_file.h"

namespace kleak {

namespace {

struct DoctorOptions {
  std::string format = "text";
  std::string btf = "/sys/kernel/btf/vmlinux";
  std::string tracefs;
};

int run_doctor(const DoctorOptions& o) {
  const DoctorFormat& format = find_format(doctor_formats(), o.format, "doctor");
  KernelProbe probe;
  probe.btf_path = o.btf;
  probe.tracefs = o.tracefs;
  DoctorFacts facts = collect_doctor_facts(probe);
  DoctorVerdict verdict = judge(facts);
  OutputSink().write(format.render(facts, verdict));
  if (verdict.ok()) return kExitOk;
  std::string why;
  for (const auto& p : verdict.problems) why += (why.empty() ? "" : "; ") + p;
  fmt::print(stderr, "kleak: kleak trace would not work here: {}\n", why);
  return kExitFailure;
}

}  // namespace

void register_doctor_command(CLI::App& app, int& exit_code) {
  auto opts = std::make_shared<DoctorOptions>();
  CLI::App* cmd = app.add_subcommand(
      "doctor", "Say what this kernel and process offer kleak trace, without tracing (exit 1 if it would fail)");
  cmd->add_option("--format", opts->format, "text (default) or json");
  cmd->add_option("--btf", opts->btf, "Kernel BTF file (default /sys/kernel/btf/vmlinux)");
  cmd->add_option("--tracefs", opts->tracefs, "Where tracefs is mounted (default: find it)");
  cmd->callback([opts, &exit_code] { exit_code = run_doctor(*opts); });
}

}  // namespace kleak
