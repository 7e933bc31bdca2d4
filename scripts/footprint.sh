#!/usr/bin/env bash
# The window's memory, idle, against an empty Tauri 2 window built the same way (release,
# same crates and plugins: tools/empty-window). For each, the PSS of all its processes (the
# app and WebKit's web and network processes) is summed once a second from 8 to 25 s after
# start, under Xvfb with a private D-Bus session; mean and peak are printed side by side.
# Cases: the empty window; Gatehouse with an empty database; Gatehouse with 10,000 events
# in 90 streams (30 profiles x 3 branches). Run by `make footprint` (and `make bench`).
set -euo pipefail
cd "$(dirname "$0")/.."
# Both as they ship: WebKit's default compositing for the empty window; Gatehouse turns it off
# itself (GATEHOUSE_WEBVIEW_GPU=1 keeps it).
export NO_AT_BRIDGE=1
EVENTS=${FOOTPRINT_EVENTS:-10000}

cargo build --release --locked -p gatehouse -p empty-window
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -m 700 "$work/empty" "$work/full"
BENCH_KEEP="$work/full" BENCH_EVENTS=$EVENTS BENCH_FILL_ONLY=1 \
  cargo bench --locked -p gatehouse-core --bench history >/dev/null 2>&1

# Samples the PSS (KiB) of a process and all its descendants once a second, 18 times, from
# 8 s after start; prints "mean_mib peak_mib". Its own file, so that xvfb-run (a POSIX sh
# script) and dbus-run-session can run it.
cat > "$work/sample.sh" <<'SAMPLE'
#!/usr/bin/env bash
set -u
"$@" >/dev/null 2>&1 &
app=$!
tree_pss() {
  local pids=("$1") all=() p
  while ((${#pids[@]})); do
    p=${pids[0]}; pids=("${pids[@]:1}"); all+=("$p")
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do pids+=("$c"); done
  done
  for p in "${all[@]}"; do
    awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || true
  done | awk '{s+=$1} END {print s+0}'
}
sleep 8
for _ in $(seq 18); do tree_pss "$app"; sleep 1; done > "$SAMPLES"
kill "$app" 2>/dev/null; wait "$app" 2>/dev/null
awk '{s+=$1; if ($1>m) m=$1} END {if (NR == 0 || s == 0) exit 1; printf "%.0f %.0f\n", s/NR/1024, m/1024}' "$SAMPLES"
SAMPLE
chmod +x "$work/sample.sh"

# measure NAME COMMAND...: prints "NAME mean_mib peak_mib"
measure() {
  local name=$1; shift
  local result
  # The last line: the accessibility bus may print its own lines first.
  result=$(SAMPLES="$work/$name.samples" xvfb-run -a -s "-screen 0 1180x780x24" \
    dbus-run-session -- "$work/sample.sh" "$@" 2>/dev/null | tail -n 1) \
    || { echo "footprint: $name gave no samples" >&2; exit 1; }
  [[ $result =~ ^[0-9]+\ [0-9]+$ ]] || { echo "footprint: $name: unexpected '$result'" >&2; exit 1; }
  echo "$name $result"
}

measure gatehouse-empty env GATEHOUSE_LISTEN=127.0.0.1:0 GATEHOUSE_DATA_DIR="$work/empty" \
  target/release/gatehouse > "$work/r1"
measure gatehouse-10k env GATEHOUSE_LISTEN=127.0.0.1:0 GATEHOUSE_DATA_DIR="$work/full" \
  target/release/gatehouse > "$work/r2"
measure empty-window target/release/empty-window > "$work/r0"

read -r _ base_mean base_peak < "$work/r0"
echo
echo "Window memory, idle (PSS of all processes, 8-25 s after start), release builds"
echo "| app | mean MiB | peak MiB | mean vs. empty window |"
echo "|---|---:|---:|---:|"
for f in r0 r1 r2; do
  read -r name mean peak < "$work/$f"
  awk -v n="$name" -v m="$mean" -v p="$peak" -v b="$base_mean" -v e="$EVENTS" 'BEGIN {
    label = n
    if (n == "empty-window") label = "empty Tauri 2 window (same crates)"
    if (n == "gatehouse-empty") label = "Gatehouse, empty database"
    if (n == "gatehouse-10k") label = "Gatehouse, " e " events in 90 streams"
    printf "| %s | %d | %d | %.2fx |\n", label, m, p, m / b }'
done
