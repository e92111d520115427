//! tickloop-serve: the live dashboard and the model server (SageMaker's inference contract).
//!
//! A small HTTP server on std threads (no framework, no async runtime: the dashboard serves a
//! handful of viewers, and the runner's hot loop must not share an executor with it). The
//! page and its script are embedded in the binary, so nothing is fetched from the internet.
//! Updates reach the page as server-sent events at most once a second, carrying the whole
//! overview (1,000 symbols is ~150 KB of JSON, well within a second on localhost).
//!
//! Bound to a loopback address it is open; bound anywhere else it requires a token
//! (`?token=` on the page URL, or `Authorization: Bearer`).

mod http;
mod model_server;
mod remote;
mod state;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{read_request, respond, respond_read_error};
pub use model_server::{ModelServer, ModelServerConfig};
pub use remote::RemoteModel;
pub use state::{DashboardState, Health};

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("binding {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a loopback address: set a token to serve it there")]
    TokenRequired(SocketAddr),
}

/// A running dashboard server.
#[derive(Debug, Clone)]
pub struct Dashboard {
    state: Arc<Mutex<DashboardState>>,
    addr: SocketAddr,
}

impl Dashboard {
    /// Serves `state` on `addr` (e.g. `127.0.0.1:8080`; port 0 picks one) in background
    /// threads. A non-loopback address needs `token`.
    pub fn serve(addr: &str, token: Option<String>, state: Arc<Mutex<DashboardState>>) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr: addr.to_owned(), source })?;
        let bound = listener.local_addr().map_err(|source| ServeError::Bind { addr: addr.to_owned(), source })?;
        if !bound.ip().is_loopback() && token.as_deref().is_none_or(str::is_empty) {
            return Err(ServeError::TokenRequired(bound));
        }
        let token: Arc<Option<String>> = Arc::new(token.filter(|t| !t.is_empty()));
        let shared = state.clone();
        std::thread::Builder::new()
            .name("dashboard".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (state, token) = (shared.clone(), token.clone());
                    let _ = std::thread::Builder::new()
                        .name("dashboard-conn".into())
                        .spawn(move || handle(stream, &state, token.as_deref()));
                }
            })
            .map_err(|source| ServeError::Bind { addr: addr.to_owned(), source })?;
        tracing::info!(%bound, "dashboard serving");
        Ok(Dashboard { state, addr: bound })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &Arc<Mutex<DashboardState>> {
        &self.state
    }
}

fn handle(mut stream: TcpStream, state: &Mutex<DashboardState>, token: Option<&str>) {
    let request = match read_request(&mut stream, 0, Duration::from_secs(5)) {
        Ok(r) => r,
        Err(e) => return respond_read_error(&mut stream, &e),
    };
    if request.method != "GET" {
        return respond(&mut stream, "405 Method Not Allowed", "text/plain", b"GET only\n");
    }
    if let Some(expected) = token {
        let given = request.bearer().or_else(|| request.query_param("token"));
        if given != Some(expected) {
            return respond(&mut stream, "401 Unauthorized", "text/plain", b"a valid token is required\n");
        }
    }
    let json = |value: serde_json::Value| serde_json::to_vec(&value).expect("JSON serialises");
    match request.path.as_str() {
        "/" | "/index.html" => {
            let overview = state.lock().expect("not poisoned").overview();
            // `</` cannot end the script element early once escaped.
            let data = serde_json::to_string(&overview).expect("JSON serialises").replace("</", "<\\/");
            let page = INDEX_HTML
                .replace("<!--INITIAL-->", &format!(r#"<script type="application/json" id="initial">{data}</script>"#));
            respond(&mut stream, "200 OK", "text/html; charset=utf-8", page.as_bytes());
        }
        "/app.js" => respond(&mut stream, "200 OK", "text/javascript; charset=utf-8", APP_JS.as_bytes()),
        "/api/overview" => {
            let body = json(state.lock().expect("not poisoned").overview());
            respond(&mut stream, "200 OK", "application/json", &body);
        }
        "/api/symbol" => {
            let symbol = request.query_param("s").unwrap_or_default();
            match state.lock().expect("not poisoned").detail(symbol) {
                Some(detail) => respond(&mut stream, "200 OK", "application/json", &json(detail)),
                None => respond(&mut stream, "404 Not Found", "text/plain", b"no such symbol\n"),
            }
        }
        "/events" => stream_events(stream, state),
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"not found\n"),
    }
}

/// Server-sent events: the overview once a second while it changes, until the page goes.
fn stream_events(mut stream: TcpStream, state: &Mutex<DashboardState>) {
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: keep-alive\r\n\r\n";
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut sent = u64::MAX;
    loop {
        let update = {
            let state = state.lock().expect("not poisoned");
            (state.version() != sent).then(|| (state.version(), state.overview()))
        };
        let written = match update {
            Some((version, overview)) => {
                sent = version;
                let data = serde_json::to_string(&overview).expect("JSON serialises");
                write!(stream, "event: overview\ndata: {data}\n\n")
            }
            None => stream.write_all(b": idle\n\n"),
        };
        if written.and_then(|()| stream.flush()).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read};

    fn get(addr: SocketAddr, target: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn the_event_stream_pushes_the_overview_as_it_changes() {
        use tickloop_core::{SymbolId, Tick, Timestamp};
        let state = Arc::new(Mutex::new(DashboardState::default()));
        let d = Dashboard::serve("127.0.0.1:0", None, state.clone()).unwrap();
        let tick =
            |sec: i64, px: f64| Tick::at_price(SymbolId::new(0), Timestamp::from_secs(1_704_205_800 + sec), px, 1.0);
        state.lock().unwrap().on_tick("AAA", &tick(0, 10.0), &[]);
        let mut s = TcpStream::connect(d.addr()).unwrap();
        write!(s, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reader = BufReader::new(s);
        let mut events = Vec::new();
        let mut line = String::new();
        while events.len() < 2 {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if let Some(data) = line.strip_prefix("data: ") {
                events.push(serde_json::from_str::<serde_json::Value>(data).unwrap());
                state.lock().unwrap().on_tick("AAA", &tick(1, 11.0), &[]);
            }
        }
        assert_eq!(events[0]["symbols"][0]["price"], 10.0);
        assert_eq!(events[1]["symbols"][0]["price"], 11.0);
    }

    #[test]
    fn serves_the_page_json_and_refuses_what_it_should() {
        let state = Arc::new(Mutex::new(DashboardState::default()));
        let d = Dashboard::serve("127.0.0.1:0", None, state).unwrap();
        let page = get(d.addr(), "/");
        assert!(
            page.starts_with("HTTP/1.1 200 OK") && page.contains(r#"<script type="application/json" id="initial">{"#)
        );
        assert!(get(d.addr(), "/app.js").contains("EventSource"));
        let overview = get(d.addr(), "/api/overview");
        assert!(overview.contains("\"symbols\":[]"), "{overview}");
        assert!(get(d.addr(), "/api/symbol?s=NOPE").starts_with("HTTP/1.1 404"));
        assert!(get(d.addr(), "/etc/passwd").starts_with("HTTP/1.1 404"));

        let locked = Dashboard::serve("127.0.0.1:0", Some("s3cret".into()), Arc::default()).unwrap();
        assert!(get(locked.addr(), "/").starts_with("HTTP/1.1 401"));
        assert!(get(locked.addr(), "/?token=s3cret").starts_with("HTTP/1.1 200"));
        assert!(matches!(Dashboard::serve("0.0.0.0:0", None, Arc::default()), Err(ServeError::TokenRequired(_))));
    }
}
