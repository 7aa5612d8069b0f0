// The key encoding shared by BPF and C++: spaces never collide, addresses survive.
#include <gtest/gtest.h>

#include "kleak/abi.h"

TEST(Abi, KeysOfDifferentSpacesNeverCollide) {
  const uint64_t addrs[] = {0, 1, 0x1234, 0xffff888012345600ull, 0xffffc90000000000ull,
                            0xffffea0000400000ull, 0x000000000002a3c0ull, ~0ull};
  for (uint64_t a : addrs)
    for (uint64_t b : addrs)
      for (int s = KLEAK_SPACE_SLAB; s <= KLEAK_SPACE_PERCPU; ++s)
        for (int t = KLEAK_SPACE_SLAB; t <= KLEAK_SPACE_PERCPU; ++t)
          if (s != t)
            EXPECT_NE(kleak_key(static_cast<kleak_space>(s), a), kleak_key(static_cast<kleak_space>(t), b));
}

TEST(Abi, CanonicalKernelAddressesStayDistinctWithinASpace) {
  // Kernel addresses differ only below bit 60 (their top bits are all ones), so the mask keeps
  // them apart.
  uint64_t a = 0xffff888012345600ull, b = 0xffff888012345640ull;
  EXPECT_NE(kleak_key(KLEAK_SPACE_SLAB, a), kleak_key(KLEAK_SPACE_SLAB, b));
  EXPECT_EQ(kleak_key_space(kleak_key(KLEAK_SPACE_VMAP, a)), KLEAK_SPACE_VMAP);
  EXPECT_EQ(kleak_key(KLEAK_SPACE_PAGE, 42) & KLEAK_ADDR_MASK, 42u);
}

// The layouts are static_asserts in abi.h: a build that breaks them does not compile.
