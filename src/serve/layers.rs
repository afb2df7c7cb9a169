//! What wraps every request: its id, the bearer-token check, the access
//! log and request metrics, and OpenAI-shaped answers for unknown routes.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::api_error::ApiError;
use super::{ServeEvent, State as Shared};

/// The request's id: its `x-request-id` when it sent a usable one, else
/// one made here. Handlers read it from the request's extensions.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(pub String);

const REQUEST_ID: &str = "x-request-id";

/// Ids the server accepts from a client: short, printable, no spaces, so
/// one can neither forge log lines nor fill the log.
fn usable(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A fresh id: a counter hashed with the standard library's per-process
/// random keys, so ids differ across restarts and need no RNG crate.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(NEXT.fetch_add(1, Ordering::Relaxed));
    format!("req_{:016x}", h.finish())
}

/// The route as a metric label: the routes there are, or `other`, so a
/// scanner probing paths cannot make the label set grow.
fn route_label(path: &str) -> &'static str {
    match path {
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/runs" => "/v1/runs",
        "/healthz" => "/healthz",
        "/metrics" => "/metrics",
        _ => "other",
    }
}

pub(crate) async fn around(
    State(state): State<Arc<Shared>>,
    mut request: Request,
    next: Next,
) -> Response {
    let arrived = Instant::now();
    let id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| usable(id))
        .map_or_else(new_id, str::to_string);
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    request.extensions_mut().insert(RequestId(id.clone()));

    let mut response = match authorize(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(e) => {
            state.metrics.rejected("unauthorized");
            e.into_response()
        }
    };
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        state.metrics.rejected("too_large");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    let elapsed = arrived.elapsed();
    state.metrics.request(route_label(&path), status, elapsed);
    state.log(ServeEvent::Request {
        id,
        method,
        path,
        status,
        elapsed,
    });
    response
}

/// Every route but `/healthz` needs the token when one is set; a load
/// balancer's health check has none.
fn authorize(state: &Shared, request: &Request) -> Result<(), ApiError> {
    let Some(token) = &state.options.auth else {
        return Ok(());
    };
    if request.uri().path() == "/healthz" {
        return Ok(());
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(given) = given else {
        return Err(ApiError::unauthorized(
            "this server needs a bearer token: send `Authorization: Bearer TOKEN`",
        ));
    };
    let bearer = given
        .strip_prefix("Bearer ")
        .or_else(|| given.strip_prefix("bearer "));
    match bearer {
        Some(t) if token.matches(t.trim()) => Ok(()),
        _ => Err(ApiError::unauthorized(
            "the bearer token is wrong: send `Authorization: Bearer TOKEN` with the server's token",
        )),
    }
}

pub(crate) async fn unknown_route(method: Method, uri: Uri) -> Response {
    ApiError::invalid(
        format!(
            "no route `{method} {}`; this server has `POST /v1/chat/completions`, `POST /v1/runs`, `GET /healthz` and `GET /metrics`",
            uri.path()
        ),
        None,
        "unknown_route",
    )
    .with_status(StatusCode::NOT_FOUND)
    .into_response()
}

pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let allowed = match uri.path() {
        "/healthz" | "/metrics" => "GET",
        _ => "POST",
    };
    let mut response = ApiError::invalid(
        format!("`{}` takes `{allowed}`, not `{method}`", uri.path()),
        None,
        "method_not_allowed",
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
    .into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allowed));
    response
}

/// A request body as JSON, or the OpenAI-shaped reason it is not: too
/// large (`413`), labelled as something else (`415`), not JSON (`400`).
pub(crate) fn json_body(
    headers: &axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    max_body: usize,
) -> Result<serde_json::Value, ApiError> {
    if let Some(kind) = headers.get(header::CONTENT_TYPE) {
        let kind = kind.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = kind.split(';').next().unwrap_or("").trim();
        // `text/plain` is what a browser's `fetch` labels a string body.
        if essence != "application/json" && !essence.ends_with("+json") && essence != "text/plain" {
            return Err(ApiError::invalid(
                format!("the body must be JSON, sent as `Content-Type: application/json`, not `{essence}`"),
                None,
                "unsupported_media_type",
            )
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::invalid(
                format!("the body is larger than this server's limit of {max_body} bytes"),
                None,
                "body_too_large",
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
        } else {
            ApiError::invalid(
                format!("the body could not be read: {}", rejection.body_text()),
                None,
                "unreadable_body",
            )
        }
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::invalid(
            format!("the body is not valid JSON: {e}"),
            None,
            "invalid_json",
        )
    })
}
