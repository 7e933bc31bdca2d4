//! A minimal W3C WebDriver client over plain HTTP, for the window (tauri-driver with
//! WebKitWebDriver, tests/e2e.rs) and the browser (chromium's chromedriver, tests/web.rs).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key of an element reference in WebDriver's answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// One WebDriver session.
pub struct Session {
    base: String,
    id: String,
}

impl Session {
    /// Opens a session at the driver on `base` with `capabilities`, waiting up to `limit`
    /// for the driver to start answering.
    pub fn open(base: &str, capabilities: Value, limit: Duration) -> Session {
        let deadline = Instant::now() + limit;
        loop {
            match ureq::post(&format!("{base}/session")).send_json(capabilities.clone()) {
                Ok(r) => {
                    let v: Value = r.into_json().expect("session json");
                    let id = v["value"]["sessionId"]
                        .as_str()
                        .expect("session id")
                        .to_owned();
                    return Session {
                        base: base.to_owned(),
                        id,
                    };
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("no WebDriver session: {e}"),
            }
        }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.id);
        let resp = match body {
            Some(b) => ureq::request(method, &url).send_json(b),
            None => ureq::request(method, &url).call(),
        };
        let resp = match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("webdriver {method} {path}: {e}"),
        };
        let v: Value =
            serde_json::from_str(&resp.into_string().unwrap_or_default()).unwrap_or(Value::Null);
        v["value"].clone()
    }

    /// The element `css` finds, waiting up to 10 s for it.
    pub fn find(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_owned();
            }
            assert!(Instant::now() < deadline, "no element {css}: {v}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn click(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css);
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        );
    }

    pub fn clear(&self, css: &str) {
        let id = self.find(css);
        self.call("POST", &format!("/element/{id}/clear"), Some(json!({})));
    }

    pub fn text(&self, css: &str) -> String {
        let id = self.find(css);
        self.call("GET", &format!("/element/{id}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The value of a JavaScript expression in the page.
    pub fn script(&self, expression: &str) -> Value {
        let expression = expression
            .trim()
            .trim_start_matches("return ")
            .trim_end_matches(';');
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({"script": format!("return ({expression});"), "args": []})),
        )
    }

    /// Runs `body` with `done` bound to the asynchronous script's callback; returns what it
    /// was called with.
    pub fn script_async(&self, body: &str) -> Value {
        let wrapped = format!("const done = arguments[arguments.length - 1]; {body}");
        self.call(
            "POST",
            "/execute/async",
            Some(json!({"script": wrapped, "args": []})),
        )
    }

    /// Polls `expression` until it is `want`; returns how long that took.
    pub fn wait_for(&self, expression: &str, want: Value, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let got = self.script(expression);
            if got == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "waited {limit:?} for `{expression}` to be {want}, last {got}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ends the session (the driver closes the window or browser).
    pub fn close(&self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.id)).call();
    }
}
