#!/usr/bin/env bash
# fuzz.sh [SECONDS] [TARGET...]: build the fuzz targets of fuzz/ (libFuzzer
# through libfuzzer-sys, instrumented and built with AddressSanitizer the
# way cargo-fuzz builds them) and run each for SECONDS (default 30), from
# the committed seeds in fuzz/corpus/<target>. Fails on any crash, panic,
# sanitizer report, leak, timeout (one input over 10 s) or out-of-memory
# (over 2 GB, or one allocation over 256 MB); the input that did it is
# saved in fuzz/artifacts/<target>/ (replay it with
# `fuzz/target/x86_64-unknown-linux-gnu/release/<target> <file>`).
#
#   scripts/fuzz.sh                  # every target, 30 s each
#   scripts/fuzz.sh 600 pickle       # one target, 10 minutes
#
# Environment:
#   PMC_FUZZ_JOBS        parallel build jobs (default 2)
#   PMC_FUZZ_RUNS        run each target for this many inputs instead of
#                        a time (e.g. 0: only replay the seeds)
#   PMC_FUZZ_ARGS        extra libFuzzer flags
#
# Needs only the stable toolchain: the one unstable flag, -Zsanitizer, is
# allowed by RUSTC_BOOTSTRAP=1 (stable ships the ASan runtime). New inputs
# that add coverage go to fuzz/corpus-work/<target> (not committed).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz="$root/fuzz"
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(reply_socket pickle key_rules)
triple=$(rustc -vV | sed -n 's/^host: //p')

# What cargo-fuzz passes (its `build` with the default sanitizer and
# debug assertions on), for this crate only: the explicit --target keeps
# build scripts and proc-macros uninstrumented.
flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  -Cllvm-args=-sanitizer-coverage-stack-depth
  --cfg fuzzing
  -Zsanitizer=address
  -Cdebug-assertions
  -Coverflow-checks
  -Cforce-frame-pointers
)

echo "== fuzz: build (${targets[*]})"
start=$SECONDS
(cd "$fuzz" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="${flags[*]}" \
  cargo build --release --locked --target "$triple" -j "${PMC_FUZZ_JOBS:-2}" \
  $(printf -- '--bin %s ' "${targets[@]}"))
echo "== fuzz: built in $((SECONDS - start)) s"

bin="$fuzz/target/$triple/release"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0:allocator_may_return_null=0}"
failed=()
for t in "${targets[@]}"; do
  work="$fuzz/corpus-work/$t"
  art="$fuzz/artifacts/$t"
  mkdir -p "$work" "$art"
  case $t in
    key_rules) max_len=600 ;;
    reply_socket) max_len=72000 ;;
    *) max_len=4096 ;;
  esac
  if [ -n "${PMC_FUZZ_RUNS:-}" ]; then
    limit=(-runs="$PMC_FUZZ_RUNS") what="the corpus, then $PMC_FUZZ_RUNS runs"
  else
    limit=(-max_total_time="$secs") what="$secs s"
  fi
  echo "== fuzz: $t ($what)"
  log="$art/last-run.log"
  # shellcheck disable=SC2086 # PMC_FUZZ_ARGS is a list of flags
  if "$bin/$t" "${limit[@]}" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
      -malloc_limit_mb=256 -print_final_stats=1 -artifact_prefix="$art/" \
      ${PMC_FUZZ_ARGS:-} "$work" "$fuzz/corpus/$t" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" | tail -2 | sed "s/^/   $t: /"
  else
    echo "   $t FAILED; the end of its log ($log):"
    tail -40 "$log" | sed 's/^/   | /'
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "== fuzz: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "== fuzz: all targets passed"
