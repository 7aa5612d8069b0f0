// One field of /proc/self/status in kB (VmRSS, VmHWM), -1 when absent: the bench programs'
// memory readings.
#pragma once
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

inline long status_kb(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(f, line))
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':')
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
  return -1;
}
