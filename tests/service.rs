//! The inbox as a systemd service: the units in packaging/systemd pass `systemd-analyze
//! verify` and keep their hardening, and `gatehouse serve` reports readiness and stopping
//! on the notify socket (`Type=notify`).

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{BIN, Gatehouse};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The unit with this build's binary in ExecStart (verify checks that it exists).
fn unit_with_this_binary(dir: &Path, unit: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join(unit)).expect("unit");
    assert!(
        text.contains("ExecStart=/usr/bin/gatehouse serve"),
        "{unit}"
    );
    let path = dir.join("gatehouse.service");
    std::fs::write(&path, text.replace("/usr/bin/gatehouse", BIN)).expect("write");
    path
}

/// `systemd-analyze [--user] verify` of `unit`, with `unit_path` searched first for its
/// drop-ins when given.
fn analyze(unit: &Path, user: bool, runtime: &Path, unit_path: Option<&Path>) -> Output {
    let mut cmd = Command::new("systemd-analyze");
    if user {
        cmd.arg("--user");
    }
    if let Some(dir) = unit_path {
        // The trailing `:` keeps the default search path after it.
        cmd.env("SYSTEMD_UNIT_PATH", format!("{}:", dir.display()));
    }
    cmd.args(["verify", "--man=no"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", runtime)
        .output()
        .expect("systemd-analyze (apt install systemd; make test installs it)")
}

fn verify(unit: &Path, user: bool, runtime: &Path) {
    let out = analyze(unit, user, runtime, None);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify {}: {}",
        unit.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_units_pass_systemd_analyze_verify_and_stay_hardened() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tempfile::tempdir().expect("runtime dir");
    let system = dir.path().join("system");
    let user = dir.path().join("user");
    std::fs::create_dir_all(&system).expect("dir");
    std::fs::create_dir_all(&user).expect("dir");
    let unit = unit_with_this_binary(&system, "packaging/systemd/gatehouse.service");
    verify(&unit, false, runtime.path());
    let text = std::fs::read_to_string(&unit).expect("unit");
    for line in [
        "Type=notify",
        "DynamicUser=yes",
        "StateDirectory=gatehouse",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "NoNewPrivileges=yes",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "CapabilityBoundingSet=",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "the system unit lacks {line}"
        );
    }
    let unit = unit_with_this_binary(&user, "packaging/systemd/user/gatehouse.service");
    verify(&unit, true, runtime.path());
    let text = std::fs::read_to_string(&unit).expect("unit");
    assert!(text.contains("Type=notify") && text.contains("WantedBy=default.target"));

    // A broken unit is caught: the check can fail.
    let broken = system.join("broken.service");
    std::fs::write(&broken, text.replace("Type=notify", "Type=notifyy")).expect("write");
    let out = analyze(&broken, false, runtime.path(), None);
    assert!(!out.status.success() || !out.stderr.is_empty());
}

/// Under systemd, `serve` says READY=1 once it listens and STOPPING=1 when SIGTERM makes it
/// drain.
#[test]
fn serve_tells_systemd_when_it_is_ready_and_when_it_stops() {
    let g = Gatehouse::new();
    let socket_path = g.data_dir().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("GATEHOUSE_DATA_DIR", g.data_dir())
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).expect("READY=1 within 30 s");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.starts_with("READY=1\n"), "{ready}");
    assert!(
        ready.contains("STATUS=Listening on http://127.0.0.1:"),
        "{ready}"
    );
    // SAFETY: a plain kill(2) of our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let n = socket.recv(&mut buf).expect("STOPPING=1");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("STOPPING=1"));
    assert!(child.wait().expect("exit").success());
}

/// The README's TLS drop-in (`systemctl edit gatehouse`), as printed there, applied to the
/// system unit: systemd accepts the two together. Without the README's `ExecStart=` line that
/// clears the unit's own, systemd refuses them (two ExecStart= in a notify service).
#[test]
fn the_readmes_tls_drop_in_passes_systemd_analyze_verify() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README");
    let after = readme
        .split_once("sudo systemctl edit gatehouse")
        .expect("the README's drop-in section")
        .1;
    let block = after
        .split_once("```ini\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("an ini block after it")
        .0;
    assert!(block.contains("LoadCredential=") && block.contains("ExecStart=\n"));

    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tempfile::tempdir().expect("runtime dir");
    let unit = unit_with_this_binary(dir.path(), "packaging/systemd/gatehouse.service");
    let drop_ins = dir.path().join("gatehouse.service.d");
    std::fs::create_dir(&drop_ins).expect("dir");
    let verify_with = |drop_in: &str| {
        std::fs::write(
            drop_ins.join("tls.conf"),
            drop_in.replace("/usr/bin/gatehouse", BIN),
        )
        .expect("write");
        // Drop-ins are looked up along the unit path.
        analyze(&unit, false, runtime.path(), Some(dir.path()))
    };
    let out = verify_with(block);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "the README's drop-in: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = verify_with(&block.replace("ExecStart=\n", ""));
    assert!(
        !out.status.success(),
        "a second ExecStart= without the reset is refused"
    );
}
