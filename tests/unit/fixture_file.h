// A fixture file's bytes, for the unit tests that parse stored kernel text.
#pragma once
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kleak::test {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(in) << p;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A private temporary directory, removed with everything in it at the end of the test.
struct Scratch {
  std::filesystem::path dir;
  Scratch() {
    char t[] = "/tmp/kleak-unit-XXXXXX";
    dir = mkdtemp(t);
  }
  ~Scratch() { std::filesystem::remove_all(dir); }
  std::string operator/(const std::string& n) const { return (dir / n).string(); }
};

}  // namespace kleak::test
