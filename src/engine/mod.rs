//! The engine: compile a program once, then run it as many times as wanted,
//! concurrently or not, from any front door — `flow run`, a batch of rows,
//! a server, a test runner.
//!
//! [`Program::compile`] gives a checked program. [`Engine::new`] builds,
//! once, everything runs share: one provider (and HTTP client) per model,
//! per-model `concurrency` and `rpm` limits, the call cache and the call
//! budget. [`Engine::bind`] turns the caller's values into typed [`Inputs`];
//! [`Engine::run`] runs them and returns a [`RunReport`], and
//! [`Engine::start`] does the same in a task of its own, with a stream of
//! [`RunEvent`]s while it goes. Cancellation is a token the caller owns:
//! Ctrl-C, a client going away or a deadline are the caller's business.
//!
//! The library never prints: everything comes back as values and
//! diagnostics for the caller to show.

mod error;
pub mod inputs;
pub mod json;
pub mod overrides;
mod program;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::cache::{CacheClose, CallCache};
use crate::graph::{FlowGraph, stats};
use crate::model::ProviderKind;
use crate::providers::Provider;
pub use crate::runtime::limits::LimitsRegistry;
use crate::runtime::limits::{self, SharedLimits};
use crate::runtime::{CallBudget, RetryPolicy, RunEvent, RunOptions, RunReport};

pub use crate::import::{FsLoader, MemoryLoader, SourceLoader};
pub use error::EngineError;
pub use inputs::{InputError, InputErrors, InputValue, Inputs};
pub use overrides::{ModelOverride, OverrideError};
pub use program::{CompileFailure, ImportedFile, Program, SourceFile};
/// The token that cancels a run, re-exported so callers need no other crate.
pub use tokio_util::sync::CancellationToken;

/// Where completed calls are kept between runs (and processes).
#[derive(Debug, Clone, Default)]
pub enum CacheChoice {
    /// Every call is made; nothing is saved.
    #[default]
    None,
    /// A cache file, opened (or created) by [`Engine::new`].
    Path(PathBuf),
    /// A cache already open, shared with other engines.
    Open(Arc<CallCache>),
}

/// How an engine is built. `Default` is: the program's own models, no
/// cache, no budget, the default retry policy.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Replace every model that is not a mock by one that invents
    /// placeholders of the expected type: no key, no network.
    pub offline: bool,
    /// Models swapped for others, as `--model NAME=SPEC` does; applied
    /// before `offline`.
    pub models: Vec<ModelOverride>,
    /// Where completed calls are kept between runs.
    pub cache: CacheChoice,
    /// Calls one run may make; refused up front when the worst case is
    /// more, and a run stops at the call that would exceed it.
    pub max_calls: Option<u64>,
    /// Calls all runs of this engine may make between them.
    pub total_calls: Option<u64>,
    /// Share per-model `concurrency` and `rpm` with other engines built with
    /// the same registry (by model name); `None` gives this engine its own.
    pub limits: Option<LimitsRegistry>,
    /// This engine's share of every model's account: `concurrency` and
    /// `rpm` are divided by it (at least 1 each), as `--shard I/N` does so
    /// that N processes together keep to the declared limits. 0 and 1 are
    /// the whole.
    pub limit_share: u32,
    /// Retries, back-off and timeouts for calls that set none of their own.
    pub retry: RetryPolicy,
    /// Providers of the caller's own, by model name: a model given one here
    /// calls it instead of what its declaration names (and needs no key).
    pub providers: CustomProviders,
}

/// Providers a caller brings, by the model name they serve.
#[derive(Clone, Default)]
pub struct CustomProviders(HashMap<String, Arc<dyn Provider>>);

impl CustomProviders {
    /// Serve model `name` with `provider`; replaces one given before.
    pub fn insert(&mut self, name: impl Into<String>, provider: Arc<dyn Provider>) {
        self.0.insert(name.into(), provider);
    }
}

impl std::fmt::Debug for CustomProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// A compiled program ready to run, with everything its runs share. Cheap to
/// clone: clones share providers, limits, cache and budget.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    graph: Arc<FlowGraph>,
    source: Arc<SourceFile>,
    providers: HashMap<String, Arc<dyn Provider>>,
    limits: SharedLimits,
    cache: Option<Arc<CallCache>>,
    budget: Option<Arc<CallBudget>>,
    max_calls: Option<u64>,
    retry: RetryPolicy,
    batch: Option<Arc<crate::batch::BatchPass>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("program", &self.inner.source.name)
            .field(
                "models",
                &self.inner.graph.models.keys().collect::<Vec<_>>(),
            )
            .field("cache", &self.inner.cache.as_ref().map(|c| c.path()))
            .field("max_calls", &self.inner.max_calls)
            .finish_non_exhaustive()
    }
}

/// What a caller controls while a run goes: when to stop it, and where its
/// events go.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// Cancel it to abort every call in flight; the report then says
    /// [`RunError::Cancelled`](crate::runtime::RunError::Cancelled) and lists
    /// what finished.
    pub cancel: CancellationToken,
    /// Events as they happen; `None` builds none at all.
    pub events: Option<UnboundedSender<RunEvent>>,
    /// Stream the outputs that can stream ([`Program::streamable_outputs`]):
    /// their text comes as [`RunEvent::OutputChunk`]s on `events` as it
    /// arrives, never before the conditions the output sits under are
    /// decided in its favour, and a call they decide against is cancelled.
    /// `false` (the default) runs exactly as without streaming.
    pub stream: bool,
    /// Record no trace: the report's `trace` is empty, and nothing else
    /// changes. For a caller that will not read it (`flow run` without
    /// `--trace`): each attempt's entry is a copy of its site and model in
    /// one list that grows for the whole run, about a tenth of the work of
    /// finishing a 10,000-call fan-out's calls.
    pub untraced: bool,
}

impl Engine {
    /// Builds the providers, limits, cache and budget every run of
    /// `program` will share. Fails before any call on what can be known to
    /// fail: an override of a model that does not exist, a missing API key,
    /// a worst case over the budget, a cache that cannot be opened.
    pub fn new(program: &Program, options: EngineOptions) -> Result<Engine, EngineError> {
        // Shared with the program unless a model changes.
        let mut graph = program.shared_graph();
        for ModelOverride { name, spec } in options.models {
            Arc::make_mut(&mut graph).models.insert(name, spec);
        }
        if options.offline {
            let online =
                |g: &FlowGraph| g.models.values().any(|s| s.provider != ProviderKind::Mock);
            if online(&graph) {
                for spec in Arc::make_mut(&mut graph).models.values_mut() {
                    if spec.provider != ProviderKind::Mock {
                        *spec = spec.offline_stand_in();
                    }
                }
            }
        }
        if options.limit_share > 1 {
            for spec in Arc::make_mut(&mut graph).models.values_mut() {
                share_limits(&mut spec.options, options.limit_share);
            }
        }
        let worst = stats::total_calls(&graph);
        let budgets = [
            options.max_calls.map(|n| (n, format!("`--max-calls {n}`"))),
            options
                .total_calls
                .map(|n| (n, format!("the engine's total of {n} calls"))),
        ];
        for (limit, budget) in budgets.into_iter().flatten() {
            if worst.fixed > limit {
                return Err(EngineError::OverBudget {
                    worst: worst.to_string(),
                    limit,
                    budget,
                });
            }
        }
        let providers = build_providers(&graph, options.providers)?;
        let cache = match options.cache {
            CacheChoice::None => None,
            CacheChoice::Path(path) => Some(Arc::new(CallCache::open(&path)?)),
            CacheChoice::Open(cache) => Some(cache),
        };
        Ok(Engine {
            inner: Arc::new(Inner {
                limits: match &options.limits {
                    Some(registry) => registry.for_models(graph.models.values()),
                    None => limits::for_models(graph.models.values()),
                },
                graph,
                source: program.source().clone(),
                providers,
                cache,
                budget: options.total_calls.map(|n| Arc::new(CallBudget::new(n))),
                max_calls: options.max_calls,
                retry: options.retry,
                batch: None,
            }),
        })
    }

    /// This engine with its runs in the batch pass `pass` (`flow run
    /// --batch-api`): everything else shared.
    pub fn in_batch(&self, pass: Arc<crate::batch::BatchPass>) -> Engine {
        let i = &self.inner;
        Engine {
            inner: Arc::new(Inner {
                graph: i.graph.clone(),
                source: i.source.clone(),
                providers: i.providers.clone(),
                limits: i.limits.clone(),
                cache: i.cache.clone(),
                budget: i.budget.clone(),
                max_calls: i.max_calls,
                retry: i.retry.clone(),
                batch: Some(pass),
            }),
        }
    }

    /// The providers of the models, by model name.
    pub fn providers(&self) -> &HashMap<String, Arc<dyn Provider>> {
        &self.inner.providers
    }

    /// The graph as it runs: with overrides and `offline` applied.
    pub fn graph(&self) -> &FlowGraph {
        &self.inner.graph
    }

    /// The program's name and text, to render run-time diagnostics against.
    pub fn source(&self) -> &Arc<SourceFile> {
        &self.inner.source
    }

    /// The call cache all runs share, when there is one.
    pub fn cache(&self) -> Option<&Arc<CallCache>> {
        self.inner.cache.as_ref()
    }

    /// Binds values to the program's inputs by their declared types,
    /// reporting every problem at once.
    pub fn bind(
        &self,
        given: impl IntoIterator<Item = (String, InputValue)>,
    ) -> Result<Inputs, InputErrors> {
        inputs::bind(&self.inner.graph, given)
    }

    /// Binds a JSON object of inputs given as text (a batch row, a body).
    pub fn bind_json_text(&self, text: &str) -> Result<Inputs, InputErrors> {
        inputs::bind_json_text(&self.inner.graph, text)
    }

    /// Binds a JSON object of inputs.
    pub fn bind_json(&self, value: serde_json::Value) -> Result<Inputs, InputErrors> {
        inputs::bind_json(&self.inner.graph, value)
    }

    /// Runs the program once. Never panics; a failed or cancelled run still
    /// reports what finished.
    pub async fn run(&self, inputs: Inputs, control: RunControl) -> RunReport {
        let i = &self.inner;
        let options = RunOptions {
            inputs: inputs.into_values(),
            max_calls: i.max_calls,
            events: control.events,
            cancel: control.cancel,
            retry: i.retry.clone(),
            cache: i.cache.clone(),
            limits: Some(i.limits.clone()),
            budget: i.budget.clone(),
            stream: control.stream,
            untraced: control.untraced,
            batch: i.batch.clone(),
        };
        crate::runtime::run(i.graph.clone(), i.providers.clone(), options).await
    }

    /// Runs the program in a task of its own on the current tokio runtime,
    /// with its events on the handle. Must be called within a runtime.
    pub fn start(&self, inputs: Inputs, cancel: CancellationToken) -> RunHandle {
        self.start_with(inputs, cancel, false)
    }

    /// [`Engine::start`] with the streamable outputs streamed: their
    /// [`RunEvent::OutputChunk`]s come on the handle's events (see
    /// [`RunControl::stream`]).
    pub fn start_streamed(&self, inputs: Inputs, cancel: CancellationToken) -> RunHandle {
        self.start_with(inputs, cancel, true)
    }

    fn start_with(&self, inputs: Inputs, cancel: CancellationToken, stream: bool) -> RunHandle {
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let engine = self.clone();
        let control = RunControl {
            cancel: cancel.clone(),
            events: Some(tx),
            stream,
            untraced: false,
        };
        let task = tokio::spawn(async move { engine.run(inputs, control).await });
        RunHandle {
            events,
            task,
            cancel,
        }
    }

    /// Commits every completed call still queued for the cache and reports
    /// what could not be saved. Runs after this still work, uncached
    /// writes are lost; call it once, when done.
    pub fn close(&self) -> Option<CacheClose> {
        self.inner.cache.as_ref().map(|c| c.close())
    }
}

/// A run going on in its own task.
pub struct RunHandle {
    events: UnboundedReceiver<RunEvent>,
    task: JoinHandle<RunReport>,
    cancel: CancellationToken,
}

impl RunHandle {
    /// The next event, or `None` once the run has ended and every event
    /// was taken.
    pub async fn next_event(&mut self) -> Option<RunEvent> {
        self.events.recv().await
    }

    /// Stops the run: calls in flight are dropped, which cancels them.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the run's report; events not yet taken are dropped.
    pub async fn finish(self) -> RunReport {
        let RunHandle { task, cancel, .. } = self;
        let joined = task.await;
        if joined.is_err() {
            cancel.cancel();
        }
        RunReport::from_task(joined)
    }
}

/// One provider per model, or why one cannot be made (a missing key): the
/// caller's own where given, else the one its declaration names.
fn build_providers(
    graph: &FlowGraph,
    custom: CustomProviders,
) -> Result<HashMap<String, Arc<dyn Provider>>, EngineError> {
    if let Some(name) = custom.0.keys().find(|n| !graph.models.contains_key(*n)) {
        return Err(EngineError::UnknownModel {
            name: name.clone(),
            help: overrides::unknown_model_help(name, graph),
        });
    }
    let declared = graph
        .models
        .values()
        .filter(|m| !custom.0.contains_key(&m.name));
    let mut providers = crate::providers::registry::build_all(declared).map_err(|(model, e)| {
        let message = e.to_string();
        let help = e
            .help()
            .unwrap_or_else(|| "check the model's declaration".into());
        let span = graph.models.get(&model).map(|m| m.span).unwrap_or_default();
        EngineError::Provider {
            model,
            message,
            // A help that already offers `--offline` (a missing key's) says it once.
            help: if help.contains("--offline") {
                help
            } else {
                format!("{help}; or run with `--offline` to use placeholders")
            },
            span,
        }
    })?;
    providers.extend(custom.0);
    Ok(providers)
}

#[cfg(test)]
mod tests;

/// One of `n` processes' part of a model's limits. Rounded down but never
/// to 0, which would mean no limit at all; `tpm` divides the same way.
fn share_limits(options: &mut crate::model::ModelOptions, n: u32) {
    let part = |limit: Option<u32>| limit.filter(|&l| l > 0).map(|l| (l / n).max(1));
    options.concurrency = part(options.concurrency);
    options.rpm = part(options.rpm);
    options.tpm = part(options.tpm);
}
