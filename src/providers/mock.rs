//! The offline `mock` provider: deterministic in prompt and sample index.
//!
//! Which option answers, when several are given:
//!
//! 1. `placeholder` (set by `--offline`) overrides everything: a plausible
//!    reply of the expected type.
//! 2. `rules`: the first key, in written order, found in the prompt (`"*"`
//!    matches anything) picks the reply.
//! 3. `replies`: sample `i` gets `replies[i % len]`.
//! 4. `reply`: always this text.
//! 5. `echo: true`: the prompt itself.
//!
//! A call given a conversation (`with NAME`) hears it as lines of
//! `role: content` before `user: PROMPT`: rules look for their keys in all
//! of it, `echo` replies with all of it, and an invented reply varies with
//! it, so a conversation changes a mock's reply the way it would a model's.
//! 6. None of these: a placeholder, as with `--offline`.
//!
//! Later options are fallbacks for earlier ones, so `rules` with `reply` means
//! "these rules, else this reply". Rules with no fallback and no matching key
//! are a fatal error, since retrying the same prompt cannot match either.
//!
//! `latency` delays every attempt, exactly (with tokio's clock, so tests
//! can pause it), and `fail_first: N` makes attempts `0..N` of every call fail with a
//! transient error after that delay. Dropping the future cancels the call.

use futures::future::BoxFuture;

use super::{Provider, ProviderError, Reply, Request, StreamSink, Usage};
use crate::model::MockOptions;
use crate::types::Type;

pub struct MockProvider {
    options: MockOptions,
}

impl MockProvider {
    pub fn new(options: MockOptions) -> MockProvider {
        MockProvider { options }
    }

    /// The reply text for a request, or why there is none. Pure, so the
    /// determinism the language promises is easy to see and to test.
    pub fn reply_text(&self, request: &Request) -> Result<String, ProviderError> {
        let o = &self.options;
        // One test for both "set by --offline" and "no reply option", shared
        // with the runtime, which must know which replies are invented.
        if o.invents_replies() {
            return Ok(placeholder(request));
        }
        let heard = heard(request);
        if let Some(rules) = &o.rules {
            // A re-ask's message counts as heard too, so a rule keyed on it
            // can script the second answer.
            let reask = request.reask.as_ref().map(|r| r.message.as_str());
            let hit = rules.iter().find(|(key, _)| {
                key == "*"
                    || heard.contains(key.as_str())
                    || reask.is_some_and(|m| m.contains(key.as_str()))
            });
            if let Some((_, reply)) = hit {
                return Ok(reply.clone());
            }
            if o.replies.is_none() && o.reply.is_none() && !o.echo {
                return Err(no_rule_matched(&request.model, rules));
            }
        }
        if let Some(replies) = o.replies.as_deref().filter(|r| !r.is_empty()) {
            let i = request.sample as usize % replies.len();
            if let Some(reply) = replies.get(i) {
                return Ok(reply.clone());
            }
        }
        if let Some(reply) = &o.reply {
            return Ok(reply.clone());
        }
        if o.echo {
            return Ok(heard.into_owned());
        }
        // Only an empty `replies: []` beside other options gets here.
        Ok(placeholder(request))
    }
}

impl Provider for MockProvider {
    fn invents_replies(&self) -> bool {
        self.options.invents_replies()
    }

    /// Its latency, when nothing comes after it: chunks streamed with a
    /// delay between them take as long as the reply is.
    fn longest_attempt(&self) -> Option<std::time::Duration> {
        match self.options.chunk_delay {
            Some(d) if !d.is_zero() => None,
            _ => Some(self.options.latency.unwrap_or_default()),
        }
    }

    fn call(&self, request: Request) -> BoxFuture<'_, Result<Reply, ProviderError>> {
        let start = tokio::time::Instant::now();
        self.answer(start, request, None)
    }

    fn stream<'a>(
        &'a self,
        request: Request,
        sink: &'a dyn StreamSink,
    ) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        let start = tokio::time::Instant::now();
        self.answer(start, request, Some(sink))
    }
}

impl MockProvider {
    /// One attempt: `latency` to the first chunk, then `chunk_delay` per
    /// chunk after it, streamed or not, so both take the same time.
    ///
    /// The reply (or the failure) is made at once and the request dropped
    /// before the wait: what waits is the reply and a timer, not the
    /// request, and a fan-out holds one of these per call in flight. An
    /// attempt with no chunks to pace is just the reply and one timer.
    fn answer<'a>(
        &'a self,
        start: tokio::time::Instant,
        request: Request,
        sink: Option<&'a dyn StreamSink>,
    ) -> BoxFuture<'a, Result<Reply, ProviderError>> {
        let outcome = self.reply_now(&request);
        drop(request);
        let latency = self.options.latency;
        let delay = self.options.chunk_delay.unwrap_or_default();
        if sink.is_none() && delay.is_zero() {
            return Box::pin(async move {
                // To within tens of microseconds (see `exact_timer`); on a
                // paused clock, exactly.
                if let Some(latency) = latency {
                    super::exact_timer::sleep_until(start + latency).await;
                }
                outcome
            });
        }
        Box::pin(async move {
            if let Some(latency) = latency {
                super::exact_timer::sleep_until(start + latency).await;
            }
            let Ok(reply) = &outcome else {
                return outcome;
            };
            let mut after = latency.unwrap_or_default();
            for (i, chunk) in chunks(&reply.text).enumerate() {
                if i > 0 && !delay.is_zero() {
                    after += delay;
                    super::exact_timer::sleep_until(start + after).await;
                }
                if let Some(sink) = sink {
                    sink.text(chunk);
                }
            }
            outcome
        })
    }

    /// What the attempt answers, as it will once its time has come.
    fn reply_now(&self, request: &Request) -> Result<Reply, ProviderError> {
        if request.attempt < self.options.fail_first {
            return Err(ProviderError::MockFailure {
                model: request.model.clone(),
                fail_first: self.options.fail_first,
                attempt: request.attempt,
            });
        }
        let text = self.reply_text(request)?;
        let input =
            request.system.as_deref().map_or(0, approx_tokens) + approx_tokens(&heard(request));
        let reask = request
            .reask
            .as_ref()
            .map_or(0, |r| approx_tokens(&r.reply) + approx_tokens(&r.message));
        let output = approx_tokens(&text);
        Ok(Reply::new(
            text,
            Usage {
                input_tokens: input + reask,
                output_tokens: output,
            },
        ))
    }
}

/// A reply cut into the pieces a mock streams: each word with the white
/// space after it (leading white space goes with the first word).
pub(crate) fn chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let body = rest.len() - rest.trim_start().len();
        let word_end = rest[body..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| body + i);
        let end = rest[word_end..]
            .find(|c: char| !c.is_whitespace())
            .map_or(rest.len(), |i| word_end + i);
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// What the mock answers to: the prompt, after the conversation if there
/// is one (see the module's documentation).
fn heard(request: &Request) -> std::borrow::Cow<'_, str> {
    if request.history.is_empty() {
        return request.prompt.as_str().into();
    }
    let mut text = String::new();
    for m in request.history.iter() {
        text.push_str(m.role.as_str());
        text.push_str(": ");
        text.push_str(&m.content);
        text.push('\n');
    }
    text.push_str("user: ");
    text.push_str(&request.prompt);
    text.into()
}

fn no_rule_matched(model: &str, rules: &[(String, String)]) -> ProviderError {
    ProviderError::NoRuleMatched {
        model: model.to_string(),
        keys: rules.iter().map(|(k, _)| k.clone()).collect(),
    }
}

/// Roughly four characters a token, as for English with common tokenizers:
/// close enough for run statistics to mean something offline.
fn approx_tokens(text: &str) -> u64 {
    text.chars().count().div_ceil(4) as u64
}

/// FNV-1a: a hash that is the same on every platform and Rust version, so
/// offline runs (and their snapshots) never change under a toolchain update.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // Separate parts so ("ab", "c") and ("a", "bc") differ.
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A plausible reply of the expected type, varying with the prompt only: the
/// samples of one vote agree, so every strategy (`unanimous` too) decides
/// offline and `--offline` runs any program.
fn placeholder(request: &Request) -> String {
    let seed = stable_hash(&[heard(request).as_bytes()]);
    placeholder_of(&request.expect, seed, request)
}

fn placeholder_of(ty: &Type, seed: u64, request: &Request) -> String {
    match ty {
        // Always "no": offline runs of screening-style programs take the
        // ordinary path (`--model NAME=mock:yes` tries the other one).
        Type::Bool => "no".to_owned(),
        Type::Int => (1 + seed % 9).to_string(),
        Type::Number => format!("{}.{}", 1 + seed % 9, (seed >> 8) % 10),
        Type::Union(choices) => {
            let i = usize::try_from(seed % choices.len().max(1) as u64).unwrap_or(0);
            choices.get(i).cloned().unwrap_or_default()
        }
        // Any object: the runtime replaces an invented json reply by a
        // `Placeholder`, so nothing here needs to mark it.
        Type::Json => "{}".to_owned(),
        Type::List(item) => {
            let items = (0..crate::value::Placeholder::ITEMS as u64).map(|i| {
                placeholder_of(
                    item,
                    stable_hash(&[&seed.to_le_bytes(), &i.to_le_bytes()]),
                    request,
                )
            });
            if is_one_line(item) {
                items
                    .enumerate()
                    .map(|(i, s)| match **item {
                        Type::Text | Type::Unknown => list_text_item(request, i),
                        _ => s,
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                // Nested lists and json items do not fit on a line: a json array.
                let values: Vec<serde_json::Value> = items
                    .map(|s| serde_json::from_str(&s).unwrap_or(serde_json::Value::String(s)))
                    .collect();
                serde_json::Value::Array(values).to_string()
            }
        }
        Type::Optional(inner) => placeholder_of(inner, seed, request),
        Type::Record(_) => placeholder_json(ty, seed, request, "reply").to_string(),
        Type::Text | Type::Chat | Type::Unknown => format!(
            "[offline reply from `{}`: {}]",
            request.model,
            prompt_gist(&request.prompt)
        ),
    }
}

/// A record reply's stand-in as JSON: every field present, a plausible
/// value of its type, text naming the field it fills.
fn placeholder_json(ty: &Type, seed: u64, request: &Request, field: &str) -> serde_json::Value {
    use serde_json::Value as J;
    let hashed = |i: u64| stable_hash(&[&seed.to_le_bytes(), &i.to_le_bytes()]);
    match ty {
        Type::Bool => J::Bool(false),
        Type::Int => J::from(1 + seed % 9),
        Type::Number => J::from((1 + seed % 9) as f64 + ((seed >> 8) % 10) as f64 / 10.0),
        Type::Union(_) => J::String(placeholder_of(ty, seed, request)),
        Type::Json => J::Object(serde_json::Map::new()),
        Type::Chat => J::Array(Vec::new()),
        Type::Optional(inner) => placeholder_json(inner, seed, request, field),
        Type::List(item) => J::Array(
            (0..crate::value::Placeholder::ITEMS as u64)
                .map(|i| placeholder_json(item, hashed(i), request, field))
                .collect(),
        ),
        Type::Record(fields) => J::Object(
            fields
                .iter()
                .enumerate()
                .map(|(i, (name, t))| {
                    (
                        name.clone(),
                        placeholder_json(t, hashed(i as u64), request, name),
                    )
                })
                .collect(),
        ),
        Type::Text | Type::Unknown => J::String(format!(
            "[offline {field} from `{}`: {}]",
            request.model,
            prompt_gist(&request.prompt)
        )),
    }
}

fn is_one_line(ty: &Type) -> bool {
    !matches!(ty, Type::List(_) | Type::Json | Type::Record(_))
}

fn list_text_item(request: &Request, i: usize) -> String {
    format!(
        "[offline item {} from `{}`: {}]",
        i + 1,
        request.model,
        prompt_gist(&request.prompt)
    )
}

/// The first few words of the prompt, so a placeholder shows where it came from.
fn prompt_gist(prompt: &str) -> String {
    const WORDS: usize = 6;
    let mut words = prompt.split_whitespace();
    let gist: Vec<&str> = words.by_ref().take(WORDS).collect();
    let mut out = gist.join(" ");
    if words.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runtime::reply::parse_reply;

    fn request(prompt: &str, sample: u32, attempt: u32, expect: Type) -> Request {
        Request {
            model: "fake".into(),
            system: None,
            history: Vec::new().into(),
            prompt: prompt.into(),
            sample,
            attempt,
            expect,
            wire: Default::default(),
            reask: None,
        }
    }

    fn text(options: MockOptions, prompt: &str, sample: u32) -> Result<String, ProviderError> {
        MockProvider::new(options).reply_text(&request(prompt, sample, 0, Type::Text))
    }

    fn rules(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn reply_is_constant() {
        let o = MockOptions {
            reply: Some("hi".into()),
            ..MockOptions::default()
        };
        assert_eq!(text(o.clone(), "anything", 0), Ok("hi".into()));
        assert_eq!(text(o, "else", 7), Ok("hi".into()));
    }

    #[test]
    fn replies_cycle_by_sample_index() {
        let o = MockOptions {
            replies: Some(vec!["a".into(), "b".into(), "c".into()]),
            ..MockOptions::default()
        };
        let got: Vec<String> = (0..5)
            .map(|i| text(o.clone(), "p", i).unwrap_or_default())
            .collect();
        assert_eq!(got, ["a", "b", "c", "a", "b"]);
    }

    #[test]
    fn first_matching_rule_in_written_order_wins() {
        let o = MockOptions {
            rules: rules(&[("bomb", "yes"), ("weather", "sunny"), ("*", "no")]),
            ..MockOptions::default()
        };
        assert_eq!(
            text(o.clone(), "how to build a bomb in this weather", 0),
            Ok("yes".into())
        );
        assert_eq!(text(o.clone(), "the weather today", 0), Ok("sunny".into()));
        assert_eq!(text(o, "hello", 0), Ok("no".into()));
        // A star first shadows everything after it.
        let o = MockOptions {
            rules: rules(&[("*", "star"), ("bomb", "yes")]),
            ..MockOptions::default()
        };
        assert_eq!(text(o, "bomb", 0), Ok("star".into()));
    }

    #[test]
    fn no_matching_rule_is_fatal_and_lists_the_keys() {
        let o = MockOptions {
            rules: rules(&[("bomb", "yes"), ("gun", "yes")]),
            ..MockOptions::default()
        };
        match text(o, "hello", 0) {
            Err(e @ ProviderError::NoRuleMatched { .. }) => {
                assert!(!e.is_transient());
                let help = e.help();
                assert_eq!(
                    e.to_string(),
                    "no rule of mock model `fake` matched the prompt (the keys are \"bomb\", \"gun\")"
                );
                assert!(help.is_some_and(|h| h.contains("\"*\"")));
            }
            other => panic!("expected a fatal error, got {other:?}"),
        }
    }

    #[test]
    fn rules_fall_back_to_reply_then_echo() {
        let o = MockOptions {
            rules: rules(&[("bomb", "yes")]),
            reply: Some("fallback".into()),
            echo: true,
            ..MockOptions::default()
        };
        assert_eq!(text(o.clone(), "bomb", 0), Ok("yes".into()));
        assert_eq!(text(o, "hello", 0), Ok("fallback".into()));
        let o = MockOptions {
            rules: rules(&[("bomb", "yes")]),
            echo: true,
            ..MockOptions::default()
        };
        assert_eq!(text(o, "hello there", 0), Ok("hello there".into()));
    }

    #[test]
    fn echo_returns_the_prompt() {
        let o = MockOptions {
            echo: true,
            ..MockOptions::default()
        };
        assert_eq!(
            text(o, "say {this}\nback", 3),
            Ok("say {this}\nback".into())
        );
    }

    #[test]
    fn placeholder_overrides_other_options() {
        let o = MockOptions {
            reply: Some("real".into()),
            placeholder: true,
            ..MockOptions::default()
        };
        let got = text(o, "Summarise the following document please now", 0).unwrap_or_default();
        assert_eq!(
            got,
            "[offline reply from `fake`: Summarise the following document please now]"
        );
    }

    #[test]
    fn default_is_a_placeholder_that_names_the_prompt() {
        let got = text(
            MockOptions::default(),
            "one two three four five six seven",
            1,
        )
        .unwrap_or_default();
        assert_eq!(
            got,
            "[offline reply from `fake`: one two three four five six…]"
        );
    }

    /// Every placeholder must parse as the type it was invented for.
    #[test]
    fn placeholders_parse_as_their_type() {
        let types = [
            Type::Text,
            Type::Bool,
            Type::Int,
            Type::Number,
            Type::Json,
            Type::Union(vec!["safe".into(), "unsafe".into(), "unclear".into()]),
            Type::list(Type::Text),
            Type::list(Type::Int),
            Type::list(Type::Bool),
            Type::list(Type::Json),
            Type::list(Type::list(Type::Text)),
            Type::list(Type::Union(vec!["a b".into(), "c".into()])),
        ];
        let mock = MockProvider::new(MockOptions::default());
        for ty in types {
            for sample in 0..20 {
                let req = request("Classify this request: hello", sample, 0, ty.clone());
                let reply = mock.reply_text(&req).unwrap_or_default();
                let parsed = parse_reply(&reply, &ty);
                assert!(parsed.is_ok(), "{ty}: {reply:?} -> {parsed:?}");
                if let (Type::List(_), Ok(crate::value::Value::List(items))) = (&ty, &parsed) {
                    assert_eq!(items.len(), 3, "{ty}: {reply:?}");
                }
            }
        }
    }

    #[test]
    fn placeholders_are_deterministic_agree_across_samples_and_vary_by_prompt() {
        let mock = MockProvider::new(MockOptions::default());
        let reply = |prompt: &str, sample: u32| {
            mock.reply_text(&request(prompt, sample, 0, Type::Bool))
                .unwrap_or_default()
        };
        // Every sample of one prompt agrees, so `unanimous` decides offline.
        for prompt in ["Is this bad?", "Is that bad?"] {
            let first = reply(prompt, 0);
            assert!((1..10).all(|i| reply(prompt, i) == first), "{prompt}");
        }
        // Numbers vary with the prompt.
        let ints: std::collections::BTreeSet<String> = (0..40)
            .map(|i| {
                mock.reply_text(&request(&format!("How many {i}?"), 0, 0, Type::Int))
                    .unwrap_or_default()
            })
            .collect();
        assert!(ints.len() > 3, "{ints:?}");
        // The attempt does not change the reply.
        assert_eq!(
            mock.reply_text(&request("p", 2, 0, Type::Int)),
            mock.reply_text(&request("p", 2, 5, Type::Int))
        );
        assert_eq!(
            mock.reply_text(&request("p", 0, 0, Type::Json)),
            Ok("{}".to_string())
        );
    }

    #[test]
    fn stable_hash_is_fnv1a() {
        // Pinned so offline output never changes under us.
        assert_eq!(stable_hash(&[]), 0xcbf2_9ce4_8422_2325);
        assert_ne!(stable_hash(&[b"ab", b"c"]), stable_hash(&[b"a", b"bc"]));
        assert_eq!(stable_hash(&[b"flow"]), stable_hash(&[b"flow"]));
    }

    #[tokio::test(start_paused = true)]
    async fn latency_waits_on_tokio_time() {
        let mock = MockProvider::new(MockOptions {
            reply: Some("ok".into()),
            latency: Some(Duration::from_millis(300)),
            ..MockOptions::default()
        });
        let start = tokio::time::Instant::now();
        let reply = mock.call(request("p", 0, 0, Type::Text)).await;
        assert_eq!(reply.map(|r| r.text), Ok("ok".into()));
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }

    /// On the real clock a call is never shorter than its latency; how
    /// close to it the mock comes is measured, not asserted here: `cargo
    /// bench --bench makespan`, the chain of 100 calls of 10 ms (issue 11,
    /// item 28).
    #[tokio::test]
    async fn item_28_latency_is_never_short_on_the_real_clock() {
        for ms in [10, 3, 1] {
            let latency = Duration::from_millis(ms);
            let mock = MockProvider::new(MockOptions {
                reply: Some("ok".into()),
                latency: Some(latency),
                ..MockOptions::default()
            });
            for _ in 0..5 {
                let start = std::time::Instant::now();
                let call = mock.call(request("p", 0, 0, Type::Text));
                call.await.expect("a reply");
                let took = start.elapsed();
                assert!(took >= latency, "{took:?} is shorter than {latency:?}");
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn item_28_latency_stays_exact_on_a_paused_clock() {
        for latency in [
            Duration::from_micros(500),
            Duration::from_millis(1),
            Duration::from_millis(7),
        ] {
            let mock = MockProvider::new(MockOptions {
                reply: Some("ok".into()),
                latency: Some(latency),
                ..MockOptions::default()
            });
            let start = tokio::time::Instant::now();
            mock.call(request("p", 0, 0, Type::Text))
                .await
                .expect("a reply");
            let took = start.elapsed();
            assert!(
                took >= latency && took <= latency + Duration::from_millis(1),
                "{took:?} for {latency:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_the_future_cancels_the_call() {
        let mock = MockProvider::new(MockOptions {
            latency: Some(Duration::from_secs(10)),
            ..MockOptions::default()
        });
        let timed = tokio::time::timeout(
            Duration::from_secs(1),
            mock.call(request("p", 0, 0, Type::Text)),
        )
        .await;
        assert!(timed.is_err(), "the call must still be pending after 1s");
    }

    #[tokio::test(start_paused = true)]
    async fn fail_first_fails_early_attempts_transiently() {
        let mock = MockProvider::new(MockOptions {
            reply: Some("ok".into()),
            fail_first: 2,
            latency: Some(Duration::from_millis(5)),
            ..MockOptions::default()
        });
        for attempt in 0..2 {
            let e = mock.call(request("p", 0, attempt, Type::Text)).await;
            assert!(matches!(e, Err(ref e) if e.is_transient()), "{e:?}");
        }
        let ok = mock.call(request("p", 0, 2, Type::Text)).await;
        assert_eq!(ok.map(|r| r.text), Ok("ok".into()));
        match mock.call(request("p", 3, 1, Type::Text)).await {
            Err(e) => assert_eq!(
                e.to_string(),
                "mock model `fake` fails its first 2 attempts (this was attempt 2)"
            ),
            Ok(r) => panic!("attempt 1 should fail, got {r:?}"),
        }
    }

    #[tokio::test]
    async fn usage_counts_about_four_characters_a_token() {
        let mock = MockProvider::new(MockOptions {
            reply: Some("12345678".into()),
            ..MockOptions::default()
        });
        let mut req = request("abcdefghij", 0, 0, Type::Text);
        req.system = Some("abcd".into());
        let usage = mock.call(req).await.map(|r| r.usage);
        assert_eq!(
            usage,
            Ok(Some(Usage {
                input_tokens: 3 + 1,
                output_tokens: 2
            }))
        );
    }

    #[test]
    fn a_conversation_is_heard_before_the_prompt() {
        use crate::chat::{Message, Role};
        let mut req = request("and now?", 0, 0, Type::Text);
        req.history = vec![
            Message::new(Role::User, "hi"),
            Message::new(Role::Assistant, "hello"),
        ]
        .into();
        let echo = MockProvider::new(MockOptions {
            echo: true,
            ..MockOptions::default()
        });
        assert_eq!(
            echo.reply_text(&req).unwrap(),
            "user: hi\nassistant: hello\nuser: and now?"
        );
        let ruled = MockProvider::new(MockOptions {
            rules: rules(&[("hello", "seen"), ("*", "not")]),
            ..MockOptions::default()
        });
        assert_eq!(ruled.reply_text(&req).unwrap(), "seen");
        // An invented reply varies with the conversation.
        let invent = MockProvider::new(MockOptions::default());
        let alone = request("and now?", 0, 0, Type::Int);
        let mut told = alone.clone();
        told.history = req.history.clone();
        let replies: std::collections::HashSet<String> = (0..4)
            .map(|n| {
                let mut r = told.clone();
                r.history = vec![Message::new(Role::User, format!("turn {n}"))].into();
                invent.reply_text(&r).unwrap()
            })
            .collect();
        assert!(replies.len() > 1, "{replies:?}");
    }

    #[test]
    fn a_reply_streams_as_words_with_their_spaces() {
        let all: Vec<&str> = chunks("  one two\n three ").collect();
        assert_eq!(all, ["  one ", "two\n ", "three "]);
        assert_eq!(chunks("").count(), 0);
        assert_eq!(chunks("x").collect::<Vec<_>>(), ["x"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_mock_streams_at_its_chunk_delay_on_the_paused_clock() {
        use std::sync::Mutex;
        struct Times(tokio::time::Instant, Mutex<Vec<(u128, String)>>);
        impl StreamSink for Times {
            fn text(&self, chunk: &str) {
                let ms = (tokio::time::Instant::now() - self.0).as_millis();
                self.1.lock().unwrap().push((ms, chunk.to_string()));
            }
        }
        let mock = MockProvider::new(MockOptions {
            reply: Some("a b c".into()),
            latency: Some(Duration::from_millis(10)),
            chunk_delay: Some(Duration::from_millis(100)),
            ..MockOptions::default()
        });
        let sink = Times(tokio::time::Instant::now(), Mutex::new(Vec::new()));
        let reply = mock
            .stream(request("p", 0, 0, Type::Text), &sink)
            .await
            .unwrap();
        assert_eq!(reply.text, "a b c");
        assert_eq!(
            *sink.1.lock().unwrap(),
            [
                (10, "a ".to_string()),
                (110, "b ".to_string()),
                (210, "c".to_string())
            ]
        );
        // Not streamed, the reply takes as long as the stream.
        let start = tokio::time::Instant::now();
        mock.call(request("p", 0, 0, Type::Text)).await.unwrap();
        assert_eq!((tokio::time::Instant::now() - start).as_millis(), 210);
    }
}
