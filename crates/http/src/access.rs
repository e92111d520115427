//! Who may use a server, decided from the request head alone.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::ServeError;

/// Who may use a server.
#[derive(Clone, Default)]
pub struct Auth {
    /// Required on every request when set (`Authorization: Bearer`, or `?token=` where
    /// allowed).
    pub token: Option<String>,
    /// Also accept the token as `?token=` (a page's `EventSource` cannot set headers).
    pub token_in_query: bool,
    /// Serve a non-loopback address without a token, because the network in front
    /// authenticates (a SageMaker endpoint, a scrape network).
    pub open_beyond_loopback: bool,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_in_query", &self.token_in_query)
            .field("open_beyond_loopback", &self.open_beyond_loopback)
            .finish()
    }
}

/// What a request must show, decided once the bound address is known.
#[derive(Debug)]
pub(crate) enum Gate {
    /// The network in front authenticates.
    Open,
    /// An open loopback bind: only requests addressed to this machine by name. A page on
    /// another origin that rebinds its DNS name to 127.0.0.1 still sends its own name.
    LoopbackHost,
    /// The token's digest: comparing digests takes the same time whatever the guess.
    Token { digest: [u8; 32], in_query: bool },
}

impl Gate {
    pub(crate) fn new(auth: &Auth, bound: SocketAddr) -> Result<Gate, ServeError> {
        match auth.token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Ok(Gate::Token { digest: digest(token), in_query: auth.token_in_query }),
            None if bound.ip().is_loopback() => Ok(Gate::LoopbackHost),
            None if auth.open_beyond_loopback => Ok(Gate::Open),
            None => Err(ServeError::TokenRequired(bound)),
        }
    }

    fn check(&self, headers: &HeaderMap, uri: &Uri) -> Result<(), (StatusCode, &'static str)> {
        match self {
            Gate::Open => Ok(()),
            Gate::LoopbackHost => match headers.get(HOST).and_then(|h| h.to_str().ok()) {
                Some(host) if is_loopback_host(host) => Ok(()),
                _ => Err((StatusCode::FORBIDDEN, "this server answers only requests addressed to localhost\n")),
            },
            Gate::Token { digest: expected, in_query } => {
                let bearer =
                    headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
                let query = in_query.then(|| query_param(uri.query().unwrap_or(""), "token")).flatten();
                let valid =
                    bearer.into_iter().chain(query).fold(false, |ok, given| ok | same(&digest(given), expected));
                if valid { Ok(()) } else { Err((StatusCode::UNAUTHORIZED, "a valid token is required\n")) }
            }
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal digests, in time independent of where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let difference = a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// A `Host` value naming this machine: `localhost` (or a `.localhost` name, RFC 6761) or a
/// loopback address, with or without a port.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inside, port)) if port.is_empty() || port.strip_prefix(':').is_some_and(is_port) => inside,
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) if is_port(port) => name,
            Some(_) => return false,
            None => host,
        },
    };
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn is_port(s: &str) -> bool {
    !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The value of `name` in a query string (not percent-decoded: tokens are URL-safe).
pub fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Refuses a request that may not be served, before its body is read.
pub(crate) async fn check(State(gate): State<Arc<Gate>>, request: Request, next: Next) -> Response {
    // Two framings at once is how requests are smuggled past a proxy: refuse it outright.
    if request.headers().contains_key(TRANSFER_ENCODING) && request.headers().contains_key(CONTENT_LENGTH) {
        return (StatusCode::BAD_REQUEST, "send Content-Length or Transfer-Encoding, not both\n").into_response();
    }
    match gate.check(request.headers(), request.uri()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Headers every answer carries: nothing is cached, sniffed into another type or framed.
pub(crate) async fn common_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.entry(CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_the_machine_itself_by_name_or_address() {
        for host in ["localhost", "LOCALHOST:8080", "localhost.", "app.localhost:1", "127.0.0.1", "127.0.0.1:80"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["[::1]", "[::1]:8080", "127.1.2.3:9"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in ["evil.example", "evil.example:8080", "localhost.evil.example", "10.0.0.1", "[::2]:80", ""] {
            assert!(!is_loopback_host(host), "{host}");
        }
        for host in ["localhost:", "localhost:80:80", "localhost:x", "[::1]x", "127.0.0.1:123456"] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn the_gate_follows_the_bind_and_the_token() {
        let loopback: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let anywhere: SocketAddr = "0.0.0.0:1".parse().unwrap();
        assert!(matches!(Gate::new(&Auth::default(), loopback), Ok(Gate::LoopbackHost)));
        assert!(matches!(Gate::new(&Auth::default(), anywhere), Err(ServeError::TokenRequired(_))));
        let gateway = Auth { open_beyond_loopback: true, ..Auth::default() };
        assert!(matches!(Gate::new(&gateway, anywhere), Ok(Gate::Open)));
        let empty = Auth { token: Some(String::new()), ..Auth::default() };
        assert!(matches!(Gate::new(&empty, anywhere), Err(ServeError::TokenRequired(_))));

        let auth = Auth { token: Some("s3cret".into()), token_in_query: true, ..Auth::default() };
        let gate = Gate::new(&auth, anywhere).unwrap();
        let headers = |auth: &str| {
            let mut h = HeaderMap::new();
            h.insert(AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
            h
        };
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert!(gate.check(&headers("Bearer s3cret"), &uri("/")).is_ok());
        assert!(gate.check(&HeaderMap::new(), &uri("/?a=1&token=s3cret")).is_ok());
        assert_eq!(gate.check(&headers("Bearer s3cre"), &uri("/")).unwrap_err().0, StatusCode::UNAUTHORIZED);
        assert_eq!(gate.check(&headers("s3cret"), &uri("/?token=x")).unwrap_err().0, StatusCode::UNAUTHORIZED);
        let header_only = Gate::new(&Auth { token_in_query: false, ..auth }, anywhere).unwrap();
        assert!(header_only.check(&HeaderMap::new(), &uri("/?token=s3cret")).is_err());
    }

    #[test]
    fn auth_never_prints_its_token() {
        let auth = Auth { token: Some("s3cret".into()), ..Auth::default() };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
