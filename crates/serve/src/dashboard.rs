//! The dashboard server: the page, its JSON, and server-sent events carrying the overview.
//!
//! The overview is serialised once per change of the state, however many viewers there are:
//! [`Published`] keeps the last one, and whoever finds it stale (a viewer's stream, a page
//! load) copies the rows out under the state's lock and serialises them after letting go, so
//! the runner, which takes that lock per tick, waits only for the copy.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tickloop_http::{Auth, Limits, ServeError, Server, query_param};

use crate::state::DashboardState;

const INDEX_HTML: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
/// TradingView Lightweight Charts 5.2.1, unchanged (licence and provenance beside it in
/// `assets/vendor/`): candles, panes and a time axis that hand-drawn canvas did not have.
const CHARTS_JS: &str = include_str!("../assets/vendor/lightweight-charts.js");
/// Scripts, styles and connections from this server only; inline styles for the embedded
/// page's look; nothing may frame it.
const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How the dashboard serves.
#[derive(Debug, Clone)]
pub struct DashboardOptions {
    pub http: Limits,
    /// How often an event stream sends the overview (when it changed) or a keep-alive.
    pub update_every: Duration,
    /// Event streams open at once; more get 503 (each holds a connection for as long as
    /// its page is open).
    pub max_streams: usize,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        DashboardOptions {
            http: Limits { max_body: 0, ..Limits::default() },
            update_every: Duration::from_secs(1),
            max_streams: 32,
        }
    }
}

/// A running dashboard server.
#[derive(Debug, Clone)]
pub struct Dashboard {
    state: Arc<Mutex<DashboardState>>,
    server: Arc<Server>,
}

impl Dashboard {
    /// Serves `state` on `addr` (e.g. `127.0.0.1:8080`; port 0 picks one). A non-loopback
    /// address needs `token` (`?token=` on the page URL, or `Authorization: Bearer`).
    pub fn serve(addr: &str, token: Option<String>, state: Arc<Mutex<DashboardState>>) -> Result<Self, ServeError> {
        Self::serve_with(addr, token, state, DashboardOptions::default())
    }

    pub fn serve_with(
        addr: &str,
        token: Option<String>,
        state: Arc<Mutex<DashboardState>>,
        options: DashboardOptions,
    ) -> Result<Self, ServeError> {
        let app = Arc::new(App {
            published: Published { state: state.clone(), latest: Mutex::default() },
            streams: Arc::new(tokio::sync::Semaphore::new(options.max_streams)),
            update_every: options.update_every,
        });
        let router = Router::new()
            .route("/", get(page))
            .route("/index.html", get(page))
            .route("/app.js", get(|| async { with_type("text/javascript; charset=utf-8", APP_JS) }))
            .route(
                "/vendor/lightweight-charts.js",
                get(|| async { with_type("text/javascript; charset=utf-8", CHARTS_JS) }),
            )
            .route("/api/overview", get(overview))
            .route("/api/symbol", get(symbol))
            .route("/events", get(events))
            .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
            .with_state(app);
        let auth = Auth { token, token_in_query: true, open_beyond_loopback: false };
        let server = Server::start("dashboard", addr, &auth, options.http, router)?;
        Ok(Dashboard { state, server: Arc::new(server) })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    pub fn state(&self) -> &Arc<Mutex<DashboardState>> {
        &self.state
    }

    /// The HTTP server underneath (its connection and request counts).
    pub fn server(&self) -> &Server {
        &self.server
    }
}

#[derive(Debug)]
struct App {
    published: Published,
    streams: Arc<tokio::sync::Semaphore>,
    update_every: Duration,
}

/// The overview as JSON, serialised once per version of the state.
#[derive(Debug)]
struct Published {
    state: Arc<Mutex<DashboardState>>,
    latest: Mutex<Option<(u64, Bytes)>>,
}

impl Published {
    /// The state's current version and its overview's JSON.
    fn latest(&self) -> (u64, Bytes) {
        let mut latest = self.latest.lock().expect("not poisoned");
        let overview = {
            let state = self.state.lock().expect("not poisoned");
            match &*latest {
                Some((version, json)) if *version == state.version() => return (*version, json.clone()),
                _ => state.overview(),
            }
        };
        let json = Bytes::from(serde_json::to_vec(&overview).expect("JSON serialises"));
        *latest = Some((overview.version, json.clone()));
        (overview.version, json)
    }
}

fn with_type(content_type: &'static str, body: impl Into<Body>) -> Response {
    ([(CONTENT_TYPE, HeaderValue::from_static(content_type))], body.into()).into_response()
}

async fn page(State(app): State<Arc<App>>) -> Response {
    let (_, json) = app.published.latest();
    // `</` cannot end the script element early once escaped.
    let data = String::from_utf8_lossy(&json).replace("</", "<\\/");
    let page = INDEX_HTML
        .replace("<!--INITIAL-->", &format!(r#"<script type="application/json" id="initial">{data}</script>"#));
    let mut response = with_type("text/html; charset=utf-8", page);
    response.headers_mut().insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

async fn overview(State(app): State<Arc<App>>) -> Response {
    with_type("application/json", app.published.latest().1)
}

async fn symbol(State(app): State<Arc<App>>, request: Request) -> Response {
    let symbol = query_param(request.uri().query().unwrap_or(""), "s").unwrap_or_default();
    // Serialised under the lock: one symbol's chart is a few tens of kilobytes, the cost of
    // copying it out first.
    let detail = {
        let state = app.published.state.lock().expect("not poisoned");
        state.detail(symbol).map(|d| serde_json::to_vec(&d).expect("JSON serialises"))
    };
    match detail {
        Some(json) => with_type("application/json", json),
        None => (StatusCode::NOT_FOUND, "no such symbol\n").into_response(),
    }
}

/// Server-sent events: the overview when it changed, a comment otherwise, every
/// `update_every`, until the page goes (or stops reading: the connection's write stall).
async fn events(State(app): State<Arc<App>>) -> Response {
    let Ok(permit) = app.streams.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many event streams open\n").into_response();
    };
    let stream = futures_util::stream::unfold((app, None::<u64>, permit), |(app, sent, permit)| async move {
        if sent.is_some() {
            tokio::time::sleep(app.update_every).await;
        }
        let (version, json) = app.published.latest();
        let chunk = if sent == Some(version) {
            Bytes::from_static(b": idle\n\n")
        } else {
            Bytes::from([&b"event: overview\ndata: "[..], &json, b"\n\n"].concat())
        };
        Some((Ok::<_, std::convert::Infallible>(chunk), (app, Some(version), permit)))
    });
    with_type("text/event-stream", Body::from_stream(stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{SocketAddr, TcpStream};

    fn get(addr: SocketAddr, target: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: localhost:{}\r\n\r\n", addr.port()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn the_event_stream_pushes_the_overview_as_it_changes() {
        use tickloop_core::{SymbolId, Tick, Timestamp};
        let state = Arc::new(Mutex::new(DashboardState::default()));
        let options = DashboardOptions { update_every: Duration::from_millis(100), ..DashboardOptions::default() };
        let d = Dashboard::serve_with("127.0.0.1:0", None, state.clone(), options).unwrap();
        let tick =
            |sec: i64, px: f64| Tick::at_price(SymbolId::new(0), Timestamp::from_secs(1_704_205_800 + sec), px, 1.0);
        state.lock().unwrap().on_tick("AAA", &tick(0, 10.0), &[]);
        let mut s = TcpStream::connect(d.addr()).unwrap();
        write!(s, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
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
        assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
        assert!(page.contains(r#"<script type="application/json" id="initial">{"#), "{page}");
        let head = page.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        for header in
            ["content-security-policy: default-src 'none'", "x-content-type-options: nosniff", "x-frame-options: deny"]
        {
            assert!(head.contains(header), "{header} in {head}");
        }
        assert!(get(d.addr(), "/app.js").contains("EventSource"));
        assert!(get(d.addr(), "/vendor/lightweight-charts.js").contains("TradingView Lightweight Charts"));
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
