#!/usr/bin/env bash
# The suites on other days: the core crate's tests and the front end's unit tests, run with
# the whole process's clock moved by Debian's faketime, 400 days ahead and to just after a
# month end and a leap day (2028-02-29). A test that names a calendar date, or code that
# reads the system's clock where it should read its Clock, fails here on some day.
#
#   scripts/time-shifted.sh time   the tests that touch time (make test)
#   scripts/time-shifted.sh all    every core test and every front-end test (make soak)
#
# The test binaries are built first with the real clock: rustc hangs under libfaketime
# (../shared/notes/faketime.md). Each runs from its package's directory, as cargo runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
set_name=${1:-time}
case "$set_name" in time | all) ;; *) echo "usage: $0 time|all" >&2; exit 2 ;; esac
command -v faketime >/dev/null || { echo "faketime is missing (make deps installs it)" >&2; exit 1; }

# faketime's start times: its clock then runs on from there, the monotonic one too.
SHIFTS=("+400 days" "2028-03-01 00:05:00")

# name<TAB>path of each core test binary, from cargo's own account of what it built. Built
# for the whole workspace, as make test's cargo-test step builds them (with -p alone, feature
# unification differs and the core would be compiled a second time).
mapfile -t binaries < <(
  cargo test --locked --workspace --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]
            and "/crates/core#" in m["package_id"]):
        print(m["target"]["name"] + "\t" + m["executable"])
'
)
(( ${#binaries[@]} > 5 )) || { echo "found only ${#binaries[@]} core test binaries" >&2; exit 1; }

# The tests that touch time: all of the core's but the inbox's streaming tests (20 s of
# waiting on sockets, which the clock does not enter), whose session expiry is kept; the
# front end's views and view logic that show times.
ui_files=()
inbox_filter=()
if [[ $set_name == time ]]; then
  inbox_filter=(session)
  ui_files=(src/lib src/views/Dashboard.test.ts src/views/History.test.ts src/views/Requests.test.ts src/components)
fi

# ts-rs writes TypeScript types whenever the core's tests run; these runs must not touch the
# committed ones.
bindings=$(mktemp -d)
log=$(mktemp)
ui_log=$(mktemp)
trap 'rm -rf "$bindings" "$log" "$ui_log"' EXIT
failed=0
for shift in "${SHIFTS[@]}"; do
  started=$SECONDS
  echo "== the clock starts at $(faketime -m "$shift" date -u +%FT%TZ) (faketime '$shift')"
  # The front end's tests run beside the core's (they wait mostly on jsdom's start-up).
  (cd ui && faketime -m "$shift" npx vitest run "${ui_files[@]}") >"$ui_log" 2>&1 &
  ui_pid=$!
  for entry in "${binaries[@]}"; do
    name=${entry%%$'\t'*} path=${entry#*$'\t'}
    filter=()
    [[ $name == inbox ]] && filter=("${inbox_filter[@]}")
    if (cd crates/core && TS_RS_EXPORT_DIR="$bindings" faketime -m "$shift" "$path" -q "${filter[@]}") >"$log" 2>&1; then
      echo "$name: $(grep -E '^test result' "$log" | tail -1)"
    else
      echo "FAILED: $name with the clock at '$shift'" >&2
      grep -E -A12 'panicked|^failures:' "$log" | head -40 >&2
      failed=1
    fi
  done
  if wait "$ui_pid"; then
    echo "front end: $(grep -E 'Tests ' "$ui_log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g')"
  else
    echo "FAILED: the front end's tests with the clock at '$shift'" >&2
    grep -E -B2 -A12 'FAIL|AssertionError' "$ui_log" | head -60 >&2
    failed=1
  fi
  echo "== '$shift': $((SECONDS - started)) s"
done
exit $failed
