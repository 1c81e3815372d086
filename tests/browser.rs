//! A real browser for the page tests: Debian's headless Chromium driven through chromedriver
//! over the W3C WebDriver protocol (JSON over HTTP, a dozen commands, so a few functions here
//! rather than a client crate and its TLS stack). `Browser::start` says why it cannot run
//! (no Chromium, no chromedriver); with `ORDERLY_REQUIRE_BROWSER` set (`cargo xtask ci` sets
//! it when both are installed) that is a failure, not a skip.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    base: String,
    agent: ureq::Agent,
    _profile: tempfile::TempDir,
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(p.into());
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// Where the page tests' screenshots go (`ORDERLY_SCREENSHOTS`, set by `cargo xtask
/// screenshots`); none: no screenshots.
pub fn screenshot_dir() -> Option<PathBuf> {
    std::env::var_os("ORDERLY_SCREENSHOTS").map(PathBuf::from)
}

impl Browser {
    /// A new headless Chromium at `width` x `height`, or why there is none. Panics instead when
    /// `ORDERLY_REQUIRE_BROWSER` is set.
    pub fn start(width: u32, height: u32) -> Result<Browser, String> {
        let r = Self::try_start(width, height);
        if let Err(e) = &r
            && std::env::var_os("ORDERLY_REQUIRE_BROWSER").is_some()
        {
            panic!("ORDERLY_REQUIRE_BROWSER is set but the browser cannot run: {e}");
        }
        r
    }

    fn try_start(width: u32, height: u32) -> Result<Browser, String> {
        let chromium = find_binary(
            "ORDERLY_CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        )
        .ok_or("Chromium is not installed (apt-get install chromium chromium-driver)")?;
        let chromedriver = find_binary("ORDERLY_CHROMEDRIVER", &["/usr/bin/chromedriver"])
            .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
        let port = crate::free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromedriver.display()))?;
        let profile = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut b = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .new_agent(),
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(v) = b.call("GET", "/status", None)
                && v["ready"] == true
            {
                break;
            }
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready in 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--autoplay-policy=no-user-gesture-required".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", b._profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let v = b.call("POST", "/session", Some(caps))?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no session: {v}"))?;
        b.base = format!("{}/session/{id}", b.base);
        // The window size of the viewport, whatever the browser's chrome takes.
        let (w, h) = (width as i64, height as i64);
        let inner = b.eval("return [window.innerWidth, window.innerHeight]", json!([]));
        if let (Some(iw), Some(ih)) = (inner[0].as_i64(), inner[1].as_i64())
            && (iw, ih) != (w, h)
        {
            let _ = b.call(
                "POST",
                "/window/rect",
                Some(json!({"width": w + (w - iw), "height": h + (h - ih)})),
            );
        }
        Ok(b)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let resp = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut resp = resp.map_err(|e| format!("{method} {path}: {e}"))?;
        let status = resp.status().as_u16();
        let v: Value = resp
            .body_mut()
            .read_json()
            .map_err(|e| format!("{method} {path}: {e}"))?;
        if status >= 400 {
            return Err(format!(
                "{method} {path}: {status} {}",
                v["value"]["message"].as_str().unwrap_or("")
            ));
        }
        Ok(v["value"].clone())
    }

    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver: {e}"))
    }

    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page and returns its value.
    pub fn eval(&self, script: &str, args: Value) -> Value {
        self.must(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
    }

    fn element(&self, css: &str) -> Result<String, String> {
        let v = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        )?;
        v[ELEMENT]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no element {css}"))
    }

    /// Waits until `css` matches an element, then clicks it as a user would (scrolled into
    /// view, the pointer on its centre).
    pub fn click(&self, css: &str) {
        self.wait_for(
            &format!("element {css}"),
            Duration::from_secs(15),
            &format!("return !!document.querySelector({})", json!(css)),
        );
        self.on_element(css, "click", json!({}));
    }

    /// Runs an element command on `css`, finding it again if the page redrew it in between
    /// (a live page may replace an element between the lookup and the command).
    fn on_element(&self, css: &str, command: &str, body: Value) {
        let mut last = String::new();
        // Not interactable: covered or laid out again for a moment (a banner, a redraw).
        for _ in 0..20 {
            let id = self.element(css).unwrap_or_else(|e| panic!("{e}"));
            match self.call(
                "POST",
                &format!("/element/{id}/{command}"),
                Some(body.clone()),
            ) {
                Ok(_) => return,
                Err(e) if e.contains("stale element") || e.contains("not interactable") => last = e,
                Err(e) => panic!("webdriver: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("webdriver: {last}");
    }

    /// Types `text` into the element `css` (keystrokes, as a user would).
    pub fn type_into(&self, css: &str, text: &str) {
        self.wait_for(
            &format!("element {css}"),
            Duration::from_secs(15),
            &format!("return !!document.querySelector({})", json!(css)),
        );
        self.on_element(css, "value", json!({ "text": text }));
    }

    /// Polls `script` until it returns something truthy (not null, false, 0 or "") and returns it.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.eval(script, json!([]));
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let text = self.eval("return document.body.innerText.slice(0, 2000)", json!([]));
                panic!(
                    "timed out after {timeout:?} waiting for {what}; the page says:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page as a PNG, into `dir/name`.
    pub fn screenshot(&self, dir: &Path, name: &str) {
        use base64::Engine as _;
        self.eval("window.scrollTo(0, 0); return null", json!([]));
        let v = self.must("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .expect("base64 screenshot");
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
