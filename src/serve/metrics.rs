//! `GET /metrics`: what the server did, in the text format Prometheus
//! scrapes (OpenMetrics). Every name starts with `flow_`; labels are
//! bounded (routes, statuses, outcomes, error codes and model names come
//! from fixed or program-declared sets, never from a request).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::runtime::RunReport;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// 1 ms to about 65 s, doubling: LLM calls span that range.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The server's metrics; cheap to update from any task.
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Histograms<RouteLabel>,
    rejected: Family<ReasonLabel, Counter>,
    runs: Family<OutcomeLabel, Counter>,
    run_errors: Family<CodeLabel, Counter>,
    run_seconds: Histogram,
    first_chunk_seconds: Histogram,
    runs_in_flight: Gauge,
    calls: Family<ModelLabel, Counter>,
    failed_calls: Family<ModelLabel, Counter>,
    saved_calls: Family<ModelLabel, Counter>,
    cache_hits: Family<ModelLabel, Counter>,
    tokens: Family<TokenLabels, Counter>,
    cost: Family<ModelLabel, Counter<f64, AtomicU64>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("flow");
        let m = Metrics {
            requests: Family::default(),
            request_seconds: Family::new_with_constructor(latency),
            rejected: Family::default(),
            runs: Family::default(),
            run_errors: Family::default(),
            run_seconds: latency(),
            first_chunk_seconds: latency(),
            runs_in_flight: Gauge::default(),
            calls: Family::default(),
            failed_calls: Family::default(),
            saved_calls: Family::default(),
            cache_hits: Family::default(),
            tokens: Family::default(),
            cost: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its answer's head, by route",
            m.request_seconds.clone(),
        );
        registry.register(
            "http_rejected",
            "Requests refused before running: busy (429), too_large (413), unauthorized (401)",
            m.rejected.clone(),
        );
        registry.register(
            "runs",
            "Runs ended, by outcome: ok, error, cancelled",
            m.runs.clone(),
        );
        registry.register(
            "run_errors",
            "Failed runs, by the error's code",
            m.run_errors.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "Wall time of a run",
            m.run_seconds.clone(),
        );
        registry.register(
            "first_chunk_seconds",
            "Time from a streamed chat request's arrival to its first content chunk",
            m.first_chunk_seconds.clone(),
        );
        registry.register(
            "runs_in_flight",
            "Runs going on now",
            m.runs_in_flight.clone(),
        );
        registry.register(
            "calls",
            "Attempts sent to a model (retries included), by flow model name",
            m.calls.clone(),
        );
        registry.register(
            "failed_calls",
            "Attempts that failed, by model",
            m.failed_calls.clone(),
        );
        registry.register(
            "saved_calls",
            "Samples cancelled because their vote was decided early, by model",
            m.saved_calls.clone(),
        );
        registry.register(
            "cache_hits",
            "Calls answered from the cache, by model",
            m.cache_hits.clone(),
        );
        registry.register(
            "tokens",
            "Tokens sent (input) and received (output), by model",
            m.tokens.clone(),
        );
        registry.register(
            "cost_usd",
            "Dollars spent, by model (models that declare prices)",
            m.cost.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn request(&self, route: &'static str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels { route, status })
            .inc();
        self.request_seconds
            .get_or_create(&RouteLabel { route })
            .observe(elapsed.as_secs_f64());
    }

    pub fn rejected(&self, reason: &'static str) {
        self.rejected.get_or_create(&ReasonLabel { reason }).inc();
    }

    pub fn run_started(&self) {
        self.runs_in_flight.inc();
    }

    pub fn first_chunk(&self, after: Duration) {
        self.first_chunk_seconds.observe(after.as_secs_f64());
    }

    pub fn run_finished(&self, report: &RunReport, elapsed: Duration) {
        self.runs_in_flight.dec();
        let outcome = match &report.outputs {
            Ok(_) => "ok",
            Err(crate::runtime::RunError::Cancelled) => "cancelled",
            Err(e) => {
                self.run_errors
                    .get_or_create(&CodeLabel { code: e.code_str() })
                    .inc();
                "error"
            }
        };
        self.runs.get_or_create(&OutcomeLabel { outcome }).inc();
        self.run_seconds.observe(elapsed.as_secs_f64());
        for (name, m) in &report.stats.models {
            let model = ModelLabel {
                model: name.clone(),
            };
            self.calls.get_or_create(&model).inc_by(m.calls);
            self.failed_calls.get_or_create(&model).inc_by(m.failed);
            self.saved_calls.get_or_create(&model).inc_by(m.saved);
            self.cache_hits.get_or_create(&model).inc_by(m.cache_hits);
            if let Some(cost) = m.cost_usd {
                self.cost.get_or_create(&model).inc_by(cost);
            }
            for (direction, n) in [("input", m.input_tokens), ("output", m.output_tokens)] {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: name.clone(),
                        direction,
                    })
                    .inc_by(n);
            }
        }
    }

    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a `String` cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

pub(crate) async fn handle(State(state): State<Arc<super::State>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.encode(),
    )
        .into_response()
}
