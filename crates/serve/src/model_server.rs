//! The model server: SageMaker's inference-container contract over any [`Predictor`].
//!
//! `GET /ping` answers 200 with an empty body (the server starts only once the model is
//! loaded); `POST /invocations` takes `application/json` or `text/csv` windows
//! ([`tickloop_models::invocation`]) and answers predictions. Malformed input is a 400
//! naming the instance and the problem, a body over the limit (SageMaker's 6 MB by
//! default) a 413 without reading it, an unknown content type a 415.
//!
//! Bound to a loopback address it is open to requests addressed to localhost; elsewhere it
//! needs a token (`Authorization: Bearer`), unless the caller states that the network in
//! front of it authenticates (a SageMaker endpoint is reachable only through the signed
//! runtime API).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tickloop_http::{Auth, Limits, ServeError, Server};
use tickloop_models::Predictor;
use tickloop_models::invocation::{InvocationRequest, InvocationResponse, PredictionOut, windows_from_csv};

#[derive(Clone)]
pub struct ModelServerConfig {
    pub addr: String,
    /// Required on every request when set.
    pub token: Option<String>,
    /// Serve a non-loopback address without a token (behind SageMaker's authenticated API).
    pub open_behind_gateway: bool,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Time for a request's head to arrive (its body gets more, in proportion to its size).
    pub head_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

impl std::fmt::Debug for ModelServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelServerConfig")
            .field("addr", &self.addr)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("open_behind_gateway", &self.open_behind_gateway)
            .field("max_body", &self.max_body)
            .field("head_timeout", &self.head_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

impl Default for ModelServerConfig {
    fn default() -> Self {
        ModelServerConfig {
            addr: "127.0.0.1:8080".into(),
            token: None,
            open_behind_gateway: false,
            max_body: 6 * 1024 * 1024,
            head_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(25),
        }
    }
}

/// A running model server; [`ModelServer::shutdown`] stops it cleanly.
#[derive(Debug)]
pub struct ModelServer {
    server: Server,
    drain_timeout: Duration,
}

const ROUTES: &str = "GET /ping, POST /invocations\n";

impl ModelServer {
    pub fn start(model: Arc<dyn Predictor>, config: ModelServerConfig) -> Result<Self, ServeError> {
        let limits = Limits { max_body: config.max_body, head_timeout: config.head_timeout, ..Limits::default() };
        Self::start_with(model, config, limits)
    }

    /// As [`ModelServer::start`], with every HTTP limit chosen by the caller.
    pub fn start_with(
        model: Arc<dyn Predictor>,
        config: ModelServerConfig,
        limits: Limits,
    ) -> Result<Self, ServeError> {
        let router = Router::new()
            .route("/ping", get(|| async { StatusCode::OK }))
            .route("/invocations", post(invocations))
            .method_not_allowed_fallback(|| async { (StatusCode::METHOD_NOT_ALLOWED, ROUTES) })
            .fallback(|| async { (StatusCode::NOT_FOUND, format!("not found: {ROUTES}")) })
            .with_state(model);
        let auth =
            Auth { token: config.token, token_in_query: false, open_beyond_loopback: config.open_behind_gateway };
        let server = Server::start("model-server", &config.addr, &auth, limits, router)?;
        Ok(ModelServer { server, drain_timeout: config.drain_timeout })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The HTTP server underneath (its connection and request counts).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Stops accepting, waits (bounded) for requests in flight, and returns how many were
    /// still running when it gave up (0 on a clean drain).
    pub fn shutdown(self) -> usize {
        self.server.shutdown(self.drain_timeout)
    }
}

async fn invocations(State(model): State<Arc<dyn Predictor>>, headers: HeaderMap, body: Bytes) -> Response {
    tickloop_http::blocking(move || invoke(model.as_ref(), &headers, &body)).await
}

fn plain(status: StatusCode, message: String) -> Response {
    (status, message).into_response()
}

fn invoke(model: &dyn Predictor, headers: &HeaderMap, body: &[u8]) -> Response {
    let card = model.card();
    let header = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok()).unwrap_or("");
    let content_type = header(CONTENT_TYPE).split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let parsed = match content_type.as_str() {
        "application/json" => serde_json::from_slice::<InvocationRequest>(body)
            .map_err(|e| format!("malformed JSON: {e}"))
            .and_then(|r| {
                let symbols = r.instances.iter().map(|i| i.symbol.clone()).collect::<Vec<_>>();
                r.windows(card).map(|w| (w, symbols))
            }),
        "text/csv" => std::str::from_utf8(body)
            .map_err(|_| "the CSV body is not UTF-8".to_owned())
            .and_then(|text| windows_from_csv(text, card))
            .map(|w| {
                let n = w.len() / card.window_len().max(1);
                (w, vec![None; n])
            }),
        other => {
            let msg = format!("unsupported content type {other:?}: send application/json or text/csv\n");
            return plain(StatusCode::UNSUPPORTED_MEDIA_TYPE, msg);
        }
    };
    let (windows, symbols) = match parsed {
        Ok(p) if p.1.is_empty() => return plain(StatusCode::BAD_REQUEST, "no instances to predict\n".into()),
        Ok(p) => p,
        Err(why) => {
            tracing::debug!(why, "rejected invocation");
            return plain(StatusCode::BAD_REQUEST, format!("{why}\n"));
        }
    };
    let predictions = match model.predict(&windows) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "prediction failed");
            return plain(StatusCode::INTERNAL_SERVER_ERROR, format!("prediction failed: {e}\n"));
        }
    };
    if header(ACCEPT).contains("text/csv") {
        let body: String = predictions.iter().map(|p| format!("{p}\n")).collect();
        return ([(CONTENT_TYPE, "text/csv")], body).into_response();
    }
    let response = InvocationResponse {
        model: card.id(),
        predictions: predictions
            .into_iter()
            .zip(symbols)
            .map(|(log_return, symbol)| PredictionOut { symbol, log_return })
            .collect(),
    };
    ([(CONTENT_TYPE, "application/json")], serde_json::to_vec(&response).expect("JSON serialises")).into_response()
}
