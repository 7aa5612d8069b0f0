// Attach stage: probe the kernel, plan one program variant per event family, size the maps,
// load, attach. The skeleton and every link are owned here and released however the process
// ends: nothing is pinned, so even SIGKILL leaves no program, link or map behind (the kernel
// drops them with the last fd).
#include "kleak/attach.h"
#include "kleak/bounded_read.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "kleak.skel.h"
#include "kleak/error.h"
#include "kleak/privileges.h"

namespace kleak {
namespace fs = std::filesystem;

std::string_view attach_mode_name(AttachMode m) {
  switch (m) {
    case AttachMode::RawTp: return "raw_tp";
    case AttachMode::Tracepoint: return "tracepoint";
    case AttachMode::Kprobe: return "kprobe";
    case AttachMode::None: return "none";
  }
  return "none";
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

void set_self_identity(BpfSettings& s) {
  s.self_tgid = static_cast<uint32_t>(getpid());
  s.self_pidns_dev = s.self_pidns_ino = 0;
  struct stat st {};
  // PROC_PID_INIT_INO: the initial pid namespace, where getpid() is the kernel's own tgid.
  constexpr ino_t kInitPidNsIno = 0xEFFFFFFCu;
  if (stat("/proc/self/ns/pid", &st) != 0 || st.st_ino == kInitPidNsIno) return;
  // bpf_get_ns_current_pid_tgid() compares the kernel's dev_t (MKDEV: major << 20 | minor).
  s.self_pidns_dev = (static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev);
  s.self_pidns_ino = st.st_ino;
}

const std::vector<EventSpec>& event_table() {
  static const std::vector<EventSpec> table = {
      {"kmalloc", "kmem", "kmalloc", false, ""},
      {"kmalloc", "kmem", "kmalloc_node", false, "", true},
      {"kmalloc", "kmem", "kfree", true, ""},
      {"slab", "kmem", "kmem_cache_alloc", false, ""},
      {"slab", "kmem", "kmem_cache_alloc_node", false, "", true},
      {"slab", "kmem", "kmem_cache_free", true, ""},
      {"page", "kmem", "mm_page_alloc", false, ""},
      {"page", "kmem", "mm_page_free", true, ""},
      {"page", "kmem", "mm_page_free_batched", true, ""},
      {"percpu", "percpu", "percpu_alloc_percpu", false, ""},
      {"percpu", "percpu", "percpu_free_percpu", true, ""},
      {"vmalloc", "vmalloc", "alloc_vmap_area", false, "alloc_vmap_area"},
      {"vmalloc", "vmalloc", "free_vmap_area_noflush", true, "free_vmap_area_noflush"},
  };
  return table;
}

static uint32_t family_kind(std::string_view family) {
  if (family == "kmalloc") return KLEAK_KIND_KMALLOC;
  if (family == "slab") return KLEAK_KIND_SLAB;
  if (family == "page") return KLEAK_KIND_PAGE;
  if (family == "percpu") return KLEAK_KIND_PERCPU;
  if (family == "vmalloc") return KLEAK_KIND_VMALLOC;
  return KLEAK_KIND_NONE;
}

std::vector<FamilyPlan> plan_families(const std::function<EventFacts(const EventSpec&)>& facts,
                                      std::optional<AttachMode> forced, uint32_t kinds_mask) {
  std::vector<FamilyPlan> plans;
  const auto& table = event_table();
  for (size_t i = 0; i < table.size();) {
    std::string_view family = table[i].family;
    size_t end = i;
    while (end < table.size() && table[end].family == family) ++end;

    FamilyPlan plan{std::string(family), AttachMode::None, "", {}};
    if (!(kinds_mask & (1u << family_kind(family)))) {
      plan.reason = "not selected (--kinds/--filter)";
      plans.push_back(plan);
      i = end;
      continue;
    }
    bool btf = true, tp = true, kp = true;
    std::string btf_why, tp_why, kp_why;
    for (size_t j = i; j < end; ++j) {
      EventFacts f = facts(table[j]);
      if (table[j].optional && f.absent) {
        plan.absent.insert(std::string(table[j].name));
        continue;
      }
      std::string ev = std::string(table[j].category) + ":" + std::string(table[j].name);
      if (!f.btf_ok) {
        btf = false;
        if (btf_why.empty()) btf_why = f.btf_why.empty() ? ev + ": no BTF tracepoint" : f.btf_why;
      }
      if (!f.tracepoint) {
        tp = false;
        if (tp_why.empty())
          tp_why = !f.tracepoint_why.empty() ? f.tracepoint_why
                                             : "tracepoint " + ev + " does not exist on this kernel";
      }
      if (table[j].kprobe.empty() || !f.kprobe) {
        kp = false;
        if (kp_why.empty())
          kp_why = table[j].kprobe.empty() ? "no kprobe fallback for " + ev
                                           : (f.kprobe_why.empty() ? "kprobes unavailable"
                                                                   : f.kprobe_why);
      }
    }
    auto allowed = [&](AttachMode m) { return !forced || *forced == m; };
    if (btf && allowed(AttachMode::RawTp)) {
      plan.mode = AttachMode::RawTp;
    } else if (tp && allowed(AttachMode::Tracepoint)) {
      plan.mode = AttachMode::Tracepoint;
      plan.reason = forced ? "" : btf_why;
    } else if (kp && allowed(AttachMode::Kprobe)) {
      plan.mode = AttachMode::Kprobe;
      plan.reason = tp_why;
    } else {
      plan.reason = forced ? "cannot attach as " + std::string(attach_mode_name(*forced)) + ": " +
                                 (*forced == AttachMode::RawTp        ? btf_why
                                  : *forced == AttachMode::Tracepoint ? tp_why
                                                                      : kp_why)
                           : tp_why + "; " + kp_why;
    }
    plans.push_back(plan);
    i = end;
  }
  return plans;
}

// ---- privilege and environment checks ---------------------------------------------------

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

// ---- probes of the live kernel ----------------------------------------------------------

namespace {

// Prototype of the raw_tp program we compiled, per event: parameter count (including the
// leading `void *__data`) and the positions that must be pointers to a named struct.
struct Proto {
  unsigned nparams;
  std::vector<std::pair<unsigned, const char*>> struct_ptrs;
};

const std::map<std::string_view, Proto>& expected_protos() {
  static const std::map<std::string_view, Proto> m = {
      {"kmalloc", {7, {}}},
      {"kfree", {3, {}}},
      {"kmem_cache_alloc", {6, {{3, "kmem_cache"}}}},
      {"kmem_cache_free", {4, {{3, "kmem_cache"}}}},
      {"mm_page_alloc", {5, {{1, "page"}}}},
      {"mm_page_free", {3, {{1, "page"}}}},
      {"mm_page_free_batched", {2, {{1, "page"}}}},
      {"percpu_alloc_percpu", {11, {}}},
      {"percpu_free_percpu", {4, {}}},
      {"alloc_vmap_area", {7, {}}},
      {"free_vmap_area_noflush", {4, {}}},
  };
  return m;
}

// Empty string when btf_trace_<event> matches the prototype our program was written for.
std::string check_btf_proto(const btf* vmlinux, std::string_view event) {
  std::string tname = "btf_trace_" + std::string(event);
  int id = btf__find_by_name_kind(vmlinux, tname.c_str(), BTF_KIND_TYPEDEF);
  if (id < 0) return "no BTF for tracepoint " + std::string(event);
  const btf_type* t = btf__type_by_id(vmlinux, id);
  t = btf__type_by_id(vmlinux, t->type);  // pointer
  if (!t || !btf_is_ptr(t)) return "unexpected BTF for " + tname;
  t = btf__type_by_id(vmlinux, t->type);  // func proto
  if (!t || !btf_is_func_proto(t)) return "unexpected BTF for " + tname;
  auto it = expected_protos().find(event);
  // The _node events exist only before 6.0, where kmalloc / kmem_cache_alloc have other
  // prototypes too: their families attach as classic tracepoints there, so no raw_tp program.
  if (it == expected_protos().end()) return "no raw_tp program for " + std::string(event);
  const auto& proto = it->second;
  if (btf_vlen(t) != proto.nparams)
    return std::string(event) + " has " + std::to_string(btf_vlen(t)) + " arguments here, " +
           std::to_string(proto.nparams) + " expected";
  const btf_param* params = btf_params(t);
  for (auto [pos, sname] : proto.struct_ptrs) {
    const btf_type* p = btf__type_by_id(vmlinux, params[pos].type);
    while (p && (btf_is_const(p) || btf_is_volatile(p) || btf_is_typedef(p)))
      p = btf__type_by_id(vmlinux, p->type);
    if (p && btf_is_ptr(p)) p = btf__type_by_id(vmlinux, p->type);
    while (p && (btf_is_const(p) || btf_is_volatile(p))) p = btf__type_by_id(vmlinux, p->type);
    if (!p || !btf_is_struct(p) || std::string_view(btf__name_by_offset(vmlinux, p->name_off)) != sname)
      return std::string(event) + " argument " + std::to_string(pos) + " is not struct " + sname;
  }
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

// Why a slab cache filter (--cache, `cache == ...`) would match nothing, or "": the cache comes
// from struct kmem_cache (raw_tp, 6.2+) or the classic tracepoint's `name` field (6.x after
// 6.2); 5.10's and 6.1's kmem_cache_alloc tracepoint carries neither.
std::string cache_filter_unsupported(const std::vector<FamilyPlan>& plans, const KernelOffer& offer) {
  for (const auto& p : plans) {
    if (p.family != "slab" || p.mode != AttachMode::Tracepoint) continue;
    if (offer.slab_tracepoint_has_name) return "";
    return "a slab cache filter cannot work with this kernel's kmem:kmem_cache_alloc " +
           std::string("tracepoint: it carries no cache (no struct kmem_cache * argument, no name field)");
  }
  return "";
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

// libbpf's messages, kept while loading so a verifier failure can be reported in one line.
std::mutex g_log_mu;
std::string g_log;
bool g_verbose = false;

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list args) {
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string buf(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) vsnprintf(buf.data(), buf.size() + 1, fmt, args);
  std::lock_guard lk(g_log_mu);
  if (level != LIBBPF_DEBUG || g_verbose) g_log += buf;
  if (g_verbose) fputs(buf.c_str(), stderr);
  return 0;
}

// The most telling line of a failed load: the verifier's last word before libbpf's
// "-- END PROG LOAD LOG --", else the first specific libbpf failure (a map that could not be
// created, a relocation that failed), else the last line.
std::string verifier_reason(const std::string& log) {
  std::istringstream in(log);
  std::string line, prev, verifier, specific, last;
  std::string prog;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.find("BEGIN PROG LOAD LOG") != std::string::npos) {
      auto q = line.find("prog '");
      if (q != std::string::npos) prog = line.substr(q + 6, line.find('\'', q + 6) - q - 6);
      continue;
    }
    if (line.find("END PROG LOAD LOG") != std::string::npos) {
      if (verifier.empty()) verifier = "program " + prog + " rejected by the verifier: " + prev;
      continue;
    }
    if (line.rfind("processed ", 0) != 0 && line.rfind("verification time", 0) != 0) prev = line;
    if (specific.empty() && line.find("failed to") != std::string::npos &&
        line.find("failed to load object") == std::string::npos &&
        line.find("failed to load BPF skeleton") == std::string::npos &&
        line.find("BPF program load failed") == std::string::npos)
      specific = line.rfind("libbpf: ", 0) == 0 ? line.substr(8) : line;
    last = line;
  }
  return !verifier.empty() ? verifier : !specific.empty() ? specific : last;
}

struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

struct SkelDeleter {
  void operator()(kleak_bpf* s) const { kleak_bpf__destroy(s); }
};

std::string prog_name(AttachMode mode, std::string_view event, bool is_free) {
  switch (mode) {
    case AttachMode::RawTp: return "raw_" + std::string(event);
    case AttachMode::Tracepoint: return "tp_" + std::string(event);
    case AttachMode::Kprobe:
      return is_free ? "kprobe_" + std::string(event) : "kprobe_" + std::string(event) + "_ret";
    case AttachMode::None: break;
  }
  return "";
}

// The twin of a raw_tp free program (see FREE_TWIN in bpf/record.bpf.h), or nullptr.
bpf_program* free_twin(bpf_object* obj, AttachMode mode, const EventSpec& e) {
  if (mode != AttachMode::RawTp || !e.is_free) return nullptr;
  std::string name = prog_name(mode, e.name, true) + "_twin";
  bpf_program* p = bpf_object__find_program_by_name(obj, name.c_str());
  if (!p) throw Error("internal: BPF program " + name + " missing");
  return p;
}

}  // namespace

EventFacts KernelOffer::facts(const EventSpec& e) const {
  const auto& table = event_table();
  for (size_t i = 0; i < table.size() && i < events.size(); ++i)
    if (table[i].name == e.name) return events[i];
  return {};
}

KernelOffer probe_kernel(const KernelProbe& probe, bool may_mount) {
  btf* vmlinux = btf__parse(probe.btf_path.c_str(), nullptr);
  if (!vmlinux) throw Error("cannot parse kernel BTF at " + probe.btf_path);
  KernelOffer o;
  o.tracefs = find_tracefs(probe.tracefs, may_mount, o.tracefs_why);
  o.kprobe_pmu = fs::exists("/sys/bus/event_source/devices/kprobe/type");
  std::set<std::string> kprobe_syms;
  if (o.kprobe_pmu) kprobe_syms = kallsyms_text_symbols({"alloc_vmap_area", "free_vmap_area_noflush"});
  for (const auto& e : event_table()) {
    EventFacts f;
    f.btf_why = check_btf_proto(vmlinux, e.name);
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
  o.cgroup_has_ancestor_ids = btf_has_member(vmlinux, "cgroup", "ancestor_ids");
  o.slab_tracepoint_has_name =
      btf_has_member(vmlinux, "trace_event_raw_kmem_cache_alloc", "__data_loc_name");
  btf__free(vmlinux);
  return o;
}

struct Tracer::Impl {
  std::unique_ptr<kleak_bpf, SkelDeleter> skel;
  std::vector<LinkPtr> links;
  struct Attached {
    std::string event;
    bool is_free;
    bpf_program* prog;
  };
  std::vector<Attached> attached;
  std::set<uint32_t> stale_stacks;  // unreferenced at the previous gc_stacks() pass
  std::set<uint32_t> skipped;       // ids in the skip_stacks map: never freed by gc_stacks()
  uint64_t removed_by_skip = 0;     // records skip_stacks() deleted from the map
};

uint64_t Tracer::outstanding_estimate() const {
  // Tracked minus freed, from the per-CPU counters: cheap enough to ask every second.
  int nfd = bpf_map__fd(impl_->skel->maps.counters);
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> percpu(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
  auto sum = [&](int cause) {
    uint64_t s = 0;
    for (uint32_t k = 0; k < KLEAK_KIND_MAX; ++k) {
      uint32_t idx = k * KLEAK_CAUSE_MAX + static_cast<uint32_t>(cause);
      if (bpf_map_lookup_elem(nfd, &idx, percpu.data()) != 0) continue;
      for (uint64_t v : percpu) s += v;
    }
    return s;
  };
  uint64_t in = sum(KLEAK_ALLOC_TRACKED), out = sum(KLEAK_FREE_MATCHED) + sum(KLEAK_ALLOC_REPLACED) +
                                                impl_->removed_by_skip;
  return in > out ? in - out : 0;
}

Tracer::Tracer() : impl_(std::make_unique<Impl>()) {}
Tracer::~Tracer() { stop(); }

void Tracer::stop() { impl_->links.clear(); }

std::string task_helpers_variant(const TaskHelpers& h) {
  std::string v = h.task_btf ? "task: bpf_get_current_task_btf"
                             : "task: bpf_get_current_task + bpf_probe_read_kernel";
  v += h.pt_regs ? ", syscall: bpf_task_pt_regs" : ", syscall: pt_regs at the task's stack top";
  return v;
}

namespace {

// Asks the verifier (libbpf_probe_bpf_helper loads a two-instruction raw_tp program). The
// KLEAK_TASK_HELPERS=probe-read environment variable loads the 5.10 variant on any kernel: the
// tests run it on this one.
TaskHelpers probe_task_helpers() {
  TaskHelpers h;
  auto has = [](bpf_func_id id) { return libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT, id, nullptr) == 1; };
  h.task_btf = has(BPF_FUNC_get_current_task_btf);
  // bpf_task_pt_regs takes a BTF task pointer: without one it cannot be called.
  h.pt_regs = h.task_btf && has(BPF_FUNC_task_pt_regs);
  if (const char* v = getenv("KLEAK_TASK_HELPERS"); v && std::string_view(v) == "probe-read") h = {false, false};
  return h;
}

}  // namespace

std::unique_ptr<Tracer> Tracer::start(const BpfSettings& s, const KernelProbe& probe,
                                      std::optional<AttachMode> forced) {
  check_btf(probe.btf_path);
  g_verbose = getenv("KLEAK_VERBOSE") != nullptr;
  libbpf_set_print(libbpf_print);

  std::unique_ptr<Tracer> t(new Tracer());

  // ---- probe the kernel and plan
  KernelOffer offer = probe_kernel(probe, probe.tracefs.empty());
  auto facts = [&](const EventSpec& e) { return offer.facts(e); };
  std::vector<FamilyPlan> plans = plan_families(facts, forced, s.kinds_mask);
  if (forced == AttachMode::Tracepoint && offer.tracefs.empty()) throw Error(offer.tracefs_why);
  bool cgroup_by_helper = true;
  if (s.cgroup_id) {
    cgroup_by_helper = libbpf_probe_bpf_helper(BPF_PROG_TYPE_RAW_TRACEPOINT,
                                               BPF_FUNC_get_current_ancestor_cgroup_id, nullptr) == 1;
    if (!cgroup_by_helper && !offer.cgroup_has_ancestor_ids)
      throw Error("--cgroup cannot work on this kernel: tracing programs may not call "
                  "bpf_get_current_ancestor_cgroup_id and struct cgroup has no ancestor_ids");
  }
  std::string cache_why = s.cache ? cache_filter_unsupported(plans, offer) : "";
  if (!cache_why.empty()) throw Error(cache_why);

  // ---- open and configure
  LIBBPF_OPTS(bpf_object_open_opts, oopts);
  if (probe.btf_path != "/sys/kernel/btf/vmlinux") oopts.btf_custom_path = probe.btf_path.c_str();
  t->impl_->skel.reset(kleak_bpf__open_opts(&oopts));
  if (!t->impl_->skel) throw Error(std::string("cannot open BPF object: ") + std::strerror(errno));
  kleak_bpf* skel = t->impl_->skel.get();

  auto* ro = skel->rodata;
  ro->cfg_kinds_mask = s.kinds_mask;
  ro->cfg_min_bytes_req = s.min_bytes_req;
  ro->cfg_max_bytes_req = s.max_bytes_req;
  ro->cfg_min_bytes_alloc = s.min_bytes_alloc;
  ro->cfg_max_bytes_alloc = s.max_bytes_alloc;
  ro->cfg_tgid = s.tgid;
  ro->cfg_self_tgid = s.self_tgid;
  ro->cfg_self_pidns_dev = s.self_pidns_dev;
  ro->cfg_self_pidns_ino = s.self_pidns_ino;
  ro->cfg_page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ro->cfg_capture_stacks = s.capture_stacks;
  if (s.cache) {
    ro->cfg_filter_cache = true;
    std::strncpy(const_cast<char*>(ro->cfg_cache), s.cache->c_str(), KLEAK_CACHE_NAME_LEN - 1);
  }
  bpf_map__set_max_entries(skel->maps.allocs, s.max_allocs);
  bpf_map__set_max_entries(skel->maps.stacks, s.max_stacks);
  bpf_map__set_value_size(skel->maps.stacks, s.stack_depth * sizeof(uint64_t));
  bpf_map__set_max_entries(skel->maps.caches, s.max_caches);
  bpf_map__set_max_entries(skel->maps.skip_stacks, s.max_stacks);
  bpf_map__set_max_entries(skel->maps.churn, s.max_churn);
  ro->cfg_cgroup_id = s.cgroup_id;
  ro->cfg_cgroup_level = s.cgroup_level;
  ro->cfg_cgroup_by_helper = cgroup_by_helper;
  ro->cfg_sample_every = s.sample_every ? s.sample_every : 1;
  ro->cfg_stack_reuse = s.stack_reuse ? s.stack_reuse : 1;
  TaskHelpers helpers = probe_task_helpers();
  ro->cfg_task_btf = helpers.task_btf;
  ro->cfg_task_pt_regs = helpers.pt_regs;
  t->bpf_variant_ = task_helpers_variant(helpers);
  bpf_map__set_max_entries(skel->maps.sites, s.max_sites);
  t->sample_every_ = ro->cfg_sample_every;
  t->stack_reuse_ = s.capture_stacks ? ro->cfg_stack_reuse : 1;

  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, false);
  const auto& table = event_table();
  for (const auto& plan : plans) {
    if (plan.mode == AttachMode::None) continue;
    for (const auto& e : table) {
      if (e.family != plan.family || plan.absent.count(e.name)) continue;
      std::string name = prog_name(plan.mode, e.name, e.is_free);
      bpf_program* p = bpf_object__find_program_by_name(skel->obj, name.c_str());
      if (!p) throw Error("internal: BPF program " + name + " missing");
      bpf_program__set_autoload(p, true);
      if (bpf_program* twin = free_twin(skel->obj, plan.mode, e)) bpf_program__set_autoload(twin, true);
    }
  }

  // ---- load
  {
    std::lock_guard lk(g_log_mu);
    g_log.clear();
  }
  const MemlockState memlock = prepare_memlock();
  if (int err = kleak_bpf__load(skel); err) {
    std::string reason;
    {
      std::lock_guard lk(g_log_mu);
      reason = verifier_reason(g_log);
    }
    std::string hint = err == -EPERM ? memlock_hint(memlock) : "";
    throw Error("failed to load BPF programs: " +
                (reason.empty() ? std::string(std::strerror(-err)) : reason) +
                (hint.empty() ? " (KLEAK_VERBOSE=1 shows the verifier log)" : " (" + hint + ")"));
  }

  // ---- attach, one family at a time: all of a family's events or none
  for (const auto& plan : plans) {
    std::vector<LinkPtr> links;
    std::vector<Impl::Attached> attached;
    std::string failure;
    if (plan.mode != AttachMode::None) {
      for (const auto& e : table) {
        if (e.family != plan.family || plan.absent.count(e.name)) continue;
        std::string name = prog_name(plan.mode, e.name, e.is_free);
        bpf_program* p = bpf_object__find_program_by_name(skel->obj, name.c_str());
        bpf_link* l = bpf_program__attach(p);
        if (!l) {
          failure = "attach " + std::string(attach_mode_name(plan.mode)) + " " +
                    std::string(e.name) + " failed: " + std::strerror(errno);
          break;
        }
        links.emplace_back(l);
        attached.push_back({std::string(e.category) + ":" + std::string(e.name), e.is_free, p});
        // Its twin, for the frees that interrupt it (FREE_TWIN in record.bpf.h). Its own
        // recursion misses are not losses: the primary handles what interrupts the twin.
        if (bpf_program* twin = free_twin(skel->obj, plan.mode, e)) {
          bpf_link* tl = bpf_program__attach(twin);
          if (!tl) {
            failure = "attach raw_tp " + std::string(e.name) + " (twin) failed: " + std::strerror(errno);
            break;
          }
          links.emplace_back(tl);
        }
      }
    }
    bool ok = plan.mode != AttachMode::None && failure.empty();
    if (!ok) links.clear();
    for (const auto& e : table) {
      if (e.family != plan.family || plan.absent.count(e.name)) continue;
      SourceStatus st;
      st.event = std::string(e.category) + ":" + std::string(e.name);
      st.family = plan.family;
      st.mode = ok ? plan.mode : AttachMode::None;
      st.status = ok ? "attached" : (failure.empty() ? plan.reason : failure);
      t->sources_.push_back(st);
    }
    if (!ok && plan.reason != "not selected (--kinds/--filter)")
      t->warnings_.push_back(plan.family + " allocations are not traced: " +
                             (failure.empty() ? plan.reason : failure));
    else if (ok && plan.mode != AttachMode::RawTp && !plan.reason.empty())
      t->warnings_.push_back(plan.family + " uses " + std::string(attach_mode_name(plan.mode)) +
                             " programs: " + plan.reason);
    for (auto& l : links) t->impl_->links.push_back(std::move(l));
    for (auto& a : attached) t->impl_->attached.push_back(std::move(a));
  }
  if (t->impl_->links.empty()) {
    std::string why;
    for (const auto& w : t->warnings_) why += (why.empty() ? "" : "; ") + w;
    throw Error("no allocation source could be attached: " + (why.empty() ? "nothing selected" : why));
  }
  t->window_start_ns_ = monotonic_ns();
  return t;
}

// ---- drain --------------------------------------------------------------------------------

namespace {

// Every entry of a hash map, by batch lookups (never a get_next_key walk while the map
// changes: that over-counts). Returns how many entries could not be read.
template <typename K, typename V, typename Out>
uint64_t read_batch(int fd, Out&& emit) {
  const uint32_t chunk = 4096;
  std::vector<K> keys(chunk);
  std::vector<V> vals(chunk);
  K batch{};
  bool first = true;
  for (;;) {
    uint32_t n = chunk;
    LIBBPF_OPTS(bpf_map_batch_opts, bopts);
    int err = bpf_map_lookup_batch(fd, first ? nullptr : &batch, &batch, keys.data(), vals.data(),
                                   &n, &bopts);
    int saved = errno;
    first = false;
    for (uint32_t i = 0; i < n; ++i) emit(keys[i], vals[i]);
    if (err) {
      if (saved == ENOENT) return 0;
      if (saved == ENOSPC) return 1;  // a bucket larger than the chunk: cannot happen at 4096
      throw Error(std::string("reading a BPF map failed: ") + std::strerror(saved));
    }
  }
}

uint64_t read_allocs(int fd, std::vector<AllocRecord>& out) {
  return read_batch<uint64_t, kleak_alloc>(fd, [&](uint64_t k, const kleak_alloc& v) { out.push_back({k, v}); });
}

}  // namespace

void Tracer::skip_stacks(const std::vector<int32_t>& ids,
                         const std::vector<AllocRecord>& outstanding) {
  kleak_bpf* skel = impl_->skel.get();
  int kfd = bpf_map__fd(skel->maps.skip_stacks);
  std::set<int32_t> added;
  for (int32_t id : ids) {
    if (id < 0 || impl_->skipped.count(static_cast<uint32_t>(id))) continue;
    uint32_t key = static_cast<uint32_t>(id);
    uint8_t one = 1;
    if (bpf_map_update_elem(kfd, &key, &one, BPF_ANY) != 0) continue;  // full: keep tracking
    impl_->skipped.insert(key);
    added.insert(id);
  }
  int afd = bpf_map__fd(skel->maps.allocs);
  for (const auto& r : outstanding)
    if (added.count(r.a.stack_id) && bpf_map_delete_elem(afd, &r.key) == 0) ++impl_->removed_by_skip;
}

size_t Tracer::gc_stacks() {
  kleak_bpf* skel = impl_->skel.get();
  std::vector<AllocRecord> recs;
  read_allocs(bpf_map__fd(skel->maps.allocs), recs);
  std::set<uint32_t> referenced;
  for (const auto& r : recs)
    if (r.a.stack_id >= 0) referenced.insert(static_cast<uint32_t>(r.a.stack_id));
  // Call sites hand their last stack id to allocations to come (stack reuse).
  read_batch<kleak_site_key, kleak_site>(bpf_map__fd(skel->maps.sites),
                                         [&](const kleak_site_key&, const kleak_site& v) {
                                           if (v.stack_id >= 0) referenced.insert(static_cast<uint32_t>(v.stack_id));
                                         });
  // Churn groups name their stacks too, freed or not.
  read_batch<kleak_churn_key, kleak_churn>(bpf_map__fd(skel->maps.churn),
                                           [&](const kleak_churn_key& k, const kleak_churn&) {
                                             if (k.stack_id >= 0) referenced.insert(static_cast<uint32_t>(k.stack_id));
                                           });
  int sfd = bpf_map__fd(skel->maps.stacks);
  std::vector<uint32_t> ids;
  uint32_t key = 0, next = 0;
  const uint32_t* prev = nullptr;
  while (bpf_map_get_next_key(sfd, prev, &next) == 0) {
    ids.push_back(next);
    key = next;
    prev = &key;
  }
  std::set<uint32_t> stale;
  size_t freed = 0;
  for (uint32_t id : ids) {
    if (referenced.count(id) || impl_->skipped.count(id)) continue;
    if (impl_->stale_stacks.count(id)) {
      freed += bpf_map_delete_elem(sfd, &id) == 0;
    } else {
      stale.insert(id);
    }
  }
  impl_->stale_stacks = std::move(stale);
  return freed;
}

Collected Tracer::drain() const {
  kleak_bpf* skel = impl_->skel.get();
  Collected snap;
  snap.window_start_ns = window_start_ns_;
  snap.sample_every = sample_every_;
  snap.stack_reuse = stack_reuse_;

  // Outstanding allocations.
  // Sized from the counters (a little over, capped by the map), not grown by doubling.
  const uint64_t estimate = outstanding_estimate();
  snap.allocs.reserve(std::min<uint64_t>(estimate + estimate / 8 + 4096, bpf_map__max_entries(skel->maps.allocs)));
  snap.dropped_in_drain = read_allocs(bpf_map__fd(skel->maps.allocs), snap.allocs);
  snap.dropped_in_drain += read_batch<kleak_churn_key, kleak_churn>(
      bpf_map__fd(skel->maps.churn),
      [&](const kleak_churn_key& k, const kleak_churn& v) { snap.churn.emplace_back(k, v); });
  snap.now_ns = monotonic_ns();
  derive_window_frees(snap.allocs, snap.churn);

  // Stacks referenced by the records.
  int sfd = bpf_map__fd(skel->maps.stacks);
  size_t depth = bpf_map__value_size(skel->maps.stacks) / sizeof(uint64_t);
  std::vector<uint64_t> ips(depth);
  std::vector<int32_t> wanted;
  for (const auto& r : snap.allocs) wanted.push_back(r.a.stack_id);
  for (const auto& [k, v] : snap.churn) wanted.push_back(k.stack_id);
  std::set<int32_t> missing;  // ids whose lookup failed: asked once, not once per record
  for (int32_t id : wanted) {
    if (id < 0 || snap.stacks.count(id) || missing.count(id)) continue;
    std::fill(ips.begin(), ips.end(), 0);
    if (bpf_map_lookup_elem(sfd, &id, ips.data()) != 0) {
      missing.insert(id);
      continue;
    }
    std::vector<uint64_t> frames;
    for (uint64_t ip : ips) {
      if (!ip) break;
      frames.push_back(ip);
    }
    snap.stacks.emplace(id, std::move(frames));
  }

  // Cache names: the map only grows, so a key walk is exact here.
  int cfd = bpf_map__fd(skel->maps.caches);
  uint64_t ck = 0, next = 0;
  const uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(cfd, prev, &next) == 0) {
    kleak_cache c{};
    if (bpf_map_lookup_elem(cfd, &next, &c) == 0)
      snap.caches.emplace(next, std::string(c.name, strnlen(c.name, sizeof c.name)));
    ck = next;
    prev = &ck;
  }

  // Counters, summed over CPUs.
  int nfd = bpf_map__fd(skel->maps.counters);
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> percpu(static_cast<size_t>(ncpu > 0 ? ncpu : 1));
  for (uint32_t i = 0; i < KLEAK_NR_COUNTERS; ++i) {
    if (bpf_map_lookup_elem(nfd, &i, percpu.data()) != 0) continue;
    uint64_t sum = 0;
    for (uint64_t v : percpu) sum += v;
    snap.counters[i] = sum;
  }

  // Recursion misses per attached program.
  for (const auto& a : impl_->attached) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    ProgStat ps{a.event, a.is_free, 0};
    if (bpf_obj_get_info_by_fd(bpf_program__fd(a.prog), &info, &len) == 0)
      ps.recursion_misses = info.recursion_misses;
    snap.progs.push_back(ps);
  }
  return snap;
}

}  // namespace kleak
