//! Executing one node once its dependencies have values.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indexmap::IndexMap;

use futures::future::try_join_all;

use super::ask;
use super::ctx::RunCtx;
use super::env::{DepValues, Env};
use super::error::RunError;
use super::eval::{eval, map, render_call};
use crate::graph::{NodeId, NodeKind};
use crate::value::Value;

/// A node's value and its longest call latency (for the critical path).
pub(crate) struct Done {
    /// Shared: an input node's value is the run's input itself.
    pub value: Arc<Value>,
    pub latency: Duration,
}

pub(crate) async fn execute(
    ctx: Arc<RunCtx>,
    id: NodeId,
    values: DepValues,
) -> Result<Done, RunError> {
    let graph = ctx.graph.clone();
    let Some(node) = graph.dag.node_weight(id) else {
        return Err(RunError::internal(format!(
            "node {} is not in the graph",
            id.index()
        )));
    };
    let latency = AtomicU64::new(0);
    let env = Env::top(&ctx, &node.name, &values, &latency);
    let value = match &node.kind {
        NodeKind::Input { default } => {
            let name = graph
                .inputs
                .iter()
                .find(|(_, n)| **n == id)
                .map(|(name, _)| name.as_str())
                .unwrap_or(&node.name);
            match (ctx.inputs.get(name), default) {
                (Some(v), _) => {
                    return Ok(Done {
                        value: Arc::clone(v),
                        latency: Duration::ZERO,
                    });
                }
                (None, Some(d)) => eval(&env, d).await?,
                (None, None) => {
                    return Err(RunError::MissingInput {
                        name: name.to_string(),
                        span: node.span.into(),
                    });
                }
            }
        }
        NodeKind::Ask { call, sampling } => {
            let mut r = render_call(&env, call).await?;
            r.stream = ctx.streams.get(&id).cloned();
            let called = ask::ask(&env, &r, sampling, node.span).await?;
            env.observe_latency(called.latency);
            called.value
        }
        NodeKind::Ensemble {
            voters,
            per_voter,
            strategy,
            until,
        } => {
            // Boxed: an ensemble's state is ~2 KB, and unboxed it would make
            // every node's future that large, ensemble or not.
            let rendered = try_join_all(voters.iter().map(|c| render_call(&env, c))).await?;
            let called = match until {
                None => {
                    Box::pin(ask::ensemble(
                        &env, &rendered, *per_voter, strategy, node.span,
                    ))
                    .await?
                }
                Some(until) => {
                    Box::pin(ask::adaptive_ensemble(
                        &env, &rendered, *per_voter, strategy, *until, node.span,
                    ))
                    .await?
                }
            };
            env.observe_latency(called.latency);
            called.value
        }
        NodeKind::Pure(e) | NodeKind::Output(e) => eval(&env, e).await?,
        NodeKind::Map {
            var, list, body, ..
        } => map(&env, var, list, body).await?,
        NodeKind::Record(members) => {
            let mut fields = IndexMap::new();
            for (name, member) in members {
                let v = values.get(member).ok_or_else(|| {
                    RunError::internal(format!(
                        "member `{name}` of record `{}` has no value",
                        node.name
                    ))
                })?;
                fields.insert(name.clone(), Value::clone(v));
            }
            Value::Record(fields)
        }
    };
    Ok(Done {
        value: Arc::new(value),
        latency: Duration::from_micros(latency.load(Ordering::Relaxed)),
    })
}
