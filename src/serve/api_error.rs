//! Errors as OpenAI's API shapes them, so a client's SDK raises its usual
//! exception with a readable message: `{"error": {"message", "type",
//! "param", "code"}}` with the matching status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use miette::Diagnostic;
use serde_json::json;

use crate::runtime::RunError;

/// One error answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `server_error`, ...
    pub kind: &'static str,
    /// The request field at fault, as a path (`messages[2].content`).
    pub param: Option<String>,
    /// A machine-readable code: OpenAI's where one fits
    /// (`rate_limit_exceeded`), else flow's (`flow::run::timeout`).
    pub code: Option<String>,
}

impl ApiError {
    /// `400`: the request is wrong.
    pub fn invalid(message: impl Into<String>, param: Option<&str>, code: &str) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            kind: "invalid_request_error",
            param: param.map(str::to_string),
            code: Some(code.to_string()),
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.status = status;
        self
    }

    /// `429`: every run slot is taken.
    pub fn busy(max_runs: usize) -> ApiError {
        ApiError {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!(
                "the server is running its limit of {max_runs} requests at once; retry shortly"
            ),
            kind: "requests",
            param: None,
            code: Some("rate_limit_exceeded".into()),
        }
    }

    /// `401`: the bearer token is missing or wrong (never echoed).
    pub fn unauthorized(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: message.into(),
            kind: "invalid_request_error",
            param: None,
            code: Some("invalid_api_key".into()),
        }
    }

    /// A failed run: the status says whose fault it is, the message names
    /// the node (every `RunError` does), the code is flow's.
    pub fn run_failed(error: &RunError) -> ApiError {
        let status = run_status(error);
        ApiError {
            status,
            message: error.to_string(),
            kind: match status.as_u16() {
                400 | 422 => "invalid_request_error",
                429 => "requests",
                _ => "server_error",
            },
            param: None,
            code: error.code().map(|c| c.to_string()),
        }
    }

    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

/// Who is at fault, as a status: the model's provider (`502`, `504`), the
/// request or the program's result (`400`, `422`), a quota (`429`), the
/// server going down (`503`), or flow (`500`).
pub(crate) fn run_status(error: &RunError) -> StatusCode {
    match error {
        RunError::CallFailed {
            status: Some(429), ..
        }
        | RunError::RetryAfterTooLong { .. }
        | RunError::BudgetExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
        RunError::CallFailed { .. } | RunError::Unparsable { .. } => StatusCode::BAD_GATEWAY,
        RunError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        RunError::MissingInput { .. } => StatusCode::BAD_REQUEST,
        RunError::Disagreement { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        RunError::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.status == StatusCode::TOO_MANY_REQUESTS;
        let mut response = (self.status, json_body(&self.body())).into_response();
        if retry {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// A JSON body with its content type, without axum's `json` feature.
pub(crate) fn json_body(value: &serde_json::Value) -> Response {
    let text = serde_json::to_string(value).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        text,
    )
        .into_response()
}
