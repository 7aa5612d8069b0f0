#include "kleak/filter.h"

#include <fnmatch.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "kleak/error.h"
#include "kleak/kind.h"

// Counts heap allocations on this thread, to prove Filter::matches() makes none.
namespace {
thread_local long g_filter_test_allocations = 0;
}
// noinline: GCC otherwise pairs an inlined free() with operator new and warns.
[[gnu::noinline]] void* operator new(std::size_t size) {
  ++g_filter_test_allocations;
  if (void* p = std::malloc(size ? size : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace kleak {
namespace {

FilterFields record() {
  FilterFields r;
  r.bytes_req = 300;
  r.bytes_alloc = 512;
  r.order = 0;
  r.gfp_flags = 0xcc0;
  r.pid = 42;
  r.tid = 43;
  r.call_site = 0xffffffff81234567;
  r.migratetype = -1;
  r.cache = "kmalloc-512";
  r.comm = "kworker/0:1";
  r.kind = "kmalloc";
  return r;
}

bool match(std::string_view text, const FilterFields& r = record()) {
  return Filter::parse(text).matches(r);
}

// ---- kinds ------------------------------------------------------------------------------------

TEST(Kind, NamesRoundTrip) {
  for (int k = KLEAK_KIND_KMALLOC; k < KLEAK_KIND_MAX; ++k) {
    const auto kind = static_cast<kleak_kind>(k);
    EXPECT_EQ(kind_from_name(kind_name(kind)), kind);
  }
  EXPECT_EQ(kind_name(KLEAK_KIND_KMALLOC), "kmalloc");
  EXPECT_EQ(kind_name(KLEAK_KIND_SLAB), "slab");
  EXPECT_EQ(kind_name(KLEAK_KIND_PAGE), "page");
  EXPECT_EQ(kind_name(KLEAK_KIND_VMALLOC), "vmalloc");
  EXPECT_EQ(kind_name(KLEAK_KIND_PERCPU), "percpu");
  EXPECT_EQ(kind_name(KLEAK_KIND_NONE), "none");
  EXPECT_EQ(kind_name(KLEAK_KIND_MAX), "unknown");
  EXPECT_EQ(kind_from_name("none"), std::nullopt);
  EXPECT_EQ(kind_from_name("Slab"), std::nullopt);
  EXPECT_EQ(kind_from_name(""), std::nullopt);
}

TEST(Kind, Mask) {
  EXPECT_EQ(kind_bit(KLEAK_KIND_KMALLOC), 1u << 1);
  EXPECT_EQ(kAllKindsMask, 0x3eu);
}

TEST(Kind, ParseKinds) {
  EXPECT_EQ(parse_kinds("kmalloc"), kind_bit(KLEAK_KIND_KMALLOC));
  EXPECT_EQ(parse_kinds("kmalloc,slab"), kind_bit(KLEAK_KIND_KMALLOC) | kind_bit(KLEAK_KIND_SLAB));
  EXPECT_EQ(parse_kinds(" page , vmalloc "),
            kind_bit(KLEAK_KIND_PAGE) | kind_bit(KLEAK_KIND_VMALLOC));
  EXPECT_EQ(parse_kinds("slab,slab"), kind_bit(KLEAK_KIND_SLAB));
  EXPECT_EQ(parse_kinds("kmalloc,slab,page,vmalloc,percpu"), kAllKindsMask);
  EXPECT_EQ(kinds_to_string(parse_kinds("percpu,kmalloc")), "kmalloc,percpu");
  EXPECT_EQ(kinds_to_string(kAllKindsMask), "kmalloc,slab,page,vmalloc,percpu");
  EXPECT_EQ(kinds_to_string(0), "");
}

TEST(Kind, ParseKindsRejects) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "empty"},
      {"  ", "empty"},
      {"kmalloc,", "empty name"},
      {",slab", "empty name"},
      {"kmalloc,,slab", "empty name"},
      {"kmalloc,slob", "unknown kind 'slob' (use kmalloc, slab, page, vmalloc, percpu)"},
      {"none", "unknown kind 'none'"},
  };
  for (const auto& [text, why] : cases) {
    try {
      parse_kinds(text);
      ADD_FAILURE() << "accepted '" << text << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitUsage);
      const std::string message = e.what();
      EXPECT_EQ(message.rfind("bad kind list '" + std::string(text) + "': ", 0), 0u) << message;
      EXPECT_NE(message.find(why), std::string::npos) << message;
    }
  }
}

// ---- evaluation -------------------------------------------------------------------------------

TEST(Filter, MatchAll) {
  EXPECT_TRUE(Filter().is_match_all());
  EXPECT_TRUE(Filter::match_all().matches(record()));
  EXPECT_TRUE(Filter::parse("").is_match_all());
  EXPECT_TRUE(Filter::parse(" \t\n").is_match_all());
  EXPECT_EQ(Filter::match_all().to_string(), "");
  EXPECT_EQ(Filter::match_all().prefilter(), BpfPrefilter{});
  EXPECT_FALSE(Filter::parse("pid == 42").is_match_all());
}

TEST(Filter, NumericOperators) {
  EXPECT_TRUE(match("bytes_req == 300"));
  EXPECT_FALSE(match("bytes_req == 301"));
  EXPECT_TRUE(match("bytes_req != 301"));
  EXPECT_FALSE(match("bytes_req != 300"));
  EXPECT_TRUE(match("bytes_req < 301"));
  EXPECT_FALSE(match("bytes_req < 300"));
  EXPECT_TRUE(match("bytes_req <= 300"));
  EXPECT_FALSE(match("bytes_req <= 299"));
  EXPECT_TRUE(match("bytes_req > 299"));
  EXPECT_FALSE(match("bytes_req > 300"));
  EXPECT_TRUE(match("bytes_req >= 300"));
  EXPECT_FALSE(match("bytes_req >= 301"));
}

TEST(Filter, EveryNumericField) {
  EXPECT_TRUE(match("bytes_alloc == 512"));
  EXPECT_TRUE(match("order == 0"));
  EXPECT_TRUE(match("gfp_flags == 0xcc0"));
  EXPECT_TRUE(match("pid == 42"));
  EXPECT_TRUE(match("tid == 43"));
  EXPECT_TRUE(match("call_site == 0xffffffff81234567"));
  EXPECT_TRUE(match("call_site == 18446744071581156711"));
  EXPECT_TRUE(match("migratetype == -1"));
}

TEST(Filter, BitTest) {
  EXPECT_TRUE(match("gfp_flags & 0x400"));  // 0xcc0 has 0x400
  EXPECT_TRUE(match("gfp_flags & 0x401"));  // any bit is enough
  EXPECT_FALSE(match("gfp_flags & 0x1"));
  EXPECT_FALSE(match("gfp_flags & 0"));
  EXPECT_TRUE(match("!(gfp_flags & 0x1)"));
  EXPECT_TRUE(match("migratetype & 0x8000000000000000"));  // -1 has every bit
}

TEST(Filter, SignedField) {
  FilterFields r = record();
  EXPECT_TRUE(match("migratetype < 0", r));
  EXPECT_TRUE(match("migratetype <= -1", r));
  EXPECT_FALSE(match("migratetype > -1", r));
  EXPECT_TRUE(match("migratetype < 18446744073709551615", r));  // -1 is not 2^64-1
  EXPECT_FALSE(match("migratetype == 18446744073709551615", r));
  EXPECT_TRUE(match("migratetype > -9223372036854775808", r));
  EXPECT_TRUE(match("migratetype == -0x1", r));
  r.migratetype = 2;
  EXPECT_TRUE(match("migratetype >= 0 && migratetype < 3", r));
  EXPECT_TRUE(match("migratetype > -5", r));
  r.migratetype = std::numeric_limits<int64_t>::min();
  EXPECT_TRUE(match("migratetype == -9223372036854775808", r));
  EXPECT_TRUE(match("migratetype < -9223372036854775807", r));
}

TEST(Filter, HexAndDecimal) {
  EXPECT_TRUE(match("bytes_req == 0x12c"));
  EXPECT_TRUE(match("bytes_req == 0X12C"));
  EXPECT_TRUE(match("bytes_req == 0x000012c"));
  EXPECT_TRUE(match("bytes_req == 0300"));  // decimal, not octal
  EXPECT_TRUE(match("call_site <= 0xffffffffffffffff"));
  EXPECT_TRUE(match("call_site <= 18446744073709551615"));
}

TEST(Filter, EveryStringField) {
  EXPECT_TRUE(match("cache == \"kmalloc-512\""));
  EXPECT_TRUE(match("comm == \"kworker/0:1\""));
  EXPECT_TRUE(match("kind == \"kmalloc\""));
  EXPECT_FALSE(match("kind == \"slab\""));
  EXPECT_TRUE(match("kind != \"slab\""));
  EXPECT_FALSE(match("comm != \"kworker/0:1\""));
  FilterFields r = record();
  r.cache = "";
  EXPECT_TRUE(match("cache == \"\"", r));
  EXPECT_FALSE(match("cache != ''", r));
}

TEST(Filter, Quoting) {
  EXPECT_TRUE(match("comm == 'kworker/0:1'"));
  FilterFields r = record();
  r.comm = "a\"b";
  EXPECT_TRUE(match("comm == 'a\"b'", r));
  EXPECT_TRUE(match("comm == \"a\\\"b\"", r));
  r.comm = "it's";
  EXPECT_TRUE(match("comm == \"it's\"", r));
  EXPECT_TRUE(match("comm == 'it\\'s'", r));
  r.comm = "a\\b";
  EXPECT_TRUE(match("comm == \"a\\\\b\"", r));
  EXPECT_TRUE(match("comm == \"a\\b\"", r));  // a backslash before anything else is itself
  r.comm = "a b&&c";
  EXPECT_TRUE(match("comm == \"a b&&c\"", r));
}

TEST(Filter, Globs) {
  const auto glob = [](std::string_view pattern, std::string_view comm) {
    FilterFields r = record();
    r.comm = comm;
    return Filter::parse("comm ~ " + filter_quote(pattern)).matches(r);
  };
  EXPECT_TRUE(glob("kworker*", "kworker/0:1"));
  EXPECT_TRUE(glob("kworker*", "kworker"));
  EXPECT_FALSE(glob("kworker*", "kworke"));
  EXPECT_TRUE(glob("*sh", "bash"));
  EXPECT_TRUE(glob("*as*", "bash"));
  EXPECT_FALSE(glob("*sh", "sshd"));
  EXPECT_TRUE(glob("*", ""));
  EXPECT_TRUE(glob("", ""));
  EXPECT_FALSE(glob("", "a"));
  EXPECT_TRUE(glob("b?sh", "bash"));
  EXPECT_FALSE(glob("b?sh", "bsh"));
  EXPECT_TRUE(glob("[bd]ash", "dash"));
  EXPECT_FALSE(glob("[bd]ash", "zash"));
  EXPECT_TRUE(glob("[a-c]ash", "bash"));
  EXPECT_FALSE(glob("[a-c]ash", "dash"));
  EXPECT_TRUE(glob("[!b]ash", "dash"));
  EXPECT_FALSE(glob("[!b]ash", "bash"));
  EXPECT_TRUE(glob("[^b]ash", "dash"));
  EXPECT_TRUE(glob("[]]x", "]x"));  // ']' first in a class is a member
  EXPECT_TRUE(glob("[!]]x", "ax"));
  EXPECT_TRUE(glob("[a-]x", "-x"));  // '-' last is a member
  EXPECT_TRUE(glob("a*b*c", "aXXbYYbZZc"));
  EXPECT_FALSE(glob("a*b*c", "aXXbYYbZZ"));
  EXPECT_TRUE(glob("*a*a*a*", "aaa"));
  EXPECT_FALSE(glob("*a*a*a*a", "aaa"));
  EXPECT_TRUE(glob("[*]", "*"));
  EXPECT_FALSE(glob("[*]", "x"));
  EXPECT_TRUE(glob("**", "x"));
  // Against the string fields other than comm.
  EXPECT_TRUE(match("cache ~ \"kmalloc-*\""));
  EXPECT_TRUE(match("kind ~ \"*malloc\""));
}

TEST(Filter, Logic) {
  EXPECT_TRUE(match("pid == 42 && tid == 43"));
  EXPECT_FALSE(match("pid == 42 && tid == 44"));
  EXPECT_TRUE(match("pid == 1 || tid == 43"));
  EXPECT_FALSE(match("pid == 1 || tid == 1"));
  EXPECT_TRUE(match("!(pid == 1)"));
  EXPECT_FALSE(match("!(pid == 42)"));
  EXPECT_TRUE(match("!!(pid == 42)"));
  EXPECT_TRUE(match("pid == 1 || pid == 2 || pid == 3 || pid == 42"));
  EXPECT_TRUE(match("pid > 0 && pid > 1 && pid > 2 && pid < 100"));
}

TEST(Filter, Precedence) {
  // && binds tighter than ||: true || (false && false)
  EXPECT_TRUE(match("pid == 42 || pid == 1 && tid == 1"));
  // (false && false) || true
  EXPECT_TRUE(match("pid == 1 && tid == 1 || pid == 42"));
  // Parentheses override: (true || false) && false
  EXPECT_FALSE(match("(pid == 42 || pid == 1) && tid == 1"));
  // ! binds tighter than &&: (!true) && true
  EXPECT_FALSE(match("!pid == 42 && tid == 43"));
  // ! applies to the comparison after it, as in ftrace: !(pid == 1)
  EXPECT_TRUE(match("!pid == 1"));
  // ! before a group
  EXPECT_FALSE(match("!(pid == 1 || tid == 43)"));
  EXPECT_TRUE(match("!(pid == 1 || tid == 1) && !(pid == 2)"));
}

TEST(Filter, Parentheses) {
  EXPECT_TRUE(match("(pid == 42)"));
  EXPECT_TRUE(match("((((pid == 42))))"));
  EXPECT_TRUE(match("(pid == 42) && ((tid == 43) || (tid == 1))"));
  EXPECT_FALSE(match("(pid == 42 && (tid == 1 || tid == 2))"));
}

TEST(Filter, Whitespace) {
  EXPECT_TRUE(match("bytes_req>=256&&bytes_req<=512"));
  EXPECT_TRUE(match("  bytes_req\t>=\n256  &&bytes_req <= 512 "));
  EXPECT_TRUE(match("!(pid==1)&&comm~\"kw*\"||pid==0"));
  EXPECT_TRUE(match("gfp_flags&0x400"));
}

TEST(Filter, LiteralOnTheLeft) {
  EXPECT_TRUE(match("256 <= bytes_req"));
  EXPECT_TRUE(match("301 > bytes_req"));
  EXPECT_FALSE(match("300 < bytes_req"));
  EXPECT_TRUE(match("300 == bytes_req"));
  EXPECT_TRUE(match("0x400 & gfp_flags"));
  EXPECT_TRUE(match("\"kmalloc\" == kind"));
  EXPECT_TRUE(match("'bash' != comm"));
  EXPECT_EQ(Filter::parse("256 <= bytes_req").to_string(), "bytes_req >= 256");
}

TEST(Filter, CopiesShareTheParsedForm) {
  Filter a = Filter::parse("pid == 42");
  Filter b = a;
  a = Filter::parse("pid == 1");
  EXPECT_TRUE(b.matches(record()));
  EXPECT_FALSE(a.matches(record()));
}

TEST(Filter, MatchesDoesNotAllocate) {
  const Filter f = Filter::parse(
      "(bytes_req >= 256 && bytes_req <= 512 || cache ~ \"kmalloc-*\") && !(comm ~ \"[!k]*\") &&"
      " kind != \"page\" && gfp_flags & 0x400 && migratetype < 0 || pid == 1");
  const FilterFields r = record();
  bool all = true;
  const long before = g_filter_test_allocations;
  for (int i = 0; i < 1000; ++i) all = all && f.matches(r);
  EXPECT_EQ(g_filter_test_allocations, before);
  EXPECT_TRUE(all);
}

// ---- errors -----------------------------------------------------------------------------------

struct BadFilter {
  std::string text;
  int column;
  const char* why;
};

TEST(Filter, ErrorsNameTheColumnAndTheText) {
  const BadFilter cases[] = {
      // unknown field
      {"foo == 1", 1,
       "unknown field 'foo' (fields: bytes_req, bytes_alloc, order, gfp_flags, pid,"
       " tid, call_site, migratetype, cache, comm, kind, cgroup)"},
      {"pid == 1 && Pid == 2", 13, "unknown field 'Pid'"},
      // string operator on a numeric field, numeric operator on a string field
      {"bytes_req ~ \"a\"", 11, "'~' does not apply to numeric field 'bytes_req'"},
      {"comm < \"a\"", 6, "'<' does not apply to string field 'comm' (use ==, !=, ~)"},
      {"comm >= \"a\"", 6, "'>=' does not apply to string field 'comm'"},
      {"cache & \"a\"", 7, "'&' does not apply to string field 'cache'"},
      // operand of the wrong type
      {"bytes_req == \"a\"", 14, "expected a number after '==', found '\"a\"'"},
      {"comm == 5", 9, "expected a quoted string after '==', found '5'"},
      {"comm == bash", 9, "found 'bash' (write \"bash\")"},
      {"5 == comm", 1, "expected a quoted string to compare with string field 'comm'"},
      {"\"x\" == pid", 1, "expected a number to compare with numeric field 'pid'"},
      {"bytes_req > -1", 13, "'bytes_req' is never negative"},
      // unterminated string
      {"comm == \"bash", 9, "unterminated string"},
      {"comm == 'bash\"", 9, "unterminated string"},
      {"comm == \"bash\\\"", 9, "unterminated string"},
      // missing operand
      {"bytes_req >= ", 14, "expected a number after '>=', found end of filter"},
      {"bytes_req >=", 13, "expected a number after '>='"},
      {"bytes_req", 10, "expected an operator (==, !=, <, <=, >, >=, &) after 'bytes_req'"},
      {"pid 1", 5, "expected an operator"},
      {"comm", 5, "expected an operator (==, !=, ~) after 'comm'"},
      {"5 == 6", 6, "expected a field name after '=='"},
      {"5", 2, "expected an operator after '5'"},
      {"pid == 1 &&", 12, "expected a field name, '(' or '!' after '&&', found end of filter"},
      {"pid == 1 || || pid == 2", 13, "expected a field name, '(' or '!' after '||', found '||'"},
      {"&& pid == 1", 1, "expected a field name, '(' or '!', found '&&'"},
      {"!", 2, "expected a field name, '(' or '!' after '!', found end of filter"},
      {"()", 2, "expected a field name, '(' or '!' after '(', found ')'"},
      // unbalanced parentheses
      {"(pid == 1", 10, "expected '&&', '||' or ')' to close the '(' at column 1"},
      {"((pid == 1)", 12, "to close the '(' at column 1"},
      {"(pid == 1 && (tid == 2)", 24, "to close the '(' at column 1"},
      {"pid == 1)", 9, "unmatched ')'"},
      {"(pid == 1))", 11, "unmatched ')'"},
      // trailing junk
      {"pid == 1 pid == 2", 10, "expected '&&', '||' or end of filter, found 'pid'"},
      {"pid == 1 2", 10, "expected '&&', '||' or end of filter, found '2'"},
      {"pid == 1 $", 10, "unexpected character '$'"},
      {"pid == 1;", 9, "unexpected character ';'"},
      {"pid == 1 \xc3\xa9", 10, "unexpected non-ASCII character"},
      // single-character mistakes
      {"pid = 1", 5, "unexpected '=' (compare with '==')"},
      {"pid == 1 | pid == 2", 10, "unexpected '|' (logical or is '||')"},
      {"pid == 1 & & pid == 2", 10, "expected '&&', '||' or end of filter, found '&'"},
      {"\"x\" ~ comm", 5, "the pattern goes right of '~'"},
      // numbers
      {"bytes_req > 4k", 13, "bad number '4k' (use decimal or 0x hex, without suffixes)"},
      {"bytes_req > 1M", 13, "bad number '1M'"},
      {"bytes_req > 0x", 13, "bad number '0x'"},
      {"bytes_req > 0xfg", 13, "bad number '0xfg'"},
      {"bytes_req > 1.5", 13, "bad number '1.5'"},
      {"bytes_req > 99999999999999999999", 13, "number '99999999999999999999' is out of range"},
      {"bytes_req > 0x10000000000000000", 13, "is out of range"},
      {"migratetype == -9223372036854775809", 16, "is out of range"},
      {"pid == -", 8, "unexpected character '-'"},
      // string values
      {"kind == \"slob\"", 9, "unknown kind 'slob' (use kmalloc, slab, page, vmalloc, percpu)"},
      {"\"slob\" != kind", 1, "unknown kind"},
      {"comm ~ \"[abc\"", 8, "unterminated '[' in pattern"},
      {"comm ~ \"x[]\"", 8, "unterminated '['"},
  };
  for (const BadFilter& c : cases) {
    try {
      Filter::parse(c.text);
      ADD_FAILURE() << "accepted: " << c.text;
    } catch (const Error& e) {
      EXPECT_EQ(e.exit_code(), kExitUsage);
      const std::string message = e.what();
      const std::string prefix = "bad filter at column " + std::to_string(c.column) + ": ";
      EXPECT_EQ(message.rfind(prefix, 0), 0u) << c.text << "\n  " << message;
      EXPECT_NE(message.find(c.why), std::string::npos) << c.text << "\n  " << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
      // The offending filter is quoted at the end (control characters shown as spaces).
      std::string shown = c.text;
      for (char& ch : shown)
        if (ch == '\n' || ch == '\t') ch = ' ';
      EXPECT_NE(message.find(" in '" + shown + "'"), std::string::npos) << message;
    }
  }
}

TEST(Filter, ExactErrorMessage) {
  try {
    Filter::parse("bytes_req >= ");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "bad filter at column 14: expected a number after '>=', found end of filter in "
                 "'bytes_req >= '");
  }
}

TEST(Filter, NestingLimit) {
  std::string ok = std::string(64, '(') + "pid == 42" + std::string(64, ')');
  EXPECT_TRUE(match(ok));
  std::string deep = std::string(65, '(') + "pid == 42" + std::string(65, ')');
  EXPECT_THROW(Filter::parse(deep), Error);
  std::string bangs = std::string(1000, '!') + "pid == 42";
  try {
    Filter::parse(bangs);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("column 65: nested too deeply"), std::string::npos)
        << e.what();
  }
  // "!(" is one level, so the canonical text of a filter at the limit parses back.
  for (const std::string& text :
       {std::string(64, '!') + "pid == 42", std::string(64, '!') + "(pid == 1 || pid == 42)", [] {
          std::string t;
          for (int i = 0; i < 64; ++i) t += "!(";
          return t + "pid == 42" + std::string(64, ')');
        }()}) {
    const Filter f = Filter::parse(text);
    EXPECT_EQ(Filter::parse(f.to_string()).to_string(), f.to_string());
    EXPECT_TRUE(f.matches(record())) << text;
  }
  // Long flat chains are fine: they are one level.
  std::string chain = "pid == 42";
  for (int i = 0; i < 5000; ++i) chain += " && pid != " + std::to_string(i + 1000);
  EXPECT_TRUE(match(chain));
}

// ---- to_string --------------------------------------------------------------------------------

TEST(Filter, ToStringIsCanonical) {
  const std::pair<const char*, const char*> cases[] = {
      {"bytes_req>=256&&bytes_req<=512", "bytes_req >= 256 && bytes_req <= 512"},
      {"pid == 1 || pid == 2 && pid == 3", "pid == 1 || pid == 2 && pid == 3"},
      {"(pid == 1 || pid == 2) && pid == 3", "(pid == 1 || pid == 2) && pid == 3"},
      {"pid == 1 || (pid == 2 && pid == 3)", "pid == 1 || pid == 2 && pid == 3"},
      {"(pid == 1 && pid == 2) && pid == 3", "pid == 1 && pid == 2 && pid == 3"},
      {"pid == 1 && (pid == 2 && pid == 3)", "pid == 1 && pid == 2 && pid == 3"},
      {"(pid == 1 || pid == 2) || pid == 3", "pid == 1 || pid == 2 || pid == 3"},
      {"((pid == 1))", "pid == 1"},
      {"!pid == 1", "!(pid == 1)"},
      {"!!pid == 1", "!!(pid == 1)"},
      {"!(pid == 1 || pid == 2)", "!(pid == 1 || pid == 2)"},
      {"gfp_flags & 0X400", "gfp_flags & 0x400"},
      {"gfp_flags&0xABC", "gfp_flags & 0xabc"},
      {"256 <= bytes_req", "bytes_req >= 256"},
      {"0x10 > bytes_req", "bytes_req < 0x10"},
      {"migratetype == -1", "migratetype == -1"},
      {"migratetype > -0x10", "migratetype > -0x10"},
      {"migratetype == -0", "migratetype == 0"},
      {"bytes_req == 007", "bytes_req == 7"},
      {"comm ~ 'kworker*'", "comm ~ \"kworker*\""},
      {"comm == 'a\"b'", "comm == \"a\\\"b\""},
      {"comm == 'a\\b'", "comm == \"a\\\\b\""},
      {"kind != \"page\"", "kind != \"page\""},
  };
  for (const auto& [text, canonical] : cases) {
    const Filter f = Filter::parse(text);
    EXPECT_EQ(f.to_string(), canonical) << text;
    EXPECT_EQ(Filter::parse(f.to_string()).to_string(), canonical) << text;
  }
}

TEST(Filter, FilterQuote) {
  EXPECT_EQ(filter_quote("dentry"), "\"dentry\"");
  EXPECT_EQ(filter_quote(""), "\"\"");
  EXPECT_EQ(filter_quote("a\"b\\c'd"), "\"a\\\"b\\\\c'd\"");
  FilterFields r = record();
  r.cache = "we\"ird\\ name'";
  EXPECT_TRUE(Filter::parse("cache == " + filter_quote(r.cache)).matches(r));
}

// ---- conjoin ----------------------------------------------------------------------------------

TEST(Filter, Conjoin) {
  const Filter a = Filter::parse("bytes_req >= 256 || pid == 1");
  const Filter b = Filter::parse("pid == 42 && tid == 43");
  const Filter ab = conjoin(a, b);
  EXPECT_EQ(ab.to_string(), "(bytes_req >= 256 || pid == 1) && pid == 42 && tid == 43");
  EXPECT_TRUE(ab.matches(record()));
  FilterFields r = record();
  r.tid = 1;
  EXPECT_FALSE(ab.matches(r));
  EXPECT_EQ(conjoin(Filter(), b).to_string(), b.to_string());
  EXPECT_EQ(conjoin(a, Filter()).to_string(), a.to_string());
  EXPECT_TRUE(conjoin(Filter(), Filter()).is_match_all());
  // Nested Not and Logic nodes survive being moved into the combined filter.
  const Filter c = conjoin(Filter::parse("!(pid == 1 || !(tid == 43 && kind == 'kmalloc'))"),
                           Filter::parse("!(comm ~ 'x*') && (order == 0 || order == 1)"));
  EXPECT_EQ(c.to_string(),
            "!(pid == 1 || !(tid == 43 && kind == \"kmalloc\")) && !(comm ~ \"x*\") && "
            "(order == 0 || order == 1)");
  EXPECT_TRUE(c.matches(record()));
  // CLI shorthands AND-ed with --filter narrow the prefilter together.
  const Filter cli = conjoin(Filter::parse("bytes_req >= 256"),
                             Filter::parse("kind == 'slab' || kind == 'kmalloc'"));
  const Filter all = conjoin(cli, Filter::parse("pid == 42"));
  const BpfPrefilter p = all.prefilter();
  EXPECT_EQ(p.min_bytes_req, 256u);
  EXPECT_EQ(p.pid, 42u);
  EXPECT_EQ(p.kinds_mask, kind_bit(KLEAK_KIND_SLAB) | kind_bit(KLEAK_KIND_KMALLOC));
}

// ---- prefilter --------------------------------------------------------------------------------

BpfPrefilter pre(std::string_view text) { return Filter::parse(text).prefilter(); }

TEST(Prefilter, SizeRanges) {
  BpfPrefilter p = pre("bytes_req >= 256 && bytes_req <= 512");
  EXPECT_EQ(p.min_bytes_req, 256u);
  EXPECT_EQ(p.max_bytes_req, 512u);
  EXPECT_FALSE(p.matches_nothing);

  p = pre("bytes_req > 256 && bytes_req < 512 && bytes_req < 1000");
  EXPECT_EQ(p.min_bytes_req, 257u);
  EXPECT_EQ(p.max_bytes_req, 511u);

  p = pre("bytes_alloc == 64");
  EXPECT_EQ(p.min_bytes_alloc, 64u);
  EXPECT_EQ(p.max_bytes_alloc, 64u);
  EXPECT_EQ(p.min_bytes_req, 0u);

  p = pre("256 <= bytes_req && 0x1000 > bytes_alloc");
  EXPECT_EQ(p.min_bytes_req, 256u);
  EXPECT_EQ(p.max_bytes_alloc, 0xfffu);

  p = pre("bytes_req != 0");
  EXPECT_EQ(p.min_bytes_req, 1u);
  p = pre("bytes_req <= 100 && bytes_req != 100");
  EXPECT_EQ(p.max_bytes_req, 99u);
  p = pre("bytes_req != 7");
  EXPECT_EQ(p, BpfPrefilter{});
}

TEST(Prefilter, MatchesNothing) {
  EXPECT_TRUE(pre("bytes_req > 10 && bytes_req < 5").matches_nothing);
  EXPECT_TRUE(pre("bytes_req < 0").matches_nothing);
  EXPECT_TRUE(pre("bytes_alloc > 0xffffffffffffffff").matches_nothing);
  EXPECT_TRUE(pre("bytes_req == 1 && bytes_req == 2").matches_nothing);
  EXPECT_TRUE(pre("bytes_req == 0 && bytes_req != 0").matches_nothing);
  EXPECT_TRUE(pre("pid == 1 && pid == 2").matches_nothing);
  EXPECT_TRUE(pre("pid == 4294967296").matches_nothing);
  EXPECT_TRUE(pre("cache == 'a' && cache == 'b'").matches_nothing);
  EXPECT_TRUE(pre("kind == 'slab' && kind == 'page'").matches_nothing);
  EXPECT_TRUE(pre("kind == 'slab' && kind != 'slab'").matches_nothing);
  EXPECT_TRUE(pre("kind ~ 'x*'").matches_nothing);
  EXPECT_FALSE(pre("bytes_req > 10 && bytes_req < 12").matches_nothing);
  EXPECT_FALSE(pre("bytes_req > 10 || bytes_req < 5").matches_nothing);
}

TEST(Prefilter, PidCacheKind) {
  BpfPrefilter p = pre("pid == 42 && comm == \"x\"");
  EXPECT_EQ(p.pid, 42u);
  EXPECT_EQ(p.cache, std::nullopt);
  EXPECT_EQ(pre("pid == 42 && pid == 42").pid, 42u);
  EXPECT_EQ(pre("pid != 42").pid, std::nullopt);
  EXPECT_EQ(pre("tid == 42").pid, std::nullopt);
  EXPECT_EQ(pre("pid >= 42").pid, std::nullopt);

  EXPECT_EQ(pre("cache == \"dentry\"").cache, "dentry");
  EXPECT_EQ(pre("\"dentry\" == cache").cache, "dentry");
  EXPECT_EQ(pre("cache ~ \"dentry\"").cache, std::nullopt);  // globs are userspace-only
  EXPECT_EQ(pre("cache == \"\"").cache, std::nullopt);       // no cache: nothing to compare
  EXPECT_EQ(pre("cache != \"dentry\"").cache, std::nullopt);

  const uint32_t slab = kind_bit(KLEAK_KIND_SLAB), page = kind_bit(KLEAK_KIND_PAGE);
  EXPECT_EQ(pre("kind == \"slab\"").kinds_mask, slab);
  EXPECT_EQ(pre("kind != \"page\"").kinds_mask, kAllKindsMask & ~page);
  EXPECT_EQ(pre("kind != \"page\" && kind != \"slab\"").kinds_mask, kAllKindsMask & ~page & ~slab);
  EXPECT_EQ(pre("kind ~ \"*malloc\"").kinds_mask,
            kind_bit(KLEAK_KIND_KMALLOC) | kind_bit(KLEAK_KIND_VMALLOC));
  EXPECT_EQ(pre("!(kind ~ \"p*\")").kinds_mask,
            kAllKindsMask & ~page & ~kind_bit(KLEAK_KIND_PERCPU));
}

TEST(Prefilter, ConjunctionsNarrow) {
  EXPECT_EQ(pre("gfp_flags & 0x400 && comm ~ 'k*' && order > 2 && tid == 1"), BpfPrefilter{});
  BpfPrefilter p = pre("(bytes_req >= 256 || pid == 1) && kind == 'slab' && (pid == 2)");
  EXPECT_EQ(p.min_bytes_req, 0u);
  EXPECT_EQ(p.kinds_mask, kind_bit(KLEAK_KIND_SLAB));
  EXPECT_EQ(p.pid, 2u);
  p = pre("bytes_req >= 64 && (bytes_req >= 128 && (bytes_alloc <= 4096 && pid == 9))");
  EXPECT_EQ(p.min_bytes_req, 128u);
  EXPECT_EQ(p.max_bytes_alloc, 4096u);
  EXPECT_EQ(p.pid, 9u);
}

TEST(Prefilter, NegationsByDeMorgan) {
  BpfPrefilter p = pre("!(bytes_req < 256) && !(pid != 7)");
  EXPECT_EQ(p.min_bytes_req, 256u);
  EXPECT_EQ(p.pid, 7u);
  p = pre("!(kind == 'page' || bytes_req > 4096)");
  EXPECT_EQ(p.kinds_mask, kAllKindsMask & ~kind_bit(KLEAK_KIND_PAGE));
  EXPECT_EQ(p.max_bytes_req, 4096u);
  EXPECT_EQ(pre("!(bytes_req >= 10 && pid == 1)"), BpfPrefilter{});  // a disjunction
  EXPECT_EQ(pre("!(gfp_flags & 0x400)"), BpfPrefilter{});
  EXPECT_EQ(pre("!!(pid == 3)").pid, 3u);
  EXPECT_EQ(pre("!(cache != 'dentry')").cache, "dentry");
}

TEST(Prefilter, DisjunctionsKeepWhatEveryOperandShares) {
  EXPECT_EQ(pre("bytes_req >= 256 || pid == 1"), BpfPrefilter{});
  EXPECT_EQ(pre("(bytes_req >= 256 && pid == 1) || kind == 'slab'"), BpfPrefilter{});
  EXPECT_EQ(pre("kind == 'slab' || kind == 'page'").kinds_mask,
            kind_bit(KLEAK_KIND_SLAB) | kind_bit(KLEAK_KIND_PAGE));
  BpfPrefilter p =
      pre("bytes_req >= 256 && bytes_req < 512 || bytes_req >= 1024 && bytes_req <= 2048");
  EXPECT_EQ(p.min_bytes_req, 256u);
  EXPECT_EQ(p.max_bytes_req, 2048u);
  p = pre("pid == 5 && kind == 'slab' || pid == 5 && kind == 'page' && cache == 'x'");
  EXPECT_EQ(p.pid, 5u);
  EXPECT_EQ(p.cache, std::nullopt);
  EXPECT_EQ(p.kinds_mask, kind_bit(KLEAK_KIND_SLAB) | kind_bit(KLEAK_KIND_PAGE));
  EXPECT_EQ(pre("cache == 'a' || cache == 'a' && pid == 1").cache, "a");
  EXPECT_EQ(pre("pid == 1 || pid == 2").pid, std::nullopt);
  // An operand that admits no slab record does not bound slab's cache: kleak hunt's filter keeps
  // its cache in BPF.
  p = pre(R"((kind == "slab" && cache == "filp") || kind == "page")");
  EXPECT_EQ(p.cache, "filp");
  EXPECT_EQ(p.kinds_mask, kind_bit(KLEAK_KIND_SLAB) | kind_bit(KLEAK_KIND_PAGE));
  EXPECT_EQ(pre(R"(kind == "page" || (kind == "slab" && cache == "filp"))").cache, "filp");
  EXPECT_EQ(pre(R"((kind == "slab" && cache == "filp") || kind == "slab")").cache, std::nullopt);
  EXPECT_EQ(pre(R"((kind == "slab" && cache == "filp") || cache == "dentry")").cache, std::nullopt);
  EXPECT_EQ(pre(R"((kind == "slab" && cache == "filp") || bytes_req > 10)").cache, std::nullopt);
  // An operand that can match nothing drops out.
  p = pre("(bytes_req > 10 && bytes_req < 5) || pid == 1");
  EXPECT_EQ(p.pid, 1u);
  EXPECT_FALSE(p.matches_nothing);
  EXPECT_TRUE(pre("kind == 'slab' && (kind == 'page' || kind == 'percpu')").matches_nothing);
  EXPECT_TRUE(pre("bytes_req < 0 || pid == 1 && pid == 2").matches_nothing);
}

TEST(Prefilter, Admits) {
  EXPECT_TRUE(BpfPrefilter{}.admits(record()));
  EXPECT_TRUE((BpfPrefilter{.min_bytes_req = 300, .max_bytes_req = 300}.admits(record())));
  EXPECT_FALSE(BpfPrefilter{.min_bytes_req = 301}.admits(record()));
  EXPECT_FALSE(BpfPrefilter{.max_bytes_req = 299}.admits(record()));
  EXPECT_FALSE(BpfPrefilter{.min_bytes_alloc = 513}.admits(record()));
  EXPECT_FALSE(BpfPrefilter{.max_bytes_alloc = 511}.admits(record()));
  EXPECT_FALSE(BpfPrefilter{.pid = 41}.admits(record()));
  EXPECT_TRUE(BpfPrefilter{.pid = 42}.admits(record()));
  FilterFields slab = record();
  slab.kind = "slab";
  slab.cache = "filp";
  EXPECT_FALSE(BpfPrefilter{.cache = "dentry"}.admits(slab));
  EXPECT_TRUE(BpfPrefilter{.cache = "filp"}.admits(slab));
  // The BPF cache filter holds slab records only: kmalloc's caches are sizes, told in userspace.
  EXPECT_TRUE(BpfPrefilter{.cache = "dentry"}.admits(record()));
  EXPECT_FALSE(BpfPrefilter{.kinds_mask = kind_bit(KLEAK_KIND_SLAB)}.admits(record()));
  FilterFields odd = record();
  odd.kind = "bogus";  // not a kind: kinds_mask does not apply
  EXPECT_TRUE(BpfPrefilter{.kinds_mask = kind_bit(KLEAK_KIND_SLAB)}.admits(odd));
  EXPECT_FALSE(BpfPrefilter{.matches_nothing = true}.admits(record()));
}

// ---- properties over random filters and records -----------------------------------------------

// A random filter, built as text together with a reference predicate computed independently of
// the parser (fnmatch(3) stands in for the glob matcher).
struct Generated {
  std::string text;
  std::function<bool(const FilterFields&)> eval;
};

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  FilterFields record() {
    FilterFields r;
    r.bytes_req = pick(kSizes);
    r.bytes_alloc = pick(kSizes);
    r.order = pick<uint64_t>({0, 1, 2, 3, 10});
    r.gfp_flags = pick<uint64_t>({0, 0x400, 0xcc0, 0x2800, 0x1, 0xffffffff});
    r.pid = pick<uint64_t>({1, 42, 1000, 4294967295});
    r.tid = pick<uint64_t>({1, 42, 1001});
    r.call_site = pick<uint64_t>({0, 0xffffffff81000000, 0xffffffffc0123456});
    r.migratetype = pick<int64_t>({-1, 0, 1, 2, 5});
    r.cache = pick(kCaches);
    r.comm = pick(kComms);
    r.kind = pick(kKinds);
    return r;
  }

  Generated expr(int depth) {
    const int choice = static_cast<int>(rng_() % (depth > 0 ? 7 : 3));
    if (choice < 3) return comparison();
    if (choice == 3) {
      Generated c = expr(depth - 1);
      return {sp() + "!" + sp() + "(" + c.text + ")",
              [e = c.eval](const FilterFields& r) { return !e(r); }};
    }
    Generated a = expr(depth - 1), b = expr(depth - 1);
    const bool is_and = choice < 6;
    return {"(" + a.text + sp() + (is_and ? "&&" : "||") + sp() + b.text + ")",
            [is_and, x = a.eval, y = b.eval](const FilterFields& r) {
              return is_and ? (x(r) && y(r)) : (x(r) || y(r));
            }};
  }

  // A flat chain joined by one operator, unparenthesized, to exercise precedence.
  Generated chain() {
    Generated g = comparison();
    const int n = static_cast<int>(rng_() % 5);
    // Reference: split into && groups joined by ||.
    std::vector<std::vector<std::function<bool(const FilterFields&)>>> groups{{g.eval}};
    for (int i = 0; i < n; ++i) {
      const bool is_and = rng_() % 2;
      Generated c = rng_() % 4 ? comparison() : negated(comparison());
      g.text += sp() + (is_and ? "&&" : "||") + sp() + c.text;
      if (!is_and) groups.emplace_back();
      groups.back().push_back(c.eval);
    }
    g.eval = [groups](const FilterFields& r) {
      for (const auto& group : groups) {
        bool all = true;
        for (const auto& e : group) all = all && e(r);
        if (all) return true;
      }
      return false;
    };
    return g;
  }

 private:
  static constexpr uint64_t kSizes[] = {0, 1, 8, 64, 255, 256, 257, 512, 4096, 65536, UINT64_MAX};
  static constexpr std::string_view kCaches[] = {"", "dentry", "kmalloc-64", "inode_cache",
                                                 "kmalloc-rcl-512"};
  static constexpr std::string_view kComms[] = {"bash", "kworker/0:1", "sshd", "k", "", "a b"};
  static constexpr std::string_view kKinds[] = {"kmalloc", "slab", "page", "vmalloc", "percpu"};
  static constexpr std::string_view kPatterns[] = {
      "*",      "k*",      "*sh",       "?ash", "[bk]*", "[!b]*",   "kworker/*", "d?ntry",
      "[a-c]*", "*[0-9]*", "kmalloc-*", "",     "*a*",   "*malloc", "p*"};

  template <typename T, size_t N>
  T pick(const T (&values)[N]) {
    return values[rng_() % N];
  }
  template <typename T>
  T pick(std::initializer_list<T> values) {
    return values.begin()[rng_() % values.size()];
  }

  std::string sp() { return pick<const char*>({"", " ", " ", "  ", "\t"}); }

  Generated negated(Generated g) {
    return {"!" + sp() + g.text, [e = g.eval](const FilterFields& r) { return !e(r); }};
  }

  static bool apply(std::string_view op, int cmp) {
    if (op == "==") return cmp == 0;
    if (op == "!=") return cmp != 0;
    if (op == "<") return cmp < 0;
    if (op == "<=") return cmp <= 0;
    if (op == ">") return cmp > 0;
    return cmp >= 0;  // ">="
  }

  std::string quote(std::string_view s) {
    if (s.find('\'') == std::string_view::npos && rng_() % 2) return "'" + std::string(s) + "'";
    return filter_quote(s);
  }

  Generated comparison() {
    using Get = std::function<uint64_t(const FilterFields&)>;
    struct Num {
      const char* name;
      Get get;
    };
    static const Num kNumeric[] = {
        {"bytes_req", [](const FilterFields& r) { return r.bytes_req; }},
        {"bytes_alloc", [](const FilterFields& r) { return r.bytes_alloc; }},
        {"order", [](const FilterFields& r) { return r.order; }},
        {"gfp_flags", [](const FilterFields& r) { return r.gfp_flags; }},
        {"pid", [](const FilterFields& r) { return r.pid; }},
        {"tid", [](const FilterFields& r) { return r.tid; }},
        {"call_site", [](const FilterFields& r) { return r.call_site; }},
    };
    using GetS = std::function<std::string_view(const FilterFields&)>;
    struct Str {
      const char* name;
      GetS get;
      const std::string_view* values;
      size_t n;
    };
    static const Str kString[] = {
        {"cache", [](const FilterFields& r) { return r.cache; }, kCaches, std::size(kCaches)},
        {"comm", [](const FilterFields& r) { return r.comm; }, kComms, std::size(kComms)},
        {"kind", [](const FilterFields& r) { return r.kind; }, kKinds, std::size(kKinds)},
    };
    const int what = static_cast<int>(rng_() % 10);
    if (what < 5) {  // unsigned numeric
      const Num& f = pick(kNumeric);
      const std::string op = pick<const char*>({"==", "!=", "<", "<=", ">", ">=", "&"});
      uint64_t v = pick(kSizes);
      if (rng_() % 3 == 0) v = pick<uint64_t>({0x400, 42, 0xffffffff81000000, 2, 1000});
      if (rng_() % 5 == 0) v += 1;
      const bool hex = rng_() % 3 == 0;
      const std::string lit = hex ? fmt_hex(v) : std::to_string(v);
      Get get = f.get;
      if (op == "&")
        return {std::string(f.name) + sp() + op + sp() + lit,
                [get, v](const FilterFields& r) { return (get(r) & v) != 0; }};
      const auto test = [get, v, op](const FilterFields& r) {
        const uint64_t x = get(r);
        return apply(op, x < v ? -1 : (x > v ? 1 : 0));
      };
      if (rng_() % 4 == 0) {  // literal on the left, with the mirrored operator
        const std::string mirrored = op == "<"    ? ">"
                                     : op == "<=" ? ">="
                                     : op == ">"  ? "<"
                                     : op == ">=" ? "<="
                                                  : op;
        return {lit + sp() + mirrored + sp() + f.name, test};
      }
      return {std::string(f.name) + sp() + op + sp() + lit, test};
    }
    if (what == 5) {  // signed numeric
      const std::string op = pick<const char*>({"==", "!=", "<", "<=", ">", ">="});
      const int64_t v = pick<int64_t>({-2, -1, 0, 1, 2, 6});
      return {"migratetype" + sp() + op + sp() + std::to_string(v), [v, op](const FilterFields& r) {
                return apply(op, r.migratetype < v ? -1 : (r.migratetype > v ? 1 : 0));
              }};
    }
    const Str& f = pick(kString);
    GetS get = f.get;
    if (rng_() % 3 == 0) {
      const std::string pattern(pick(kPatterns));
      return {std::string(f.name) + sp() + "~" + sp() + quote(pattern),
              [get, pattern](const FilterFields& r) {
                return fnmatch(pattern.c_str(), std::string(get(r)).c_str(), 0) == 0;
              }};
    }
    const std::string value(f.values[rng_() % f.n]);
    const bool eq = rng_() % 2;
    return {std::string(f.name) + sp() + (eq ? "==" : "!=") + sp() + quote(value),
            [get, value, eq](const FilterFields& r) { return (get(r) == value) == eq; }};
  }

  static std::string fmt_hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
  }

  std::mt19937_64 rng_;
};

TEST(FilterProperty, RandomFiltersAgreeWithReferenceAndPrefilter) {
  Generator gen(0x6b6c65616b);
  std::vector<FilterFields> records;
  for (int i = 0; i < 300; ++i) records.push_back(gen.record());
  int matched = 0, checked = 0, prefiltered = 0;
  for (int i = 0; i < 600; ++i) {
    const Generated g = i % 2 ? gen.expr(4) : gen.chain();
    const Filter f = Filter::parse(g.text);
    const BpfPrefilter p = f.prefilter();
    const Filter again = Filter::parse(f.to_string());
    ASSERT_EQ(again.to_string(), f.to_string()) << g.text;
    if (p != BpfPrefilter{}) ++prefiltered;
    for (const FilterFields& r : records) {
      const bool m = f.matches(r);
      ++checked;
      matched += m;
      ASSERT_EQ(m, g.eval(r)) << g.text << "\n  canonical: " << f.to_string();
      ASSERT_EQ(again.matches(r), m) << g.text << "\n  canonical: " << f.to_string();
      if (m) {
        ASSERT_TRUE(p.admits(r)) << g.text;
      }
    }
  }
  // The generator must produce interesting cases both ways.
  EXPECT_GT(matched, checked / 20);
  EXPECT_LT(matched, checked - checked / 20);
  EXPECT_GT(prefiltered, 50);
}

TEST(FilterProperty, HandPickedExpressionsKeepThePrefilterConservative) {
  const char* exprs[] = {
      "bytes_req >= 256 && bytes_req <= 512",
      "bytes_req > 10 && bytes_req < 5",
      "256 <= bytes_req && kind != 'page'",
      "pid == 42 && cache == 'dentry'",
      "!(bytes_req < 64) && !(kind == 'slab' || kind == 'percpu')",
      "bytes_alloc == 512 || pid == 1",
      "kind ~ '*malloc' && bytes_req != 0",
      "!(bytes_req > 100 && pid == 1) && bytes_alloc <= 4096",
      "cache == '' && kind == 'page'",
  };
  Generator gen(7);
  std::vector<FilterFields> records;
  for (int i = 0; i < 2000; ++i) records.push_back(gen.record());
  for (const char* e : exprs) {
    const Filter f = Filter::parse(e);
    const BpfPrefilter p = f.prefilter();
    for (const FilterFields& r : records)
      if (f.matches(r)) {
        ASSERT_TRUE(p.admits(r)) << e;
      }
  }
}

}  // namespace
}  // namespace kleak
