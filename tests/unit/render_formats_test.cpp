// Folded stacks, pprof and SVG flame graphs from Reports made by hand, checked by the tools that
// read them: protoc (the pprof schema), `go tool pprof`, headless Chromium. A missing go or
// chromium skips its test, unless KLEAK_REQUIRE_TOOLS=1 (CI), where it fails. The suite RenderTools
// runs those tools and is labelled integration (CMakeLists.txt); the rest needs only the build.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "kleak/gzip.h"
#include "kleak/render.h"
#include "kleak/text_escape.h"
#include <nlohmann/json.hpp>
#include "frame_text.h"
#include "pprof/profile.pb.h"

using namespace kleak;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kPipeStack = {"anon_pipe_write+0x1a8", "vfs_write+0x398", "ksys_write+0xba",
                                             "do_syscall_64+0x71", "entry_SYSCALL_64_after_hwframe+0x76"};

StackGroup group(std::string kind, std::string category, uint64_t bytes, uint64_t count,
                 std::vector<std::string> texts, std::string comm) {
  StackGroup g;
  g.kind = std::move(kind);
  g.category = std::move(category);
  g.meminfo_line = meminfo_part_from_name(g.category);  // none for "pipe"
  g.bytes = g.bytes_req = bytes;
  g.count = count;
  g.frames = kleak::test::stack(texts);
  g.comms = {{std::move(comm), count}};
  return g;
}

// Three kinds, a module frame, two page groups that differ only in an offset, and a group whose
// allocations were all freed again.
Report sample_report() {
  Report r;
  r.kernel = "Linux 6.18.44 x86_64";
  r.duration_s = 20.1;
  StackGroup pipe = group("page", "pipe", 30'720'000, 7500, kPipeStack, "kleak-planter");
  pipe.allocs = 7600;
  pipe.alloc_bytes = 31'129'600;
  pipe.frees = 100;
  pipe.free_bytes = 409'600;
  StackGroup pipe2 = group("page", "pipe", 409'600, 100,
                           {"anon_pipe_write+0x2f0", "vfs_write+0x398", "ksys_write+0xba", "do_syscall_64+0x71",
                            "entry_SYSCALL_64_after_hwframe+0x76"},
                           "bash");
  StackGroup leak = group("kmalloc", "unaccounted", 2'097'152, 8192,
                          {"leak_init+0x10 [leaky]", "do_one_initcall+0x5e", "do_init_module+0x60",
                           "load_module+0x1f4c", "__do_sys_finit_module+0xac", "do_syscall_64+0x71",
                           "entry_SYSCALL_64_after_hwframe+0x76"},
                          "insmod");
  leak.cache = "kmalloc-256";
  leak.bytes_req = 8192 * 200;
  StackGroup bh = group("slab", "slab", 881'664, 8484,
                        {"alloc_buffer_head+0x1d", "folio_alloc_buffers+0xae", "ext4_block_write_begin+0x3d2",
                         "vfs_write+0x22f", "ksys_write+0x66", "do_syscall_64+0x71",
                         "entry_SYSCALL_64_after_hwframe+0x76"},
                        "ld");
  bh.cache = "buffer_head";
  bh.meminfo_line = MeminfoPart::slab_reclaimable;
  bh.allocs = 9000;
  bh.alloc_bytes = 935'000;
  StackGroup released = group("vmalloc", "vmalloc", 0, 0, {"alloc_thread_stack_node+0x2c", "copy_process+0x1c4"},
                              "bash");
  released.comms.clear();
  released.allocs = released.frees = 4;
  released.alloc_bytes = released.free_bytes = 65536;
  r.stacks = {pipe, leak, bh, pipe2, released};
  r.groups_total = 9;
  for (const auto& g : r.stacks) {
    r.total_bytes += g.bytes;
    r.total_count += g.count;
  }
  r.total_bytes += 4096;  // a group beyond --top
  r.total_count += 1;
  return r;
}

bool require_tools() {
  const char* v = std::getenv("KLEAK_REQUIRE_TOOLS");
  return v && *v && std::string(v) != "0";
}

std::string find_tool(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= path.size()) {
    size_t colon = path.find(':', start);
    std::string dir = path.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!dir.empty()) {
      fs::path p = fs::path(dir) / name;
      if (access(p.c_str(), X_OK) == 0) return p.string();
    }
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return "";
}

#define REQUIRE_TOOL(var, name)                                                          \
  std::string var = find_tool(name);                                                     \
  if (var.empty()) {                                                                     \
    if (require_tools()) FAIL() << name << " is missing and KLEAK_REQUIRE_TOOLS is set";  \
    GTEST_SKIP() << name << " is not installed (tools/install-deps.sh installs it)";     \
  }

struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kleak-formats-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& data) const {
    fs::path p = path / name;
    std::ofstream(p, std::ios::binary) << data;
    return p.string();
  }
};

// Runs a shell command; its stdout, and the exit status in *rc.
std::string run(const std::string& cmd, int* rc) {
  std::string out;
  FILE* f = popen(cmd.c_str(), "r");
  if (!f) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = pclose(f);
  *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return out;
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

perftools::profiles::Profile decode(const std::string& gz) {
  perftools::profiles::Profile p;
  EXPECT_TRUE(p.ParseFromString(gunzip(gz)));
  return p;
}

size_t count_of(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace

// ---- frames ------------------------------------------------------------------------------------

TEST(RenderFormats, FrameValuesPrintAndNameTheirFunction) {
  Frame f{0xffffffff81234568, "anon_pipe_write", 0x1a8, "", {}};
  EXPECT_EQ(f.text(), "anon_pipe_write+0x1a8");
  EXPECT_EQ(f.function_name(), "anon_pipe_write");
  f = Frame{0xffffffffc0a01010, "leak_init", 0x10, "leaky", {}};
  EXPECT_EQ(f.text(), "leak_init+0x10 [leaky]");
  EXPECT_EQ(f.function_name(), "leak_init [leaky]");
  f = Frame{0xffffffffc0a01234, "", 0, "", {}};
  EXPECT_FALSE(f.known());
  EXPECT_EQ(f.text(), "0xffffffffc0a01234");
  EXPECT_EQ(f.function_name(), "0xffffffffc0a01234");
  // A marker is its text, whatever it looks like: no renderer takes it apart.
  f = Frame::make_marker("[allocated before the window]");
  EXPECT_FALSE(f.known());
  EXPECT_EQ(f.function_name(), "[allocated before the window]");
  f = Frame::make_marker("looks_like+0x10 [a symbol]");
  EXPECT_FALSE(f.known());
  EXPECT_EQ(f.function_name(), "looks_like+0x10 [a symbol]");
}

TEST(RenderFormats, SanitizeUtf8) {
  EXPECT_EQ(sanitize_utf8("plain"), "plain");
  EXPECT_EQ(sanitize_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7");
  EXPECT_EQ(sanitize_utf8("a\xc3"), "a?");            // a comm cut in the middle of a character
  EXPECT_EQ(sanitize_utf8("\xff\xfe"), "??");
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "??");         // overlong '/'
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "???");    // a surrogate
  EXPECT_EQ(sanitize_utf8("a\nb\x01\tc\x7f"), "a\nb\x01\tc\x7f");  // valid UTF-8: pprof is exact
}

TEST(RenderFormats, FoldedFrameEscapes) {
  EXPECT_EQ(folded_frame("leak_init [leaky]"), "leak_init_[leaky]");
  EXPECT_EQ(folded_frame("comm=my prog;x"), "comm=my_prog:x");
  EXPECT_EQ(folded_frame("a\tb\nc"), "a\\tb\\nc");
}

TEST(RenderFormats, FlamePathPutsDimensionsUnderTheFrames) {
  Report r;
  r.by = {GroupBy::cgroup, GroupBy::cache};
  StackGroup g = group("slab", "slab", 100, 1, {}, "python3");
  g.group = {{"cache", "dentry"}, {"cgroup", "/demo app.scope"}};
  EXPECT_EQ(flame_path(r, g), (std::vector<std::string>{"[slab]", "cgroup=/demo app.scope", "cache=dentry"}));
  r.by = {GroupBy::stack, GroupBy::comm};
  g.group = {{"comm", "python3"}};
  g.frames = kleak::test::stack({"__d_alloc+0x2d", "d_alloc_parallel+0x39"});
  EXPECT_EQ(flame_path(r, g),
            (std::vector<std::string>{"[slab]", "comm=python3", "d_alloc_parallel", "__d_alloc"}));
}

// ---- folded ------------------------------------------------------------------------------------

TEST(RenderFormats, Folded) {
  Report r = sample_report();
  EXPECT_EQ(render_folded(r),
            "[kmalloc];entry_SYSCALL_64_after_hwframe;do_syscall_64;__do_sys_finit_module;load_module;"
            "do_init_module;do_one_initcall;leak_init_[leaky] 2097152\n"
            // The two pipe groups differ only in anon_pipe_write's offset: one line.
            "[page];entry_SYSCALL_64_after_hwframe;do_syscall_64;ksys_write;vfs_write;anon_pipe_write 31129600\n"
            "[slab];entry_SYSCALL_64_after_hwframe;do_syscall_64;ksys_write;vfs_write;ext4_block_write_begin;"
            "folio_alloc_buffers;alloc_buffer_head 881664\n");
  // Every line is "frames bytes" with no space inside the frames: what flamegraph.pl, inferno
  // and speedscope split on.
  std::regex line(R"(^[^ ;]+(;[^ ;]+)* [0-9]+$)");
  std::string text = render_folded(r);
  for (size_t s = 0, e; (e = text.find('\n', s)) != std::string::npos; s = e + 1)
    EXPECT_TRUE(std::regex_match(text.substr(s, e - s), line)) << text.substr(s, e - s);
  EXPECT_EQ(render_folded(Report{}), "");
}

TEST(RenderFormats, FoldedByCgroupAndComm) {
  Report r;
  r.by = {GroupBy::cgroup, GroupBy::comm};
  StackGroup g = group("slab", "slab", 3'900'000, 20000, {}, "python3");
  g.group = {{"cgroup", "/demo-app.scope"}, {"comm", "my worker;1"}};
  r.stacks = {g};
  EXPECT_EQ(render_folded(r), "[slab];cgroup=/demo-app.scope;comm=my_worker:1 3900000\n");
}

// ---- pprof -------------------------------------------------------------------------------------

TEST(RenderFormats, PprofStructure) {
  Report r = sample_report();
  std::string gz = render_pprof(r);
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);  // gzip
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  auto p = decode(gz);
  auto s = [&](int64_t i) { return p.string_table(static_cast<int>(i)); };
  ASSERT_GT(p.string_table_size(), 0);
  EXPECT_EQ(p.string_table(0), "");
  std::vector<std::string> types;
  for (const auto& t : p.sample_type()) types.push_back(s(t.type()) + "/" + s(t.unit()));
  EXPECT_EQ(types, (std::vector<std::string>{"alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
                                             "inuse_space/bytes"}));
  EXPECT_EQ(s(p.default_sample_type()), "inuse_space");
  EXPECT_EQ(s(p.period_type().type()), "space");
  EXPECT_EQ(s(p.period_type().unit()), "bytes");
  EXPECT_EQ(p.duration_nanos(), 20'100'000'000);

  std::map<uint64_t, const perftools::profiles::Mapping*> maps;
  std::set<std::string> map_files;
  for (const auto& m : p.mapping()) {
    maps[m.id()] = &m;
    map_files.insert(s(m.filename()));
    EXPECT_TRUE(m.has_functions());
  }
  EXPECT_EQ(map_files, (std::set<std::string>{"[kernel.kallsyms]", "[leaky]"}));
  std::map<uint64_t, std::string> fn;
  for (const auto& f : p.function()) fn[f.id()] = s(f.name());
  std::set<std::string> names;
  for (const auto& [id, n] : fn) names.insert(n);
  for (const char* want : {"anon_pipe_write", "vfs_write", "ksys_write", "do_syscall_64", "leak_init [leaky]"})
    EXPECT_TRUE(names.count(want)) << want;
  for (const auto& n : names) EXPECT_EQ(n.find("+0x"), std::string::npos) << n;
  EXPECT_EQ(fn.size(), names.size()) << "one Function per name";

  std::map<uint64_t, const perftools::profiles::Location*> locs;
  std::set<uint64_t> addrs;
  for (const auto& l : p.location()) {
    locs[l.id()] = &l;
    ASSERT_EQ(l.line_size(), 1);
    ASSERT_TRUE(maps.count(l.mapping_id()));
    const auto* m = maps[l.mapping_id()];
    EXPECT_GE(l.address(), m->memory_start());
    EXPECT_LT(l.address(), m->memory_limit());
    EXPECT_TRUE(addrs.insert(l.address()).second) << "addresses are distinct";
    std::string name = fn[l.line(0).function_id()];
    EXPECT_EQ(s(m->filename()), name == "leak_init [leaky]" ? "[leaky]" : "[kernel.kallsyms]");
  }
  // vfs_write+0x398 and vfs_write+0x22f: two locations, one function.
  EXPECT_EQ(p.location_size(), 18);

  ASSERT_EQ(p.sample_size(), 5);
  struct Want {
    std::string leaf, kind;
    std::vector<int64_t> values;
  };
  std::vector<Want> want = {{"anon_pipe_write", "page", {7600, 31'129'600, 7500, 30'720'000}},
                            {"leak_init [leaky]", "kmalloc", {8192, 2'097'152, 8192, 2'097'152}},
                            {"alloc_buffer_head", "slab", {9000, 935'000, 8484, 881'664}},
                            {"anon_pipe_write", "page", {100, 409'600, 100, 409'600}},
                            {"alloc_thread_stack_node", "vmalloc", {4, 65536, 0, 0}}};
  for (int i = 0; i < 5; ++i) {
    const auto& smp = p.sample(i);
    SCOPED_TRACE(i);
    EXPECT_EQ(std::vector<int64_t>(smp.value().begin(), smp.value().end()), want[i].values);
    ASSERT_GT(smp.location_id_size(), 0);
    EXPECT_EQ(fn[locs[smp.location_id(0)]->line(0).function_id()], want[i].leaf);
    EXPECT_EQ(static_cast<size_t>(smp.location_id_size()), r.stacks[i].frames.size());
    std::map<std::string, std::string> labels;
    for (const auto& l : smp.label()) labels[s(l.key())] = s(l.str());
    EXPECT_EQ(labels["kind"], want[i].kind);
    EXPECT_EQ(labels["category"], r.stacks[i].category);
    if (r.stacks[i].cache) EXPECT_EQ(labels["cache"], *r.stacks[i].cache);
    if (!r.stacks[i].comms.empty()) EXPECT_EQ(labels["comm"], r.stacks[i].comms[0].first);
  }
  EXPECT_EQ(p.sample(0).location_id(0) == p.sample(3).location_id(0), false);  // +0x1a8 vs +0x2f0
  EXPECT_EQ(p.sample(0).location_id(1), p.sample(3).location_id(1));            // vfs_write+0x398
}

TEST(RenderFormats, PprofDimensionsAndOddStrings) {
  Report r;
  r.by = {GroupBy::cgroup, GroupBy::cache};
  StackGroup g = group("slab", "slab", 4096, 1, {}, "bad\xc3");
  g.group = {{"cgroup", "/x\xff.scope"}, {"cache", "dentry"}};
  g.cache = "dentry";
  r.stacks = {g};
  auto p = decode(render_pprof(r));
  ASSERT_EQ(p.sample_size(), 1);
  std::vector<std::string> stack;
  for (uint64_t id : p.sample(0).location_id()) {
    const auto& l = p.location(static_cast<int>(id - 1));
    EXPECT_EQ(l.mapping_id(), 0u);
    stack.push_back(p.string_table(static_cast<int>(p.function(static_cast<int>(l.line(0).function_id() - 1)).name())));
  }
  EXPECT_EQ(stack, (std::vector<std::string>{"cache=dentry", "cgroup=/x?.scope"}));
  for (const auto& str : p.string_table()) EXPECT_EQ(sanitize_utf8(str), str);
}

TEST(RenderTools, PprofDecodesWithProtoc) {
  TempDir tmp;
  std::string raw = tmp.write("profile.pb", gunzip(render_pprof(sample_report())));
  int rc = 0;
  std::string out = run(std::string(KLEAK_PROTOC) + " --decode perftools.profiles.Profile -I " +
                            quote(KLEAK_PPROF_PROTO_DIR) + " pprof/profile.proto < " + quote(raw) + " 2>&1",
                        &rc);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("string_table: \"anon_pipe_write\""), std::string::npos) << out;
  EXPECT_NE(out.find("string_table: \"leak_init [leaky]\""), std::string::npos);
  EXPECT_NE(out.find("string_table: \"[kernel.kallsyms]\""), std::string::npos);
  EXPECT_NE(out.find("string_table: \"inuse_space\""), std::string::npos);
  EXPECT_NE(out.find("duration_nanos: 20100000000"), std::string::npos);
  EXPECT_EQ(count_of(out, "\nsample {"), 5u);
  EXPECT_EQ(count_of(out, "\nmapping {"), 2u);
  EXPECT_NE(out.find("  value: 30720000\n"), std::string::npos);
}

TEST(RenderTools, PprofReadByGoToolPprof) {
  REQUIRE_TOOL(go, "go");
  TempDir tmp;
  std::string file = tmp.write("kleak.pb.gz", render_pprof(sample_report()));
  std::string env = "env HOME=" + quote(tmp.path.string()) + " PPROF_TMPDIR=" + quote(tmp.path.string()) + " ";
  int rc = 0;
  std::string top = run(env + quote(go) + " tool pprof -unit=kB -top " + quote(file) + " 2>&1", &rc);
  ASSERT_EQ(rc, 0) << top;
  EXPECT_NE(top.find("Type: inuse_space"), std::string::npos) << top;
  EXPECT_NE(top.find("Duration: 20.10s"), std::string::npos) << top;
  // inuse_space: anon_pipe_write holds 30720000 + 409600 bytes = 30400kB, 91.27% of 34108416.
  std::regex pipe_row(R"(\n\s+30400kB\s+91\.27%\s+91\.27%\s+30400kB\s+91\.27%\s+anon_pipe_write\n)");
  EXPECT_TRUE(std::regex_search(top, pipe_row)) << top;
  EXPECT_NE(top.find("leak_init [leaky]\n"), std::string::npos) << top;
  EXPECT_NE(top.find("alloc_buffer_head\n"), std::string::npos) << top;
  EXPECT_EQ(top.find("alloc_thread_stack_node\n"), std::string::npos) << "nothing in use: not shown";

  std::string alloc = run(env + quote(go) + " tool pprof -unit=kB -sample_index=alloc_space -nodefraction=0 -top " + quote(file) + " 2>&1", &rc);
  ASSERT_EQ(rc, 0) << alloc;
  EXPECT_NE(alloc.find("Type: alloc_space"), std::string::npos) << alloc;
  EXPECT_NE(alloc.find("alloc_thread_stack_node\n"), std::string::npos) << alloc;
  std::regex churn_row(R"(\n\s+30800kB\s+[0-9.]+%\s+[0-9.]+%\s+30800kB\s+[0-9.]+%\s+anon_pipe_write\n)");
  EXPECT_TRUE(std::regex_search(alloc, churn_row)) << alloc;  // 31129600 + 409600 bytes

  std::string traces = run(env + quote(go) + " tool pprof -traces " + quote(file) + " 2>&1", &rc);
  ASSERT_EQ(rc, 0) << traces;
  for (const char* label : {R"(\bkind:\s+page\n)", R"(\bcache:\s+kmalloc-256\n)", R"(\bcomm:\s+kleak-planter\n)"})
    EXPECT_TRUE(std::regex_search(traces, std::regex(label))) << label << "\n" << traces;
  // Innermost first, as pprof prints stacks.
  std::regex stack(R"(leak_init \[leaky\]\n\s+do_one_initcall\n\s+do_init_module\n)");
  EXPECT_TRUE(std::regex_search(traces, stack)) << traces;
}

// ---- SVG ---------------------------------------------------------------------------------------

TEST(RenderFormats, SvgStructure) {
  Report r = sample_report();
  std::string svg = render_svg(r);
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("<svg version=\"1.1\" width=\"1200\""), std::string::npos);
  EXPECT_NE(svg.find("</svg>\n"), std::string::npos);
  // Self-contained: nothing fetched from anywhere.
  for (const char* ext : {"href=", "src=", "url(", "@import", "<image", "<foreignObject"})
    EXPECT_EQ(svg.find(ext), std::string::npos) << ext;
  // all, 3 kinds, then the merged frames: page 5, kmalloc 7, slab 7.
  EXPECT_EQ(count_of(svg, "<g class=\"f\">"), 1u + 3 + 5 + 7 + 7);
  EXPECT_NE(svg.find("<title>all (32.5 MiB, 34108416 bytes, 100.00%)</title><rect x=\"10.00\""), std::string::npos)
      << svg;
  EXPECT_NE(svg.find("<title>anon_pipe_write (29.7 MiB, 31129600 bytes, 91.27%)</title>"), std::string::npos);
  EXPECT_NE(svg.find("<title>leak_init [leaky] (2.0 MiB, 2097152 bytes, 6.15%)</title>"), std::string::npos);
  // Widths proportional to bytes: anon_pipe_write is 91.27% of 1180 px.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"re(<title>anon_pipe_write [^<]*</title><rect x="[0-9.]+" y="[0-9.]+" width="([0-9.]+)")re")));
  EXPECT_NEAR(std::stod(m[1]), 1180 * 31129600.0 / 34108416.0, 0.01);
  // Outermost at the bottom: [page] lies below entry_SYSCALL_64 lies below anon_pipe_write.
  auto y_of = [&](const std::string& title) {
    std::smatch mm;
    std::regex re("<title>" + title + R"re( \([^<]*</title><rect x="[0-9.]+" y="([0-9.]+)")re");
    EXPECT_TRUE(std::regex_search(svg, mm, re)) << title;
    return mm.empty() ? 0.0 : std::stod(mm[1]);
  };
  EXPECT_GT(y_of("all"), y_of(R"(\[page\])"));
  EXPECT_GT(y_of(R"(\[page\])"), y_of("entry_SYSCALL_64_after_hwframe"));
  EXPECT_GT(y_of("vfs_write"), y_of("anon_pipe_write"));
  // The legend names the kinds drawn.
  EXPECT_NE(svg.find(">kmalloc</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">vmalloc</text>"), std::string::npos) << "nothing outstanding: not drawn";
}

TEST(RenderFormats, SvgEscapesAndEmpty) {
  Report r;
  r.by = {GroupBy::comm};
  StackGroup g = group("slab", "slab", 100, 1, {}, "<x>");
  g.group = {{"comm", "<evil>&\"'\xff"}};
  r.stacks = {g};
  std::string svg = render_svg(r);
  EXPECT_NE(svg.find("<title>comm=&lt;evil&gt;&amp;&quot;&apos;\\xff (100 B"), std::string::npos) << svg;
  EXPECT_EQ(svg.find("<evil>"), std::string::npos);
  std::string empty = render_svg(Report{});
  EXPECT_NE(empty.find("no outstanding kernel allocations match"), std::string::npos);
  EXPECT_EQ(empty.find("<g class=\"f\">"), std::string::npos);
}

namespace {

// Chromium's --dump-dom of `url`: the document after its onload script ran.
std::string chromium_dom(const std::string& chromium, const TempDir& tmp, const std::string& url, int* rc) {
  fs::create_directories(tmp.path / "profile");
  return run("timeout 120 " + quote(chromium) +
                 " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                 " --disable-background-networking --disable-component-update --disable-sync"
                 " --user-data-dir=" + quote((tmp.path / "profile").string()) + " --dump-dom " + quote(url) +
                 " 2>" + quote((tmp.path / "chromium.log").string()),
             rc);
}

}  // namespace

TEST(RenderTools, SvgRendersInChromium) {
  REQUIRE_TOOL(chromium, "chromium");
  TempDir tmp;
  std::string svg = render_svg(sample_report());
  std::string file = tmp.write("kleak.svg", svg);
  int rc = 0;
  std::string dom = chromium_dom(chromium, tmp, "file://" + file, &rc);
  ASSERT_EQ(rc, 0) << dom;
  EXPECT_EQ(dom.find("parsererror"), std::string::npos) << "not well-formed XML:\n" << dom;
  EXPECT_NE(dom.find("data-ready=\"1\""), std::string::npos) << "the script did not run to its end:\n" << dom;
  // The planted stack's frames are drawn as text.
  for (const char* label : {">anon_pipe_write</text>", ">vfs_write</text>", ">ksys_write</text>",
                            ">do_syscall_64</text>", ">[page]</text>"})
    EXPECT_NE(dom.find(label), std::string::npos) << label << "\n" << dom;

  // Zoom on leak_init [leaky] through FlameGraph's URL parameters: it fills the width and gets
  // its whole name, the page stacks go.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"re(<title>leak_init \[leaky\] [^<]*</title><rect x="([0-9.]+)" y="([0-9.]+)")re")));
  std::string zoomed = chromium_dom(chromium, tmp, "file://" + file + "?x=" + m[1].str() + "&y=" + m[2].str(), &rc);
  ASSERT_EQ(rc, 0) << zoomed;
  EXPECT_NE(zoomed.find("data-zoomed=\"leak_init [leaky]\""), std::string::npos) << zoomed;
  std::regex full(R"(<title>leak_init \[leaky\] [^<]*</title><rect x="10.00" y="[0-9.]+" width="1180.00")");
  EXPECT_TRUE(std::regex_search(zoomed, full)) << zoomed;
  EXPECT_NE(zoomed.find(">leak_init [leaky]</text>"), std::string::npos) << zoomed;
  EXPECT_NE(zoomed.find("<g class=\"f hide\"><title>anon_pipe_write"), std::string::npos) << zoomed;
  EXPECT_NE(zoomed.find("<g class=\"f parent\"><title>[kmalloc]"), std::string::npos) << zoomed;

  // Search highlights and reports the share: vfs_write is in the page and the slab stacks.
  std::string searched = chromium_dom(chromium, tmp, "file://" + file + "?s=^vfs_write$", &rc);
  ASSERT_EQ(rc, 0) << searched;
  EXPECT_NE(searched.find("Matched: 93.9%"), std::string::npos) << searched;
}

namespace {

// Issue 23: what an unprivileged user (a comm set with prctl) or a hostile recording puts in the
// strings kleak prints.
constexpr std::string_view kEvilComm = "\x1b]0;PWN\a\x1b[2J";
constexpr std::string_view kEvilCommShown = "\\x1b]0;PWN\\a\\x1b[2J";

Report hostile_report() {
  Report r;
  r.kernel = "Linux \x1b[31mred";
  r.warnings = {"a warning with a bell\a"};
  r.by = {GroupBy::comm, GroupBy::cgroup};
  StackGroup g = group("page", "pipe", 4096, 1, {"anon_pipe_write+0x1a8", "evil\x1b[2Jsym+0x10 [mod\x07ule]"},
                       std::string(kEvilComm));
  g.group = {{"comm", std::string(kEvilComm)}, {"cgroup", "/x\n#1 fake line\x9b.scope"}};
  g.cache = "cache\x1b]2;t\a";
  r.stacks = {g};
  return r;
}

// No byte a terminal acts on: C0 controls but '\n', DEL, and C1 controls in UTF-8 (0xc2 0x80-0x9f).
::testing::AssertionResult terminal_safe(const std::string& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    auto c = static_cast<unsigned char>(out[i]);
    bool c1 = c == 0xc2 && i + 1 < out.size() && static_cast<unsigned char>(out[i + 1]) <= 0x9f &&
              static_cast<unsigned char>(out[i + 1]) >= 0x80;
    if ((c < 0x20 && c != '\n') || c == 0x7f || c1 || c == 0x9b)
      return ::testing::AssertionFailure() << "byte " << int(c) << " at " << i << " in:\n" << out;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST(TextEscape, ControlsAreShownAsCEscapes) {
  EXPECT_EQ(escape_text("plain name/with-dash"), "plain name/with-dash");
  EXPECT_EQ(escape_text(kEvilComm), kEvilCommShown);
  EXPECT_EQ(escape_text("a\tb\nc\rd\x7f\x01"), "a\\tb\\nc\\rd\\x7f\\x01");
  EXPECT_EQ(escape_text("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");  // UTF-8 text stays
  EXPECT_EQ(escape_text("a\xc3"), "a\\xc3");                                      // cut character
  EXPECT_EQ(escape_text("\xc2\x9b" "2J"), "\\xc2\\x9b2J");                        // C1 CSI
  EXPECT_EQ(escape_text("x\xe2\x80\xaey"), "x\\xe2\\x80\\xaey");                  // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(escape_text("system-systemd\\x2dfsck.slice"), "system-systemd\\x2dfsck.slice");  // as systemctl
  EXPECT_EQ(escape_lines("one\x1b\ntwo\n"), "one\\x1b\ntwo\n");
}

TEST(TextEscape, CappedForErrorMessages) {
  EXPECT_EQ(escape_capped("short", 100), "short");
  std::string big(32 << 10, '\xff');
  std::string out = escape_capped(big, 200);
  EXPECT_LE(out.size(), 200u + 32);
  EXPECT_TRUE(out.starts_with("\\xff\\xff"));
  EXPECT_TRUE(out.ends_with("... (32768 bytes)")) << out;
  EXPECT_EQ(out.find("\\xf."), std::string::npos) << "an escape cut in half: " << out;
  EXPECT_TRUE(terminal_safe(out));
}

TEST(TextEscape, TextFoldedSvgAndDiffShowHostileStringsEscaped) {
  Report r = hostile_report();
  std::string text = render_text(r);
  EXPECT_TRUE(terminal_safe(text));
  EXPECT_NE(text.find(std::string("comm=") + std::string(kEvilCommShown)), std::string::npos) << text;
  EXPECT_NE(text.find("cgroup=/x\\n#1 fake line\\x9b.scope"), std::string::npos) << text;
  EXPECT_NE(text.find("evil\\x1b[2Jsym+0x10 [mod\\aule]"), std::string::npos) << text;
  EXPECT_NE(text.find("cache=cache\\x1b]2;t\\a"), std::string::npos) << text;
  EXPECT_EQ(text.find("\n#1 fake"), std::string::npos) << "a cgroup path forged a line";
  EXPECT_TRUE(terminal_safe(render_folded(r)));
  EXPECT_NE(render_folded(r).find("comm=\\x1b]0:PWN\\a\\x1b[2J"), std::string::npos) << render_folded(r);
  std::string svg = render_svg(r);
  EXPECT_TRUE(terminal_safe(svg));
  EXPECT_NE(svg.find(std::string("comm=") + std::string(kEvilCommShown)), std::string::npos);
  ReportDiff d;
  d.a = "a\x1b.kleak";
  d.b = "b";
  d.rows.push_back({});
  d.rows[0].group = r.stacks[0];
  EXPECT_TRUE(terminal_safe(render_diff(d, "text")));
  EXPECT_NO_THROW(render_diff(d, "json"));
}

TEST(TextEscape, JsonAndPprofKeepTheExactBytes) {
  Report r = hostile_report();
  auto j = nlohmann::json::parse(render_json(r));
  EXPECT_EQ(j["stacks"][0]["comms"][0]["comm"], std::string(kEvilComm));
  EXPECT_EQ(j["stacks"][0]["group"]["comm"], std::string(kEvilComm));
  auto p = decode(render_pprof(r));
  bool found = false;
  for (const auto& str : p.string_table()) found |= str.find(kEvilComm) != std::string::npos;
  EXPECT_TRUE(found) << "pprof carries the comm as it is";
}
