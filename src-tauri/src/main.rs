// No console window on Windows release builds; the CLI still prints when run from a terminal.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    // Like other Unix tools, end quietly when the reader of our output goes away
    // (`gatehouse events | head`) instead of failing on a broken pipe.
    #[cfg(unix)]
    // SAFETY: called first thing, before any thread exists; SIG_DFL is always valid.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    std::process::exit(gatehouse_app::run());
}
