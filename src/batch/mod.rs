//! `flow run --batch-api`: a program's calls sent through the providers'
//! batch APIs (half price, replies within hours) instead of one by one.
//!
//! A batch run is a series of passes. In each, every row runs with a
//! [`BatchPass`]: what the cache answers runs, every other call is deferred
//! and its node never completes, so calls that depend on it, and branches
//! whose condition does, wait for a later pass. When the runs can do
//! nothing but wait ([`until_idle`]), the deferred calls go out as one batch
//! per provider endpoint; their replies go into the cache, and the next
//! pass goes one level further. A pass that defers nothing ends it, and the
//! caller runs the rows one last time, answered from the cache.

mod pass;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use indexmap::IndexMap;
use miette::Diagnostic;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub use pass::{BatchPass, Batched, Deferred, until_idle};

use crate::cache::{CachedReply, StoredBatch};
use crate::engine::{Engine, Inputs, RunControl};
use crate::providers::batch::{BatchStatus, ItemResult};
use crate::providers::{Provider, Usage};

/// The batch discount both OpenAI and Anthropic give: half the price.
pub const DISCOUNT: f64 = 0.5;

/// How a batch run polls and how often a request may go unanswered.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// The first wait between polls of a batch; it doubles up to `poll_max`.
    pub poll_first: Duration,
    /// The longest wait between polls.
    pub poll_max: Duration,
    /// Batches a request may be in without being run (the batch expired or
    /// was cancelled first) before it fails.
    pub attempts: u32,
    /// Stop once the first batches are submitted (a test, or a user who
    /// wants to come back later): the batch ids are in the cache.
    pub submit_only: bool,
    /// Rows run at once in a pass (and held in memory at once).
    pub chunk: usize,
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            poll_first: Duration::from_secs(1),
            poll_max: Duration::from_secs(60),
            attempts: 3,
            submit_only: false,
            chunk: 4096,
        }
    }
}

/// What a batch run tells its listener as it goes.
#[derive(Debug, Clone)]
pub enum BatchEvent {
    /// A pass ended with `requests` calls deferred from `rows` rows.
    Pass {
        /// From 1.
        number: u32,
        /// Rows still waiting for a reply.
        rows: usize,
        /// Calls deferred (the same call in two rows is one).
        requests: usize,
    },
    /// A batch went to its provider.
    Submitted {
        /// The provider's id for it.
        id: String,
        /// Requests in it.
        requests: usize,
    },
    /// A batch an earlier, stopped run submitted, polled instead of
    /// submitting its requests again.
    PickedUp {
        /// The provider's id for it.
        id: String,
        /// Requests in it.
        requests: usize,
    },
    /// A batch changed state (and when it ended).
    Status(BatchStatus),
}

/// What the batches did, for the report.
#[derive(Debug, Clone, Default)]
pub struct BatchSummary {
    /// Passes run, the last (which deferred nothing) included.
    pub passes: u32,
    /// Every batch id polled, submitted or picked up.
    pub batches: Vec<String>,
    /// Requests answered by a batch, and those that failed in one.
    pub answered: u64,
    /// Requests that failed in a batch (or went unrun too often).
    pub failed: u64,
    /// Tokens of the replies batches gave, by model.
    pub usage: IndexMap<String, Usage>,
    /// Requests that failed, by cache key, with the provider's message:
    /// for the last run, which fails those calls with it.
    pub failures: HashMap<String, String>,
    /// `submit_only` stopped it after submitting.
    pub stopped: bool,
    /// The cache keys of the requests batches answered (`BatchPass`).
    pub batched: pass::Batched,
}

impl BatchSummary {
    /// What the batched replies cost at the batch price, when every model
    /// that answered declares its prices.
    pub fn cost_usd(&self, prices: &crate::runtime::Prices) -> Option<f64> {
        let mut total = 0.0;
        for (model, usage) in &self.usage {
            let (i, o) = prices.get(model)?;
            total += (usage.input_tokens as f64 * i + usage.output_tokens as f64 * o) / 1e6;
        }
        Some(total * DISCOUNT)
    }
}

/// Why a batch run stopped before every call had its reply.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum BatchError {
    /// `--no-cache`: there is nowhere to keep replies between passes.
    #[error("`--batch-api` needs the call cache: batched replies are kept there between passes")]
    #[diagnostic(
        code(flow::batch_api::no_cache),
        help("drop `--no-cache`, or give `--cache PATH`")
    )]
    NoCache,

    #[error("the batch API of model `{model}` failed: {message}")]
    #[diagnostic(
        code(flow::batch_api::provider),
        help(
            "check the model's `base_url` and key, or run without `--batch-api` if that server has no batch API; batches already submitted are kept in the cache and a re-run picks them up"
        )
    )]
    /// Submitting or polling a batch failed.
    Provider {
        /// The flow model whose provider failed.
        model: String,
        /// The provider's error, as for an interactive call.
        message: String,
        /// The model's declaration, whose `base_url` and key were used.
        #[label("the batch API of this model")]
        span: Option<miette::SourceSpan>,
    },

    #[error("the cache could not record the batch: {message}")]
    #[diagnostic(
        code(flow::batch_api::cache),
        help("check that the cache file is writable (`flow cache stats`)")
    )]
    /// The batch table could not be read or written.
    Cache {
        /// What the store said.
        message: String,
    },

    #[error("stopped while batches were running: {}", ids.join(", "))]
    #[diagnostic(
        code(flow::batch_api::interrupted),
        help(
            "the batches go on at the provider; run the same command again to pick them up (their ids are in the cache)"
        )
    )]
    /// Ctrl-C while polling.
    Interrupted {
        /// The batches still running at the provider.
        ids: Vec<String>,
    },

    #[error("stopped before a batch was submitted")]
    #[diagnostic(
        code(flow::batch_api::stopped),
        help("nothing is waiting at the provider; replies batches gave earlier are cached")
    )]
    /// Ctrl-C during a pass.
    Stopped,

    /// A bug: a request deferred in more passes than a batch run can
    /// defer it (see [`complete`]).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Internal(crate::internal::InternalError),
}

/// A batch being waited for: its id, who polls it, the requests in it.
struct Active {
    id: String,
    provider: Arc<dyn Provider>,
    model: String,
    keys: Vec<String>,
}

/// The rows of a batch run, from the first, in the same order each time it
/// is called: read again for every pass, so they need not all be held.
pub type Rows<'a> = dyn Fn() -> Box<dyn Iterator<Item = Inputs> + 'a> + Sync + 'a;

fn is_done(done: &[bool], i: usize) -> bool {
    done.get(i).copied().unwrap_or(false)
}

/// Runs `rows` in passes until no call is left to batch, submitting and
/// polling batches in between; the replies end in the cache. The caller
/// then runs the rows once more with [`BatchPass::finishing`] and the
/// summary's failures.
pub async fn complete(
    engine: &Engine,
    rows: &Rows<'_>,
    options: &BatchOptions,
    cancel: &CancellationToken,
    on: &(dyn Fn(BatchEvent) + Sync),
) -> Result<BatchSummary, BatchError> {
    let cache = engine.cache().cloned().ok_or(BatchError::NoCache)?;
    let cache_err = |e: crate::cache::CacheError| BatchError::Cache {
        message: e.to_string(),
    };
    let mut summary = BatchSummary::default();
    // Rows finished, by their place in `rows()`.
    let mut done: Vec<bool> = Vec::new();
    let mut not_run: HashMap<String, u32> = HashMap::new();
    // Passes a request was deferred in. A request is deferred once per batch
    // that does not run it (at most `attempts`) and once more when it is
    // answered; after that it fails or is a cache hit. So every pass defers
    // something new or a request nearer its end, and the run ends; a request
    // deferred more often is a bug, not a deep program.
    let mut deferrals: HashMap<String, u32> = HashMap::new();
    loop {
        summary.passes += 1;
        // The rows are read again for each pass and go in chunks of
        // `options.chunk`: each chunk runs until it can only wait for
        // deferred calls, in a pass of its own (so the idleness is the
        // chunk's), and its deferred calls join the pass's. Only one chunk
        // of rows is held at a time.
        let mut deferred: IndexMap<String, Deferred> = IndexMap::new();
        let mut left = 0usize;
        let mut finished_now: Vec<usize> = Vec::new();
        let mut source = rows().enumerate().filter(|(i, _)| !is_done(&done, *i));
        loop {
            let chunk: Vec<(usize, Inputs)> = source.by_ref().take(options.chunk.max(1)).collect();
            if chunk.is_empty() {
                break;
            }
            let pass = BatchPass::deferring(&summary);
            let batched = engine.in_batch(pass.clone());
            let finished: Arc<Mutex<Vec<usize>>> = Arc::default();
            let runs = {
                let finished = finished.clone();
                let control = RunControl {
                    cancel: cancel.child_token(),
                    ..RunControl::default()
                };
                let mut set: FuturesUnordered<_> = chunk
                    .into_iter()
                    .map(|(i, inputs)| {
                        let e = batched.clone();
                        let control = control.clone();
                        async move {
                            e.run(inputs, control).await;
                            i
                        }
                    })
                    .collect();
                left += set.len();
                async move {
                    while let Some(i) = set.next().await {
                        finished.lock().unwrap_or_else(|e| e.into_inner()).push(i);
                    }
                }
            };
            until_idle(&pass, runs).await;
            if cancel.is_cancelled() {
                return Err(BatchError::Stopped);
            }
            let mut now = std::mem::take(&mut *finished.lock().unwrap_or_else(|e| e.into_inner()));
            left -= now.len();
            finished_now.append(&mut now);
            for (key, call) in pass.take() {
                deferred.entry(key).or_insert(call);
            }
        }
        drop(source);
        for i in finished_now {
            if done.len() <= i {
                done.resize(i + 1, false);
            }
            done[i] = true;
        }
        if deferred.is_empty() {
            return Ok(summary);
        }
        for key in deferred.keys() {
            let n = deferrals.entry(key.clone()).or_insert(0);
            *n += 1;
            if *n > options.attempts.saturating_add(2) {
                return Err(BatchError::Internal(crate::internal::InternalError::new(
                    format!(
                        "the batch request `{key}` was deferred in {n} passes; run without `--batch-api`"
                    ),
                )));
            }
        }
        // A reply written to the cache and asked for again was lost there.
        {
            let answered = summary.batched.read().unwrap_or_else(|e| e.into_inner());
            for key in deferred.keys() {
                if answered.contains(key) {
                    summary.failures.insert(
                        key.clone(),
                        "the cache did not keep its batched reply (check `flow cache stats`)"
                            .into(),
                    );
                }
            }
            deferred.retain(|k, _| !answered.contains(k));
        }
        on(BatchEvent::Pass {
            number: summary.passes,
            rows: left,
            requests: deferred.len(),
        });
        let mut active = pick_up(&cache, &deferred, on).map_err(cache_err)?;
        let covered: HashSet<&String> = active.iter().flat_map(|a| a.keys.iter()).collect();
        let mut groups: IndexMap<String, Vec<(&String, &Deferred)>> = IndexMap::new();
        for (key, d) in &deferred {
            if covered.contains(key) {
                continue;
            }
            let Some(api) = d.provider.batch() else {
                continue;
            };
            groups.entry(api.group()).or_default().push((key, d));
        }
        for (group, items) in groups {
            let Some((_, first)) = items.first() else {
                continue;
            };
            let (provider, model) = (first.provider.clone(), first.model.clone());
            let Some(api) = provider.batch() else {
                continue;
            };
            let bodies: Vec<(String, Value)> = items
                .iter()
                .map(|(k, d)| ((*k).clone(), d.body.clone()))
                .collect();
            // More than one batch may hold goes in several, in order.
            for part in crate::providers::batch::split(&bodies, api.limits()) {
                let id = api
                    .submit(part)
                    .await
                    .map_err(|e| provider_error(engine, &model, e.to_string()))?;
                let keys: Vec<String> = part.iter().map(|(k, _)| k.clone()).collect();
                cache
                    .save_batch(&StoredBatch {
                        id: id.clone(),
                        group: group.clone(),
                        keys: keys.clone(),
                    })
                    .map_err(cache_err)?;
                on(BatchEvent::Submitted {
                    id: id.clone(),
                    requests: keys.len(),
                });
                active.push(Active {
                    id,
                    provider: provider.clone(),
                    model: model.clone(),
                    keys,
                });
            }
        }
        summary.batches.extend(active.iter().map(|a| a.id.clone()));
        if options.submit_only {
            summary.stopped = true;
            return Ok(summary);
        }
        let ids: Vec<String> = active.iter().map(|a| a.id.clone()).collect();
        for batch in &active {
            let status = tokio::select! {
                () = cancel.cancelled() => return Err(BatchError::Interrupted { ids }),
                s = wait(batch, options, on) => s.map_err(|m| provider_error(engine, &batch.model, m))?,
            };
            let api = batch.provider.batch();
            let results = match api {
                Some(api) if !status.sources.is_empty() || status.state == "ended" => api
                    .results(&status)
                    .await
                    .map_err(|e| provider_error(engine, &batch.model, e.to_string()))?,
                _ => Vec::new(),
            };
            let mut seen = HashSet::new();
            for (key, result) in results {
                let Some(d) = deferred.get(&key) else {
                    continue;
                };
                seen.insert(key.clone());
                match result {
                    ItemResult::Reply(body) => {
                        let decoded = d.provider.batch().map(|api| api.decode(&body, &d.request));
                        match decoded {
                            Some(Ok(reply)) => {
                                let provider = engine
                                    .graph()
                                    .models
                                    .get(&d.model)
                                    .map_or("", |s| s.provider.name());
                                let usage = reply.usage.unwrap_or_default();
                                let total = summary.usage.entry(d.model.clone()).or_default();
                                total.input_tokens += usage.input_tokens;
                                total.output_tokens += usage.output_tokens;
                                cache.put_raw(
                                    &key,
                                    CachedReply {
                                        model: d.model.clone(),
                                        provider: provider.to_string(),
                                        text: reply.text,
                                        usage,
                                    },
                                );
                                summary
                                    .batched
                                    .write()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .insert(key);
                                summary.answered += 1;
                            }
                            Some(Err(e)) => {
                                summary.failed += 1;
                                summary.failures.insert(key, e.to_string());
                            }
                            None => {}
                        }
                    }
                    ItemResult::Failed(message) => {
                        summary.failed += 1;
                        summary.failures.insert(key, message);
                    }
                    ItemResult::NotRun(message) => {
                        skipped(&mut summary, &mut not_run, options, key, &message);
                    }
                }
            }
            // A request the results do not mention was not run either.
            let why = status
                .error
                .clone()
                .unwrap_or_else(|| format!("the batch ended `{}` without it", status.state));
            for key in &batch.keys {
                if !seen.contains(key) && deferred.contains_key(key) {
                    skipped(&mut summary, &mut not_run, options, key.clone(), &why);
                }
            }
            cache.end_batch(&batch.id).map_err(cache_err)?;
        }
        cache.flush();
    }
}

/// A request a batch did not run: tried again in the next pass's batch,
/// failed after `options.attempts` batches.
fn skipped(
    summary: &mut BatchSummary,
    not_run: &mut HashMap<String, u32>,
    options: &BatchOptions,
    key: String,
    why: &str,
) {
    let n = not_run.entry(key.clone()).or_insert(0);
    *n += 1;
    if *n >= options.attempts {
        summary.failed += 1;
        summary.failures.insert(
            key,
            format!("it was not run in {n} batches (the last said: {why})"),
        );
    }
}

/// The stored, unfinished batches that carry some of `deferred`'s requests.
fn pick_up(
    cache: &crate::cache::CallCache,
    deferred: &IndexMap<String, Deferred>,
    on: &(dyn Fn(BatchEvent) + Sync),
) -> Result<Vec<Active>, crate::cache::CacheError> {
    let mut out = Vec::new();
    for stored in cache.pending_batches()? {
        let Some(d) = stored.keys.iter().find_map(|k| deferred.get(k)) else {
            continue;
        };
        if d.provider.batch().map(|api| api.group()).as_deref() != Some(stored.group.as_str()) {
            continue;
        }
        on(BatchEvent::PickedUp {
            id: stored.id.clone(),
            requests: stored.keys.len(),
        });
        out.push(Active {
            id: stored.id,
            provider: d.provider.clone(),
            model: d.model.clone(),
            keys: stored.keys,
        });
    }
    Ok(out)
}

/// A provider's failure, pointing at the model's declaration (its
/// `base_url` and key are what to check).
fn provider_error(engine: &Engine, model: &str, message: String) -> BatchError {
    BatchError::Provider {
        model: model.to_string(),
        message,
        span: engine.graph().models.get(model).map(|s| s.span.into()),
    }
}

/// Polls `batch` until it ends, waiting longer each time; the provider's
/// message when polling fails for good.
async fn wait(
    batch: &Active,
    options: &BatchOptions,
    on: &(dyn Fn(BatchEvent) + Sync),
) -> Result<BatchStatus, String> {
    let Some(api) = batch.provider.batch() else {
        return Err("the model has no batch API".into());
    };
    let mut delay = options.poll_first;
    let mut last_state = String::new();
    let mut failures = 0u32;
    loop {
        match api.status(&batch.id).await {
            Ok(status) => {
                failures = 0;
                if status.state != last_state || status.ended {
                    last_state = status.state.clone();
                    on(BatchEvent::Status(status.clone()));
                }
                if status.ended {
                    return Ok(status);
                }
            }
            // A poll that fails for a passing cause is tried again; the
            // batch goes on at the provider whatever happens here.
            Err(e) if e.is_transient() && failures < 5 => failures += 1,
            Err(e) => return Err(e.to_string()),
        }
        tokio::time::sleep(delay).await;
        delay = delay.saturating_mul(2).min(options.poll_max);
    }
}
