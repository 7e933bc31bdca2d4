#!/usr/bin/env bash
# Writes what the .deb carries beside the binary, made by the binary itself so that it never
# drifts from the CLI: gzipped man pages and bash, zsh and fish completions, into
# target/package/companions/ (tauri.conf.json's bundle.linux.deb.files takes them from there).
# Tauri's bundler runs this after compiling and before bundling (build.beforeBundleCommand,
# which like the other hooks runs in ui/, the directory with package.json).
set -euo pipefail
cd "$(dirname "$0")/.."
# The binary `make package` builds (dist profile); GATEHOUSE_PACKAGE_BIN names another, for
# a `tauri build` with another profile.
bin=${GATEHOUSE_PACKAGE_BIN:-target/dist/gatehouse}
out=target/package/companions
rm -rf "$out"
mkdir -p "$out/man1" "$out/completions"
"$bin" man --out "$out/man1" >/dev/null
# -n: no name or time stamp in the archive, so the same pages give the same bytes.
gzip -9n "$out"/man1/*.1
"$bin" completions bash > "$out/completions/gatehouse.bash"
"$bin" completions zsh > "$out/completions/_gatehouse"
"$bin" completions fish > "$out/completions/gatehouse.fish"
echo "companions: $(ls "$out/man1" | wc -l) man pages, 3 completions from $bin"
