// One grammar for every option that takes bytes (byte_size.h): --min-size/--max-size took KiB
// while --min-growth did not.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "cli/view_options.h"
#include "kleak/byte_size.h"
#include "kleak/error.h"

namespace kleak {
namespace {

TEST(ByteSize, AcceptsBytesAndTheBinaryUnits) {
  EXPECT_EQ(parse_bytes("0"), 0u);
  EXPECT_EQ(parse_bytes("4096"), 4096u);
  for (const char* k : {"4k", "4K", "4KiB"}) EXPECT_EQ(parse_bytes(k), 4096u) << k;
  for (const char* m : {"1M", "1MiB"}) EXPECT_EQ(parse_bytes(m), 1u << 20) << m;
  for (const char* g : {"2G", "2GiB"}) EXPECT_EQ(parse_bytes(g), uint64_t{2} << 30) << g;
  EXPECT_EQ(parse_bytes("1.5k"), 1536u);
  EXPECT_EQ(parse_bytes("0.25M"), uint64_t{1} << 18);
  EXPECT_EQ(parse_bytes("18446744073709551615"), std::numeric_limits<uint64_t>::max());
}

TEST(ByteSize, RefusesWhatIsNotASize) {
  for (const char* bad : {"", "k", "-1", "+1", " 1", "1 ", "1X", "1kb", "1KB", "1m", "1Ki", "0x10", "1e3", "1.",
                          ".5", "1.5.5", "inf", "nan", "lots"})
    EXPECT_EQ(parse_bytes_real(bad), std::nullopt) << bad;
}

TEST(ByteSize, WholeBytesOnlyAndNoOverflow) {
  EXPECT_EQ(parse_bytes("0.5"), std::nullopt);
  EXPECT_EQ(parse_bytes("1.0001k"), std::nullopt);
  EXPECT_EQ(parse_bytes("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_bytes("17179869184G"), std::nullopt);  // 2^64
  EXPECT_DOUBLE_EQ(*parse_bytes_real("0.5"), 0.5);
  EXPECT_DOUBLE_EQ(*parse_bytes_real("1.5M"), 1.5 * 1024 * 1024);
}

// --min-growth reads the forms --min-size reads (parse_size is parse_bytes): KiB is 1024 bytes.
TEST(ByteSize, SizeAndRateOptionsAgree) {
  for (const char* text : {"4096", "4k", "4K", "4KiB", "1M", "1MiB", "1G", "1GiB", "1.5k"}) {
    EXPECT_DOUBLE_EQ(parse_rate_kb(text) * 1024, static_cast<double>(*parse_bytes(text))) << text;
  }
  EXPECT_DOUBLE_EQ(parse_rate_kb("256KiB"), 256);
  EXPECT_DOUBLE_EQ(parse_rate_kb("512"), 0.5);
  for (const char* bad : {"fast", "-1", "1e3", "4X"}) {
    EXPECT_THROW(parse_rate_kb(bad), Error) << bad;
    EXPECT_EQ(parse_bytes(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace kleak
