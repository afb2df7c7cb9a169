//! The cache seen from the runtime: hits, misses, incremental re-runs, and
//! what must never be cached.

use std::sync::Arc;

use indexmap::IndexMap;

use super::CallCache;
use crate::runtime::{self, RunOptions, RunReport};
use crate::value::Value;

async fn run(src: &str, cache: &Arc<CallCache>, inputs: &[(&str, &str)]) -> RunReport {
    let Some(graph) = crate::compile(src).graph else {
        panic!("does not compile:\n{src}");
    };
    let providers = match crate::providers::registry::build_all(graph.models.values()) {
        Ok(p) => p,
        Err((m, e)) => panic!("provider for `{m}`: {e}"),
    };
    let inputs: IndexMap<String, Value> = inputs
        .iter()
        .map(|(k, v)| (k.to_string(), Value::Text(v.to_string())))
        .collect();
    let report = runtime::run(
        Arc::new(graph),
        providers,
        RunOptions {
            inputs,
            cache: Some(cache.clone()),
            ..RunOptions::default()
        },
    )
    .await;
    // The next run must see every write of this one.
    cache.flush();
    report
}

fn open() -> (tempfile::TempDir, Arc<CallCache>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = CallCache::open(&dir.path().join("cache.db")).expect("open");
    (dir, Arc::new(cache))
}

/// Each test below runs against both stores: SQLite (on a paused clock) and
/// PostgreSQL (a database of its own in the test cluster; skipped when the
/// machine has no PostgreSQL, unless `FLOW_REQUIRE_POSTGRES=1`).
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test(start_paused = true)]
            async fn sqlite() {
                let (_dir, cache) = open();
                super::$name(cache).await;
            }

            #[cfg(feature = "postgres")]
            #[tokio::test]
            async fn postgres() {
                let Some(url) = super::super::pg_cluster::database(stringify!($name)) else {
                    return;
                };
                let cache = CallCache::open(std::path::Path::new(&url)).expect("open");
                super::$name(Arc::new(cache)).await;
            }
        }
    )*};
}

const PIPELINE: &str = r#"
model m = mock(echo: true, latency: 10ms)
input q: text
section <
  a = ask m "A: {q}"
  b = ask m "B: {q}"
>
c = ask m "C: {a}"
output out = "{b} | {c}"
"#;

async fn a_second_run_is_answered_from_the_cache(cache: Arc<CallCache>) {
    let first = run(PIPELINE, &cache, &[("q", "hi")]).await;
    assert_eq!(
        (
            first.stats.calls,
            first.stats.cache_hits,
            first.stats.cache_misses
        ),
        (3, 0, 3)
    );
    let second = run(PIPELINE, &cache, &[("q", "hi")]).await;
    assert_eq!(
        (
            second.stats.calls,
            second.stats.cache_hits,
            second.stats.cache_misses
        ),
        (0, 3, 0)
    );
    assert_eq!(second.stats.input_tokens, 0, "a hit costs nothing");
    assert_eq!(first.outputs.ok(), second.outputs.ok());
    // Another input is another prompt: all misses.
    let other = run(PIPELINE, &cache, &[("q", "bye")]).await;
    assert_eq!(other.stats.cache_misses, 3);
}

async fn item_05_a_cached_rerun_sends_no_sample_its_vote_does_not_need(cache: Arc<CallCache>) {
    let src = r#"
model m = mock(reply: "yes", latency: 10ms)
output ok = ask m "Is it?" as bool vote 3 by majority
"#;
    // An earlier run whose first sample was the slow one its vote saved:
    // the cache holds samples 1 and 2 only.
    let graph = crate::compile(src).graph.expect("compiles");
    let spec = graph.models.get("m").expect("model m");
    for sample in [1, 2] {
        let key = super::CallKey::new(super::key::CallSpec {
            model: spec,
            system: None,
            history: &[],
            prompt: "Is it?",
            expect: &crate::types::Type::Bool,
            wire: &crate::providers::Wire::Plain,
            sample,
        });
        cache.put(
            key,
            super::CachedReply {
                model: "m".into(),
                provider: "mock".into(),
                text: "yes".into(),
                usage: Default::default(),
            },
        );
    }
    cache.flush();
    // They decide the vote; sample 0, polled first, is dropped before it
    // is sent, and is a call saved, not a call made.
    let again = run(src, &cache, &[]).await;
    assert_eq!(
        again.outputs.ok().map(|o| o["ok"].clone()),
        Some(Value::Bool(true))
    );
    assert_eq!(again.stats.cache_hits, 2);
    assert_eq!(
        (again.stats.calls, again.stats.saved),
        (0, 1),
        "{:?}",
        again.trace
    );
    assert!(again.trace.is_empty(), "{:?}", again.trace);
}

async fn editing_one_prompt_reruns_only_it_and_its_dependents(cache: Arc<CallCache>) {
    run(PIPELINE, &cache, &[("q", "hi")]).await;
    let edited = PIPELINE.replace("A: {q}", "A, edited: {q}");
    let again = run(&edited, &cache, &[("q", "hi")]).await;
    // `a` changed, and `c` reads `a`; `b` did not change.
    assert_eq!((again.stats.calls, again.stats.cache_hits), (2, 1));
    let mut made: Vec<String> = again.trace.iter().map(|t| t.site.binding.clone()).collect();
    made.sort();
    assert_eq!(made, vec!["a", "c"]);
}

async fn an_unparsable_reply_is_never_cached(cache: Arc<CallCache>) {
    let src = r#"
model m = mock(reply: "no number here", retry: 1)
output n = ask m "how many?" as int
"#;
    let first = run(src, &cache, &[]).await;
    assert!(first.outputs.is_err());
    let second = run(src, &cache, &[]).await;
    assert_eq!(second.stats.cache_hits, 0);
    assert_eq!(second.stats.calls, 2, "both attempts are made again");
    assert_eq!(cache.stats().map(|s| s.entries), Ok(0));
}

async fn samples_are_cached_apart(cache: Arc<CallCache>) {
    let src = r#"
model m = mock(replies: ["one", "two", "three"])
output xs = ask m "count" repeat 3
"#;
    let first = run(src, &cache, &[]).await;
    let second = run(src, &cache, &[]).await;
    assert_eq!(second.stats.cache_hits, 3);
    let want = Value::List(vec![
        Value::Text("one".into()),
        Value::Text("two".into()),
        Value::Text("three".into()),
    ]);
    assert_eq!(
        first.outputs.ok().and_then(|o| o.get("xs").cloned()),
        Some(want.clone())
    );
    assert_eq!(
        second.outputs.ok().and_then(|o| o.get("xs").cloned()),
        Some(want)
    );
}

async fn a_hit_is_not_charged_against_max_calls(cache: Arc<CallCache>) {
    run(PIPELINE, &cache, &[("q", "hi")]).await;
    let Some(graph) = crate::compile(PIPELINE).graph else {
        panic!("compiles");
    };
    let providers = crate::providers::registry::build_all(graph.models.values())
        .unwrap_or_else(|_| panic!("providers"));
    let report = runtime::run(
        Arc::new(graph),
        providers,
        RunOptions {
            inputs: [("q".to_string(), Value::Text("hi".into()))]
                .into_iter()
                .collect(),
            max_calls: Some(0),
            cache: Some(cache.clone()),
            ..RunOptions::default()
        },
    )
    .await;
    assert!(report.outputs.is_ok(), "{:?}", report.outputs.err());
}

both_stores!(
    a_second_run_is_answered_from_the_cache,
    item_05_a_cached_rerun_sends_no_sample_its_vote_does_not_need,
    editing_one_prompt_reruns_only_it_and_its_dependents,
    an_unparsable_reply_is_never_cached,
    samples_are_cached_apart,
    a_hit_is_not_charged_against_max_calls,
    submitted_batches_are_kept_until_they_end,
);

/// A batch's id is kept from its submission until it ends, and another
/// handle (a re-run, another shard) sees it.
async fn submitted_batches_are_kept_until_they_end(cache: Arc<CallCache>) {
    assert_eq!(cache.pending_batches().expect("reads"), Vec::new());
    let batch = crate::cache::StoredBatch {
        id: "batch_1".into(),
        group: "openai http://x/v1 KEY".into(),
        keys: vec!["a".repeat(64), "b".repeat(64)],
    };
    let later = crate::cache::StoredBatch {
        id: "batch_2".into(),
        group: "anthropic http://y/v1 KEY".into(),
        keys: vec!["c".repeat(64)],
    };
    cache.save_batch(&batch).expect("saves");
    cache.save_batch(&later).expect("saves");
    let again = CallCache::open(cache.path()).expect("opens");
    assert_eq!(
        again.pending_batches().expect("reads"),
        vec![batch, later.clone()]
    );
    again.end_batch("batch_1").expect("ends");
    assert_eq!(cache.pending_batches().expect("reads"), vec![later]);
    again.close();
}

#[test]
fn a_batch_custom_id_reads_back_as_its_key() {
    let key = crate::cache::CallKey([7u8; 32]);
    assert_eq!(crate::cache::CallKey::from_hex(&key.hex()), Some(key));
    assert_eq!(crate::cache::CallKey::from_hex("zz"), None);
    assert_eq!(crate::cache::CallKey::from_hex(&"g".repeat(64)), None);
}
