//! A request body, bounded in size and in time, read only after access was granted.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::Limits;

fn too_large(limit: usize) -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, format!("request body over the {limit}-byte limit\n")).into_response()
}

/// Reads the whole body within [`Limits::body_deadline`] of its declared size (the size
/// limit when it is chunked) and hands it on; a declared size over the limit is refused
/// without reading a byte.
pub(crate) async fn bounded(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let chunked = request.headers().contains_key(TRANSFER_ENCODING);
    if !chunked && declared.unwrap_or(0u64) == 0 {
        return next.run(request).await;
    }
    if declared.is_some_and(|n| n > limits.max_body as u64) {
        return too_large(limits.max_body);
    }
    let deadline = limits.body_deadline(declared.unwrap_or(limits.max_body as u64));
    let (parts, body) = request.into_parts();
    match tokio::time::timeout(deadline, Limited::new(body, limits.max_body).collect()).await {
        Err(_) => (StatusCode::REQUEST_TIMEOUT, format!("the request body did not arrive within {deadline:?}\n"))
            .into_response(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => too_large(limits.max_body),
        Ok(Err(_)) => (StatusCode::BAD_REQUEST, "the request body was cut short\n").into_response(),
        Ok(Ok(collected)) => next.run(Request::from_parts(parts, Body::from(collected.to_bytes()))).await,
    }
}
