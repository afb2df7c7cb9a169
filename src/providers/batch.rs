//! The providers' batch APIs (`flow run --batch-api`): OpenAI's `/v1/files`
//! and `/v1/batches`, Anthropic's `/v1/messages/batches`. A batch carries
//! the very bodies an interactive call would POST and its replies are read
//! by the same decoder, so a reply that came through a batch is exactly the
//! reply the call would have had (typed replies, usage, refusals).

use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::anthropic::AnthropicProvider;
use super::http::{Endpoint, OtherBody};
use super::openai::OpenAiProvider;
use super::{ProviderError, Reply, Request};

/// What a provider with a batch API can do. Every method is one HTTP
/// request; polling, backoff and bookkeeping belong to the caller.
pub trait BatchApi: Send + Sync {
    /// Requests with the same group can go in one batch: the same API
    /// kind at the same base URL (the key is the model's, and models with
    /// different keys have different providers, so the group includes the
    /// model's name only when the key variable differs).
    fn group(&self) -> String;

    /// The provider-native body of one request, as an interactive call
    /// would POST it.
    fn body(&self, request: &Request) -> Value;

    /// The most one batch may carry: more goes in several batches.
    fn limits(&self) -> BatchLimits;

    /// Submits `items` (custom id, body) as one batch; the batch's id.
    fn submit<'a>(
        &'a self,
        items: &'a [(String, Value)],
    ) -> BoxFuture<'a, Result<String, ProviderError>>;

    /// The batch's state now.
    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchStatus, ProviderError>>;

    /// The items of an ended batch, by custom id, in whatever order the
    /// provider gives them.
    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
    ) -> BoxFuture<'a, Result<Vec<(String, ItemResult)>, ProviderError>>;

    /// One successful item's reply body, read as an interactive reply.
    fn decode(&self, body: &[u8], request: &Request) -> Result<Reply, ProviderError>;
}

/// The most one batch may hold, as the provider documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Requests in one batch.
    pub requests: usize,
    /// Bytes of the requests' JSON (OpenAI: the input file; Anthropic: the
    /// create request's body), with room left for the framing.
    pub bytes: usize,
}

/// OpenAI: 50,000 requests and a 200 MB input file per batch.
pub const OPENAI_LIMITS: BatchLimits = BatchLimits {
    requests: 50_000,
    bytes: 190_000_000,
};

/// Anthropic: 100,000 requests or 256 MB per batch.
pub const ANTHROPIC_LIMITS: BatchLimits = BatchLimits {
    requests: 100_000,
    bytes: 250_000_000,
};

/// `items` cut, in order, into runs that each fit in one batch. A request
/// larger than a whole batch still goes (alone), for the provider to refuse
/// with its own message.
pub fn split(items: &[(String, Value)], limits: BatchLimits) -> Vec<&[(String, Value)]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0usize);
    for (i, (id, body)) in items.iter().enumerate() {
        // The line's framing (`custom_id`, `method`, `url`) is under 200 bytes.
        let size = id.len() + body.to_string().len() + 200;
        if i > start && (i - start >= limits.requests.max(1) || bytes + size > limits.bytes) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

/// A batch as the provider describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchStatus {
    /// The provider's id for it.
    pub id: String,
    /// The provider's own word: `validating`, `in_progress`, `finalizing`,
    /// `completed`, `expired`, `cancelled`, `failed` (OpenAI);
    /// `in_progress`, `canceling`, `ended` (Anthropic).
    pub state: String,
    /// No more work will be done on it: its results can be fetched.
    pub ended: bool,
    /// Requests in it.
    pub total: u64,
    /// Requests done (succeeded or not) so far.
    pub done: u64,
    /// Requests failed so far.
    pub failed: u64,
    /// Where the results are: OpenAI's output and error files, Anthropic's
    /// `results_url`.
    pub sources: Vec<String>,
    /// Why the batch as a whole failed (OpenAI's `errors`), if it did.
    pub error: Option<String>,
}

/// What became of one request of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    /// The reply body, as the interactive endpoint would have sent it.
    Reply(Vec<u8>),
    /// The provider answered this request with an error.
    Failed(String),
    /// Never run: the batch expired or was cancelled first.
    NotRun(String),
}

/// Lines of JSON, each parsed; a line that is not JSON is skipped (a
/// results file is the provider's, and one bad line must not lose the rest).
fn json_lines(body: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn count(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// An error object's message: `{"message": ...}`, `{"error": {"message": ...}}`,
/// or the object itself as text.
fn message(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.pointer("/error/message").and_then(Value::as_str))
        .map_or_else(|| error.to_string(), str::to_string)
}

/// OpenAI's batch input file: one request a line.
pub fn openai_input(path: &str, items: &[(String, Value)]) -> String {
    let mut out = String::new();
    for (id, body) in items {
        let line = json!({"custom_id": id, "method": "POST", "url": path, "body": body});
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// OpenAI's batch object.
pub fn openai_status(v: &Value) -> BatchStatus {
    let state = text(v, "status").unwrap_or_default();
    let counts = v.get("request_counts").cloned().unwrap_or(Value::Null);
    let sources = ["output_file_id", "error_file_id"]
        .iter()
        .filter_map(|k| text(v, k))
        .collect();
    let error = v
        .pointer("/errors/data")
        .and_then(Value::as_array)
        .map(|errors| errors.iter().map(message).collect::<Vec<_>>().join("; "))
        .filter(|e| !e.is_empty());
    BatchStatus {
        id: text(v, "id").unwrap_or_default(),
        ended: matches!(
            state.as_str(),
            "completed" | "expired" | "cancelled" | "failed"
        ),
        state,
        total: count(&counts, "total"),
        done: count(&counts, "completed") + count(&counts, "failed"),
        failed: count(&counts, "failed"),
        sources,
        error,
    }
}

/// One line of an OpenAI output or error file.
pub fn openai_item(line: &Value) -> Option<(String, ItemResult)> {
    let id = text(line, "custom_id")?;
    let status = line
        .pointer("/response/status_code")
        .and_then(Value::as_u64);
    let body = line.pointer("/response/body");
    let result = match (status, body, line.get("error").filter(|e| !e.is_null())) {
        (Some(200..=299), Some(body), _) => ItemResult::Reply(body.to_string().into_bytes()),
        (_, _, Some(error)) => {
            let code = text(error, "code").unwrap_or_default();
            if code == "batch_expired" || code == "batch_cancelled" {
                ItemResult::NotRun(message(error))
            } else {
                ItemResult::Failed(message(error))
            }
        }
        (status, body, None) => ItemResult::Failed(match (status, body) {
            (Some(s), Some(b)) => format!("HTTP {s}: {}", message(b)),
            _ => "the batch gave no reply for this request".to_string(),
        }),
    };
    Some((id, result))
}

/// Anthropic's batch object.
pub fn anthropic_status(v: &Value) -> BatchStatus {
    let state = text(v, "processing_status").unwrap_or_default();
    let counts = v.get("request_counts").cloned().unwrap_or(Value::Null);
    let done = ["succeeded", "errored", "canceled", "expired"]
        .iter()
        .map(|k| count(&counts, k))
        .sum::<u64>();
    BatchStatus {
        id: text(v, "id").unwrap_or_default(),
        ended: state == "ended",
        state,
        total: done + count(&counts, "processing"),
        done,
        failed: count(&counts, "errored"),
        sources: text(v, "results_url").into_iter().collect(),
        error: None,
    }
}

/// One line of Anthropic's results.
pub fn anthropic_item(line: &Value) -> Option<(String, ItemResult)> {
    let id = text(line, "custom_id")?;
    let result = line.get("result").cloned().unwrap_or(Value::Null);
    let kind = text(&result, "type").unwrap_or_default();
    let item = match kind.as_str() {
        "succeeded" => match result.get("message") {
            Some(m) => ItemResult::Reply(m.to_string().into_bytes()),
            None => ItemResult::Failed("the result has no message".into()),
        },
        "errored" => ItemResult::Failed(
            result
                .get("error")
                .map_or_else(|| "errored".into(), message),
        ),
        "expired" => ItemResult::NotRun("the batch expired before this request ran".into()),
        "canceled" => ItemResult::NotRun("the batch was cancelled before this request ran".into()),
        other => ItemResult::Failed(format!("unknown result type `{other}`")),
    };
    Some((id, item))
}

/// `e` about the request `method path` (a reply that did not decode).
fn at(endpoint: &Endpoint, e: ProviderError, method: reqwest::Method, path: &str) -> ProviderError {
    match endpoint.other_url(path) {
        Some(url) => endpoint.at(e, &method, &url),
        None => e,
    }
}

/// The `id` a create request's reply (`POST path`) names: an uploaded
/// file, a batch.
fn created_id(endpoint: &Endpoint, path: &str, raw: &[u8]) -> Result<String, ProviderError> {
    let post = |e| at(endpoint, e, reqwest::Method::POST, path);
    let created: Value = endpoint.decode(raw).map_err(post)?;
    text(&created, "id").ok_or_else(|| {
        post(endpoint.malformed(super::Malformation::NotJson("no `id`".into()), raw))
    })
}

/// A GET of `path` under the endpoint, read as JSON (a batch's status).
async fn get_json(endpoint: &Endpoint, path: &str) -> Result<Value, ProviderError> {
    let raw = endpoint
        .send_other(reqwest::Method::GET, path, OtherBody::Empty)
        .await?;
    endpoint
        .decode(&raw)
        .map_err(|e| at(endpoint, e, reqwest::Method::GET, path))
}

impl BatchApi for OpenAiProvider {
    fn group(&self) -> String {
        let (base, _) = self.endpoint.base_and_path();
        format!("openai {base} {}", self.endpoint.key_env())
    }

    fn body(&self, request: &Request) -> Value {
        serde_json::to_value(OpenAiProvider::body(self, request)).unwrap_or(Value::Null)
    }

    fn limits(&self) -> BatchLimits {
        OPENAI_LIMITS
    }

    fn submit<'a>(
        &'a self,
        items: &'a [(String, Value)],
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let (_, path) = self.endpoint.base_and_path();
            let file = openai_input(path, items);
            let part = reqwest::multipart::Part::bytes(file.into_bytes())
                .file_name("flow-batch.jsonl")
                .mime_str("application/jsonl")
                .map_err(|e| {
                    ProviderError::Internal(crate::internal::InternalError::new(format!(
                        "could not build the batch upload: {e}"
                    )))
                })?;
            let form = reqwest::multipart::Form::new()
                .text("purpose", "batch")
                .part("file", part);
            let raw = self
                .endpoint
                .send_other(reqwest::Method::POST, "files", OtherBody::Form(form))
                .await?;
            let file_id = created_id(&self.endpoint, "files", &raw)?;
            let create = json!({
                "input_file_id": file_id,
                "endpoint": path,
                "completion_window": "24h",
            });
            let raw = self
                .endpoint
                .send_other(reqwest::Method::POST, "batches", OtherBody::Json(create))
                .await?;
            created_id(&self.endpoint, "batches", &raw)
        })
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchStatus, ProviderError>> {
        Box::pin(async move {
            let v = get_json(&self.endpoint, &format!("batches/{id}")).await?;
            Ok(openai_status(&v))
        })
    }

    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
    ) -> BoxFuture<'a, Result<Vec<(String, ItemResult)>, ProviderError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for file in &status.sources {
                let raw = self
                    .endpoint
                    .send_other(
                        reqwest::Method::GET,
                        &format!("files/{file}/content"),
                        OtherBody::Empty,
                    )
                    .await?;
                out.extend(json_lines(&raw).iter().filter_map(openai_item));
            }
            Ok(out)
        })
    }

    fn decode(&self, body: &[u8], request: &Request) -> Result<Reply, ProviderError> {
        self.decode_reply(body, request)
    }
}

impl BatchApi for AnthropicProvider {
    fn group(&self) -> String {
        let (base, _) = self.endpoint.base_and_path();
        format!("anthropic {base} {}", self.endpoint.key_env())
    }

    fn body(&self, request: &Request) -> Value {
        serde_json::to_value(AnthropicProvider::body(self, request)).unwrap_or(Value::Null)
    }

    fn limits(&self) -> BatchLimits {
        ANTHROPIC_LIMITS
    }

    fn submit<'a>(
        &'a self,
        items: &'a [(String, Value)],
    ) -> BoxFuture<'a, Result<String, ProviderError>> {
        Box::pin(async move {
            let requests: Vec<Value> = items
                .iter()
                .map(|(id, body)| json!({"custom_id": id, "params": body}))
                .collect();
            let raw = self
                .endpoint
                .send_other(
                    reqwest::Method::POST,
                    "messages/batches",
                    OtherBody::Json(json!({ "requests": requests })),
                )
                .await?;
            created_id(&self.endpoint, "messages/batches", &raw)
        })
    }

    fn status<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<BatchStatus, ProviderError>> {
        Box::pin(async move {
            let v = get_json(&self.endpoint, &format!("messages/batches/{id}")).await?;
            Ok(anthropic_status(&v))
        })
    }

    fn results<'a>(
        &'a self,
        status: &'a BatchStatus,
    ) -> BoxFuture<'a, Result<Vec<(String, ItemResult)>, ProviderError>> {
        Box::pin(async move {
            let source = match status.sources.first() {
                Some(url) => url.clone(),
                None => format!("messages/batches/{}/results", status.id),
            };
            let raw = self
                .endpoint
                .send_other(reqwest::Method::GET, &source, OtherBody::Empty)
                .await?;
            Ok(json_lines(&raw).iter().filter_map(anthropic_item).collect())
        })
    }

    fn decode(&self, body: &[u8], request: &Request) -> Result<Reply, ProviderError> {
        self.decode_reply(body, request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_lines_carry_the_custom_id_method_url_and_body() {
        let file = openai_input(
            "/v1/chat/completions",
            &[
                ("k1".into(), json!({"model": "m"})),
                ("k2".into(), json!({})),
            ],
        );
        let lines: Vec<Value> = json_lines(file.as_bytes());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["custom_id"], "k1");
        assert_eq!(lines[0]["method"], "POST");
        assert_eq!(lines[0]["url"], "/v1/chat/completions");
        assert_eq!(lines[0]["body"]["model"], "m");
    }

    #[test]
    fn requests_beyond_a_batchs_limits_go_in_more_batches() {
        let items: Vec<(String, Value)> =
            (0..7).map(|i| (format!("k{i}"), json!({"n": i}))).collect();
        let sizes =
            |limits| -> Vec<usize> { split(&items, limits).iter().map(|p| p.len()).collect() };
        assert_eq!(
            sizes(BatchLimits {
                requests: 3,
                bytes: usize::MAX
            }),
            vec![3, 3, 1]
        );
        assert_eq!(
            sizes(BatchLimits {
                requests: 100,
                bytes: usize::MAX
            }),
            vec![7]
        );
        // Each item is about 211 bytes with its framing: two fit in 500.
        assert_eq!(
            sizes(BatchLimits {
                requests: 100,
                bytes: 500
            }),
            vec![2, 2, 2, 1]
        );
        // One too large for any batch goes alone.
        assert_eq!(
            sizes(BatchLimits {
                requests: 100,
                bytes: 10
            }),
            vec![1; 7]
        );
        assert!(split(&[], OPENAI_LIMITS).is_empty());
        // Every item once, in order.
        let joined: Vec<&(String, Value)> = split(
            &items,
            BatchLimits {
                requests: 2,
                bytes: 450,
            },
        )
        .into_iter()
        .flatten()
        .collect();
        assert_eq!(joined, items.iter().collect::<Vec<_>>());
    }

    #[test]
    fn openai_results_are_replies_failures_or_not_run() {
        let ok = json!({"id": "r", "custom_id": "a", "response": {"status_code": 200, "body": {"choices": []}}, "error": null});
        let bad = json!({"custom_id": "b", "response": {"status_code": 400, "body": {"error": {"message": "bad model"}}}, "error": null});
        let expired = json!({"custom_id": "c", "response": null, "error": {"code": "batch_expired", "message": "expired"}});
        assert_eq!(
            openai_item(&ok),
            Some(("a".into(), ItemResult::Reply(br#"{"choices":[]}"#.to_vec())))
        );
        assert_eq!(
            openai_item(&bad),
            Some(("b".into(), ItemResult::Failed("HTTP 400: bad model".into())))
        );
        assert_eq!(
            openai_item(&expired),
            Some(("c".into(), ItemResult::NotRun("expired".into())))
        );
        assert_eq!(openai_item(&json!({"no": "id"})), None);
        // A line that is not JSON is skipped, not the file.
        assert_eq!(json_lines(b"{\"a\":1}\nnot json\n\n{\"b\":2}").len(), 2);
    }

    #[test]
    fn statuses_say_when_a_batch_has_ended() {
        let s = openai_status(&json!({
            "id": "batch_1", "status": "in_progress", "output_file_id": null,
            "request_counts": {"total": 3, "completed": 1, "failed": 1}
        }));
        assert_eq!((s.ended, s.total, s.done, s.failed), (false, 3, 2, 1));
        let s = openai_status(
            &json!({"id": "b", "status": "completed", "output_file_id": "f1", "error_file_id": "f2"}),
        );
        assert!(s.ended);
        assert_eq!(s.sources, vec!["f1".to_string(), "f2".to_string()]);
        let a = anthropic_status(&json!({
            "id": "msgbatch_1", "processing_status": "ended", "results_url": "http://x/r",
            "request_counts": {"processing": 0, "succeeded": 2, "errored": 1, "canceled": 0, "expired": 1}
        }));
        assert_eq!((a.ended, a.total, a.done, a.failed), (true, 4, 4, 1));
        assert_eq!(a.sources, vec!["http://x/r".to_string()]);
    }

    #[test]
    fn anthropic_results_are_replies_failures_or_not_run() {
        let ok = json!({"custom_id": "a", "result": {"type": "succeeded", "message": {"id": "m"}}});
        let bad = json!({"custom_id": "b", "result": {"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "too long"}}}});
        let gone = json!({"custom_id": "c", "result": {"type": "expired"}});
        assert_eq!(
            anthropic_item(&ok),
            Some(("a".into(), ItemResult::Reply(br#"{"id":"m"}"#.to_vec())))
        );
        assert_eq!(
            anthropic_item(&bad),
            Some(("b".into(), ItemResult::Failed("too long".into())))
        );
        assert!(matches!(
            anthropic_item(&gone),
            Some((_, ItemResult::NotRun(_)))
        ));
    }
}
