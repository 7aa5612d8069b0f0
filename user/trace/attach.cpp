// Attach: carry out an attach plan (plan.cpp): open the BPF object, write the config, size the
// maps, load, attach family by family. The skeleton and every link are owned here and released however the process
// ends: nothing is pinned, so even SIGKILL leaves no program, link or map behind (the kernel
// drops them with the last fd).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "kleak/bounded_read.h"
#include "kleak/error.h"
#include "kleak/kind.h"
#include "kleak/privileges.h"
#include "kleak/refusal.h"
#include "trace/tracer_impl.h"

namespace kleak {

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

namespace {

// kleak's own process, so its allocations are never recorded: in a child pid namespace getpid()
// is not the tgid the kernel hands BPF, so the namespace is passed as well.
struct SelfIdentity {
  uint32_t tgid = 0;
  uint64_t pidns_dev = 0, pidns_ino = 0;  // 0 in the initial pid namespace
};

SelfIdentity self_identity() {
  SelfIdentity s;
  s.tgid = static_cast<uint32_t>(getpid());
  struct stat st {};
  // PROC_PID_INIT_INO: the initial pid namespace, where getpid() is the kernel's own tgid.
  constexpr ino_t kInitPidNsIno = 0xEFFFFFFCu;
  if (stat("/proc/self/ns/pid", &st) != 0 || st.st_ino == kInitPidNsIno) return s;
  // bpf_get_ns_current_pid_tgid() compares the kernel's dev_t (MKDEV: major << 20 | minor).
  s.pidns_dev = (static_cast<uint64_t>(major(st.st_dev)) << 20) | minor(st.st_dev);
  s.pidns_ino = st.st_ino;
  return s;
}

// The event's program for `mode` (events.def), "" where it has none.
std::string_view prog_name(AttachMode mode, const EventSpec& e) {
  switch (mode) {
    case AttachMode::RawTp: return e.raw_prog;
    case AttachMode::Tracepoint: return e.tp_prog;
    case AttachMode::Kprobe: return e.kprobe_prog;
    case AttachMode::None: break;
    case AttachMode::Fentry: break;
  }
  return "";
}

// The loaded object's program `name`; an unknown name is kleak's own bug (events.def and
// kleak.bpf.c disagree: EventRegistry.* catches that before a release).
bpf_program* program(bpf_object* obj, std::string_view name) {
  bpf_program* p = bpf_object__find_program_by_name(obj, std::string(name).c_str());
  if (!p) throw Error("internal: BPF program " + std::string(name.empty() ? "(none)" : name) + " missing");
  return p;
}

// The program that follows a bulk-free function in the planned mode, or nullptr.
bpf_program* bulk_free_program(bpf_object* obj, const BulkFreeSpec& spec, AttachMode mode) {
  std::string_view name = mode == AttachMode::Fentry ? spec.fentry : mode == AttachMode::Kprobe ? spec.kprobe : "";
  return name.empty() ? nullptr : program(obj, name);
}

// The twin of a raw_tp free program (see FREE_TWIN in bpf/record.bpf.h), or nullptr.
bpf_program* free_twin(bpf_object* obj, AttachMode mode, const EventSpec& e) {
  if (mode != AttachMode::RawTp || e.twin_prog.empty()) return nullptr;
  return program(obj, e.twin_prog);
}


// The config the programs read (rodata) and the maps' sizes, before load.
void configure(kleak_bpf* skel, const BpfConfig& s, const AttachPlan& plan, const SelfIdentity& self) {
  auto* ro = skel->rodata;
  ro->cfg_kinds_mask = s.kinds_mask;
  ro->cfg_min_bytes_req = s.min_bytes_req;
  ro->cfg_max_bytes_req = s.max_bytes_req;
  ro->cfg_min_bytes_alloc = s.min_bytes_alloc;
  ro->cfg_max_bytes_alloc = s.max_bytes_alloc;
  ro->cfg_tgid = s.tgid;
  ro->cfg_self_tgid = self.tgid;
  ro->cfg_self_pidns_dev = self.pidns_dev;
  ro->cfg_self_pidns_ino = self.pidns_ino;
  ro->cfg_page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  ro->cfg_capture_stacks = s.capture_stacks;
  if (s.cache) {
    ro->cfg_filter_cache = true;
    std::strncpy(const_cast<char*>(ro->cfg_cache), s.cache->c_str(), KLEAK_CACHE_NAME_LEN - 1);
  }
  ro->cfg_cgroup_id = s.cgroup_id;
  ro->cfg_cgroup_level = s.cgroup_level;
  ro->cfg_cgroup_by_helper = plan.cgroup_by_helper;
  ro->cfg_sample_every = s.sample_every ? s.sample_every : 1;
  ro->cfg_budget = s.budget;
  ro->cfg_stack_reuse = s.stack_reuse ? s.stack_reuse : 1;
  ro->cfg_task_btf = plan.task.task_btf;
  ro->cfg_task_pt_regs = plan.task.pt_regs;
  bpf_map__set_max_entries(skel->maps.allocs, s.max_allocs);
  bpf_map__set_max_entries(skel->maps.stacks, s.max_stacks);
  bpf_map__set_value_size(skel->maps.stacks, s.stack_depth * sizeof(uint64_t));
  bpf_map__set_max_entries(skel->maps.stacks_spill, std::max<uint32_t>(s.max_stacks / 4, KLEAK_MIN_SPILL_STACKS));
  bpf_map__set_value_size(skel->maps.stacks_spill, s.stack_depth * sizeof(uint64_t));
  bpf_map__set_max_entries(skel->maps.caches, s.max_caches);
  bpf_map__set_max_entries(skel->maps.skip_stacks, s.max_stacks);
  bpf_map__set_max_entries(skel->maps.churn, s.max_churn);
  bpf_map__set_max_entries(skel->maps.churn_slots, s.max_churn);
  bpf_map__set_max_entries(skel->maps.churn_free, s.max_churn);
  bpf_map__set_max_entries(skel->maps.unseen, s.max_churn);
  bpf_map__set_max_entries(skel->maps.sites, s.max_sites);
}

// Only the planned programs (and the twins of raw_tp frees) are loaded.
void select_programs(kleak_bpf* skel, const AttachPlan& attach) {
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) bpf_program__set_autoload(prog, false);
  const auto& table = bulk_free_table();
  for (size_t i = 0; i < attach.bulk_frees.size() && i < table.size(); ++i)
    if (bpf_program* p = bulk_free_program(skel->obj, table[i], attach.bulk_frees[i].mode))
      bpf_program__set_autoload(p, true);
  for (const auto& plan : attach.families) {
    if (plan.mode == AttachMode::None) continue;
    for (const auto& e : event_table()) {
      if (e.family != plan.family || plan.absent.count(e.name)) continue;
      bpf_program__set_autoload(program(skel->obj, prog_name(plan.mode, e)), true);
      if (bpf_program* twin = free_twin(skel->obj, plan.mode, e)) bpf_program__set_autoload(twin, true);
    }
  }
}

// Loads, or throws one line: the cause and its fix where the refusal is this process's or the
// box's (a capability, seccomp, lockdown, memlock), else the verifier's reason with errno's text.
void load(kleak_bpf* skel, LibbpfLog& log) {
  log.clear();
  prepare_memlock();
  if (int err = kleak_bpf__load(skel); err) {
    Refusal r = explain_refusal(read_refusal_facts(-err));
    if (r.cause != RefusalCause::KernelLacks && r.cause != RefusalCause::Other)
      throw Error("failed to load BPF programs: " + r.message);
    std::string reason = with_errno_text(verifier_reason(log.text()));
    std::string errtext = std::strerror(-err);
    if (reason.empty()) reason = errtext;
    else if (reason.find(errtext) == std::string::npos) reason += " (" + errtext + ")";
    throw Error("failed to load BPF programs: " + reason + " (KLEAK_VERBOSE=1 shows the verifier log)");
  }
}

// One family's links: all of its events or none (an allocation is never tracked without its free).
struct FamilyLinks {
  std::vector<LinkPtr> links;
  std::vector<Tracer::Impl::Attached> attached;
  std::string failure;  // "" when every event attached
};

FamilyLinks attach_family(kleak_bpf* skel, const FamilyPlan& plan) {
  FamilyLinks f;
  for (const auto& e : event_table()) {
    if (e.family != plan.family || plan.absent.count(e.name)) continue;
    bpf_program* p = program(skel->obj, prog_name(plan.mode, e));
    bpf_link* l = bpf_program__attach(p);
    if (!l) {
      f.failure = "attach " + std::string(attach_mode_name(plan.mode)) + " " + std::string(e.name) +
                  " failed: " + std::strerror(errno);
      break;
    }
    f.links.emplace_back(l);
    f.attached.push_back({std::string(e.category) + ":" + std::string(e.name), e.is_free, p, plan.family});
    // Its twin, for the frees that interrupt it (FREE_TWIN in record.bpf.h). Its own
    // recursion misses are not losses: the primary handles what interrupts the twin.
    if (bpf_program* twin = free_twin(skel->obj, plan.mode, e)) {
      bpf_link* tl = bpf_program__attach(twin);
      if (!tl) {
        f.failure = "attach raw_tp " + std::string(e.name) + " (twin) failed: " + std::strerror(errno);
        break;
      }
      f.links.emplace_back(tl);
    }
  }
  if (!f.failure.empty()) f.links.clear();
  return f;
}

}  // namespace

Tracer::Tracer() : impl_(std::make_unique<Impl>()) {}
Tracer::~Tracer() { stop(); }

// Newest link first: each free twin was attached after its primary, and a twin left without its
// primary handles every free again. Detached oldest first, the twins handled up to 3.5% more
// frees than were skipped (the socket test's RCU frees in that window); newest first, exactly
// as many (3 runs).
void Tracer::stop() {
  while (!impl_->links.empty()) impl_->links.pop_back();
  impl_->link_family.clear();
}

void Tracer::detach_family(const std::string& family) {
  // Newest first, as stop(): a free twin never runs without its primary.
  for (size_t i = impl_->links.size(); i-- > 0;)
    if (impl_->link_family[i] == family) {
      impl_->links.erase(impl_->links.begin() + static_cast<std::ptrdiff_t>(i));
      impl_->link_family.erase(impl_->link_family.begin() + static_cast<std::ptrdiff_t>(i));
    }
  if (auto k = kind_from_name(family)) detached_kinds_ |= 1u << *k;
  detached_.push_back(family);
  // The bulk frees forget slab and kmalloc records only: with neither traced they are idle.
}

void Tracer::set_sample_every(uint32_t n) {
  if (!impl_->skel->rodata->cfg_budget) throw Error("internal: the sampling rate is fixed without --max-cpu");
  sample_every_ = n ? n : 1;
  impl_->skel->data->budget_sample_every = sample_every_;
}

uint64_t Tracer::maps_bytes() const {
  uint64_t total = 0;
  bpf_map* m;
  bpf_object__for_each_map(m, impl_->skel->obj) {
    int fd = bpf_map__fd(m);
    if (fd < 0) continue;
    BoundedRead info = try_read_bounded("/proc/self/fdinfo/" + std::to_string(fd), 4096, "fdinfo");
    if (!info.text) continue;
    auto at = info.text->find("memlock:");
    if (at != std::string::npos) total += std::strtoull(info.text->c_str() + at + 8, nullptr, 10);
  }
  return total;
}

bool Tracer::run_time_measured() const {
  if (impl_->stats_fd >= 0) return true;
  // Someone else switched the statistics on (sysctl kernel.bpf_stats_enabled=1).
  BoundedRead on = try_read_bounded("/proc/sys/kernel/bpf_stats_enabled", 64, "bpf_stats_enabled");
  return on.text && !on.text->empty() && (*on.text)[0] == '1';
}

std::vector<Tracer::FamilyCost> Tracer::family_costs() const {
  std::vector<FamilyCost> out;
  for (const auto& a : impl_->attached) {
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(bpf_program__fd(a.prog), &info, &len) != 0) continue;
    auto it = std::find_if(out.begin(), out.end(), [&](const FamilyCost& c) { return c.family == a.family; });
    if (it == out.end()) it = out.insert(out.end(), FamilyCost{a.family, 0, 0});
    it->run_time_ns += info.run_time_ns;
    it->run_cnt += info.run_cnt;
  }
  return out;
}


// Each family's events in sources(), and a warning for a family not traced or not by raw_tp.
void Tracer::attach_families(const std::vector<FamilyPlan>& plans) {
  for (const auto& plan : plans) {
    FamilyLinks f;
    if (plan.mode != AttachMode::None) f = attach_family(impl_->skel.get(), plan);
    bool ok = plan.mode != AttachMode::None && f.failure.empty();
    for (const auto& e : event_table()) {
      if (e.family != plan.family || plan.absent.count(e.name)) continue;
      SourceStatus st;
      st.event = std::string(e.category) + ":" + std::string(e.name);
      st.family = plan.family;
      st.mode = ok ? plan.mode : AttachMode::None;
      st.status = ok ? "attached" : (f.failure.empty() ? plan.reason : f.failure);
      sources_.push_back(st);
    }
    if (!ok && plan.reason != "not selected (--kinds/--filter)")
      warnings_.push_back(plan.family + " allocations are not traced: " +
                          (f.failure.empty() ? plan.reason : f.failure));
    else if (ok && plan.mode != AttachMode::RawTp && !plan.reason.empty())
      warnings_.push_back(plan.family + " uses " + std::string(attach_mode_name(plan.mode)) +
                          " programs: " + plan.reason);
    // A family that failed keeps its programs' statistics (drain reads them), not its links.
    for (auto& l : f.links) {
      impl_->links.push_back(std::move(l));
      impl_->link_family.push_back(plan.family);
    }
    for (auto& a : f.attached) impl_->attached.push_back(std::move(a));
  }
  if (impl_->links.empty()) {
    std::string why;
    for (const auto& w : warnings_) why += (why.empty() ? "" : "; ") + w;
    throw Error("no allocation source could be attached: " + (why.empty() ? "nothing selected" : why));
  }
}

// The bulk-free functions, after the families (a bulk free forgets records; with no records
// there is nothing to forget). Optional: a failure is reported, never fatal. Their links go
// last, so they are detached first.
void Tracer::attach_bulk_frees(const std::vector<BulkFreePlan>& plans) {
  const auto& table = bulk_free_table();
  for (size_t i = 0; i < plans.size() && i < table.size(); ++i) {
    const BulkFreePlan& plan = plans[i];
    SourceStatus st{std::string(table[i].function), "bulk free", plan.mode, plan.reason};
    if (plan.absent) continue;  // this kernel has no such path: nothing is missed
    if (bpf_program* p = bulk_free_program(impl_->skel->obj, table[i], plan.mode)) {
      if (bpf_link* l = bpf_program__attach(p)) {
        impl_->links.emplace_back(l);
        impl_->link_family.push_back(st.family);
        impl_->attached.push_back({st.event, true, p, st.family});
        st.status = "attached";
      } else {
        st.mode = AttachMode::None;
        st.status = "attach " + std::string(attach_mode_name(plan.mode)) + " failed: " + std::strerror(errno);
      }
    }
    sources_.push_back(std::move(st));
  }
}

std::unique_ptr<Tracer> Tracer::start(const BpfConfig& s, const KernelProbe& probe,
                                      std::optional<AttachMode> forced) {
  check_btf(probe.btf_path);
  std::unique_ptr<Tracer> t(new Tracer());
  t->impl_->log = std::make_unique<LibbpfLog>(getenv("KLEAK_VERBOSE") != nullptr);

  KernelOffer offer = probe_kernel(probe, probe.tracefs.empty());
  AttachRequest req{s.kinds_mask, forced, s.cgroup_id != 0, s.cache.has_value(), s.bulk_frees};
  AttachPlan plan = plan_attach(offer, probe_helpers(req.cgroup), req);

  LIBBPF_OPTS(bpf_object_open_opts, oopts);
  if (probe.btf_path != "/sys/kernel/btf/vmlinux") oopts.btf_custom_path = probe.btf_path.c_str();
  // Opens, configures and loads; a failed load leaves nothing loaded.
  auto open_and_load = [&] {
    t->impl_->skel.reset(kleak_bpf__open_opts(&oopts));
    if (!t->impl_->skel) throw Error(std::string("cannot open BPF object: ") + std::strerror(errno));
    configure(t->impl_->skel.get(), s, plan, self_identity());
    select_programs(t->impl_->skel.get(), plan);
    load(t->impl_->skel.get(), *t->impl_->log);
    t->impl_->churn_slots = ChurnSlots(t->impl_->skel.get());
  };
  try {
    open_and_load();
  } catch (const Error& e) {
    // The bulk-free programs are optional: one the verifier refuses (5.10 and 6.1 refused the
    // first fentry version's `void **` argument, and every trace failed with it) must not take
    // the families down with it. Loaded again without them, and the report says why.
    bool bulk = false;
    for (auto& b : plan.bulk_frees)
      if (b.mode != AttachMode::None) {
        b = {b.function, AttachMode::None, std::string("refused at load: ") + e.what(), false};
        bulk = true;
      }
    if (!bulk) throw;
    open_and_load();
  }
  kleak_bpf* skel = t->impl_->skel.get();
  t->bpf_variant_ = task_helpers_variant(plan.task);
  t->sample_every_ = skel->rodata->cfg_sample_every;
  t->stack_reuse_ = s.capture_stacks ? skel->rodata->cfg_stack_reuse : 1;
  if (s.budget) {
    skel->data->budget_sample_every = skel->rodata->cfg_sample_every;
    // Run times of kleak's programs for --max-cpu; EPERM without CAP_SYS_ADMIN (the caller then
    // estimates from the counters).
    t->impl_->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  }
  t->attach_families(plan.families);
  t->attach_bulk_frees(plan.bulk_frees);
  t->window_start_ns_ = monotonic_ns();
  return t;
}

}  // namespace kleak
