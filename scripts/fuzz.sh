#!/usr/bin/env bash
# Fuzzes what palmdb reads from files it did not write itself (fuzz/fuzz_targets/): the
# manifest validator, the JSON line → COPY decoder, the COPY → JSON encoder, durations and
# sizes, the old system's export. Each target runs for SECONDS (default 60), one after the
# other, on one core, at low priority. Not part of .ci/run: 5 targets × 60 s and the build
# would eat the CI budget; run it before a release and after touching those parsers.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   FUZZ_CMIN=1 bash scripts/fuzz.sh 600      # longer runs, then minimize the corpus
#
# The corpus lives in fuzz/corpus/<target>/ (kept small: `cargo fuzz cmin`), a crash's
# reproducer in fuzz/artifacts/<target>/: replay it with
#   cargo +nightly fuzz run -s none -a <target> fuzz/artifacts/<target>/crash-...
# and turn it into a regression test (a module of tests/suite/, e.g. tests/suite/fuzz_regressions.rs) before fixing it.
#
# Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) and a C++ compiler (libFuzzer is
# C++) when missing. cargo-fuzz needs nightly flags: it uses a nightly toolchain when rustup
# has one, else stable with RUSTC_BOOTSTRAP=1.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(manifest row_decoder copy_encoder duration legacy_export)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v c++ >/dev/null 2>&1; then
  echo "fuzz: installing g++ (libFuzzer is built from C++)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 \
    --no-install-recommends g++ >/dev/null
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  nice -n 10 cargo install cargo-fuzz --locked
fi

cargo_fuzz=(cargo fuzz)
if command -v rustup >/dev/null 2>&1 && rustup toolchain list | grep -q '^nightly'; then
  cargo_fuzz=(cargo +nightly fuzz)
else
  echo "fuzz: no nightly toolchain, using stable with RUSTC_BOOTSTRAP=1" >&2
  export RUSTC_BOOTSTRAP=1
fi
# No sanitizer: the fuzzed code is safe Rust (no `unsafe`), so AddressSanitizer would only
# slow it down; panics, overflows (-a: debug assertions), timeouts and OOM are still caught.
flags=(-s none -a)

nice -n 10 "${cargo_fuzz[@]}" build "${flags[@]}"
failed=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target"
  echo "fuzz: $target for ${seconds}s" >&2
  if ! nice -n 10 "${cargo_fuzz[@]}" run "${flags[@]}" "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1; then
    failed+=("$target")
  fi
  if [ "${FUZZ_CMIN:-0}" = 1 ]; then
    nice -n 10 "${cargo_fuzz[@]}" cmin "${flags[@]}" "$target" "fuzz/corpus/$target"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (reproducers in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: OK: ${targets[*]}, ${seconds}s each, no crash" >&2
