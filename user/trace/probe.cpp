// Probes of the live kernel, without loading kleak's programs: the kernel's BTF (tracepoint
// prototypes, struct members the CO-RE fallbacks need), tracefs, kprobes and the helpers the
// verifier accepts. `kleak trace` plans from them (plan.cpp), `kleak doctor` prints them.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "kleak/bounded_read.h"
#include "kleak/error.h"
#include "kleak/privileges.h"
#include "kleak/probe.h"

namespace kleak {
namespace fs = std::filesystem;

void check_btf(const std::string& btf_path) {
  std::error_code ec;
  if (!fs::exists(btf_path, ec))
    throw Error("no kernel BTF at " + btf_path +
                ": kleak needs a kernel built with CONFIG_DEBUG_INFO_BTF=y (or --btf FILE)");
  // libbpf reads the whole file: only a regular file of a sane size is handed to it.
  check_regular_file(btf_path, kCapBtf, "kernel BTF", btf_path.starts_with("/sys/") ? kExitFailure : kExitUsage);
  btf* b = btf__parse(btf_path.c_str(), nullptr);
  if (!b) throw Error("cannot parse kernel BTF at " + btf_path + ": " + std::strerror(errno));
  btf__free(b);
}

namespace {


// Empty string when btf_trace_<event> matches the prototype our program was written for.
std::string check_btf_proto(const btf* vmlinux, const EventSpec& e) {
  const std::string event(e.name);
  std::string tname = "btf_trace_" + event;
  int id = btf__find_by_name_kind(vmlinux, tname.c_str(), BTF_KIND_TYPEDEF);
  if (id < 0) return "no BTF for tracepoint " + event;
  const btf_type* t = btf__type_by_id(vmlinux, id);
  t = btf__type_by_id(vmlinux, t->type);  // pointer
  if (!t || !btf_is_ptr(t)) return "unexpected BTF for " + tname;
  t = btf__type_by_id(vmlinux, t->type);  // func proto
  if (!t || !btf_is_func_proto(t)) return "unexpected BTF for " + tname;
  // The _node events exist only before 6.0, where kmalloc / kmem_cache_alloc have other
  // prototypes too: their families attach as classic tracepoints there, so no raw_tp program.
  if (e.raw_params == 0) return "no raw_tp program for " + event;
  if (btf_vlen(t) != e.raw_params)
    return event + " has " + std::to_string(btf_vlen(t)) + " arguments here, " +
           std::to_string(e.raw_params) + " expected";
  if (e.struct_pos == 0) return "";
  const btf_param* params = btf_params(t);
  const btf_type* p = btf__type_by_id(vmlinux, params[e.struct_pos].type);
  while (p && (btf_is_const(p) || btf_is_volatile(p) || btf_is_typedef(p))) p = btf__type_by_id(vmlinux, p->type);
  if (p && btf_is_ptr(p)) p = btf__type_by_id(vmlinux, p->type);
  while (p && (btf_is_const(p) || btf_is_volatile(p))) p = btf__type_by_id(vmlinux, p->type);
  if (!p || !btf_is_struct(p) || std::string_view(btf__name_by_offset(vmlinux, p->name_off)) != e.struct_name)
    return event + " argument " + std::to_string(e.struct_pos) + " is not struct " + std::string(e.struct_name);
  return "";
}

// Whether struct `sname` of the kernel has a member `member` (CO-RE fallbacks need it).
bool btf_has_member(const btf* vmlinux, const char* sname, std::string_view member) {
  int id = btf__find_by_name_kind(vmlinux, sname, BTF_KIND_STRUCT);
  if (id < 0) return false;
  const btf_type* t = btf__type_by_id(vmlinux, id);
  const btf_member* m = btf_members(t);
  for (unsigned i = 0; i < btf_vlen(t); ++i)
    if (member == btf__name_by_offset(vmlinux, m[i].name_off)) return true;
  return false;
}


// Whether `path` exists; an error (EACCES: tracefs is 0700 root) is kept in `why`, not thrown.
bool exists_or_why(const std::string& path, std::string& why) {
  std::error_code ec;
  bool ok = fs::exists(path, ec);
  if (ec && why.empty()) {
    why = path + ": " + ec.message();
    if (ec == std::errc::permission_denied) why += " (needs CAP_DAC_READ_SEARCH)";
  }
  return ok && !ec;
}

// tracefs's directory, or "" with the reason in `why`.
std::string find_tracefs(const std::string& explicit_dir, bool may_mount, std::string& why) {
  if (!explicit_dir.empty()) {
    if (exists_or_why(explicit_dir + "/events", why)) return explicit_dir;
    if (why.empty()) why = "no tracefs at " + explicit_dir + " (no events/ directory there)";
    return "";
  }
  for (const char* d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"})
    if (exists_or_why(std::string(d) + "/events", why)) return d;
  if (!why.empty()) return "";  // there but unreadable: mounting again would not help
  std::string ignored;
  if (may_mount && exists_or_why("/sys/kernel/tracing", ignored) &&
      mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0 &&
      exists_or_why("/sys/kernel/tracing/events", why))
    return "/sys/kernel/tracing";
  if (why.empty())
    why = "tracefs is not mounted and could not be mounted at /sys/kernel/tracing "
          "(mount -t tracefs nodev /sys/kernel/tracing)";
  return "";
}

std::set<std::string> kallsyms_text_symbols(const std::set<std::string>& wanted) {
  std::set<std::string> found;
  std::ifstream in("/proc/kallsyms");
  std::string addr, type, name;
  while (in >> addr >> type >> name) {
    if (wanted.count(name)) found.insert(name);
    in.ignore(1 << 20, '\n');
  }
  return found;
}

// Whether a tracing program (fentry) loads against `function`: the verifier's and the
// trampoline's answer for this kernel, asked with a two-instruction program that is never
// attached. Some kernels refuse every one (measured on the 6.18 dev VM: EPERM) while kprobes
// or nothing else work; 6.1 and 5.10 load them.
bool fentry_loads(const btf* vmlinux, std::string_view function, std::string& why) {
  int id = btf__find_by_name_kind(vmlinux, std::string(function).c_str(), BTF_KIND_FUNC);
  if (id < 0) {
    why = "no BTF for function " + std::string(function);
    return false;
  }
  const bpf_insn insns[] = {
      {.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .src_reg = 0, .off = 0, .imm = 0},
      {.code = BPF_JMP | BPF_EXIT, .dst_reg = 0, .src_reg = 0, .off = 0, .imm = 0},
  };
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY,
              .attach_btf_id = static_cast<__u32>(id));
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "kleak_fentry", "GPL", insns, 2, &opts);
  if (fd < 0) {
    why = "fentry refused here (" + std::string(std::strerror(errno)) + ")";
    return false;
  }
  // Loading is not attaching: arm64's 6.1 loads this program and then refuses the trampoline
  // (ENOTSUPP, 524: no DYNAMIC_FTRACE_WITH_DIRECT_CALLS in its config), and a plan that trusted
  // the load left kmem_cache_free_bulk unfollowed where its kprobe would have worked (the arm64
  // lane). So the no-op program is attached for a moment too.
  int link = bpf_raw_tracepoint_open(nullptr, fd);
  int err = errno;
  close(fd);
  if (link < 0) {
    why = "fentry does not attach here (" +
          std::string(err == 524 ? "ENOTSUPP: no ftrace direct calls in this kernel" : std::strerror(err)) + ")";
    return false;
  }
  close(link);
  return true;
}

std::vector<BulkFreeFacts> probe_bulk_frees(const btf* vmlinux, bool kprobe_pmu,
                                            const std::set<std::string>& ksyms) {
  std::vector<BulkFreeFacts> out;
  for (const auto& b : bulk_free_table()) {
    BulkFreeFacts f;
    std::string fn(b.function);
    f.exists = ksyms.count(fn) || btf__find_by_name_kind(vmlinux, fn.c_str(), BTF_KIND_FUNC) >= 0;
    if (f.exists) f.fentry = fentry_loads(vmlinux, fn, f.fentry_why);
    f.kprobe = kprobe_pmu && ksyms.count(fn);
    f.kprobe_why = !kprobe_pmu ? "kprobes are not available on this kernel (CONFIG_KPROBES)"
                               : "kernel symbol " + fn + " not found";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace

KernelOffer probe_kernel(const KernelProbe& probe, bool may_mount) {
  btf* vmlinux = btf__parse(probe.btf_path.c_str(), nullptr);
  if (!vmlinux) throw Error("cannot parse kernel BTF at " + probe.btf_path);
  KernelOffer o;
  o.tracefs = find_tracefs(probe.tracefs, may_mount, o.tracefs_why);
  o.kprobe_pmu = fs::exists("/sys/bus/event_source/devices/kprobe/type");
  std::set<std::string> kprobe_syms;
  std::set<std::string> wanted;
  for (const auto& e : event_table())
    if (!e.kprobe.empty()) wanted.insert(std::string(e.kprobe));
  for (const auto& b : bulk_free_table()) wanted.insert(std::string(b.function));
  kprobe_syms = kallsyms_text_symbols(wanted);
  for (const auto& e : event_table()) {
    EventFacts f;
    f.btf_why = check_btf_proto(vmlinux, e);
    f.btf_ok = f.btf_why.empty();
    if (o.tracefs.empty()) {
      f.tracepoint_why = "no tracepoint variant: " + o.tracefs_why;
    } else {
      std::string ev = o.tracefs + "/events/" + std::string(e.category) + "/" + std::string(e.name);
      f.tracepoint = exists_or_why(ev, f.tracepoint_why);
    }
    f.absent = !f.tracepoint && btf__find_by_name_kind(vmlinux, ("btf_trace_" + std::string(e.name)).c_str(),
                                                      BTF_KIND_TYPEDEF) < 0;
    if (!e.kprobe.empty()) {
      f.kprobe = o.kprobe_pmu && kprobe_syms.count(std::string(e.kprobe));
      f.kprobe_why = !o.kprobe_pmu ? "kprobes are not available on this kernel (CONFIG_KPROBES)"
                                   : "kernel symbol " + std::string(e.kprobe) + " not found";
    }
    o.events.push_back(std::move(f));
  }
  o.bulk_frees = probe_bulk_frees(vmlinux, o.kprobe_pmu, kprobe_syms);
  o.cgroup_has_ancestor_ids = btf_has_member(vmlinux, "cgroup", "ancestor_ids");
  o.slab_tracepoint_has_name =
      btf_has_member(vmlinux, "trace_event_raw_kmem_cache_alloc", "__data_loc_name");
  btf__free(vmlinux);
  return o;
}

HelperFacts probe_helpers(bool cgroup) {
  HelperFacts h;
  // Asks the verifier (libbpf_probe_bpf_helper loads a two-instruction raw_tp program).
  auto has = [](bpf_func_id id) { return libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, id, nullptr) == 1; };
  if (cgroup) h.ancestor_cgroup = has(BPF_FUNC_get_current_ancestor_cgroup_id);
  h.task.task_btf = has(BPF_FUNC_get_current_task_btf);
  // bpf_task_pt_regs takes a BTF task pointer: without one it cannot be called.
  h.task.pt_regs = h.task.task_btf && has(BPF_FUNC_task_pt_regs);
  // The 5.10 variant on any kernel: the tests run it on this one.
  if (const char* v = getenv("KLEAK_TASK_HELPERS"); v && std::string_view(v) == "probe-read") h.task = {false, false};
  return h;
}

}  // namespace kleak
