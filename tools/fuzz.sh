#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang++ (ASan + UBSan) and runs each for a
# while from its seed corpus. Exits non-zero when a target crashes, leaks, times out, trips a
# sanitizer or an invariant, or does not build.
#
#   tools/fuzz.sh [seconds-per-target] [target...]     default: 20 s, every target
#   tools/fuzz.sh 0 meminfo                            build and replay the seeds only
#
# Needs clang++ and its sanitizer/libFuzzer runtimes: Debian's libclang-rt-14-dev (clang-14 only
# recommends it, so an install with --no-install-recommends lacks it).
# Output: build/fuzz/ (override with KLEAK_FUZZ_DIR): fuzz_<name> binaries, the working corpus
# (seeds from tests/fuzz/corpus/<name>/ plus what the fuzzer found), crash-* artifacts.
#
# Adding a target: write tests/fuzz/fuzz_<name>.cpp (LLVMFuzzerTestOneInput, public API only) with
# a `// fuzz-links: <stage library>` line, and put seeds in tests/fuzz/corpus/<name>/. The targets link the stage libraries, built by CMake
# with -DKLEAK_FUZZ=ON in $out/cmake (through ccache when it is installed).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
shift || true
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: seconds must be a whole number, got '$seconds'" >&2; exit 2; }

# The targets are the files tests/fuzz/fuzz_<name>.cpp (CMakeLists.txt builds the same list).
TARGETS=()
for f in "$root"/tests/fuzz/fuzz_*.cpp; do n=${f##*/fuzz_}; TARGETS+=("${n%.cpp}"); done

cxx=${CXX_FUZZ:-}
if [[ -z "$cxx" ]]; then
  for c in clang++ clang++-14; do command -v "$c" >/dev/null && { cxx=$c; break; }; done
fi
[[ -n "$cxx" ]] || { echo "fuzz.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

out=${KLEAK_FUZZ_DIR:-$root/build/fuzz}
mkdir -p "$out/artifacts"
flags=(-std=c++20 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=all -I"$root/include" -I"$root/user" -I"$root/tests/fuzz")

# The runtime is a separate package on Debian: say which one instead of a linker error.
probe="$out/probe.cpp"
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe"
if ! "$cxx" "${flags[@]}" "$probe" -o "$out/probe" 2>"$out/probe.log"; then
  echo "fuzz.sh: $cxx cannot link -fsanitize=fuzzer (see $out/probe.log)." >&2
  echo "fuzz.sh: on Debian 12 install the runtimes: apt-get install libclang-rt-14-dev" >&2
  exit 1
fi

cc=${cxx/clang++/clang}
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if ! cmake -S "$root" -B "$out/cmake" -DCMAKE_BUILD_TYPE=Debug -DKLEAK_FUZZ=ON -DKLEAK_BUILD_TESTS=OFF \
       -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" >"$out/cmake.log" 2>&1; then
  echo "fuzz.sh: cmake -DKLEAK_FUZZ=ON failed (see $out/cmake.log)" >&2
  exit 1
fi

want=("$@")
selected() {
  [[ ${#want[@]} -eq 0 ]] && return 0
  local w
  for w in "${want[@]}"; do [[ "$w" == "$1" ]] && return 0; done
  return 1
}

failed=()
ran=0
for name in "${TARGETS[@]}"; do
  selected "$name" || continue
  echo "fuzz.sh: $name: building"
  if ! cmake --build "$out/cmake" --target "fuzz_$name" -j"${KLEAK_FUZZ_JOBS:-2}" >"$out/$name.build.log" 2>&1; then
    failed+=("$name (build)")
    tail -n 30 "$out/$name.build.log" >&2
    continue
  fi
  cp "$out/cmake/fuzz_$name" "$out/fuzz_$name"
  corpus="$out/corpus/$name"
  mkdir -p "$corpus"
  if [[ -d "$root/tests/fuzz/corpus/$name" ]]; then cp -n "$root/tests/fuzz/corpus/$name"/* "$corpus/" 2>/dev/null || true; fi
  echo "fuzz.sh: $name: fuzzing for ${seconds}s"
  # -malloc_limit_mb: any single allocation over 512 MB is a failure, so a parser that sizes
  # memory from what the input claims (instead of the caps in bounded_read.h/recording.h) is caught.
  args=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536 -print_final_stats=1
        -artifact_prefix="$out/artifacts/$name-" "$corpus")
  if [[ "$seconds" -eq 0 ]]; then args=(-runs=0 "${args[@]}"); else args=(-max_total_time="$seconds" "${args[@]}"); fi
  ran=$((ran + 1))
  if ! "$out/fuzz_$name" "${args[@]}" >"$out/$name.log" 2>&1; then
    failed+=("$name")
    echo "fuzz.sh: $name: FAILED, see $out/$name.log and $out/artifacts/$name-*" >&2
    tail -n 30 "$out/$name.log" >&2
  else
    grep -E '^stat::number_of_executed_runs|^Done|^#[0-9]+.*DONE' "$out/$name.log" | tail -n 1 | sed "s/^/fuzz.sh: $name: /"
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: $ran target(s) ran clean"
