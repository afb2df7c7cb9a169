//! Hand-built graphs and a scriptable, counting provider for runtime tests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt};
use indexmap::IndexMap;
use tokio::time::Instant;

use super::options::{RetryPolicy, RunOptions};
use super::report::RunReport;
use super::scheduler::{node_refs, run};
use crate::graph::{
    AskCall, Edge, EdgeKind, Expr, ExprKind, FlowGraph, Guard, Node, NodeId, NodeKind, Sampling,
    Template, TemplatePart,
};
use crate::model::{ModelOptions, ModelSpec, ProviderKind};
use crate::providers::{Provider, ProviderError, Reply, Request, Usage};
use crate::syntax::Span;
use crate::types::Type;
use crate::value::Value;

/// Builds a `FlowGraph` node by node; edges are derived from what each node reads.
pub struct G {
    graph: FlowGraph,
    next_span: usize,
}

impl G {
    pub fn new() -> G {
        G {
            graph: FlowGraph {
                dag: Default::default(),
                models: IndexMap::new(),
                inputs: IndexMap::new(),
                outputs: IndexMap::new(),
                sections: Vec::new(),
            },
            next_span: 0,
        }
    }

    pub fn model(&mut self, name: &str, options: ModelOptions) -> &mut G {
        self.graph.models.insert(
            name.to_string(),
            ModelSpec {
                name: name.to_string(),
                provider: ProviderKind::Mock,
                model_id: None,
                options,
                span: Span::default(),
            },
        );
        self
    }

    /// Each node gets a distinct span so tests can tell which one an error points at.
    pub fn span(&mut self) -> Span {
        self.next_span += 10;
        Span::new(self.next_span, self.next_span + 5)
    }

    pub fn add(&mut self, name: &str, kind: NodeKind, ty: Type) -> NodeId {
        let span = self.span();
        let id = self.graph.dag.add_node(Node {
            name: name.to_string(),
            kind,
            ty,
            span,
            section: None,
            guards: Vec::new(),
        });
        let mut refs = Vec::new();
        node_refs(&self.graph, id, &mut refs);
        refs.sort();
        refs.dedup();
        for r in refs {
            let label = self.graph.dag[r].name.clone();
            self.graph.dag.add_edge(
                r,
                id,
                Edge {
                    label,
                    kind: EdgeKind::Data,
                },
            );
        }
        id
    }

    pub fn input(&mut self, name: &str, default: Option<Value>) -> NodeId {
        let id = self.add(
            name,
            NodeKind::Input {
                default: default.map(lit),
            },
            Type::Text,
        );
        self.graph.inputs.insert(name.to_string(), id);
        id
    }

    pub fn ask(&mut self, name: &str, call: AskCall, sampling: Sampling) -> NodeId {
        let ty = call.parse_as.clone();
        self.add(name, NodeKind::Ask { call, sampling }, ty)
    }

    pub fn pure(&mut self, name: &str, e: Expr) -> NodeId {
        self.add(name, NodeKind::Pure(e), Type::Unknown)
    }

    pub fn output(&mut self, name: &str, e: Expr) -> NodeId {
        let id = self.add(name, NodeKind::Output(e), Type::Unknown);
        self.graph.outputs.insert(name.to_string(), id);
        id
    }

    pub fn guard(&mut self, id: NodeId, cond: NodeId, when: bool) {
        self.graph.dag[id].guards.push(Guard { cond, when });
        self.graph.dag.add_edge(
            cond,
            id,
            Edge {
                label: "guard".into(),
                kind: EdgeKind::Guard,
            },
        );
    }

    pub fn span_of(&self, id: NodeId) -> Span {
        self.graph.dag[id].span
    }

    pub fn build(self) -> Arc<FlowGraph> {
        Arc::new(self.graph)
    }
}

pub fn e(kind: ExprKind) -> Expr {
    Expr {
        kind,
        ty: Type::Unknown,
        span: Span::new(1, 2),
    }
}

pub fn lit(v: Value) -> Expr {
    e(ExprKind::Lit(v))
}

pub fn text(s: &str) -> Expr {
    lit(Value::Text(s.to_string()))
}

pub fn node(id: NodeId) -> Expr {
    e(ExprKind::Node(id))
}

pub fn var(name: &str) -> Expr {
    e(ExprKind::Var(name.to_string()))
}

pub enum P {
    L(&'static str),
    S(String),
    E(Expr),
}

pub fn tmpl(parts: Vec<P>) -> Template {
    Template {
        parts: parts
            .into_iter()
            .map(|p| match p {
                P::L(s) => TemplatePart::Lit(s.to_string()),
                P::S(s) => TemplatePart::Lit(s),
                P::E(e) => TemplatePart::Expr(e),
            })
            .collect(),
        span: Span::new(1, 2),
    }
}

pub fn template(parts: Vec<P>) -> Expr {
    e(ExprKind::Template(tmpl(parts)))
}

pub fn call(model: &str, prompt: Vec<P>) -> AskCall {
    AskCall {
        model: model.to_string(),
        prompt: tmpl(prompt),
        system: None,
        parse_as: Type::Text,
        timeout: None,
        retry: None,
        history: None,
        span: Span::new(3, 4),
    }
}

/// What the provider does with one request.
pub struct Script {
    pub latency: Duration,
    pub result: Result<String, ProviderError>,
}

pub fn ok(text: &str, latency_ms: u64) -> Script {
    Script {
        latency: Duration::from_millis(latency_ms),
        result: Ok(text.to_string()),
    }
}

pub fn transient(latency_ms: u64) -> Script {
    Script {
        latency: Duration::from_millis(latency_ms),
        result: Err(crate::providers::testkit::status(
            503,
            "server overloaded",
            None,
        )),
    }
}

pub fn fatal(latency_ms: u64) -> Script {
    Script {
        latency: Duration::from_millis(latency_ms),
        result: Err(crate::providers::testkit::status(
            400,
            "invalid request",
            None,
        )),
    }
}

type Behaviour = dyn Fn(&Request) -> Script + Send + Sync;

/// One attempt as the provider saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub prompt: String,
    pub system: Option<String>,
    pub sample: u32,
    pub attempt: u32,
    pub start: Duration,
    pub end: Option<Duration>,
}

/// Answers by script after a (virtual) latency, and counts everything.
pub struct TestProvider {
    behaviour: Box<Behaviour>,
    epoch: Instant,
    pub started: AtomicU64,
    pub completed: AtomicU64,
    pub cancelled: AtomicU64,
    in_flight: AtomicU64,
    pub peak: AtomicU64,
    pub seen: Mutex<Vec<Seen>>,
}

impl TestProvider {
    pub fn new(
        behaviour: impl Fn(&Request) -> Script + Send + Sync + 'static,
    ) -> Arc<TestProvider> {
        Arc::new(TestProvider {
            behaviour: Box::new(behaviour),
            epoch: Instant::now(),
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    pub fn reply(text: &'static str, latency_ms: u64) -> Arc<TestProvider> {
        TestProvider::new(move |_| ok(text, latency_ms))
    }

    pub fn started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    pub fn cancelled(&self) -> u64 {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// When the attempt whose prompt contains `needle` started, in ms.
    pub fn start_of(&self, needle: &str) -> Option<u128> {
        self.seen()
            .iter()
            .find(|s| s.prompt.contains(needle))
            .map(|s| s.start.as_millis())
    }
}

struct Flight<'a> {
    p: &'a TestProvider,
    index: usize,
    done: bool,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        self.p.in_flight.fetch_sub(1, Ordering::SeqCst);
        if self.done {
            self.p.completed.fetch_add(1, Ordering::SeqCst);
        } else {
            self.p.cancelled.fetch_add(1, Ordering::SeqCst);
        }
        let end = Instant::now() - self.p.epoch;
        if let Ok(mut seen) = self.p.seen.lock()
            && let Some(s) = seen.get_mut(self.index)
        {
            s.end = Some(end);
        }
    }
}

impl Provider for TestProvider {
    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>> {
        async move {
            self.started.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let index = {
                let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
                seen.push(Seen {
                    prompt: request.prompt.clone(),
                    system: request.system.clone(),
                    sample: request.sample,
                    attempt: request.attempt,
                    start: Instant::now() - self.epoch,
                    end: None,
                });
                seen.len() - 1
            };
            let mut flight = Flight {
                p: self,
                index,
                done: false,
            };
            let script = (self.behaviour)(&request);
            tokio::time::sleep(script.latency).await;
            flight.done = true;
            script.result.map(|text| Reply {
                usage: Usage {
                    input_tokens: request.prompt.len() as u64,
                    output_tokens: text.len() as u64,
                },
                text,
            })
        }
        .boxed()
    }
}

/// Retries without waiting, so call counts are the point of a test, not backoff.
pub fn quick_options() -> RunOptions {
    RunOptions {
        retry: RetryPolicy {
            default_retry: 2,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
            default_timeout: None,
            ..RetryPolicy::default()
        },
        ..RunOptions::default()
    }
}

pub async fn run_with(
    graph: Arc<FlowGraph>,
    providers: &[(&str, Arc<TestProvider>)],
    options: RunOptions,
) -> RunReport {
    let map: HashMap<String, Arc<dyn Provider>> = providers
        .iter()
        .map(|(name, p)| (name.to_string(), p.clone() as Arc<dyn Provider>))
        .collect();
    run(graph, map, options).await
}
