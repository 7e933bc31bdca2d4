#!/usr/bin/env bash
# Runs the window tests (tests/e2e.rs) and the keyring test (crates/core/tests/keyring.rs)
# under a private X server, a private D-Bus session, a running dunst and a gnome-keyring
# (Secret Service) whose keyrings live in target/e2e-keyring, then stops them all.
# Screenshots land in target/e2e/.
set -euo pipefail
cd "$(dirname "$0")/.."
# The window as it ships: it turns WebKit's GPU compositing off itself (desktop/mod.rs).
export NO_AT_BRIDGE=1
export PATH="$HOME/.cargo/bin:$PATH"
exec xvfb-run -a -s "-screen 0 1180x780x24" dbus-run-session -- bash -c '
  set -euo pipefail
  dunst > target/dunst.log 2>&1 &
  dunst_pid=$!
  trap "kill $dunst_pid 2>/dev/null || true" EXIT
  # Wait for dunst to own the name (asking dunstctl would D-Bus-activate a second one).
  for _ in $(seq 50); do
    dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null \
      | grep -q "boolean true" && break
    sleep 0.1
  done
  # A Secret Service for the inbox token, unlocked with a throwaway password, its files
  # apart from the keyrings of whoever runs it.
  rm -rf target/e2e-keyring && mkdir -p target/e2e-keyring
  export XDG_DATA_HOME="$PWD/target/e2e-keyring"
  eval "$(printf e2e | gnome-keyring-daemon --unlock --components=secrets)"
  trap "kill $dunst_pid ${GNOME_KEYRING_PID:-} 2>/dev/null || true" EXIT
  GATEHOUSE_KEYRING_TEST=1 cargo test --locked -p gatehouse-core --test keyring -- --nocapture
  cargo test --locked --test e2e -- --ignored --test-threads=1 --nocapture
'
