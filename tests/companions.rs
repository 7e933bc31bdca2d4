//! What a package ships beside the binary, made by the binary itself: `--version` with the
//! commit, shell completions and manual pages from the parser's own definitions.

mod common;

use std::process::Command;

use common::Gatehouse;

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let g = Gatehouse::new();
    let version = g.ok(&["--version"]);
    assert!(
        version.starts_with(&format!("gatehouse {}", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        // Built from this checkout (the commit may have moved on since the build only if
        // the tree was rebuilt without it: cargo reruns the build script when HEAD moves).
        Some(head) => assert!(version.contains(&format!("(commit {head})")), "{version}"),
        None => assert!(version.contains("(commit "), "{version}"),
    }
}

#[test]
fn completions_cover_every_command_and_bash_can_read_them() {
    let g = Gatehouse::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = g.ok(&["completions", shell]);
        for command in ["serve", "endpoint", "account", "token", "status", "follow"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    let bash = g.ok(&["completions", "bash"]);
    let path = g.data_dir().join("gatehouse.bash");
    std::fs::write(&path, bash).expect("write");
    let checked = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(
        checked.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    assert_eq!(
        g.run(&["completions", "powershell"]).status.code(),
        Some(64),
        "a shell it does not make completions for is a usage error"
    );
}

#[test]
fn manual_pages_are_written_for_every_command() {
    let g = Gatehouse::new();
    let out = g.data_dir().join("man");
    g.ok(&["man", "--out", out.to_str().expect("path")]);
    for page in [
        "gatehouse.1",
        "gatehouse-serve.1",
        "gatehouse-endpoint-add.1",
        "gatehouse-account-connect.1",
        "gatehouse-status.1",
    ] {
        let text =
            std::fs::read_to_string(out.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        let name = page.trim_end_matches(".1");
        assert!(text.contains(&format!(".TH {name} 1")), "{page}: {text}");
        assert!(text.contains(".SH NAME"), "{page}");
        assert!(
            text.contains(env!("CARGO_PKG_VERSION")),
            "{page} names the version"
        );
    }
    let main = std::fs::read_to_string(out.join("gatehouse.1")).expect("page");
    assert!(main.contains("serve"), "the commands are listed");
}
