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
# Adding a target: write tests/fuzz/fuzz_<name>.cpp (LLVMFuzzerTestOneInput, public API only),
# put seeds in tests/fuzz/corpus/<name>/, and add a line to TARGETS below:
#   <name>|<header that must exist, or ->|<sources under user/ it links, shell globs>
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
shift || true
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: seconds must be a whole number, got '$seconds'" >&2; exit 2; }

TARGETS=(
  "meminfo|-|user/procfs/*.cpp user/meminfo/account.cpp user/meminfo/render_meminfo.cpp user/meminfo/snapshot.cpp user/util/bounded_read.cpp"
  "vmallocinfo|-|user/procfs/*.cpp user/meminfo/account.cpp user/meminfo/render_meminfo.cpp user/meminfo/snapshot.cpp user/util/bounded_read.cpp"
  "slabinfo|-|user/procfs/*.cpp user/meminfo/account.cpp user/meminfo/render_meminfo.cpp user/meminfo/snapshot.cpp user/util/bounded_read.cpp"
  "snapshot|-|user/procfs/*.cpp user/meminfo/account.cpp user/meminfo/render_meminfo.cpp user/meminfo/snapshot.cpp user/util/bounded_read.cpp"
  "duration|include/kleak/duration.h|user/util/duration.cpp"
  "filter|include/kleak/filter.h|user/filter/*.cpp user/model/kind.cpp"
  "kallsyms|include/kleak/symbolize.h|user/report/symbolize.cpp user/report/frames.cpp user/model/frame.cpp user/util/bounded_read.cpp"
  "recording|include/kleak/recording.h|user/model/recording.cpp user/procfs/*.cpp user/meminfo/snapshot.cpp user/util/bounded_read.cpp user/util/output_file.cpp"
)

cxx=${CXX_FUZZ:-}
if [[ -z "$cxx" ]]; then
  for c in clang++ clang++-14; do command -v "$c" >/dev/null && { cxx=$c; break; }; done
fi
[[ -n "$cxx" ]] || { echo "fuzz.sh: clang++ not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

out=${KLEAK_FUZZ_DIR:-$root/build/fuzz}
mkdir -p "$out/obj" "$out/artifacts"
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

# Compiles one source into the shared object cache when it changed.
compile() {
  local src=$1 obj
  obj="$out/obj/$(echo "${src#"$root"/}" | tr '/' '_').o"
  if [[ ! -f "$obj" || "$src" -nt "$obj" || -n "$(find "$root/include" "$root/user" "$root/tests/fuzz" -name '*.h' -newer "$obj" -print -quit)" ]]; then
    "$cxx" "${flags[@]}" -c "$src" -o "$obj" || return 1
  fi
  echo "$obj"
}

want=("$@")
selected() {
  [[ ${#want[@]} -eq 0 ]] && return 0
  local w
  for w in "${want[@]}"; do [[ "$w" == "$1" ]] && return 0; done
  return 1
}

failed=()
ran=0
for t in "${TARGETS[@]}"; do
  IFS='|' read -r name header sources <<<"$t"
  selected "$name" || continue
  if [[ "$header" != "-" && ! -f "$root/$header" ]]; then
    echo "fuzz.sh: $name: skipped, $header does not exist yet"
    continue
  fi
  echo "fuzz.sh: $name: building"
  objs=()
  # shellcheck disable=SC2086  # the globs are meant to expand
  for src in $(cd "$root" && ls $sources) "tests/fuzz/fuzz_$name.cpp"; do
    if ! obj=$(compile "$root/$src"); then failed+=("$name (build)"); continue 2; fi
    objs+=("$obj")
  done
  if ! "$cxx" "${flags[@]}" "${objs[@]}" -lfmt -lz -o "$out/fuzz_$name"; then
    failed+=("$name (link)")
    continue
  fi
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
