// Helpers for tests that run against the real kernel: spawn kleak and the planter, talk to them,
// read the JSON report. BPF tests skip where BPF cannot run, unless KLEAK_REQUIRE_BPF=1 (set by
// .ci/run), which turns every such skip into a failure.
#pragma once
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace kleak::test {

inline std::string bpf_unavailable_reason() {
  if (geteuid() != 0) return "not root";
  if (!std::filesystem::exists("/sys/kernel/btf/vmlinux")) return "no /sys/kernel/btf/vmlinux";
  return "";
}

// Whether the classic kmem:kmem_cache_alloc tracepoint names its cache (a `name` field: 6.2+;
// 5.10 and 6.1 have none). Read from tracefs; true when tracefs is not mounted (nothing known).
inline bool slab_tracepoint_names_its_cache() {
  for (const char* d : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
    std::ifstream in(std::string(d) + "/events/kmem/kmem_cache_alloc/format");
    if (!in) continue;
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str().find(" name;") != std::string::npos;
  }
  return true;
}

#define KLEAK_REQUIRE_BPF_OR_SKIP()                                                      \
  do {                                                                                   \
    std::string why_ = ::kleak::test::bpf_unavailable_reason();                          \
    if (!why_.empty()) {                                                                 \
      if (std::getenv("KLEAK_REQUIRE_BPF"))                                              \
        FAIL() << "BPF tests cannot run (" << why_ << ") and KLEAK_REQUIRE_BPF is set";  \
      GTEST_SKIP() << "BPF tests need root and kernel BTF: " << why_;                    \
    }                                                                                    \
  } while (0)

// A child process with its stdin, stdout and stderr on pipes; with `ready_fd`, a fourth pipe is
// its descriptor 3 (kleak's --ready-fd 3).
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::vector<std::string>& env_extra = {},
        bool ready_fd = false) {
    int in[2], out[2], err[2], ready[2] = {-1, -1};
    if (pipe(in) || pipe(out) || pipe(err) || (ready_fd && pipe(ready))) throw std::runtime_error("pipe");
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // A test binary that dies (a crash, a timeout's SIGKILL) takes its kleak with it: SIGTERM
      // ends kleak with its report. Left running, a `--duration 1h` trace made the later tests
      // that count kleak's loaded programs fail (CI, a crash in Serve.*).
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(127);
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(err[1], 2);
      if (ready_fd) dup2(ready[1], 3);
      // 0-2 were dup'ed first, so a pipe end that was 3 is copied; 3 is now the ready pipe.
      for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1], ready[0], ready[1]})
        if (fd >= 0 && !(ready_fd && fd == 3)) close(fd);
      for (const auto& e : env_extra) putenv(strdup(e.c_str()));
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    in_ = fdopen(in[1], "w");
    out_ = fdopen(out[0], "r");
    err_ = fdopen(err[0], "r");
    if (ready_fd) {
      close(ready[1]);
      ready_ = fdopen(ready[0], "r");
    }
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    for (FILE* f : {in_, out_, err_, ready_})
      if (f) fclose(f);
  }
  pid_t pid() const { return pid_; }
  void send_line(const std::string& s) {
    fprintf(in_, "%s\n", s.c_str());
    fflush(in_);
  }
  void close_stdin() {
    if (in_) fclose(in_);
    in_ = nullptr;
  }
  // Next stdout line ("" at EOF).
  std::string read_line() { return getline(out_); }
  std::string read_err_line() { return getline(err_); }
  // The line on descriptor 3 ("" when the child closed it or exited without one).
  std::string read_ready_line() { return ready_ ? getline(ready_) : ""; }
  // Whatever stderr holds now, without waiting: everything the child wrote there before the
  // moment it wrote, say, its ready line. Nothing was read through err_ yet, so its buffer is empty.
  void take_err_written() {
    int fd = fileno(err_);
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    char buf[65536];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) err_text_.append(buf, static_cast<size_t>(n));
    fcntl(fd, F_SETFL, flags);
  }
  // Stdout until the child closes it (blocks until then).
  std::string read_out_to_eof() { return slurp(out_); }
  void signal(int sig) { kill(pid_, sig); }
  // Waits for exit; returns the exit status (128+signal when killed), collecting the rest of
  // stdout and stderr.
  int wait() {
    out_text_ += slurp(out_);
    err_text_ += slurp(err_);
    int st = 0;
    waitpid(pid_, &st, 0);
    reaped_ = true;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  const std::string& out() const { return out_text_; }
  const std::string& err() const { return err_text_; }
  void append_err(const std::string& s) { err_text_ += s; }

 private:
  static std::string getline(FILE* f) {
    char* line = nullptr;
    size_t cap = 0;
    ssize_t n = ::getline(&line, &cap, f);
    std::string s = n > 0 ? std::string(line, static_cast<size_t>(n)) : "";
    free(line);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  static std::string slurp(FILE* f) {
    std::string s;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    return s;
  }
  pid_t pid_ = -1;
  bool reaped_ = false;
  FILE *in_ = nullptr, *out_ = nullptr, *err_ = nullptr, *ready_ = nullptr;
  std::string out_text_, err_text_;
};

// Runs a command to completion.
struct RunResult {
  int status;
  std::string out, err;
};
inline RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  Child c(argv, env);
  c.close_stdin();
  int st = c.wait();
  return {st, c.out(), c.err()};
}

// ---- What a test needs of the box, declared at its top ------------------------------------
// As bpftrace's runtime tests declare REQUIRES: the qemu lanes run every test and each test says
// what it needs; a need the box does not meet skips the test with the reason. Replaces the
// gtest filter lists .ci/run kept per lane. The lanes' guest sets KLEAK_LANE=tcg.
enum class Need {
  // Kernel-independent input/output handling (files, HTTP, the terminal): proven once, on the
  // host; under a lane's emulation it would only spend the lane's time limit.
  HostOnly,
  // Measures CPU time or rates (the budget, a first line among a fork storm): meaningless where
  // every instruction is emulated.
  NativeSpeed,
  // vmalloc allocations with their callers: the vmalloc tracepoints (6.2), or a kretprobe whose
  // stack walk crosses its trampoline (the unwinder learned to in 5.14).
  VmallocStacks,
  // kmem frees on raw_tp programs: their twins rescue the frees that interrupt a program, and
  // no bpf_prog_active guard drops a free that lands while another kleak program runs (classic
  // tracepoints share it: 5.10, whose kmalloc and slab prototypes differ from kleak's raw_tp ones).
  KmemFreesOnRawTp,
  // Tools the test runs beside kleak: bpftool (counts kleak's BPF objects, reads its maps) and
  // util-linux setpriv (runs kleak as nobody with chosen capabilities; busybox's has no --reuid).
  // Absent from a lane's guest (arm64's), the test skips there with the reason; on the host
  // (CI) it runs and fails without them, as every BPF test must.
  Bpftool,
  Setpriv,
};

inline int kernel_version_code() {
  utsname u{};
  int major = 0, minor = 0;
  if (uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return 0;
  return major * 1000 + minor;
}

// Whether `name` is an executable in a directory of $PATH.
inline bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');)
    if (!dir.empty() && access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

// "" when the box meets `n`, else why not.
inline std::string unmet(Need n) {
  const char* lane = std::getenv("KLEAK_LANE");
  const bool emulated = lane && std::string_view(lane) == "tcg";
  switch (n) {
    case Need::HostOnly:
      return emulated ? "kernel-independent: runs on the host, not in a lane" : "";
    case Need::NativeSpeed:
      return emulated ? "measures CPU time: meaningless under TCG emulation" : "";
    case Need::VmallocStacks: {
      if (kernel_version_code() >= 5014 || std::filesystem::exists("/sys/kernel/tracing/events/vmalloc/alloc_vmap_area"))
        return "";
      return "vmalloc is traced by a kretprobe here, whose stack walk stops at its trampoline before 5.14";
    }
    case Need::KmemFreesOnRawTp: {
      RunResult r = run({KLEAK_BIN, "doctor", "--format", "json"});
      std::string why;
      try {
        // The document in a variable: a range-for over parse(...).at("families") walks a member of
        // a temporary already destroyed (C++20 extends only the range expression's own lifetime),
        // and on 5.10 it walked nothing, so this need passed on its classic tracepoints.
        const nlohmann::json doctor = nlohmann::json::parse(r.out);
        for (const auto& f : doctor.at("families")) {
          const std::string family = f.at("family").get<std::string>();
          const std::string variant = f.at("variant").is_string() ? f.at("variant").get<std::string>() : "none";
          if (family != "percpu" && family != "vmalloc" && variant != "raw_tp")
            why += (why.empty() ? "" : ", ") + family + " on " + variant;
        }
      } catch (const std::exception& e) {
        return "kleak doctor --format json: " + std::string(e.what()) + ": " + r.err;
      }
      return why.empty() ? "" : "kmem frees are not on raw_tp here (" + why + "): no free twins, and bpf_prog_active drops frees";
    }
    case Need::Bpftool:
      return lane && !on_path("bpftool") ? "bpftool is not in this lane's guest" : "";
    case Need::Setpriv: {
      if (!lane) return "";
      RunResult r = run({"/usr/bin/setpriv", "--help"});
      return (r.out + r.err).find("--reuid") == std::string::npos
                 ? "no util-linux setpriv (with --reuid) in this lane's guest"
                 : "";
    }
  }
  return "";
}

// A kernel older than major.minor skips the test: for a failure seen there whose cause is not
// known yet (`why` names it and where it is written down).
inline std::string unmet_kernel(int major, int minor, const std::string& why) {
  return kernel_version_code() < major * 1000 + minor ? "needs Linux " + std::to_string(major) + "." +
                                                             std::to_string(minor) + "+: " + why
                                                       : "";
}

#define KLEAK_NEEDS(need)                                                         \
  do {                                                                            \
    if (std::string why_ = ::kleak::test::unmet(::kleak::test::Need::need); !why_.empty()) \
      GTEST_SKIP() << "needs " #need ": " << why_;                                \
  } while (0)

#define KLEAK_NEEDS_KERNEL(major, minor, why)                                          \
  do {                                                                                 \
    if (std::string why_ = ::kleak::test::unmet_kernel(major, minor, why); !why_.empty()) \
      GTEST_SKIP() << why_;                                                            \
  } while (0)

// kleak's one-line refusal of a slab cache filter where no slab variant carries the cache (5.10:
// the classic tracepoint has no name, the raw_tp one no struct kmem_cache *), or "". Asked only
// where the classic tracepoint has no name (else the filter works): tests that filter by cache
// skip on that kernel fact (Errors.* checks the refusal itself).
inline std::string slab_cache_filter_refused() {
  if (slab_tracepoint_names_its_cache()) return "";
  RunResult r = run({KLEAK_BIN, "trace", "--cache", "dentry", "--duration", "1s"}, {});
  if (r.err.find("slab cache filter cannot work") == std::string::npos) return "";
  return "this kernel's kmem_cache_alloc event carries no cache: " + r.err;
}

// A fresh cgroup v2 directory for one test, removed at the end.
class ScopedCgroup {
 public:
  ScopedCgroup() {
    std::ifstream in("/proc/self/mountinfo");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string line, root;
    while (std::getline(ss, line)) {
      auto dash = line.find(" - cgroup2 ");
      if (dash == std::string::npos) continue;
      std::istringstream f(line);
      std::string a, b, c, d;
      f >> a >> b >> c >> d >> root;
      break;
    }
    if (root.empty()) throw std::runtime_error("no cgroup2 mount");
    path_ = root + "/kleak-test-" + std::to_string(getpid());
    std::filesystem::create_directory(path_);
  }
  ~ScopedCgroup() {
    for (int i = 0; i < 50 && rmdir(path_.c_str()) != 0; ++i) usleep(100000);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The planter, planted and holding; `values` has the ready line's key=value pairs. With
// `cgroup`, it runs inside that cgroup v2 directory.
class Planter {
 public:
  explicit Planter(const std::vector<std::string>& args, const std::string& cgroup = "") {
    std::vector<std::string> argv{KLEAK_PLANTER};
    argv.insert(argv.end(), args.begin(), args.end());
    if (!cgroup.empty()) {
      std::string cmd = "echo $$ > '" + cgroup + "/cgroup.procs' && exec";
      for (const auto& a : argv) cmd += " '" + a + "'";
      argv = {"/bin/sh", "-c", cmd};
    }
    child_ = std::make_unique<Child>(argv);
    std::string line = child_->read_line();
    if (line.rfind("ready ", 0) != 0) {
      child_->close_stdin();
      child_->wait();
      throw std::runtime_error("planter did not get ready: '" + line + "' " + child_->err());
    }
    std::istringstream in(line.substr(6));
    std::string kv;
    while (in >> kv) {
      auto eq = kv.find('=');
      if (eq != std::string::npos) values[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  uint64_t num(const std::string& k) const {
    auto it = values.find(k);
    if (it == values.end()) throw std::runtime_error("planter ready line has no " + k);
    return std::stoull(it->second);
  }
  void release() {
    child_->send_line("release");
    std::string l = child_->read_line();
    if (l != "released") throw std::runtime_error("planter did not release: " + l);
  }
  ~Planter() {
    child_->close_stdin();
    child_->wait();
  }
  std::map<std::string, std::string> values;

 private:
  std::unique_ptr<Child> child_;
};

// `kleak trace` in the background; ready once its --ready-fd line arrives (every program
// attached, the --serve listener bound); ready() is that line. Tests of --serve that count
// planted memory pass `--max-cpu 0`: a daemon's default budget (5% of a CPU) samples and detaches
// families when kleak's own CPU time runs high, as it does under the qemu lanes' TCG, where every
// instruction is emulated; the budget itself is Budget.*'s subject.
class Tracing {
 public:
  // `prefix` runs kleak under another command (setpriv, unshare); `bin` replaces KLEAK_BIN;
  // `env` adds NAME=VALUE entries to kleak's environment.
  explicit Tracing(std::vector<std::string> args, std::vector<std::string> prefix = {},
                   const std::string& bin = KLEAK_BIN, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = prefix;
    argv.push_back(bin);
    argv.push_back("trace");
    argv.push_back("--ready-fd");
    argv.push_back("3");
    argv.insert(argv.end(), args.begin(), args.end());
    child_ = std::make_unique<Child>(argv, env, true);
    child_->close_stdin();
    std::string line = child_->read_ready_line();
    if (line.empty()) {
      int st = child_->wait();
      throw std::runtime_error("kleak trace exited (" + std::to_string(st) + ") before tracing: " + child_->err());
    }
    ready_ = nlohmann::json::parse(line);
    child_->take_err_written();  // warnings printed before tracing, for err()
  }
  const nlohmann::json& ready() const { return ready_; }
  // The port of --serve's /metrics, from the ready line.
  int metrics_port() const {
    std::smatch m;
    const std::string url = ready_.value("metrics", "");
    if (!std::regex_search(url, m, std::regex(":([0-9]+)/metrics$"))) throw std::runtime_error("not serving: " + ready_.dump());
    return std::stoi(m[1]);
  }
  // Ends the window with SIGINT and returns the exit status.
  int stop() {
    child_->signal(SIGINT);
    return child_->wait();
  }
  int wait() { return child_->wait(); }
  // Sends `sig` and waits at most `limit` for the exit: the exit status, or -1 when kleak had
  // not exited by then (it is then killed, so a hang costs the limit, not the test run).
  // `took` gets the seconds from the signal to the exit.
  int stop_within(int sig, std::chrono::milliseconds limit, double* took = nullptr) {
    auto t0 = std::chrono::steady_clock::now();
    std::promise<int> exited;
    auto status = exited.get_future();
    std::thread waiter([&] { exited.set_value(child_->wait()); });
    child_->signal(sig);
    bool in_time = status.wait_for(limit) == std::future_status::ready;
    if (took) *took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!in_time) child_->signal(SIGKILL);
    int st = status.get();
    waiter.join();
    return in_time ? st : -1;
  }
  void signal(int sig) { child_->signal(sig); }
  pid_t pid() const { return child_->pid(); }
  std::string next_err_line() {
    std::string l = child_->read_err_line();
    child_->append_err(l + "\n");
    return l;
  }
  // Stdout until kleak closes it: on a thread, keeps a pipe flowing that a test let fill.
  std::string read_out_to_eof() { return child_->read_out_to_eof(); }
  const std::string& out() const { return child_->out(); }
  const std::string& err() const { return child_->err(); }
  nlohmann::json json() const { return nlohmann::json::parse(child_->out()); }

 private:
  std::unique_ptr<Child> child_;
  nlohmann::json ready_;
};

// Sum of bytes/count over stacks of `kind` whose printed frames contain `func` (at any depth
// up to `max_depth`; 0 = the first shown frame only).
struct Found {
  uint64_t bytes = 0, bytes_req = 0, count = 0;
  size_t groups = 0;
};
inline Found find_stacks(const nlohmann::json& report, const std::string& kind,
                         const std::string& func, size_t max_depth = 0) {
  Found f;
  for (const auto& s : report["stacks"]) {
    if (!kind.empty() && s["kind"] != kind) continue;
    const auto& frames = s["frames"];
    bool hit = false;
    for (size_t i = 0; i < frames.size() && i <= max_depth; ++i) {
      std::string fr = frames[i];
      if (fr.rfind(func + "+", 0) == 0 || fr == func) hit = true;
    }
    if (!hit) continue;
    f.bytes += s["bytes"].get<uint64_t>();
    f.bytes_req += s["bytes_req"].get<uint64_t>();
    f.count += s["count"].get<uint64_t>();
    ++f.groups;
  }
  return f;
}

// The function that fills an anonymous pipe's pages on this kernel: anon_pipe_write since 6.16
// (where pipe_write became the named-pipe wrapper), pipe_write before.
inline std::string pipe_write_function() {
  static const std::string name = [] {
    std::ifstream in("/proc/kallsyms");
    std::string addr, type, sym;
    while (in >> addr >> type >> sym) {
      if (sym == "anon_pipe_write") return std::string("anon_pipe_write");
      in.ignore(1 << 20, '\n');
    }
    return std::string("pipe_write");
  }();
  return name;
}

// Whether memcg kmem accounting is on: it is switched on when the first non-root memory cgroup
// comes online (any systemd machine; not a bare initramfs). Until then alloc_pages_bulk() serves
// __GFP_ACCOUNT allocations too, and its fast path fires no kmem:mm_page_alloc, so vmalloc's
// order-0 pages (taken in bulk) are not traced at all.
inline bool memcg_kmem_active() {
  std::ifstream in("/proc/cgroups");  // subsys_name hierarchy num_cgroups enabled
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string name;
    unsigned long hierarchy = 0, num = 0, enabled = 0;
    if (f >> name >> hierarchy >> num >> enabled && name == "memory") return enabled && num > 1;
  }
  return false;
}

// A previous test's tracer frees its BPF maps (tens of MiB of vmalloc) in a kernel worker after
// it exits: wait until VmallocUsed has not moved for half a second (at most 10 s).
inline void settle() {
  auto vmalloc_used = [] {
    std::ifstream in("/proc/meminfo");
    std::string k;
    long v = 0;
    while (in >> k >> v)
      if (k == "VmallocUsed:") return v;
    return 0L;
  };
  long last = vmalloc_used();
  for (int stable = 0, i = 0; stable < 5 && i < 100; ++i) {
    usleep(100000);
    long now = vmalloc_used();
    stable = now == last ? stable + 1 : 0;
    last = now;
  }
}

inline ::testing::AssertionResult within(double got, double want, double tol) {
  if (want == 0 ? got == 0 : std::abs(got - want) <= tol * want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " is not within " << tol * 100 << "% of " << want;
}

// Every allocation and free the programs saw ends in exactly one named bucket of "events", to the
// unit: the counters are added atomically (record.bpf.h count()). With plain per-CPU adds a
// program preempted or interrupted by another of kleak's on the same CPU lost increments (CI:
// 128 of 10 M frees in the soak).
inline void expect_events_add_up(const nlohmann::json& r) {
  auto ev = [&](const char* k) { return r["events"].value(k, uint64_t{0}); };
  auto close_to = [](uint64_t a, uint64_t b) { return a == b; };
  uint64_t free_buckets = ev("frees_matched") + ev("frees_of_untracked") + ev("frees_of_null") +
                          ev("frees_batched_unmatched") + ev("frees_sampled_out");
  EXPECT_TRUE(close_to(ev("frees_seen"), free_buckets)) << free_buckets << " in buckets " << r["events"].dump();
  uint64_t alloc_buckets = 0;
  for (const auto& [kind, causes] : r["events_by_kind"].items())
    for (const char* c : {"allocs_tracked", "allocs_filtered_in_kernel", "alloc_map_full", "sampled_out",
                          "user_memory_untracked", "allocs_null"})
      alloc_buckets += causes.value(c, uint64_t{0});
  EXPECT_TRUE(close_to(ev("allocs_seen"), alloc_buckets)) << alloc_buckets << " in buckets " << r["events_by_kind"].dump();
}

}  // namespace kleak::test
