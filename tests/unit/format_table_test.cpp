// The one --format mechanism (format_table.h): every subcommand's document has a table, an
// unknown name is the same one-line usage error, and the table renders what the renderers do.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kleak/doctor.h"
#include "kleak/error.h"
#include "kleak/format_table.h"
#include "kleak/gzip.h"
#include "kleak/hunt.h"
#include "kleak/meminfo.h"
#include "kleak/output_file.h"
#include "kleak/render.h"

namespace kleak {
namespace {

template <class Format>
std::string error_of(std::span<const Format> table, std::string_view name, std::string_view document) {
  try {
    find_format(table, name, document);
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
    return e.what();
  }
  return "";
}

TEST(FormatTable, AnUnknownFormatIsTheSameErrorInEveryDocument) {
  EXPECT_EQ(error_of(report_formats(), "xml", ""), "bad --format 'xml' (use text, json, folded, pprof or svg)");
  EXPECT_EQ(error_of(diff_formats(), "svg", "diff"), "bad --format 'svg' for diff (use text or json)");
  EXPECT_EQ(error_of(meminfo_formats(), "svg", "meminfo"), "bad --format 'svg' for meminfo (use text or json)");
  EXPECT_EQ(error_of(meminfo_diff_formats(), "pprof", "meminfo --diff"),
            "bad --format 'pprof' for meminfo --diff (use text or json)");
  EXPECT_EQ(error_of(meminfo_watch_formats(), "folded", "meminfo --watch"),
            "bad --format 'folded' for meminfo --watch (use text or json)");
  EXPECT_EQ(error_of(hunt_formats(), "svg", "hunt"), "bad --format 'svg' for hunt (use text or json)");
  EXPECT_EQ(error_of(doctor_formats(), "", "doctor"), "bad --format '' for doctor (use text or json)");
}

TEST(FormatTable, TablesRenderWhatTheRenderersDo) {
  Accounting a;
  RenderOptions opt;
  EXPECT_EQ(find_format(meminfo_formats(), "text", "").render(a, opt), render_text(a, opt));
  EXPECT_EQ(find_format(meminfo_formats(), "json", "").render(a, opt), render_json(a, opt));
  MeminfoDiff d;
  EXPECT_EQ(find_format(meminfo_diff_formats(), "text", "").render(d, opt), render_diff_text(d, opt));
  EXPECT_EQ(find_format(meminfo_diff_formats(), "json", "").render(d, opt), render_diff_json(d, opt));
  HuntReport hr;
  EXPECT_EQ(find_format(hunt_formats(), "text", "").render(hr), render_hunt_text(hr));
  EXPECT_EQ(find_format(hunt_formats(), "json", "").render(hr), render_hunt_json(hr));
  DoctorFacts f;
  DoctorVerdict v = judge(f);
  EXPECT_EQ(find_format(doctor_formats(), "text", "").render(f, v), render_doctor_text(f, v));
  EXPECT_EQ(find_format(doctor_formats(), "json", "").render(f, v), doctor_json(f, v).dump(2) + "\n");
}

TEST(FormatTable, WatchWritesAHeaderInTextAndJsonLinesPerSample) {
  Accounting base, now;
  now.unaccounted_kb = 12;
  MeminfoDiff d = diff_accountings(base, now);
  WatchStep header{0, "5s", &base};
  WatchStep sample{3, "5s", &base, &now, &d};
  const auto& text = find_format(meminfo_watch_formats(), "text", "");
  const auto& json = find_format(meminfo_watch_formats(), "json", "");
  EXPECT_EQ(text.render(header, {}).rfind("kleak meminfo --watch 5s: sampling ", 0), 0u);
  EXPECT_EQ(text.render(sample, {}).rfind("\n--- sample 3 (unaccounted now 12 kB) ---\n", 0), 0u);
  EXPECT_EQ(json.render(header, {}), "");
  std::string line = json.render(sample, {});
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find("\"sample\":3"), std::string::npos) << line;
  EXPECT_NE(line.find("\"unaccounted_kb\":12"), std::string::npos) << line;
}

TEST(FormatTable, TheSinkReplacesTheFileOnceThenAppends) {
  auto dir = std::filesystem::temp_directory_path() / ("kleak-sink-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string path = (dir / "out.txt").string();
  { std::ofstream(path) << "old contents\n"; }
  OutputSink out(path);
  out.check();
  out.write("first\n");
  out.write("second\n");
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all, "first\nsecond\n");
  EXPECT_FALSE(out.to_stdout());
  EXPECT_TRUE(OutputSink().to_stdout());
  std::filesystem::remove_all(dir);
}

TEST(Gzip, RoundTripsAndRefusesWhatIsNotGzip) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += std::to_string(i * 7919) + (i % 13 ? " " : "\n");
  std::string gz = gzip(data);
  EXPECT_LT(gz.size(), data.size());
  EXPECT_EQ(gz.substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(gunzip(gz), data);
  EXPECT_EQ(gzip(data), gz);  // the same bytes, the same stream
  EXPECT_EQ(gunzip(gzip("")), "");
  EXPECT_THROW(gunzip("not gzip at all"), Error);
  EXPECT_THROW(gunzip(gz.substr(0, gz.size() / 2)), Error);  // ends early
}

TEST(Utf8, SanitizeKeepsWellFormedTextAndControlsAndReplacesTheRest) {
  EXPECT_EQ(sanitize_utf8("plain \x1b[31m\t"), "plain \x1b[31m\t");
  EXPECT_EQ(sanitize_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(sanitize_utf8("\xff\xc3"), "??");                  // invalid byte, cut sequence
  EXPECT_EQ(sanitize_utf8("\xc0\xaf"), "??");                  // overlong
  EXPECT_EQ(sanitize_utf8("\xed\xa0\x80"), "???");             // surrogate
  EXPECT_EQ(sanitize_utf8("\xf4\x90\x80\x80"), "????");        // past U+10FFFF
}

}  // namespace
}  // namespace kleak
