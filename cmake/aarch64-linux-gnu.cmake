# Cross-compiling kleak for aarch64 on an x86_64 Debian 12 box (tools/build-static.sh --arch aarch64).
# Debian's g++-aarch64-linux-gnu searches the multiarch directories (/usr/lib/aarch64-linux-gnu,
# /usr/include/aarch64-linux-gnu) where the arm64 -dev packages put their archives, so no sysroot is
# needed: the root stays /. Build-time tools (clang for the BPF object, bpftool for its skeleton,
# protoc) are the host's; only what is linked into kleak is arm64.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# The man page and shell completions are rendered by running the built kleak (cmake/Packaging.cmake).
find_program(KLEAK_QEMU_AARCH64 qemu-aarch64-static)
if(KLEAK_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${KLEAK_QEMU_AARCH64})
endif()
# pkg-config (libbpf's static link line) reads the arm64 .pc files, not the host's.
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# Programs from the host; libraries and headers from the arm64 multiarch paths (the root is /).
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
