//! The event-driven scheduler: a node starts the moment its last dependency
//! completes. There is no polling and no lock-step: every ready node is in
//! flight at once, throttled only by the models' limits, and the first
//! failure aborts everything still running.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use indexmap::IndexMap;
use petgraph::Direction;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::ctx::RunCtx;
use super::env::{DepValues, Env};
use super::error::RunError;
use super::eval::eval;
use super::events::RunEvent;
use super::gate::{Gate, Gates};
use super::node::{Done, execute};
use super::options::RunOptions;
use super::report::RunReport;
use crate::graph::{
    AskCall, Expr, ExprKind, FlowGraph, NodeId, NodeKind, Template, TemplatePart, streams,
};
use crate::providers::Provider;
use crate::value::Value;

/// A node's result, or the panic that ended it.
type NodeOutcome = std::thread::Result<Result<Done, RunError>>;

/// A started node, boxed so the set of running nodes holds a pointer each,
/// not a whole call's state.
type NodeFuture = Pin<Box<dyn Future<Output = NodeOutcome> + Send>>;

/// A node waiting in the set of running nodes.
struct InFlight {
    id: NodeId,
    fut: NodeFuture,
}

impl Future for InFlight {
    type Output = (NodeId, NodeOutcome);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        self.fut.as_mut().poll(cx).map(|outcome| (id, outcome))
    }
}

/// Nodes started and finished so far, for progress events.
struct Count {
    started: usize,
    done: usize,
    total: usize,
}

/// Where a node is in its life.
enum State {
    Waiting,
    Running,
    Done(Arc<Value>),
    /// Its guard failed: it has no value.
    Skipped,
}

/// Executes `graph` with one provider per declared model name. Never panics
/// and always reports what finished, even when the run fails.
pub async fn run(
    graph: Arc<FlowGraph>,
    providers: HashMap<String, Arc<dyn Provider>>,
    mut options: RunOptions,
) -> RunReport {
    let inputs = std::mem::take(&mut options.inputs);
    let mut ctx = RunCtx::new(graph.clone(), providers, &options, inputs);
    let watches = if options.stream {
        let (watches, streams) = watch_streams(&graph, &options);
        ctx.streams = streams;
        watches
    } else {
        Vec::new()
    };
    let ctx = Arc::new(ctx);
    let mut sched = Scheduler::new(ctx.clone());
    sched.set_watches(watches);
    let error = sched.run(&options).await.err();
    let wall = Instant::now() - ctx.start;

    let outputs = match error {
        Some(e) => Err(e),
        None => sched.outputs(),
    };
    let (stats, trace, gates) = ctx.finish(
        wall,
        sched.critical_path(),
        sched.run_count,
        sched.skip_count,
    );
    // With the scheduler's states gone, each finished value is the last
    // reference to itself: moved out, not copied.
    let finished = std::mem::take(&mut sched.finished);
    drop(sched);
    let finished = finished
        .into_iter()
        .map(|(name, value)| (name, Arc::unwrap_or_clone(value)))
        .collect();
    RunReport {
        outputs,
        finished,
        stats,
        trace,
        gates,
    }
}

struct Scheduler {
    ctx: Arc<RunCtx>,
    graph: Arc<FlowGraph>,
    /// Every node's dependencies (edges, referenced nodes and guards), deduplicated.
    deps: Vec<Vec<NodeId>>,
    dependents: Vec<Vec<NodeId>>,
    remaining: Vec<usize>,
    state: Vec<State>,
    /// Longest chain of call latencies ending at each finished node.
    path: Vec<Duration>,
    /// Shares each value with `state`: a copy per node of every list a
    /// run made was a tenth of a 10,000-call fan-out's instructions.
    finished: Vec<(String, Arc<Value>)>,
    run_count: usize,
    skip_count: usize,
    /// Streamed outputs' gates still to decide, or decided.
    watches: Vec<Watch>,
    /// Streamed calls that a gate may cancel, each with its token.
    cancellable: HashMap<NodeId, CancellationToken>,
    /// Streamed calls every reader of which shut its gate: cancelled if
    /// running, skipped if not started.
    doomed: HashSet<NodeId>,
}

/// One gate of a streamed output, and the conditions that decide it.
struct Watch {
    gate: Arc<Gate>,
    /// The call it streams.
    source: NodeId,
    /// The output node.
    output: NodeId,
    conditions: Vec<(Expr, bool)>,
    /// The bindings between the output and the call.
    via: Vec<NodeId>,
    decided: bool,
}

/// The gates of every streamable output, and for each streamed call the
/// gates it feeds. A gate with no condition is open from the start.
fn watch_streams(graph: &FlowGraph, options: &RunOptions) -> (Vec<Watch>, HashMap<NodeId, Gates>) {
    let mut watches = Vec::new();
    let mut feeds: HashMap<NodeId, Vec<Arc<Gate>>> = HashMap::new();
    for output in streams::streamable(graph) {
        for source in output.sources {
            let open = source.conditions.is_empty();
            let gate = Arc::new(Gate::new(output.name.clone(), options.events.clone(), open));
            feeds.entry(source.node).or_default().push(gate.clone());
            watches.push(Watch {
                gate,
                source: source.node,
                output: output.node,
                conditions: source.conditions,
                via: source.via,
                decided: open,
            });
        }
    }
    let feeds = feeds.into_iter().map(|(k, v)| (k, v.into())).collect();
    (watches, feeds)
}

impl Scheduler {
    fn new(ctx: Arc<RunCtx>) -> Scheduler {
        let graph = ctx.graph.clone();
        let n = graph.dag.node_count();
        let mut deps: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        let mut dependents: Vec<Vec<NodeId>> = vec![Vec::new(); n];
        for id in graph.dag.node_indices() {
            let mut d: Vec<NodeId> = graph
                .dag
                .neighbors_directed(id, Direction::Incoming)
                .collect();
            node_refs(&graph, id, &mut d);
            d.retain(|&dep| dep != id && dep.index() < n);
            d.sort();
            d.dedup();
            for &dep in &d {
                if let Some(list) = dependents.get_mut(dep.index()) {
                    list.push(id);
                }
            }
            if let Some(slot) = deps.get_mut(id.index()) {
                *slot = d;
            }
        }
        let remaining = deps.iter().map(Vec::len).collect();
        Scheduler {
            ctx,
            graph,
            deps,
            dependents,
            remaining,
            state: (0..n).map(|_| State::Waiting).collect(),
            path: vec![Duration::ZERO; n],
            finished: Vec::new(),
            run_count: 0,
            skip_count: 0,
            watches: Vec::new(),
            cancellable: HashMap::new(),
            doomed: HashSet::new(),
        }
    }

    fn set_watches(&mut self, watches: Vec<Watch>) {
        for w in watches.iter().filter(|w| !w.decided) {
            self.cancellable.entry(w.source).or_default();
        }
        self.watches = watches;
    }

    /// Decides every gate whose conditions now have values: opened, its
    /// held chunks go out; shut, nothing will, and its call is cancelled
    /// when no other node reads it.
    fn decide_gates(&mut self) {
        let mut shut = Vec::new();
        for i in 0..self.watches.len() {
            let Some(w) = self.watches.get(i) else {
                continue;
            };
            if w.decided {
                continue;
            }
            let Some(open) = self.verdict(w) else {
                continue;
            };
            let output = self.name(w.output);
            let source = self.name(w.source);
            self.ctx.record_gate(&output, &source, open);
            if open {
                w.gate.open();
            } else {
                w.gate.shut();
                shut.push(w.source);
            }
            if let Some(w) = self.watches.get_mut(i) {
                w.decided = true;
            }
        }
        for source in shut {
            self.cancel_if_unread(source);
        }
    }

    /// `Some(open)` once the conditions are decided, `None` before. They
    /// are read in order, as the nested `if`s would read them, with the
    /// values the output itself will see.
    fn verdict(&self, w: &Watch) -> Option<bool> {
        for (cond, want) in &w.conditions {
            let mut refs = Vec::new();
            expr_refs(cond, &mut refs);
            refs.sort();
            refs.dedup();
            let mut values = Vec::with_capacity(refs.len());
            for r in refs {
                match self.state.get(r.index()) {
                    Some(State::Done(v)) => values.push((r, v.clone())),
                    // Skipped: the output cannot take this path.
                    Some(State::Skipped) => return Some(false),
                    _ => return None,
                }
            }
            let values = DepValues::from_sorted(values);
            let latency = std::sync::atomic::AtomicU64::new(0);
            let output = self.name(w.output);
            let env = Env::top(&self.ctx, &output, &values, &latency);
            // A condition is pure (calls are nodes of their own), so its
            // value is ready at once; an error fails the output itself.
            match eval(&env, cond).now_or_never() {
                Some(Ok(v)) if v.truth() == Some(*want) => {}
                Some(_) => return Some(false),
                None => return None,
            }
        }
        Some(true)
    }

    /// A streamed call whose every reader is an output that shut its gate
    /// to it, or a binding on the way to such outputs that nothing else
    /// reads, has no use any more: stopped if running, never started if not.
    fn cancel_if_unread(&mut self, source: NodeId) {
        let mut memo = HashMap::new();
        let unread = self
            .dependents
            .get(source.index())
            .is_some_and(|ds| ds.iter().all(|&d| self.unneeded(source, d, &mut memo)));
        if !unread || !self.doomed.insert(source) {
            return;
        }
        if let Some(token) = self.cancellable.get(&source) {
            token.cancel();
        }
    }

    /// Whether `reader` can do without the streamed call `source`: an
    /// output whose every gate for it is shut never reads it; a binding
    /// passed through on the way (`answer = if unsafe then ... else reply`)
    /// may still be evaluated, but its value goes only to such outputs or
    /// bindings, which, having shut the gate, read it only where it did not
    /// read the call. Anything else might read the call's reply.
    fn unneeded(&self, source: NodeId, reader: NodeId, memo: &mut HashMap<NodeId, bool>) -> bool {
        if let Some(&known) = memo.get(&reader) {
            return known;
        }
        // The graph is acyclic; this only stops a second visit mid-walk.
        memo.insert(reader, false);
        let mut gates = self
            .watches
            .iter()
            .filter(|w| w.source == source && w.output == reader)
            .peekable();
        let unneeded = if gates.peek().is_some() {
            gates.all(|w| w.gate.is_shut())
        } else if self
            .watches
            .iter()
            .any(|w| w.source == source && w.via.contains(&reader))
        {
            self.dependents
                .get(reader.index())
                .is_some_and(|ds| ds.iter().all(|&d| self.unneeded(source, d, memo)))
        } else {
            false
        };
        memo.insert(reader, unneeded);
        unneeded
    }

    /// A binding passed through on the way to a refused output may read
    /// the call its gate cancelled; it then has no value, as a branch not
    /// taken (see [`Scheduler::unneeded`]: nothing that needs it reads it).
    fn read_a_cancelled_call(&self, id: NodeId) -> bool {
        self.deps
            .get(id.index())
            .is_some_and(|ds| ds.iter().any(|d| self.doomed.contains(d)))
    }

    async fn run(&mut self, options: &RunOptions) -> Result<(), RunError> {
        // A missing input fails the run before any call is made.
        for (name, &id) in &self.graph.inputs {
            if let Some(node) = self.graph.dag.node_weight(id)
                && let NodeKind::Input { default: None } = node.kind
                && !self.ctx.inputs.contains_key(name)
            {
                return Err(RunError::MissingInput {
                    name: name.clone(),
                    span: node.span.into(),
                });
            }
        }
        let total = self.state.len();
        self.ctx.emit(|| RunEvent::Planned { nodes: total });

        let mut ready: VecDeque<NodeId> = self
            .graph
            .dag
            .node_indices()
            .filter(|id| self.remaining.get(id.index()) == Some(&0))
            .collect();
        // Every started node's future is polled here, in the run's own task,
        // rather than spawned: calls wait on timers and sockets, not on a
        // core, and a task per node cost a spawn and two cross-thread
        // wake-ups each. A node is polled once as it starts, so one that
        // needs no waiting (an input, a template, a cached or instant call)
        // finishes without joining the set. Dropping the set drops every
        // future in it, which is how the first failure cancels the rest.
        let mut running = FuturesUnordered::new();
        let mut count = Count {
            started: 0,
            done: 0,
            total,
        };
        let cancelled = options.cancel.cancelled();
        tokio::pin!(cancelled);

        let result = std::future::poll_fn(|cx| {
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(RunError::Cancelled));
            }
            loop {
                while let Some(id) = ready.pop_front() {
                    if let Err(e) = self.start(id, cx, &mut running, &mut ready, &mut count) {
                        return Poll::Ready(Err(e));
                    }
                }
                if running.is_empty() {
                    return Poll::Ready(if count.done == count.total {
                        Ok(())
                    } else {
                        Err(RunError::internal(format!(
                            "{} nodes never became ready; the graph has a cycle",
                            count.total - count.done
                        )))
                    });
                }
                match running.poll_next_unpin(cx) {
                    Poll::Ready(Some((id, outcome))) => {
                        // Cancellation wins over a completion, as it always has.
                        if options.cancel.is_cancelled() {
                            return Poll::Ready(Err(RunError::Cancelled));
                        }
                        if let Err(e) = self.complete(id, outcome, &mut ready, &mut count) {
                            return Poll::Ready(Err(e));
                        }
                    }
                    Poll::Ready(None) => {}
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        // Drop whatever is still in flight now, before the run's wall time is
        // taken: each abandoned attempt records itself in the trace as it goes.
        drop(running);
        result
    }

    /// Starts a ready node, or skips it if a guard does not hold, and polls
    /// it once: if it finishes there, it is completed at once; otherwise it
    /// joins `running`, which polls it again and from then on.
    fn start(
        &mut self,
        id: NodeId,
        cx: &mut Context<'_>,
        running: &mut FuturesUnordered<InFlight>,
        ready: &mut VecDeque<NodeId>,
        count: &mut Count,
    ) -> Result<(), RunError> {
        if !self.guards_hold(id) || self.doomed.contains(&id) {
            self.skip(id, ready, count);
            return Ok(());
        }
        let values = self.values_for(id);
        self.set(id, State::Running);
        count.started += 1;
        self.ctx.emit(|| RunEvent::NodeStarted {
            node: self.name(id),
            started: count.started,
            total: count.total,
        });
        // A panic in a node is a bug in flow; it fails the run like any
        // other error instead of taking the caller down.
        let mut fut: NodeFuture =
            Box::pin(AssertUnwindSafe(execute(self.ctx.clone(), id, values)).catch_unwind());
        if let Some(token) = self.cancellable.get(&id) {
            // A streamed call a gate may stop: dropped when it is, and then
            // completed as skipped (see `complete`).
            let token = token.clone();
            let inner = fut;
            fut = Box::pin(async move {
                tokio::select! {
                    biased;
                    () = token.cancelled() => Ok(Err(RunError::Cancelled)),
                    out = inner => out,
                }
            });
        }
        match fut.as_mut().poll(cx) {
            Poll::Ready(outcome) => self.complete(id, outcome, ready, count),
            Poll::Pending => {
                running.push(InFlight { id, fut });
                Ok(())
            }
        }
    }

    /// Records a finished node and releases its dependents, or returns the
    /// error that ends the run.
    fn complete(
        &mut self,
        id: NodeId,
        outcome: NodeOutcome,
        ready: &mut VecDeque<NodeId>,
        count: &mut Count,
    ) -> Result<(), RunError> {
        if self.doomed.contains(&id) {
            // Cancelled by its gate (or finished when nothing read it any
            // more): it has no value, as a branch not taken.
            self.skip(id, ready, count);
            return Ok(());
        }
        let Done { value, latency } = match outcome {
            Ok(Ok(done)) => done,
            Ok(Err(RunError::Internal(_))) if self.read_a_cancelled_call(id) => {
                self.skip(id, ready, count);
                return Ok(());
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(RunError::internal(format!(
                    "the task running `{}` panicked",
                    self.name(id)
                )));
            }
        };
        let before = self
            .deps
            .get(id.index())
            .into_iter()
            .flatten()
            .filter_map(|d| self.path.get(d.index()))
            .max()
            .copied()
            .unwrap_or_default();
        if let Some(p) = self.path.get_mut(id.index()) {
            *p = before + latency;
        }
        if matches!(self.graph.node(id).kind, NodeKind::Output(_)) {
            self.ctx.emit(|| RunEvent::OutputReady {
                name: self.name(id),
                value: Value::clone(&value),
            });
        }
        self.finished.push((self.name(id), value.clone()));
        self.set(id, State::Done(value));
        self.run_count += 1;
        count.done += 1;
        if !self.watches.is_empty() {
            self.decide_gates();
        }
        self.ctx.emit(|| RunEvent::NodeFinished {
            node: self.name(id),
            skipped: false,
            done: count.done,
            total: count.total,
        });
        self.release(id, ready);
        Ok(())
    }

    /// A node that does not run: its guard failed, or its gate cancelled it.
    fn skip(&mut self, id: NodeId, ready: &mut VecDeque<NodeId>, count: &mut Count) {
        self.set(id, State::Skipped);
        self.skip_count += 1;
        count.done += 1;
        self.ctx.emit(|| RunEvent::NodeFinished {
            node: self.name(id),
            skipped: true,
            done: count.done,
            total: count.total,
        });
        if !self.watches.is_empty() {
            self.decide_gates();
        }
        self.release(id, ready);
    }

    fn name(&self, id: NodeId) -> String {
        self.graph
            .dag
            .node_weight(id)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| format!("#{}", id.index()))
    }

    fn set(&mut self, id: NodeId, state: State) {
        if let Some(s) = self.state.get_mut(id.index()) {
            *s = state;
        }
    }

    /// One dependency fewer for each dependent; those left with none are ready.
    fn release(&mut self, id: NodeId, ready: &mut VecDeque<NodeId>) {
        let Some(dependents) = self.dependents.get(id.index()) else {
            return;
        };
        for &d in dependents {
            if let Some(r) = self.remaining.get_mut(d.index()) {
                *r = r.saturating_sub(1);
                if *r == 0 {
                    ready.push_back(d);
                }
            }
        }
    }

    /// A node runs only if every guard's condition ran and has the wanted value.
    fn guards_hold(&self, id: NodeId) -> bool {
        let Some(node) = self.graph.dag.node_weight(id) else {
            return false;
        };
        node.guards
            .iter()
            .all(|g| match self.state.get(g.cond.index()) {
                // As `if` reads its condition, so the guarded call runs
                // exactly when its branch is taken.
                Some(State::Done(v)) => v.truth() == Some(g.when),
                _ => false,
            })
    }

    /// `deps` is sorted, so the values come out sorted by node, as
    /// `DepValues` needs.
    fn values_for(&self, id: NodeId) -> DepValues {
        DepValues::from_sorted(
            self.deps
                .get(id.index())
                .into_iter()
                .flatten()
                .filter_map(|&d| match self.state.get(d.index()) {
                    Some(State::Done(v)) => Some((d, v.clone())),
                    _ => None,
                })
                .collect(),
        )
    }

    fn outputs(&self) -> Result<IndexMap<String, Value>, RunError> {
        let mut out = IndexMap::new();
        for (name, &id) in &self.graph.outputs {
            match self.state.get(id.index()) {
                Some(State::Done(v)) => {
                    out.insert(name.clone(), Value::clone(v));
                }
                _ => {
                    return Err(RunError::internal(format!(
                        "output `{name}` has no value after the run"
                    )));
                }
            }
        }
        Ok(out)
    }

    fn critical_path(&self) -> Duration {
        self.path.iter().max().copied().unwrap_or_default()
    }
}

/// Every node a node reads, whether or not the graph has the edge: running
/// with a missing edge would read a value that is not there yet.
pub(crate) fn node_refs(graph: &FlowGraph, id: NodeId, out: &mut Vec<NodeId>) {
    let Some(node) = graph.dag.node_weight(id) else {
        return;
    };
    out.extend(node.guards.iter().map(|g| g.cond));
    match &node.kind {
        NodeKind::Input { default } => {
            if let Some(e) = default {
                expr_refs(e, out);
            }
        }
        NodeKind::Ask { call, .. } => call_refs(call, out),
        NodeKind::Ensemble { voters, .. } => voters.iter().for_each(|c| call_refs(c, out)),
        NodeKind::Pure(e) | NodeKind::Output(e) => expr_refs(e, out),
        NodeKind::Map { list, body, .. } => {
            expr_refs(list, out);
            expr_refs(body, out);
        }
        NodeKind::Record(members) => out.extend(members.iter().map(|(_, m)| *m)),
    }
}

fn call_refs(call: &AskCall, out: &mut Vec<NodeId>) {
    template_refs(&call.prompt, out);
    if let Some(s) = &call.system {
        template_refs(s, out);
    }
    if let Some(h) = &call.history {
        expr_refs(h, out);
    }
}

fn template_refs(t: &Template, out: &mut Vec<NodeId>) {
    for p in &t.parts {
        if let TemplatePart::Expr(e) = p {
            expr_refs(e, out);
        }
    }
}

fn expr_refs(e: &Expr, out: &mut Vec<NodeId>) {
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Var(_) => {}
        ExprKind::Node(id) => out.push(*id),
        ExprKind::Template(t) => template_refs(t, out),
        ExprKind::List(items) | ExprKind::Call(_, items) => {
            items.iter().for_each(|i| expr_refs(i, out))
        }
        ExprKind::Field(b, _) | ExprKind::Not(b) => expr_refs(b, out),
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Compare(_, a, b) => {
            expr_refs(a, out);
            expr_refs(b, out);
        }
        ExprKind::If { cond, then, else_ } => {
            expr_refs(cond, out);
            expr_refs(then, out);
            expr_refs(else_, out);
        }
        ExprKind::Ask(call, _) => call_refs(call, out),
        ExprKind::Map { list, body, .. } => {
            expr_refs(list, out);
            expr_refs(body, out);
        }
    }
}
