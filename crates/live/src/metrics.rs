//! `GET /metrics`: the runner's Prometheus text, on tickloop-http.

use std::sync::Arc;

/// Serves `GET /metrics` (Prometheus text) from `metrics` on `addr`, until the returned
/// server is dropped. Open beyond loopback (scrapers rarely carry tokens, and the numbers
/// are throughput and latency), but on loopback only to requests addressed to localhost.
pub fn serve_metrics(
    addr: &str,
    metrics: Arc<std::sync::Mutex<String>>,
) -> Result<tickloop_http::Server, tickloop_http::ServeError> {
    use axum::http::header::CONTENT_TYPE;
    let router = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let text = metrics.lock().map(|m| m.clone()).unwrap_or_default();
                async move { ([(CONTENT_TYPE, "text/plain; version=0.0.4")], text) }
            }),
        )
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "try /metrics\n") });
    let auth = tickloop_http::Auth { open_beyond_loopback: true, ..tickloop_http::Auth::default() };
    let limits = tickloop_http::Limits { max_body: 0, max_connections: 16, ..tickloop_http::Limits::default() };
    tickloop_http::Server::start("metrics", addr, &auth, limits, router)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: std::net::SocketAddr, path: &str, host: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn metrics_are_served_as_prometheus_text_to_local_scrapers_only() {
        let text = Arc::new(std::sync::Mutex::new("tickloop_records_total 42\n".to_owned()));
        let server = serve_metrics("127.0.0.1:0", text.clone()).unwrap();
        let answer = get(server.addr(), "/metrics", "localhost");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("text/plain; version=0.0.4") && answer.ends_with("tickloop_records_total 42\n"));
        *text.lock().unwrap() = "tickloop_records_total 43\n".into();
        assert!(get(server.addr(), "/metrics", "127.0.0.1").ends_with("43\n"), "the latest text, not a copy");
        assert!(get(server.addr(), "/", "localhost").starts_with("HTTP/1.1 404"));
        assert!(get(server.addr(), "/metrics", "evil.example").starts_with("HTTP/1.1 403"));
    }
}
