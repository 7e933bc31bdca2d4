//! The web dashboard in a real browser: Debian's chromium, headless, driven by its
//! chromedriver over W3C WebDriver, against a real `gatehouse serve` on loopback. Run by
//! `make web` (and so by `make test`), which installs chromium and chromium-driver; plain
//! `cargo test` skips it. Screenshots land in target/web/ (the README shows two of them).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::webdriver::Session;
use common::{BIN, Gatehouse, Server, free_port};
use serde_json::{Value, json};

const SECRET: &str = "web-test-secret";
const CSRF: &str = "X-Gatehouse-Request";

/// Headless chromium through chromedriver; WebDriver calls go to its [`Session`].
struct Browser {
    session: Session,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl std::ops::Deref for Browser {
    type Target = Session;
    fn deref(&self) -> &Session {
        &self.session
    }
}

impl Browser {
    fn start() -> Browser {
        let port = free_port();
        let driver =
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("chromedriver runs (apt install chromium-driver)");
        let profile = tempfile::tempdir().expect("profile dir");
        // Without the background-networking flags chromium keeps calling out to the
        // internet, which this machine refuses.
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let session = Session::open(
            &format!("http://127.0.0.1:{port}"),
            caps,
            Duration::from_secs(30),
        );
        Browser {
            session,
            driver,
            _profile: profile,
        }
    }

    /// Signs in on the sign-in page with `token`; waits until the page says `who`.
    fn sign_in(&self, token: &str, who: &str) {
        self.type_into("[data-testid=sign-in-token]", token);
        self.click("[data-testid=sign-in] button[type=submit]");
        self.wait_for(
            "document.querySelector('[data-testid=signed-in-as]')?.innerText ?? ''",
            json!(who),
            Duration::from_secs(5),
        );
    }

    fn go(&self, url: &str) {
        self.call("POST", "/url", Some(json!({"url": url})));
    }

    fn size(&self, width: u32, height: u32) {
        self.call(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// A PNG of the page into target/web/NAME.png.
    fn screenshot(&self, name: &str) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = base64_decode(png.as_str().expect("base64 png"));
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web");
        std::fs::create_dir_all(&dir).expect("target/web");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("screenshot");
    }

    /// The session cookie as the browser holds it (HttpOnly: only WebDriver can see it, and
    /// only on a page under its path).
    fn session_cookie(&self) -> Option<String> {
        self.call("GET", "/cookie", None)
            .as_array()?
            .iter()
            .find(|c| c["name"] == "gatehouse_session")
            .and_then(|c| c["value"].as_str().map(str::to_owned))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.session.close();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (WebDriver's screenshots), without a dependency for it.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | d << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

fn send(url: &str, args: &[&str]) {
    let out = Command::new(BIN)
        .args(["send", url, "--secret", SECRET])
        .args(args)
        .output()
        .expect("gatehouse send");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A build event of "Web App / main" for task `task`, with `extra` flags.
fn send_build(hook: &str, sample: &str, task: &str, extra: &[&str]) {
    let mut args = vec![
        "--sample",
        sample,
        "--profile",
        "Web App",
        "--branch",
        "main",
        "--task-id",
        task,
    ];
    args.extend_from_slice(extra);
    send(hook, &args);
}

/// A call to the rpc with only the session cookie (and the CSRF header or not): its status.
fn rpc_with_cookie(base: &str, cookie: &str, csrf: bool, request: Value) -> u16 {
    let mut req = ureq::post(&format!("{base}/api/v1/rpc"))
        .set("Cookie", &format!("gatehouse_session={cookie}"))
        .set("Content-Type", "application/json");
    if csrf {
        req = req.set(CSRF, "1");
    }
    match req.send_string(&request.to_string()) {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("transport: {e}"),
    }
}

const ROW: &str = r#"document.querySelector('[data-testid=stream-row][data-name="Web App / main"]')?.dataset.state ?? null"#;
/// Payload text that would run or inject something if it were rendered as HTML.
const HOSTILE: &str = r#"<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b id=injected>bold</b>"#;

#[test]
#[ignore = "needs chromium and chromium-driver: run `make web`"]
fn the_dashboard_in_a_browser_signs_in_updates_live_and_stays_read_only() {
    let inbox = Gatehouse::new();
    inbox.ok(&["endpoint", "add", "ci", "--secret", SECRET]);
    let read = inbox.ok(&["token", "add", "wall"]).trim().to_owned();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Server::start(inbox.data_dir(), &["--listen", &listen]);
    let base = server.base.clone();
    let hook = server.hook("ci");
    let rss_idle = server.rss_kib();

    let b = Browser::start();
    // 1. Sign in with a read token.
    b.go(&base);
    b.find("[data-testid=sign-in]");
    let paint = b.script(
        "return performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint')?.startTime ?? null;",
    );
    let transferred = b.script(
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).reduce((n, e) => n + e.transferSize, 0);",
    );
    b.type_into("[data-testid=sign-in-token]", "gh_inbox_not-a-real-token");
    b.click("[data-testid=sign-in] button[type=submit]");
    b.wait_for(
        "document.querySelector('[data-testid=sign-in-error]')?.innerText.includes('not valid') ?? false",
        json!(true),
        Duration::from_secs(5),
    );
    b.clear("[data-testid=sign-in-token]");
    b.sign_in(&read, "Signed in as wall (read only)");
    // The cookie is scoped to /api: WebDriver shows it on a page there.
    b.go(&format!("{base}/api/v1/session"));
    let cookie = b.session_cookie().expect("a session cookie");
    b.go(&base);
    b.find("[data-testid=signed-in-as]");
    assert_eq!(
        b.script("return document.cookie.includes('gatehouse_session');"),
        json!(false),
        "HttpOnly: the page's scripts cannot read the session"
    );
    assert_eq!(
        b.script("return localStorage.length + sessionStorage.length;"),
        json!(0),
        "the token is kept nowhere in the browser"
    );

    // 2. A delivery turns its row red within a second; its payload text stays text.
    send_build(&hook, "build-started", "t-web", &[]);
    b.wait_for(ROW, json!("running"), Duration::from_secs(5));
    let sent = Instant::now();
    send_build(&hook, "build-failed", "t-web", &["--message", HOSTILE]);
    let red = b.wait_for(ROW, json!("failing"), Duration::from_secs(1));
    let red_after_send = sent.elapsed();
    assert_eq!(
        b.script("return window.__pwned ?? null;"),
        Value::Null,
        "no script ran"
    );
    assert_eq!(b.script("return document.getElementById('injected') === null && document.querySelector('img[src=x]') === null;"), json!(true), "no element injected");
    assert_eq!(
        b.script("return document.body.innerText.includes('<script>window.__pwned=2</script>');"),
        json!(true),
        "the text is shown as it was sent"
    );
    b.screenshot("dashboard");

    // 3. Read only: no admin controls, and the server refuses the calls anyway.
    b.click("[data-testid=nav-endpoints]");
    b.find("[data-testid=endpoint]");
    assert_eq!(b.script("return document.querySelector('[data-testid=endpoint-create]') === null && document.querySelector('[data-testid=endpoint-admin]') === null;"), json!(true));
    assert_eq!(
        b.script("return document.querySelector('[data-testid=nav-settings]') === null;"),
        json!(true),
        "settings belong to the window"
    );
    let refused = b.script_async(
        "fetch('/api/v1/rpc', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Gatehouse-Request': '1'}, body: JSON.stringify({method: 'secrets', params: {name: 'ci'}})}).then(r => done(r.status));",
    );
    assert_eq!(refused, json!(403), "a read session cannot reveal secrets");
    // The CSRF header is enforced: the cookie alone changes nothing (and reads nothing).
    let no_header = b.script_async(
        "fetch('/api/v1/rpc', {method: 'POST', headers: {'Content-Type': 'text/plain'}, body: JSON.stringify({method: 'overview'})}).then(r => done(r.status));",
    );
    assert_eq!(no_header, json!(403));
    assert_eq!(
        rpc_with_cookie(&base, &cookie, false, json!({"method": "overview"})),
        403
    );
    assert_eq!(
        rpc_with_cookie(&base, &cookie, true, json!({"method": "overview"})),
        200
    );

    // 4. The radiator at 1920x1080, the dashboard at phone width.
    b.size(1920, 1080);
    b.go(&format!("{base}/#radiator"));
    b.wait_for(
        "document.querySelector('[data-testid=radiator]')?.dataset.state ?? null",
        json!("failing"),
        Duration::from_secs(5),
    );
    assert_eq!(b.script("return document.querySelectorAll('[data-testid=radiator] button, [data-testid=radiator] input').length;"), json!(0));
    b.screenshot("radiator-1920x1080");
    b.size(390, 844);
    b.go(&format!("{base}/#"));
    b.click("[data-testid=nav-dashboard]");
    b.wait_for(ROW, json!("failing"), Duration::from_secs(5));
    assert_eq!(
        b.script("return document.documentElement.scrollWidth <= window.innerWidth;"),
        json!(true),
        "nothing wider than a phone"
    );
    b.screenshot("dashboard-390x844");

    // 5. Twenty more browsers' streams: the inbox's memory.
    let streams: Vec<std::net::TcpStream> = (0..20)
        .map(|_| {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            write!(s, "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nCookie: gatehouse_session={cookie}\r\n\r\n").expect("request");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let rss_streams = server.rss_kib();
    drop(streams);

    // 6. The inbox goes away: the page says offline, then reconnects by itself.
    b.size(1280, 800);
    server.kill();
    b.wait_for(
        "document.querySelector('[data-testid=offline]') !== null",
        json!(true),
        Duration::from_secs(10),
    );
    let server = Server::start(inbox.data_dir(), &["--listen", &listen]);
    b.wait_for(
        "document.querySelector('[data-testid=offline]') === null",
        json!(true),
        Duration::from_secs(15),
    );
    send_build(&hook, "build-succeeded", "t-web2", &[]);
    b.wait_for(ROW, json!("passing"), Duration::from_secs(5));

    // 7. Signing out ends the session: the sign-in page, and the old cookie is refused.
    b.click("[data-testid=sign-out]");
    b.find("[data-testid=sign-in]");
    assert_eq!(
        rpc_with_cookie(&base, &cookie, true, json!({"method": "overview"})),
        401
    );

    // 8. An admin token shows the controls; revoking it (from the CLI, on the inbox) sends
    // the page back to signing in by itself, through the stream's end.
    let admin = inbox
        .ok(&["token", "add", "ops", "--admin"])
        .trim()
        .to_owned();
    b.sign_in(&admin, "Signed in as ops (admin)");
    b.click("[data-testid=nav-endpoints]");
    b.find("[data-testid=endpoint-admin]");
    inbox.ok(&["token", "revoke", "ops"]);
    b.wait_for(
        "document.querySelector('[data-testid=sign-in]') !== null",
        json!(true),
        Duration::from_secs(20),
    );

    eprintln!(
        "measured: first contentful paint {paint} ms (loopback, headless chromium); front end transferred {transferred} bytes (gzip); \
         delivery to red row {red:?} after the `send` finished ({red_after_send:?} from its start); \
         inbox RSS {} KiB idle, {} KiB with 21 browser streams open",
        rss_idle, rss_streams
    );
    drop(server);
}
