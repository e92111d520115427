//! The model server: SageMaker's inference-container contract over any [`Predictor`].
//!
//! `GET /ping` answers 200 with an empty body (the server starts only once the model is
//! loaded); `POST /invocations` takes `application/json` or `text/csv` windows
//! ([`tickloop_models::invocation`]) and answers predictions. Malformed input is a 400
//! naming the instance and the problem, a body over the limit (SageMaker's 6 MB by
//! default) a 413 without reading it, an unknown content type a 415.
//!
//! Bound to a loopback address it is open; elsewhere it needs a token (`Authorization:
//! Bearer`), unless the caller states that the network in front of it authenticates (a
//! SageMaker endpoint is reachable only through the signed runtime API).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tickloop_models::Predictor;
use tickloop_models::invocation::{InvocationRequest, InvocationResponse, PredictionOut, windows_from_csv};

use crate::ServeError;
use crate::http::{Request, read_request, respond, respond_read_error};

#[derive(Debug, Clone)]
pub struct ModelServerConfig {
    pub addr: String,
    /// Required on every request when set.
    pub token: Option<String>,
    /// Serve a non-loopback address without a token (behind SageMaker's authenticated API).
    pub open_behind_gateway: bool,
    /// Largest request body accepted.
    pub max_body: usize,
    /// Per-read timeout for a request.
    pub read_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

impl Default for ModelServerConfig {
    fn default() -> Self {
        ModelServerConfig {
            addr: "127.0.0.1:8080".into(),
            token: None,
            open_behind_gateway: false,
            max_body: 6 * 1024 * 1024,
            read_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(25),
        }
    }
}

/// A running model server; [`ModelServer::shutdown`] stops it cleanly.
#[derive(Debug)]
pub struct ModelServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
    in_flight: Arc<AtomicUsize>,
    drain_timeout: Duration,
}

impl ModelServer {
    pub fn start(model: Arc<dyn Predictor>, config: ModelServerConfig) -> Result<Self, ServeError> {
        let bind_err = |source| ServeError::Bind { addr: config.addr.clone(), source };
        let listener = TcpListener::bind(&config.addr).map_err(bind_err)?;
        let addr = listener.local_addr().map_err(bind_err)?;
        let token = config.token.clone().filter(|t| !t.is_empty());
        if !addr.ip().is_loopback() && token.is_none() && !config.open_behind_gateway {
            return Err(ServeError::TokenRequired(addr));
        }
        // Non-blocking accept, so the loop notices a shutdown request.
        listener.set_nonblocking(true).map_err(bind_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared { model, token, max_body: config.max_body, read_timeout: config.read_timeout });
        let (stop_flag, counter) = (stop.clone(), in_flight.clone());
        let accept = std::thread::Builder::new()
            .name("model-server".into())
            .spawn(move || {
                while !stop_flag.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = stream.set_nonblocking(false);
                            counter.fetch_add(1, Ordering::AcqRel);
                            let (shared, done) = (shared.clone(), counter.clone());
                            let spawned = std::thread::Builder::new().name("model-conn".into()).spawn(move || {
                                handle(stream, &shared);
                                done.fetch_sub(1, Ordering::AcqRel);
                            });
                            if spawned.is_err() {
                                counter.fetch_sub(1, Ordering::AcqRel);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                        }
                        Err(e) => tracing::warn!(error = %e, "accept failed"),
                    }
                }
            })
            .map_err(bind_err)?;
        tracing::info!(%addr, "model server listening");
        Ok(ModelServer { addr, stop, accept: Some(accept), in_flight, drain_timeout: config.drain_timeout })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, waits (bounded) for requests in flight, and returns how many were
    /// still running when it gave up (0 on a clean drain).
    pub fn shutdown(mut self) -> usize {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let deadline = Instant::now() + self.drain_timeout;
        while self.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.in_flight.load(Ordering::Acquire)
    }
}

#[derive(Debug)]
struct Shared {
    model: Arc<dyn Predictor>,
    token: Option<String>,
    max_body: usize,
    read_timeout: Duration,
}

fn handle(mut stream: TcpStream, shared: &Shared) {
    let request = match read_request(&mut stream, shared.max_body, shared.read_timeout) {
        Ok(r) => r,
        Err(e) => return respond_read_error(&mut stream, &e),
    };
    if let Some(expected) = &shared.token
        && request.bearer() != Some(expected.as_str())
    {
        return respond(&mut stream, "401 Unauthorized", "text/plain", b"a valid bearer token is required\n");
    }
    match (request.method.as_str(), request.path.as_str()) {
        ("GET", "/ping") => respond(&mut stream, "200 OK", "text/plain", b""),
        ("POST", "/invocations") => invoke(&mut stream, &request, shared.model.as_ref()),
        (_, "/ping" | "/invocations") => {
            respond(&mut stream, "405 Method Not Allowed", "text/plain", b"GET /ping, POST /invocations\n")
        }
        _ => respond(&mut stream, "404 Not Found", "text/plain", b"not found: GET /ping, POST /invocations\n"),
    }
}

fn bad_request(stream: &mut TcpStream, why: &str) {
    tracing::debug!(why, "rejected invocation");
    respond(stream, "400 Bad Request", "text/plain", format!("{why}\n").as_bytes());
}

fn invoke(stream: &mut TcpStream, request: &Request, model: &dyn Predictor) {
    let card = model.card();
    let content_type = request.header("content-type").unwrap_or("").split(';').next().unwrap_or("").trim();
    let parsed = match content_type.to_ascii_lowercase().as_str() {
        "application/json" => serde_json::from_slice::<InvocationRequest>(&request.body)
            .map_err(|e| format!("malformed JSON: {e}"))
            .and_then(|r| {
                let symbols = r.instances.iter().map(|i| i.symbol.clone()).collect::<Vec<_>>();
                r.windows(card).map(|w| (w, symbols))
            }),
        "text/csv" => std::str::from_utf8(&request.body)
            .map_err(|_| "the CSV body is not UTF-8".to_owned())
            .and_then(|text| windows_from_csv(text, card))
            .map(|w| {
                let n = w.len() / card.window_len().max(1);
                (w, vec![None; n])
            }),
        other => {
            let msg = format!("unsupported content type {other:?}: send application/json or text/csv\n");
            return respond(stream, "415 Unsupported Media Type", "text/plain", msg.as_bytes());
        }
    };
    let (windows, symbols) = match parsed {
        Ok(p) => p,
        Err(why) => return bad_request(stream, &why),
    };
    if symbols.is_empty() {
        return bad_request(stream, "no instances to predict");
    }
    let predictions = match model.predict(&windows) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "prediction failed");
            let msg = format!("prediction failed: {e}\n");
            return respond(stream, "500 Internal Server Error", "text/plain", msg.as_bytes());
        }
    };
    let wants_csv = request.header("accept").is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let body: String = predictions.iter().map(|p| format!("{p}\n")).collect();
        return respond(stream, "200 OK", "text/csv", body.as_bytes());
    }
    let response = InvocationResponse {
        model: card.id(),
        predictions: predictions
            .into_iter()
            .zip(symbols)
            .map(|(log_return, symbol)| PredictionOut { symbol, log_return })
            .collect(),
    };
    respond(stream, "200 OK", "application/json", &serde_json::to_vec(&response).expect("JSON serialises"));
}
