//! Chromium driven over the DevTools protocol, for tests that must see what a user sees:
//! script run in the page (clicks, reading the URL, a chart's data), screenshots at a given
//! viewport, and the renderer's own count of the main thread's busy time.
//!
//! The protocol travels over `--remote-debugging-pipe` (file descriptors 3 and 4, messages
//! ended by a NUL byte), so there is no port to pick, no WebSocket client to depend on, and
//! the browser exits when the test drops it.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The flags every test browser runs with: headless, no sandbox (tests run as root), nothing
/// that reaches the network on its own, and shared memory in /tmp rather than /dev/shm, which
/// containers often size at 64 MB — too little for two pages that draw 1,000 symbols, and a
/// browser that runs out of it crashes without a word.
pub const HEADLESS_FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// A headless Chromium with one page attached.
pub struct Browser {
    child: Child,
    to_browser: std::fs::File,
    from_browser: BufReader<std::fs::File>,
    session: String,
    next_id: u64,
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser").field("pid", &self.child.id()).field("session", &self.session).finish()
    }
}

/// Where a protocol call went wrong.
#[derive(Debug)]
pub struct BrowserError(pub String);

impl std::fmt::Display for BrowserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BrowserError {}

type Result<T> = std::result::Result<T, BrowserError>;

fn io(context: &str) -> impl Fn(std::io::Error) -> BrowserError + '_ {
    move |e| BrowserError(format!("{context}: {e}"))
}

impl Browser {
    /// Starts `binary` headless with a fresh profile under `profile` and attaches to its page.
    pub fn launch(binary: &Path, profile: &Path) -> Result<Self> {
        let (ours_from, theirs_to) = std::io::pipe().map_err(io("pipe"))?;
        let (theirs_from, ours_to) = std::io::pipe().map_err(io("pipe"))?;
        // The browser reads fd 3 and writes fd 4: a shell moves the pipes there from stdin and
        // stdout (no unsafe fork-time code), then execs the browser in its own place.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null 2>/dev/null"#)
            .arg(binary)
            .args(HEADLESS_FLAGS)
            .args(["--remote-debugging-pipe", "--hide-scrollbars", "--mute-audio"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::from(theirs_from))
            .stdout(Stdio::from(theirs_to))
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("starting the browser"))?;
        let mut browser = Browser {
            child,
            to_browser: std::fs::File::from(OwnedFd::from(ours_to)),
            from_browser: BufReader::new(std::fs::File::from(OwnedFd::from(ours_from))),
            session: String::new(),
            next_id: 0,
        };
        let targets = browser.call_browser("Target.getTargets", json!({}))?;
        let page = targets["targetInfos"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["targetId"].as_str())
            .ok_or_else(|| BrowserError(format!("no page target: {targets}")))?
            .to_owned();
        let attached = browser.call_browser("Target.attachToTarget", json!({ "targetId": page, "flatten": true }))?;
        browser.session = attached["sessionId"].as_str().unwrap_or_default().to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Performance.enable"] {
            browser.call(domain, json!({}))?;
        }
        Ok(browser)
    }

    fn send(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        let mut bytes = serde_json::to_vec(&message).expect("JSON serialises");
        bytes.push(0);
        self.to_browser.write_all(&bytes).map_err(io(method))?;
        loop {
            let mut reply = Vec::new();
            self.from_browser.read_until(0, &mut reply).map_err(io(method))?;
            if reply.pop() != Some(0) {
                return Err(BrowserError(format!("{method}: the browser closed the pipe")));
            }
            let reply: Value = serde_json::from_slice(&reply).map_err(|e| BrowserError(format!("{method}: {e}")))?;
            // Events (no id) and other calls' replies are not this call's.
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                return Err(BrowserError(format!("{method}: {error}")));
            }
            return Ok(reply["result"].clone());
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> Result<Value> {
        self.send(None, method, params)
    }

    /// A protocol call on the page's session.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value> {
        let session = self.session.clone();
        self.send(Some(&session), method, params)
    }

    /// Sets the viewport (CSS pixels); `mobile` also emulates a phone's viewport rules.
    pub fn viewport(&mut self, width: u32, height: u32, mobile: bool) -> Result<()> {
        let params = json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile });
        self.call("Emulation.setDeviceMetricsOverride", params).map(drop)
    }

    pub fn navigate(&mut self, url: &str) -> Result<()> {
        let done = self.call("Page.navigate", json!({ "url": url }))?;
        match done.get("errorText") {
            Some(error) => Err(BrowserError(format!("navigating to {url}: {error}"))),
            None => Ok(()),
        }
    }

    /// The value of `expression` evaluated in the page (promises awaited), as JSON.
    pub fn eval(&mut self, expression: &str) -> Result<Value> {
        let params = json!({ "expression": expression, "awaitPromise": true, "returnByValue": true });
        let out = self.call("Runtime.evaluate", params)?;
        if let Some(exception) = out.get("exceptionDetails") {
            return Err(BrowserError(format!("{expression}: {exception}")));
        }
        Ok(out["result"]["value"].clone())
    }

    /// Evaluates `condition` until it is true, for at most `timeout`.
    pub fn wait_for(&mut self, condition: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            // Until the page's scripts have loaded, the condition may name what is not there.
            if self.eval(&format!("Boolean({condition})")).ok() == Some(Value::Bool(true)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(BrowserError(format!("still not true after {timeout:?}: {condition}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Moves the mouse to `(x, y)` in CSS pixels of the viewport, as a user's mouse would.
    pub fn mouse_move(&mut self, x: f64, y: f64) -> Result<()> {
        self.call("Input.dispatchMouseEvent", json!({ "type": "mouseMoved", "x": x, "y": y })).map(drop)
    }

    /// A PNG of the viewport.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .map_err(|e| BrowserError(format!("screenshot: {e}")))?;
        std::fs::write(path, png).map_err(io("writing the screenshot"))
    }

    /// The renderer's cumulative main-thread time in seconds: `TaskDuration` (all of it),
    /// `ScriptDuration`, `LayoutDuration`, `RecalcStyleDuration`.
    pub fn main_thread_secs(&mut self, metric: &str) -> Result<f64> {
        let metrics = self.call("Performance.getMetrics", json!({}))?;
        metrics["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == metric))
            .and_then(|m| m["value"].as_f64())
            .ok_or_else(|| BrowserError(format!("no metric {metric}: {metrics}")))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
