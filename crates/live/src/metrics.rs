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
