# Gatehouse: one entry point for people and CI. `make run` and `make test` install what is
# missing on a Debian/Ubuntu machine first (apt via sudo when not root, npm packages).

SHELL := /bin/bash
.DEFAULT_GOAL := help

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# What Tauri 2 needs to build and open a window on Linux (see shared notes / README).
APT_PACKAGES := build-essential pkg-config curl file libwebkit2gtk-4.1-dev \
	libayatana-appindicator3-dev librsvg2-dev libssl-dev \
	xvfb xauth dbus dbus-x11 at-spi2-core webkit2gtk-driver dunst imagemagick \
	libdbus-1-dev gnome-keyring chromium chromium-driver systemd \
	desktop-file-utils appstream x11-utils man-db faketime
NODE_MIN_MAJOR := 20
BIN := target/debug/gatehouse

.PHONY: release-size time-shifted e2e web disk-full soak fuzz footprint window-memory web-memory bindings-check package package-size package-test help deps apt-deps tool-deps ui-deps ui build run serve test check-fmt clippy cargo-test ui-check bench clean

help:
	@echo "make run    install what is missing, build, open the app"
	@echo "make serve  build and run the headless listener (gatehouse serve)"
	@echo "make test   install what is missing, then every check and test"
	@echo "make bench  every benchmark table in under 8 minutes once built (BENCH_FULL=1: the slow ones too)"
	@echo "make soak   the crash test for many rounds (kill -9 under load), with figures"
	@echo "make package  a release .deb in target/package/ (Tauri's bundler)"
	@echo "make time-shifted  the time-touching tests again with the clock moved (faketime)"
	@echo "make fuzz   the property/fuzz targets for FUZZ_SECONDS each (default 60)"

deps: apt-deps tool-deps ui-deps

apt-deps:
	@missing=(); for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$$p"); \
	done; \
	if (( $${#missing[@]} )); then \
		echo "Installing: $${missing[*]}"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends "$${missing[@]}"; \
	fi

tool-deps:
	@command -v cargo >/dev/null || { echo "Rust is missing: install it from https://rustup.rs" >&2; exit 1; }
	@cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
	@command -v tauri-driver >/dev/null || cargo install tauri-driver --locked
	@command -v node >/dev/null || { echo "Node.js $(NODE_MIN_MAJOR)+ is missing: install it (e.g. from nodesource)" >&2; exit 1; }
	@major=$$(node -p 'process.versions.node.split(".")[0]'); \
	  (( major >= $(NODE_MIN_MAJOR) )) || { echo "Node.js $(NODE_MIN_MAJOR)+ is needed, found $$(node --version)" >&2; exit 1; }

ui-deps: ui/node_modules/.package-lock.json

ui/node_modules/.package-lock.json: ui/package-lock.json
	npm --prefix ui ci --no-audit --no-fund
	@touch $@

# The window embeds ui/dist at compile time, so the front end is built before any cargo step;
# only when a source changed, since a new ui/dist makes cargo compile the app again (make
# bench's steps each asked for it, and each rebuilt the release binary).
UI_SOURCES := $(shell find ui/src ui/public -type f 2>/dev/null) ui/index.html ui/vite.config.ts ui/tsconfig.json
ui: ui/dist/index.html

ui/dist/index.html: $(UI_SOURCES) ui/node_modules/.package-lock.json
	npm --prefix ui run build

build: deps ui
	cargo build --locked

run: build
	$(BIN)

serve: build
	$(BIN) serve

check-fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets --locked -- -D warnings

cargo-test:
	cargo test --workspace --locked

ui-check:
	npm --prefix ui run check
	npm --prefix ui run lint
	npm --prefix ui run test

# The tests that touch time run again with the whole process's clock moved far ahead and to
# just after a month end and a leap day (faketime); a test that only passes today fails here.
# The full set (every core test and every front-end test) runs in make soak.
time-shifted: deps ui
	scripts/time-shifted.sh time

# ts-rs rewrites ui/src/bindings during `cargo test`; committed bindings must match the Rust types.
bindings-check:
	@git diff --exit-code --stat -- ui/src/bindings || { echo "ui/src/bindings is out of date: commit what cargo test generated" >&2; exit 1; }
	@test -z "$$(git ls-files --others --exclude-standard -- ui/src/bindings)" || { echo "new bindings in ui/src/bindings are not committed" >&2; exit 1; }

# The real window: Xvfb, a private D-Bus session, dunst, tauri-driver (see scripts/e2e.sh).
e2e: build
	scripts/e2e.sh

# The web dashboard in a real browser: Debian's chromium, headless, through chromedriver,
# against a real `gatehouse serve` (tests/web.rs). Screenshots land in target/web/.
web: build
	cargo test --locked --test web -- --ignored --test-threads=1 --nocapture --skip inbox_memory_with_twenty_browsers

# The inbox's memory with 20 headless chromiums signed in and live, first paint and the front
# end's transferred size (about a minute; in make bench, not make test).
web-memory: build
	cargo test --locked --test web -- --ignored --test-threads=1 --nocapture --exact inbox_memory_with_twenty_browsers

# A data directory on a filesystem that really fills up: a small tmpfs of its own (mounting
# needs root, as CI has; elsewhere the step says so and stops, unless DISK_FULL=skip).
FULL_DIR := target/disk-full
disk-full: build
	@mkdir -p $(FULL_DIR)
	@if ! $(SUDO) mount -t tmpfs -o size=8m,mode=0777 tmpfs $(FULL_DIR); then \
	  if [ "$(DISK_FULL)" = skip ]; then echo "disk-full: cannot mount a tmpfs here; skipped (DISK_FULL=skip)"; exit 0; fi; \
	  echo "disk-full: cannot mount a tmpfs (needs root or sudo); run as root, or DISK_FULL=skip" >&2; exit 1; \
	fi; \
	trap '$(SUDO) umount $(FULL_DIR)' EXIT; \
	GATEHOUSE_FULL_DIR=$(FULL_DIR) cargo test --locked --test disk_full -- --ignored --nocapture

# kill -9 at random moments under 8 senders, many rounds; prints acknowledged / stored / lost.
SOAK_ROUNDS ?= 60
soak: deps ui
	scripts/time-shifted.sh all
	CRASH_ROUNDS=$(SOAK_ROUNDS) cargo test --locked --release --test crash -- --nocapture
	cargo test --locked --release --test export -- --ignored --nocapture

FUZZ_SECONDS ?= 60
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) cargo test --locked --release -p gatehouse-core --test properties -- --nocapture --test-threads=1

test: deps ui ui-check check-fmt clippy cargo-test bindings-check time-shifted disk-full e2e web package-test

# The .deb, through Tauri's bundler (@tauri-apps/cli from ui/'s npm packages; it and
# @tauri-apps/api stay on the tauri crate's minor release, as `tauri build` demands), from the dist
# profile (fat LTO, stripped). The bundler compiles, then runs scripts/package-companions.sh
# (man pages and completions from the binary itself), then packs; the result is renamed to
# Debian's package_version_arch.deb in target/package/.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
DEB := target/package/gatehouse_$(VERSION)_amd64.deb
package: deps ui
	ui/node_modules/.bin/tauri build --ci --bundles deb -- --locked --profile dist
	@mkdir -p target/package
	cp target/dist/bundle/deb/Gatehouse_$(VERSION)_amd64.deb $(DEB)
	@ls -l target/dist/gatehouse $(DEB)

# The shipped binary's size beside an empty Tauri 2 app with the same crates and plugins
# (tools/empty-window), both built with the dist profile. In make bench, not make test.
package-size: package
	cargo build --locked --profile dist -p empty-window
	@stat -c '%n %s' target/dist/empty-window target/dist/gatehouse | awk ' \
	  { name[NR] = $$1; size[NR] = $$2 } \
	  END { printf "%-28s %12s %9s\n", "binary (dist: LTO, stripped)", "bytes", "vs empty"; \
	        for (i = 1; i <= NR; i++) printf "%-28s %12d %8.2fx\n", name[i], size[i], size[i] / size[1] }'

# Inspects, installs, runs, upgrades and removes that .deb on this machine (needs root or
# sudo; scripts/package-test.sh says what it checks).
package-test: package
	scripts/package-test.sh $(DEB)

# Ingest throughput (group commit vs. commit per delivery vs. the HTTP floor), history
# queries over 1,000,000 events, unauthenticated disk use, the inbox, the web dashboard's and
# the window's memory, and the binaries' size: every table, in under 8 minutes on this 2-core
# machine once built (the history's 1,000,000 events are filled once and kept in
# target/bench-data). BENCH_FULL=1 adds the slow ones: scripts/footprint.sh, the window with
# WebKit's GPU compositor kept, and the package's size from the dist profile (a whole-program
# link of 4 minutes), in place of the release binaries' stripped size.
bench: deps ui
	cargo bench --locked -p gatehouse-core --bench ingest
	cargo bench --locked -p gatehouse-core --bench history
	cargo bench --locked -p gatehouse-core --bench refused
	cargo bench --locked -p gatehouse-core --bench inbox
	cargo bench --locked -p gatehouse-core --bench latency
	$(MAKE) web-memory
	$(MAKE) window-memory
	@if [ -n "$(BENCH_FULL)" ]; then \
	  scripts/footprint.sh && $(MAKE) package-size; \
	else \
	  $(MAKE) release-size; \
	fi

# The release binaries' size, stripped as the package strips them (without the dist
# profile's whole-program link): a quick relative figure; `make package-size` is the one
# that ships.
release-size: deps ui
	cargo build --release --locked -p gatehouse -p empty-window
	@mkdir -p target/release-size
	@for b in empty-window gatehouse; do strip -o target/release-size/$$b target/release/$$b; done
	@stat -c '%n %s' target/release-size/empty-window target/release-size/gatehouse | awk ' \
	  { name[NR] = $$1; size[NR] = $$2 } \
	  END { printf "%-34s %12s %9s\n", "binary (release, stripped)", "bytes", "vs empty"; \
	        for (i = 1; i <= NR; i++) printf "%-34s %12d %8.2fx\n", name[i], size[i], size[i] / size[1] }'

# The window's memory against an empty Tauri window built the same way.
footprint: deps ui
	scripts/footprint.sh

# The figure that counts (README): the shared script's idle PSS with 10,000 deliveries in 90
# streams, against the empty window, in the same run; with BENCH_FULL=1 also the same with
# WebKit's GPU compositing kept (GATEHOUSE_WEBVIEW_GPU=1), which the window turns off.
SHARED ?= ../shared
window-memory: deps ui
	@test -x $(SHARED)/tools/window-memory.sh || { echo "window-memory: $(SHARED)/tools/window-memory.sh is missing (SHARED=DIR)" >&2; exit 1; }
	cargo build --release --locked -p gatehouse -p empty-window
	$(SHARED)/tools/window-memory.sh target/release/gatehouse target/release/empty-window
	@if [ -n "$(BENCH_FULL)" ]; then \
	  GATEHOUSE_WEBVIEW_GPU=1 $(SHARED)/tools/window-memory.sh target/release/gatehouse target/release/empty-window 2>&1 \
	    | tail -n 1 | sed 's/^window memory:/window memory, GPU compositing kept (GATEHOUSE_WEBVIEW_GPU=1):/'; \
	fi

clean:
	cargo clean
	rm -rf ui/dist ui/node_modules
