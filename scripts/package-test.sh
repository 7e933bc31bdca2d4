#!/usr/bin/env bash
# Tests the .deb that `make package` built, the way a user meets it, on this machine:
#   1. its control fields and file list (dpkg-deb -f / -c): Depends covering every library the
#      binary links, the desktop entry, icons, AppStream metainfo, man pages, completions, units;
#   2. the files themselves: desktop-file-validate, appstreamcli, a stripped binary, pages and
#      completions that name this version and parse;
#   3. `apt-get install ./gatehouse_*.deb`, over a data directory an earlier Gatehouse left
#      (the schema-11 fixture): `gatehouse --version`, systemd-analyze verify of the installed
#      units, `gatehouse serve` answering /healthz and storing a signed delivery;
#   4. the installed app under Xvfb: its window, its WM class (the desktop entry's
#      StartupWMClass), the dashboard drawn with the stored failure in red;
#   5. an upgrade to a newer version of the package: the user's data is untouched;
#   6. remove, then purge: every packaged file is gone, nothing else on the system changed,
#      and the user's data is still there.
# Needs root (or sudo), and refuses to run where gatehouse is already installed. Leaves the
# package purged and its processes stopped, also when it fails or is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${1:?usage: scripts/package-test.sh target/package/gatehouse_VERSION_amd64.deb}
deb=$(realpath "$deb")
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
version=$(grep -m1 '^version = ' Cargo.toml | sed 's/^version = "\(.*\)"/\1/')
# The commit the build named: GATEHOUSE_COMMIT for a build from a source tarball (as build.rs).
commit=${GATEHOUSE_COMMIT:-$(git rev-parse --short=12 HEAD)}
work=$(mktemp -d /tmp/gatehouse-package-test.XXXXXX)
shots=target/package
serve_pid=

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
ok() { echo "package-test: ok: $*"; }
# A command that fails outside a check still says where.
trap 'echo "package-test: FAIL: line $LINENO: $BASH_COMMAND" >&2' ERR

cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
    case "$(dpkg-query -W -f='${Status}' gatehouse 2>/dev/null || true)" in
        "" | *not-installed) ;;
        *) $SUDO dpkg --purge gatehouse >/dev/null 2>&1 || true ;;
    esac
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 130' INT

case "$(dpkg-query -W -f='${Status}' gatehouse 2>/dev/null || true)" in
    "" | *not-installed) ;;
    *) trap - EXIT; rm -rf "$work"; fail "gatehouse is already installed here; this test installs and purges it (purge it first)" ;;
esac
if grep -rs '^path-exclude=/usr/share/man' /etc/dpkg/dpkg.cfg.d >/dev/null; then
    fail "dpkg here leaves out /usr/share/man (path-exclude in /etc/dpkg/dpkg.cfg.d), so the man pages cannot be checked"
fi

# apt-get ARGS..., quietly and without questions; its output is shown only when it fails.
apt_get() {
    local log="$work/apt-get.log"
    if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -y -qq "$@" > "$log" 2>&1; then
        cat "$log" >&2
        return 1
    fi
}

# Everything on the system a package could leave behind, apart from dpkg's and apt's own
# bookkeeping, caches and logs.
system_files() {
    $SUDO find /usr /etc /opt /var/lib /srv -xdev \
        \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/sudo \) -prune \
        -o -print | sort
}

# ---------------------------------------------------------------------------------------------
# 1. Control fields and file list
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = gatehouse ] || fail "Package is '$(field Package)', not gatehouse"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', not $version"
[ "$(field Architecture)" = amd64 ] || fail "Architecture is '$(field Architecture)'"
field Maintainer | grep -E '^[^<]+ <[^@ ]+@[^> ]+>$' >/dev/null \
    || fail "Maintainer is '$(field Maintainer)', not 'Name <address>'"
# Debian wraps a description at 80 columns; the bundler copies the long one line for line.
if dpkg-deb -f "$deb" Description | awk 'length > 80' | grep . >/dev/null; then
    fail "a Description line is over 80 columns"
fi
depends=$(field Depends)
for need in libwebkit2gtk-4.1-0 libgtk-3-0 libayatana-appindicator3-1 libdbus-1-3 libssl3; do
    grep -qE "(^|, )$need( |,|$)" <<<"$depends" || fail "Depends lacks $need: $depends"
done
ok "control: gatehouse $version amd64, Depends: $depends"

dpkg-deb -c "$deb" > "$work/contents"
# Only root owns what the package installs, and everything lives under /usr.
if awk '$2 != "root/root" && $2 != "0/0"' "$work/contents" | grep . >/dev/null; then
    fail "files not owned by root: $(awk '$2 != "root/root" && $2 != "0/0"' "$work/contents" | head -3)"
fi
# Absolute paths, whether the archive names them ./usr/... or usr/..., without trailing slashes.
awk '{print $6}' "$work/contents" | sed -E 's|^\./||; s|^|/|; s|/+$||' | grep -v '^$' > "$work/paths"
if grep -v '^/usr' "$work/paths" >/dev/null; then
    fail "files outside /usr: $(grep -v '^/usr' "$work/paths" | head -3)"
fi
expect=(
    /usr/bin/gatehouse
    /usr/share/applications/Gatehouse.desktop
    /usr/share/metainfo/app.gatehouse.desktop.metainfo.xml
    /usr/lib/systemd/system/gatehouse.service
    /usr/lib/systemd/user/gatehouse.service
    /usr/share/bash-completion/completions/gatehouse
    /usr/share/zsh/vendor-completions/_gatehouse
    /usr/share/fish/vendor_completions.d/gatehouse.fish
    /usr/share/man/man1/gatehouse.1.gz
    /usr/share/man/man1/gatehouse-serve.1.gz
    /usr/share/man/man1/gatehouse-export.1.gz
    /usr/share/man/man1/gatehouse-backup.1.gz
    /usr/share/doc/gatehouse/copyright
)
for size in 16 24 32 48 64 128 256; do
    expect+=("/usr/share/icons/hicolor/${size}x${size}/apps/gatehouse.png")
done
for path in "${expect[@]}"; do
    grep -qxF "$path" "$work/paths" || fail "the package lacks $path"
done
pages=$(grep -c '^/usr/share/man/man1/.*\.1\.gz$' "$work/paths")
ok "contents: ${#expect[@]} expected paths, $pages man pages, all root's, all under /usr"

# ---------------------------------------------------------------------------------------------
# 2. The files themselves
mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
desktop-file-validate "$work/x/usr/share/applications/Gatehouse.desktop" \
    || fail "desktop-file-validate refused the desktop entry"
grep -qx 'Exec=gatehouse' "$work/x/usr/share/applications/Gatehouse.desktop" \
    || fail "the desktop entry does not start gatehouse: $(grep Exec= "$work/x/usr/share/applications/Gatehouse.desktop")"
appstreamcli validate --no-net "$work/x/usr/share/metainfo/app.gatehouse.desktop.metainfo.xml" \
    || fail "appstreamcli refused the metainfo"
grep -q "<release version=\"$version\"" "$work/x/usr/share/metainfo/app.gatehouse.desktop.metainfo.xml" \
    || fail "the metainfo's newest release is not $version"
file "$work/x/usr/bin/gatehouse" | grep 'ELF 64-bit.*, stripped' >/dev/null \
    || fail "the binary is not a stripped ELF: $(file "$work/x/usr/bin/gatehouse")"
zcat "$work/x/usr/share/man/man1/gatehouse-serve.1.gz" | grep "^\.TH gatehouse-serve 1 .*$version" >/dev/null \
    || fail "gatehouse-serve(1) does not name version $version"
bash -n "$work/x/usr/share/bash-completion/completions/gatehouse" || fail "the bash completions do not parse"
cmp -s "$work/x/usr/lib/systemd/system/gatehouse.service" packaging/systemd/gatehouse.service \
    || fail "the packaged system unit differs from packaging/systemd/gatehouse.service"
cmp -s "$work/x/usr/lib/systemd/user/gatehouse.service" packaging/systemd/user/gatehouse.service \
    || fail "the packaged user unit differs from packaging/systemd/user/gatehouse.service"

# Depends covers every library the binary needs: each NEEDED library's package is a Depends
# or something a Depends pulls in.
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances $(sed 's/([^)]*)//g; s/,/ /g' <<<"$depends") 2>/dev/null \
    | sed -n 's/^ *\(Pre\)\?Depends: <\?\([^ >]*\)>\?.*/\2/p; /^[^ ]/p' | sort -u)
# The package that owns a library, under whichever name dpkg knows it: the link or its target,
# under /lib or /usr/lib (merged /usr makes them one directory, dpkg's database does not).
owner_of() {
    local real candidate
    real=$(realpath "$1")
    for candidate in "$1" "$real" "${1#/usr}" "${real#/usr}" "/usr${1#/usr}" "/usr${real#/usr}"; do
        dpkg -S "$candidate" 2>/dev/null | sed -n '1s/:.*//p' | grep . && return 0
    done
    return 0
}
for lib in $(readelf -d "$work/x/usr/bin/gatehouse" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    path=$(/sbin/ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64/ && !found {print $NF; found = 1}')
    [ -n "$path" ] || fail "$lib is not installed on this machine"
    owner=$(owner_of "$path")
    [ -n "$owner" ] || fail "no installed package owns $path ($lib)"
    grep -qxF "$owner" <<<"$closure" || fail "$lib comes from $owner, which Depends does not pull in"
done
size=$(stat -c %s "$work/x/usr/bin/gatehouse")
ok "files: desktop entry and metainfo valid, stripped binary of $size bytes, pages and completions of $version, Depends covers every NEEDED library"

# ---------------------------------------------------------------------------------------------
# 3. Install over an earlier version's data, then run the installed commands
home="$work/home"
data="$home/.local/share/gatehouse"
mkdir -p "$data"
cp crates/core/tests/fixtures/schema-11.db "$data/gatehouse.db"
chmod 700 "$data" && chmod 600 "$data/gatehouse.db"
user() { env -u XDG_DATA_HOME -u GATEHOUSE_DATA_DIR HOME="$home" "$@"; }

system_files > "$work/before"
apt_get install --no-install-recommends "$deb" || fail "apt-get install ./$(basename "$deb") failed"
dpkg-query -W -f='${Status} ${Version}' gatehouse | grep -x "install ok installed $version" >/dev/null \
    || fail "dpkg says: $(dpkg-query -W -f='${Status} ${Version}' gatehouse)"
[ "$(command -v gatehouse)" = /usr/bin/gatehouse ] || fail "gatehouse on PATH is $(command -v gatehouse)"
[ "$(gatehouse --version)" = "gatehouse $version (commit $commit)" ] \
    || fail "gatehouse --version says '$(gatehouse --version)', not 'gatehouse $version (commit $commit)'"
# Warnings about our units count; other units systemd-analyze happens to load do not.
systemd-analyze verify /usr/lib/systemd/system/gatehouse.service 2> "$work/verify.log" \
    || { cat "$work/verify.log"; fail "systemd-analyze verify refused the installed system unit"; }
! grep gatehouse "$work/verify.log" || fail "systemd-analyze warned about the installed system unit"
mkdir -m 700 "$work/runtime"
XDG_RUNTIME_DIR="$work/runtime" systemd-analyze --user verify /usr/lib/systemd/user/gatehouse.service 2> "$work/verify.log" \
    || { cat "$work/verify.log"; fail "systemd-analyze verify refused the installed user unit"; }
! grep gatehouse "$work/verify.log" || fail "systemd-analyze warned about the installed user unit"
man -w gatehouse-serve >/dev/null || fail "man cannot find gatehouse-serve(1)"
ok "installed: $(gatehouse --version); both units verify against /usr/bin/gatehouse and their man:gatehouse-serve(1)"

# One JSON line per stored event.
count_events() { user gatehouse export 2>/dev/null | wc -l; }
before=$(count_events)
user gatehouse endpoint add packaged --secret-file <(echo package-test-secret) >/dev/null
# Not through user(): $! must be serve itself, for SIGTERM to reach it.
env -u XDG_DATA_HOME -u GATEHOUSE_DATA_DIR HOME="$home" gatehouse serve --listen 127.0.0.1:0 \
    > "$work/serve.log" 2>&1 &
serve_pid=$!
base=
for _ in $(seq 100); do
    base=$(sed -n 's/.*Gatehouse listening on \(http:[^ ]*\).*/\1/p' "$work/serve.log" | sed -n 1p)
    [ -n "$base" ] && break
    sleep 0.1
done
[ -n "$base" ] || { cat "$work/serve.log"; fail "the installed serve did not start"; }
curl -fsS "$base/healthz" > "$work/healthz" || fail "GET $base/healthz failed"
user gatehouse send "$base/hooks/packaged" --secret-file <(echo package-test-secret) \
    --sample build-failed --profile "Package iOS" --branch main >/dev/null \
    || fail "the installed serve refused a signed delivery"
kill -TERM "$serve_pid"; wait "$serve_pid" || fail "serve did not stop cleanly on SIGTERM"
serve_pid=
after=$(count_events)
[ "$after" = $((before + 1)) ] || fail "expected $((before + 1)) events after one delivery, found $after"
ok "serve: /healthz answered $(tr -d '\n' < "$work/healthz" | cut -c 1-60), $before earlier events kept and one delivery stored"

# ---------------------------------------------------------------------------------------------
# 4. The installed app's window under Xvfb
export home shots
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash -c '
    set -euo pipefail
    export WEBKIT_DISABLE_COMPOSITING_MODE=1 NO_AT_BRIDGE=1
    env -u XDG_DATA_HOME -u GATEHOUSE_DATA_DIR HOME="$home" /usr/bin/gatehouse > "$home/app.log" 2>&1 &
    app=$!
    # Wait for it too: it may still write its database while it closes.
    trap "kill $app 2>/dev/null; wait $app 2>/dev/null || true" EXIT
    window=
    for _ in $(seq 300); do
        # The window whose title is Gatehouse (not any window of the class).
        window=$(xwininfo -root -tree 2>/dev/null \
            | awk "\$2 == \"\\\"Gatehouse\\\":\" && !found {print \$1; found = 1}" || true)
        [ -n "$window" ] && break
        kill -0 $app 2>/dev/null || { cat "$home/app.log"; echo "the app exited" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$window" ] || { cat "$home/app.log"; echo "no window titled Gatehouse within 30 s" >&2; exit 1; }
    xprop -id "$window" WM_CLASS | grep "\"gatehouse\"" >/dev/null \
        || { echo "WM_CLASS is $(xprop -id "$window" WM_CLASS), not the desktop entry StartupWMClass" >&2; exit 1; }
    # The dashboard is drawn once the stored failure shows as a red mark.
    red=0
    for _ in $(seq 60); do
        import -window root "$shots/installed-window.png"
        # Pixels with red above 70% and green and blue below 40%: the failure colour.
        red=$(convert "$shots/installed-window.png" \
            \( -clone 0 -channel R -separate +channel -threshold 70% \) \
            \( -clone 0 -channel G -separate +channel -negate -threshold 60% \) \
            \( -clone 0 -channel B -separate +channel -negate -threshold 60% \) \
            -delete 0 -evaluate-sequence min -format "%[fx:round(mean*w*h)]" info:)
        [ "$red" -gt 20 ] && break
        sleep 0.5
    done
    [ "$red" -gt 20 ] || { cat "$home/app.log"; echo "the window never drew the stored failure in red" >&2; exit 1; }
    echo "$red"
' > "$work/window.out" || fail "the installed app's window: $(tail -3 "$work/window.out")"
ok "window: the installed app opened 'Gatehouse' (WM_CLASS gatehouse) and drew the failure ($(tail -1 "$work/window.out") red pixels; $shots/installed-window.png)"

# ---------------------------------------------------------------------------------------------
# 5. Upgrade: this package re-versioned as newer, so that dpkg takes its upgrade path (prerm
#    upgrade, unpack over the old files, postinst configure OLD-VERSION). Nothing in the
#    package touches $HOME: this checks that it stays so. Migrating an older database is
#    checked above (the schema-11 fixture) and in the store's tests.
sum_data() { (cd "$data" && sha256sum gatehouse.db* | sort); }
sum_data > "$work/data.sum"
dpkg-deb -R "$deb" "$work/up"
sed -i "s/^Version: .*/Version: $version+upgrade/" "$work/up/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip -b "$work/up" "$work/gatehouse_upgrade_amd64.deb" >/dev/null
apt_get install --no-install-recommends "$work/gatehouse_upgrade_amd64.deb" || fail "the upgrade failed"
dpkg-query -W -f='${Version}' gatehouse | grep -x "$version+upgrade" >/dev/null || fail "the upgrade did not install"
sum_data | diff - "$work/data.sum" >/dev/null || fail "the upgrade changed the user's database"
[ "$(count_events)" = "$after" ] \
    || fail "after the upgrade the user's events are not all there"
ok "upgrade: $version -> $version+upgrade, the user's database byte for byte the same, $after events"
sum_data > "$work/data.sum" # reading it may have checkpointed its log

# ---------------------------------------------------------------------------------------------
# 6. Remove, then purge
apt_get remove gatehouse || fail "apt-get remove failed"
while read -r path; do
    [ -d "$path" ] && continue
    [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path is still there after remove"
done < "$work/paths"
$SUDO dpkg --purge gatehouse > /dev/null || fail "dpkg --purge failed"
status=$(dpkg-query -W -f='${Status}' gatehouse 2>/dev/null || true)
case "$status" in
    "" | *not-installed) ;;
    *) fail "after purge dpkg says: $status" ;;
esac
system_files > "$work/after"
if ! diff "$work/before" "$work/after" > "$work/left.diff"; then
    cat "$work/left.diff" >&2
    fail "the system differs from before the install (above)"
fi
sum_data | diff - "$work/data.sum" >/dev/null || fail "removing the package changed the user's database"
ok "removed and purged: no packaged file left, the system's file list as before the install, the user's data intact"
