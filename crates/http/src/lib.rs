//! tickloop-http: the HTTP layer under each of tickloop's servers — the dashboard, the model
//! server and the live runner's `/metrics`.
//!
//! Routes are [`axum::Router`]s. Connections are served by hyper directly rather than through
//! `axum::serve`, because what protects a server from a hostile client lives at the
//! connection, where `axum::serve` has no settings:
//!
//! - **a cap on open connections** ([`Limits::max_connections`]): to admit one more, the
//!   oldest connection that has not yet sent a whole request head is closed; when every
//!   connection is busy, the newcomer gets a 503. Threads are fixed (a small runtime of its
//!   own per server), so neither threads nor tasks grow with the number of clients;
//! - **one deadline for a request head** ([`Limits::head_timeout`]) and one for its body that
//!   grows with its size ([`Limits::min_body_rate`]), so a client trickling bytes is cut;
//! - **a write stall** ([`Limits::write_stall`]) after which a client that stopped reading is
//!   dropped: an event-stream viewer whose tab froze, a slow-read attack;
//! - **one request per connection** (`Connection: close`), so no idle keep-alive connection
//!   holds a slot;
//! - **access from the head alone** ([`Auth`]), before a byte of body is read: the token
//!   compared in constant time, and on an open loopback bind the `Host` header, which a
//!   DNS-rebinding page cannot set to `localhost`.
//!
//! Framing is hyper's (RFC 9112): conflicting or malformed `Content-Length`, header names
//! with spaces, folded header lines and unknown transfer codings are a 400 before any route
//! sees them; a request that names both `Transfer-Encoding` and `Content-Length` is one too.

mod access;
mod body;
mod conn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::middleware::{from_fn, from_fn_with_state};

pub use access::{Auth, query_param};

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

/// What one server tolerates from its clients.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections open at once, idle or busy.
    pub max_connections: usize,
    /// Time for a request's line and headers to arrive, from the moment it connects.
    pub head_timeout: Duration,
    /// The slowest upload accepted, in bytes per second: a body of `n` bytes must arrive
    /// within `head_timeout + n / min_body_rate`.
    pub min_body_rate: u64,
    /// Largest request body; a larger declared one is refused (413) without being read.
    pub max_body: usize,
    /// How long a response may wait on a client that does not read before it is dropped.
    pub write_stall: Duration,
    /// Requests handled at once by blocking work (a model's forward pass).
    pub blocking_threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 128,
            head_timeout: Duration::from_secs(10),
            min_body_rate: 64 * 1024,
            max_body: 64 * 1024,
            write_stall: Duration::from_secs(5),
            blocking_threads: 2,
        }
    }
}

impl Limits {
    /// The time a body of `bytes` may take to arrive.
    pub fn body_deadline(&self, bytes: u64) -> Duration {
        self.head_timeout + Duration::from_secs_f64(bytes as f64 / self.min_body_rate.max(1) as f64)
    }
}

/// A running server; dropping it stops it at once, [`Server::shutdown`] lets requests finish.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shared: Arc<conn::Shared>,
    accept: tokio::task::AbortHandle,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// Binds `addr` (port 0 picks one) and serves `router` there under `auth` and `limits`.
    /// `name` labels its threads and logs.
    pub fn start(name: &str, addr: &str, auth: &Auth, limits: Limits, router: Router) -> Result<Server, ServeError> {
        let bind = |source| ServeError::Bind { addr: addr.to_owned(), source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
        let bound = listener.local_addr().map_err(bind)?;
        let gate = Arc::new(access::Gate::new(auth, bound)?);
        listener.set_nonblocking(true).map_err(bind)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(limits.blocking_threads.max(1))
            .thread_name(format!("{name}-http"))
            .enable_all()
            .build()
            .map_err(bind)?;
        let limits = Arc::new(limits);
        // Outermost first: headers on every answer, then access, then the body's bounds.
        let router = router
            .layer(from_fn_with_state(limits.clone(), body::bounded))
            .layer(from_fn_with_state(gate, access::check))
            .layer(from_fn(access::common_headers));
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(bind)?
        };
        let shared = Arc::new(conn::Shared::new(limits, router));
        let accept = runtime.spawn(conn::accept_loop(listener, shared.clone())).abort_handle();
        tracing::info!(server = name, %bound, "listening");
        Ok(Server { addr: bound, shared, accept, runtime: Some(runtime) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections open now (at most [`Limits::max_connections`]).
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections()
    }

    /// Requests being answered now (an event stream counts until it ends).
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// Stops accepting, closes idle connections, waits up to `drain` for requests in flight
    /// and returns how many were still running when it gave up (0 on a clean drain).
    pub fn shutdown(mut self, drain: Duration) -> usize {
        self.accept.abort();
        self.shared.close_idle();
        let deadline = Instant::now() + drain;
        while self.shared.in_flight() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left = self.shared.in_flight();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_millis(200));
        }
        left
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs blocking work (a model's forward pass) off the server's async thread, on the bounded
/// pool [`Limits::blocking_threads`] sizes.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
