//! `POST /v1/runs`: a JSON object of inputs in, the document `flow run
//! --json` prints out (`outputs` and `stats`, or `error`, `errors`,
//! `finished` and `stats`), built by the same code.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::api_error::{self, json_body};
use super::launch::launch;
use super::layers::RequestId;
use crate::engine::json;

pub(crate) async fn handle(
    State(state): State<Arc<super::State>>,
    Extension(RequestId(id)): Extension<RequestId>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let value = match super::layers::json_body(&headers, body, state.options.max_body) {
        Ok(value) => value,
        Err(e) => return e.into_response(),
    };
    let source = state.engine.source().clone();
    let inputs = match state.engine.bind_json(value) {
        Ok(inputs) => inputs,
        Err(errors) => {
            let shown = errors
                .0
                .iter()
                .map(|e| json::to_json(e, Some(&source)))
                .collect();
            let mut response = json_body(&json::failure_doc(shown));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return response;
        }
    };
    let run = match launch(&state, &id, inputs, None, false) {
        Ok(run) => run,
        Err(e) => return e.into_response(),
    };
    let report = run.report().await;
    let mut response = json_body(&json::report_json(&report, &source));
    if let Err(e) = &report.outputs {
        *response.status_mut() = api_error::run_status(e);
    }
    response
}
