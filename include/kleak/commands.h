// Subcommand registration: user/main.cpp only wires these together. Each register function adds
// its subcommand to `app`; the subcommand's callback stores its exit code in `exit_code` and
// throws kleak::Error for one-line failures.
#pragma once
#include <CLI/CLI.hpp>

namespace kleak {

void register_trace_command(CLI::App& app, int& exit_code);    // user/trace/trace_cmd.cpp
void register_meminfo_command(CLI::App& app, int& exit_code);  // user/meminfo/meminfo_cmd.cpp
void register_report_command(CLI::App& app, int& exit_code);   // user/report/report_cmd.cpp (report, diff)
void register_doctor_command(CLI::App& app, int& exit_code);   // user/doctor/doctor_cmd.cpp
void register_hunt_command(CLI::App& app, int& exit_code);     // user/cli/hunt_cmd.cpp

}  // namespace kleak
