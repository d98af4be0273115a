#!/usr/bin/env bash
# Build and run the C model-image fuzzer (fuzz/fuzz_image.c) with libFuzzer + ASan + UBSan.
#
#   tools/fuzz.sh [SECONDS] [CORPUS_DIR] [-- extra libFuzzer flags]
#
# SECONDS (default 60) bounds the run; CORPUS_DIR (default /tmp/fastgru-fuzz/corpus) starts
# as a copy of the committed seeds in fuzz/corpus/ and keeps what the fuzzer finds. Crashes
# land in /tmp/fastgru-fuzz/ as crash-*/leak-*/timeout-*; the script exits non-zero on one.
# FUZZ_BUILD_ONLY=1 only builds. AFL++: CC=afl-clang-fast FUZZ_ENGINE=afl builds an AFL
# binary (afl-fuzz -i fuzz/corpus -o OUT -- BINARY) instead.
# Needs clang with its fuzzer runtime (Debian: clang libclang-rt-14-dev or clang-NN).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-60}"
corpus="${2:-/tmp/fastgru-fuzz/corpus}"
shift $(( $# > 2 ? 2 : $# ))
[ "${1:-}" = "--" ] && shift
work=/tmp/fastgru-fuzz
mkdir -p "$work" "$corpus"

cc="${CC:-clang}"
srcs=("$root"/fuzz/fuzz_image.c "$root"/src_c/*.c "$root"/src_c/kernels/*.c)
# the shared compile flags (src_c/flags.mk), with the sanitizers' own optimisation level
flag() { sed -n "s/^$1 *= *//p" "$root/src_c/flags.mk"; }
read -ra shared <<< "$(flag FG_CFLAGS) $(flag FG_THREADS)"
flags=(-g -O1 "${shared[@]}" -fno-omit-frame-pointer -fno-sanitize-recover=all -I"$root/src_c")
if [ "${FUZZ_ENGINE:-libfuzzer}" = afl ]; then
    # afl-clang-fast links AFL's driver, which calls LLVMFuzzerTestOneInput.
    "$cc" "${flags[@]}" -fsanitize=address,undefined -fsanitize=fuzzer "${srcs[@]}" -lm \
        -o "$work/fuzz_image_afl"
    echo "built $work/fuzz_image_afl"
    exit 0
fi
"$cc" "${flags[@]}" -fsanitize=fuzzer,address,undefined "${srcs[@]}" -lm -o "$work/fuzz_image"
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && { echo "built $work/fuzz_image"; exit 0; }

cp -n "$root"/fuzz/corpus/* "$corpus"/ 2>/dev/null || true
cd "$work"
exec "$work/fuzz_image" "$corpus" -max_total_time="$secs" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 "$@"
