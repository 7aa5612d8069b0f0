// The one line a failed BPF load is reported with, from libbpf's log.
#include <gtest/gtest.h>

#include "trace/libbpf_log.h"

using namespace kleak;

TEST(LibbpfLog, VerifierReasonIsTheLastLineBeforeTheEndOfTheLog) {
  std::string log =
      "libbpf: prog 'raw_kmalloc': BPF program load failed: Permission denied\n"
      "libbpf: prog 'raw_kmalloc': -- BEGIN PROG LOAD LOG --\n"
      "0: R1=ctx() R10=fp0\n"
      "R2 invalid mem access 'scalar'\n"
      "processed 12 insns (limit 1000000)\n"
      "-- END PROG LOAD LOG --\n"
      "libbpf: failed to load object 'kleak_bpf'\n";
  EXPECT_EQ(verifier_reason(log), "program raw_kmalloc rejected by the verifier: R2 invalid mem access 'scalar'");
}

TEST(LibbpfLog, ElseTheFirstSpecificFailure) {
  std::string log =
      "libbpf: map 'allocs': failed to create: Operation not permitted(-1)\n"
      "libbpf: failed to load object 'kleak_bpf'\n"
      "libbpf: failed to load BPF skeleton 'kleak_bpf': -1\n";
  EXPECT_EQ(verifier_reason(log), "map 'allocs': failed to create: Operation not permitted(-1)");
}
