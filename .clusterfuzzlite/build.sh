#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/) for ClusterFuzzLite or OSS-Fuzz, and packages them in
# $OUT: each target's binary, its committed corpus as <target>_seed_corpus.zip, its
# dictionary (<target>.dict) and libFuzzer options (<target>.options). docs/fuzzing.md.
#
# In the base-builder-rust image (nightly, cargo-fuzz installed) the environment gives
# $SRC, $OUT and $SANITIZER (address, or coverage: the image's cargo wrapper turns
# `cargo fuzz build` into an instrumented `cargo build`). Run anywhere else it falls
# back to the repository this script is in, OUT=fuzz/target/cflite-out and no sanitizer
# (stable Rust: `--sanitizer none`); .ci/run calls it that way, with its own OUT, so
# the script is built on every change without Docker.
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -f "$script_dir/../fuzz/Cargo.toml" ]; then
  root=$(cd "$script_dir/.." && pwd)            # .clusterfuzzlite/build.sh in a checkout
elif [ -n "${SRC:-}" ] && [ -f "$SRC/mdlsim/fuzz/Cargo.toml" ]; then
  root=$SRC/mdlsim                               # $SRC/build.sh in the image
else
  root=$(pwd)                                    # the image's WORKDIR
fi
[ -f "$root/fuzz/Cargo.toml" ] || { echo "build.sh: no fuzz/Cargo.toml under $root" >&2; exit 1; }
out=${OUT:-$root/fuzz/target/cflite-out}
mkdir -p "$out"

# cargo-fuzz's sanitizer: the one asked for where the compiler supports it (nightly, in
# the image); none on a stable compiler (-Zsanitizer needs nightly) and for coverage.
case "${SANITIZER:-none}" in
  address | memory | thread | leak) sanitizer=$SANITIZER ;;
  *) sanitizer=none ;;
esac

cd "$root/fuzz"
cargo fuzz build -O --sanitizer "$sanitizer"

targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^mdlsim-fuzz$')
bin_dir=target/x86_64-unknown-linux-gnu/release
zip_dir() { # zip_dir ARCHIVE DIR: DIR's files, flat
  rm -f "$1"
  if command -v zip >/dev/null 2>&1; then
    zip -q -j "$1" "$2"/*
  else
    python3 -m zipfile -c "$1" "$2"/*
  fi
}
for t in $targets; do
  cp "$bin_dir/$t" "$out/$t"
  if [ -d "corpus/$t" ] && [ -n "$(ls -A "corpus/$t")" ]; then
    zip_dir "$out/${t}_seed_corpus.zip" "corpus/$t"
  fi
  if [ -f "$t.dict" ]; then
    cp "$t.dict" "$out/$t.dict"
  fi
  # As .ci/run runs them: whole inputs from the start, 30 s per input at most.
  printf '[libfuzzer]\nlen_control = 0\ntimeout = 30\n' >"$out/$t.options"
  echo "build.sh: $out/$t"
done
