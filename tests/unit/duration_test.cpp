#include "kleak/duration.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "kleak/error.h"

namespace kleak {
namespace {

using std::chrono::nanoseconds;
using namespace std::chrono_literals;

// The usage_error message for `text`; fails the test when parse_duration() accepts it.
std::string parse_error(std::string_view text, bool allow_zero = false) {
  try {
    nanoseconds d = parse_duration(text, allow_zero);
    ADD_FAILURE() << "'" << text << "' parsed as " << d.count() << "ns";
  } catch (const Error& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage) << text;
    return e.what();
  }
  return {};
}

TEST(ParseDuration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("90s"), 90s);
  EXPECT_EQ(parse_duration("10m"), 10min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("2d"), 48h);
}

TEST(ParseDuration, BareNumberIsSeconds) {
  EXPECT_EQ(parse_duration("90"), 90s);
  EXPECT_EQ(parse_duration("1"), 1s);
  EXPECT_EQ(parse_duration("1.5"), 1500ms);
}

TEST(ParseDuration, CompoundParts) {
  EXPECT_EQ(parse_duration("1h30m"), 90min);
  EXPECT_EQ(parse_duration("1d2h3m4s5ms"), 26h + 3min + 4s + 5ms);
  EXPECT_EQ(parse_duration("1m30s"), 90s);
  EXPECT_EQ(parse_duration("2h0m"), 2h);
}

TEST(ParseDuration, Fractions) {
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0.5h"), 30min);
  EXPECT_EQ(parse_duration(".5s"), 500ms);
  EXPECT_EQ(parse_duration("1.25ms"), nanoseconds(1'250'000));
  EXPECT_EQ(parse_duration("1m0.5s"), 60s + 500ms);
  EXPECT_EQ(parse_duration("0.000000001s"), 1ns);
  // Below a nanosecond is truncated, even with many digits.
  EXPECT_EQ(parse_duration("1.0000000019999999999999s"), 1s + 1ns);
  EXPECT_EQ(parse_duration("1.1d"), 26h + 24min);
}

TEST(ParseDuration, LeadingZerosAndLargeValues) {
  EXPECT_EQ(parse_duration("007s"), 7s);
  EXPECT_EQ(parse_duration("106751d"), 106751 * 24h);
  // INT64_MAX nanoseconds exactly, and one more.
  EXPECT_EQ(parse_duration("9223372036.854775807s"), nanoseconds::max());
  EXPECT_NE(parse_error("9223372036.854775808s").find("too large"), std::string::npos);
}

TEST(ParseDuration, Zero) {
  EXPECT_EQ(parse_duration("0", true), 0ns);
  EXPECT_EQ(parse_duration("0s", true), 0ns);
  EXPECT_EQ(parse_duration("0h0m", true), 0ns);
  EXPECT_NE(parse_error("0").find("greater than zero"), std::string::npos);
  EXPECT_NE(parse_error("0s").find("greater than zero"), std::string::npos);
  EXPECT_NE(parse_error("0.0000000001s").find("greater than zero"), std::string::npos);
}

struct BadDuration {
  const char* text;
  const char* why;
};

TEST(ParseDuration, RejectsWithOneLineNamingTheText) {
  const BadDuration cases[] = {
      {"", "empty"},
      {"-5s", "negative"},
      {"-1", "negative"},
      {"10x", "unknown unit 'x' (use ms, s, m, h, d)"},
      {"10sec", "unknown unit 'sec'"},
      {"5us", "unknown unit 'us'"},
      {"10S", "unknown unit 'S'"},
      {"m", "expected a number before 'm'"},
      {"ms", "expected a number before 'm'"},
      {"1s2", "missing unit after '2'"},
      {"1h30", "missing unit after '30'"},
      {" 5s", "unexpected character ' '"},
      {"5s ", "unexpected character ' '"},
      {"5 s", "unexpected character ' '"},
      {"+5s", "unexpected character '+'"},
      {"5s,", "unexpected character ','"},
      {"1.s", "expected digits after '.'"},
      {".", "expected digits after '.'"},
      {"1..5s", "expected digits after '.'"},
      {"30m1h", "unit 'h' out of order"},
      {"1s1s", "unit 's' out of order"},
      {"1e3s", "unknown unit 'e'"},
      {"106752d", "too large"},
      {"9223372036854775808", "too large"},
      {"99999999999999999999999999999999999999999s", "too large"},
      {"292y", "unknown unit 'y'"},
  };
  for (const BadDuration& c : cases) {
    const std::string message = parse_error(c.text);
    EXPECT_EQ(message.rfind("bad duration '" + std::string(c.text) + "': ", 0), 0u) << message;
    EXPECT_NE(message.find(c.why), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(ParseDuration, ExactMessageForUnknownUnit) {
  EXPECT_EQ(parse_error("10x"), "bad duration '10x': unknown unit 'x' (use ms, s, m, h, d)");
}

TEST(FormatDuration, ShortText) {
  EXPECT_EQ(format_duration(0ns), "0s");
  EXPECT_EQ(format_duration(90s), "1m30s");
  EXPECT_EQ(format_duration(10min), "10m");
  EXPECT_EQ(format_duration(500ms), "500ms");
  EXPECT_EQ(format_duration(2h), "2h");
  EXPECT_EQ(format_duration(48h), "2d");
  EXPECT_EQ(format_duration(26h + 3min + 4s), "1d2h3m4s");
  EXPECT_EQ(format_duration(1500ms), "1.5s");
  EXPECT_EQ(format_duration(90s + 250ms), "1m30.25s");
  EXPECT_EQ(format_duration(60s + 500ms), "1m500ms");
  EXPECT_EQ(format_duration(1ns), "0.000001ms");
  EXPECT_EQ(format_duration(1'500'000ns), "1.5ms");
  EXPECT_EQ(format_duration(1s + 1ns), "1.000000001s");
  EXPECT_EQ(format_duration(-90s), "-1m30s");
  EXPECT_EQ(format_duration(nanoseconds::min()).front(), '-');
}

TEST(FormatDuration, ParsesBackToTheSameValue) {
  std::mt19937_64 rng(20240601);
  std::vector<int64_t> values = {1,
                                 999,
                                 1'000'000,
                                 999'999'999,
                                 1'000'000'000,
                                 86'400'000'000'000,
                                 std::numeric_limits<int64_t>::max()};
  for (int i = 0; i < 2000; ++i) {
    // Mix magnitudes: uniform over the number of significant bits.
    const int bits = static_cast<int>(rng() % 63) + 1;
    values.push_back(static_cast<int64_t>(rng() >> (64 - bits)) | 1);
    values.push_back(static_cast<int64_t>((rng() % 100000) * 1'000'000));  // whole milliseconds
  }
  for (int64_t v : values) {
    if (v <= 0) continue;
    const std::string text = format_duration(nanoseconds(v));
    EXPECT_EQ(parse_duration(text), nanoseconds(v)) << text;
  }
}

}  // namespace
}  // namespace kleak
