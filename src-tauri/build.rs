use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src-tauri/capabilities");
    println!("cargo:rerun-if-changed=tauri.conf.json");
    commit();
    tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("./src-tauri/capabilities/**/*"),
    )
    .expect("failed to run tauri-build");
}

/// The git commit `gatehouse --version` names: `GATEHOUSE_COMMIT` when the builder says it
/// (a build from a source tarball), else the checkout's HEAD, else "unknown". Rebuilt when
/// HEAD moves.
fn commit() {
    println!("cargo:rerun-if-env-changed=GATEHOUSE_COMMIT");
    let head = Path::new(".git/HEAD");
    if head.exists() {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Ok(text) = std::fs::read_to_string(head)
            && let Some(reference) = text.trim().strip_prefix("ref: ")
        {
            // Cargo takes a path that does not exist as changed, which rebuilt the app on
            // every cargo run in a checkout without packed-refs; so only what exists is
            // named. The branch's folder sees a commit write its ref there (where a fresh
            // clone may hold it in packed-refs alone).
            let reference = Path::new(".git").join(reference);
            let watched = [
                reference.parent().map(Path::to_path_buf),
                Some(Path::new(".git/packed-refs").to_path_buf()),
            ];
            for path in watched.into_iter().flatten().filter(|p| p.exists()) {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let commit = std::env::var("GATEHOUSE_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=GATEHOUSE_COMMIT={commit}");
}
