#!/usr/bin/env bash
# Fuzzing campaigns (not part of CI, which only replays the committed corpora: see build/test.sh).
#
#   build/fuzz.sh [--time SECONDS] [--target NAME]... [--replay] [--no-managed] [--no-merge]
#
# Native targets (libFuzzer + ASan + UBSan, needs clang and libclang-rt: apt-get install clang libclang-rt-14-dev):
#   image_header  mlt_image_info (header, EXIF orientation, pixel limit)
#   image_decode  mlt_image_info + mlt_image_decode (full decode, every channel count, orientation, buffer bounds)
# Each runs SECONDS (default 600) under nice, seeded with test/fixtures/images and the committed corpus
# test/fixtures/fuzz/<target>/corpus; afterwards the new corpus is merged (minimised) back into that folder.
# A crash leaves its input in native/fuzz/build/artifacts/<target>/ and stops the campaign: fix it, copy the input
# to test/fixtures/fuzz/<target>/crashes/<what-it-is>.<ext>, and ImageFuzzCorpusTests replays it from then on.
# Managed target (CsCheck, no clang needed):
#   managed       the .pth / safetensors property tests (ParserFuzzTests) with CsCheck_Time=SECONDS instead of
#                 their CI iteration count.
# --replay runs every committed input once through the sanitizer builds (seconds) instead of fuzzing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
time=600
targets=()
replay=0 managed=1 merge=1
while (($#)); do
  case "$1" in
    --time) time=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --replay) replay=1; shift ;;
    --no-managed) managed=0; shift ;;
    --no-merge) merge=0; shift ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=(image_header image_decode managed)
((managed)) || targets=("${targets[@]/managed}")

out="$root/native/fuzz/build"
mkdir -p "$out"
build_native() {  # $1 target name, $2 MLT_FUZZ_TARGET number
  local bin="$out/$1"
  if [[ ! -x "$bin" || "$bin" -ot "$root/native/src/image.cpp" || "$bin" -ot "$root/native/fuzz/image_fuzz.cpp" ]]; then
    command -v clang++ >/dev/null || { echo "error: clang++ is needed for the native fuzzers (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
    echo "building $1"
    clang++ -std=c++17 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
      -DMLT_FUZZ_TARGET="$2" -I"$root/native/include" \
      "$root/native/fuzz/image_fuzz.cpp" "$root/native/src/image.cpp" -o "$bin"
  fi
}

for t in "${targets[@]}"; do
  [[ -z "$t" ]] && continue
  case "$t" in
    image_header) n=1 ;;
    image_decode) n=2 ;;
    managed)
      if ((replay)); then continue; fi
      echo "== managed: ParserFuzzTests for ${time}s per property"
      CONFIGURATION=Release "$root/build/build.sh"
      CsCheck_Time=$time nice -n 19 dotnet test "$root/MLNet.Attention.sln" -c Release --no-build -nologo \
        --filter "FullyQualifiedName~ParserFuzzTests"
      continue ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
  build_native "$t" "$n"
  committed="$root/test/fixtures/fuzz/$t"
  mkdir -p "$committed/corpus" "$committed/crashes"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if ((replay)); then
    echo "== $t: replaying $(ls "$committed/corpus" "$committed/crashes" | wc -l) committed inputs"
    "$out/$t" -runs=0 -rss_limit_mb=4096 "$committed/corpus" "$committed/crashes"
    continue
  fi
  work="$out/corpus/$t"
  mkdir -p "$work" "$out/artifacts/$t"
  cp -n "$root"/test/fixtures/images/*.{png,jpg,bmp,gif,tga,pgm,ppm,tiff,webp} "$work"/ 2>/dev/null || true
  cp -n "$committed"/corpus/* "$committed"/crashes/* "$work"/ 2>/dev/null || true
  echo "== $t: fuzzing for ${time}s (corpus $(ls "$work" | wc -l) files)"
  nice -n 19 "$out/$t" -max_total_time="$time" -rss_limit_mb=4096 -timeout=30 -max_len=65536 -print_final_stats=1 \
    -dict="$root/native/fuzz/image.dict" -artifact_prefix="$out/artifacts/$t/" "$work" 2>&1 | tee "$out/$t.log" | grep -v '^#[0-9]*.*\(NEW\|REDUCE\|pulse\)' || true
  if grep -q "ERROR: \|runtime error\|invariant broken\|deadly signal" "$out/$t.log"; then
    echo "$t: a crash was found; its input is in $out/artifacts/$t/" >&2
    exit 1
  fi
  if ((merge)); then
    # Minimise: keep only the inputs that add coverage, into the committed folder.
    tmp=$(mktemp -d)
    "$out/$t" -merge=1 -rss_limit_mb=4096 -max_len=65536 "$tmp" "$committed/corpus" "$work" >/dev/null 2>&1
    rm -f "$committed"/corpus/*
    cp "$tmp"/* "$committed/corpus/"
    rm -rf "$tmp"
    echo "$t: committed corpus now $(ls "$committed/corpus" | wc -l) files, $(du -sh "$committed/corpus" | cut -f1)"
  fi
done
