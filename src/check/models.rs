//! `model NAME = PROVIDER(...)` → [`ModelSpec`], with every option checked.

use std::time::Duration;

use indexmap::IndexMap;

use super::error::{CheckError, OptionHelp, Suggestion};
use super::suggest::did_you_mean;
use crate::model::{ModelOptions, ModelSpec, ProviderKind, Route, RouteKind, Structured};
use crate::syntax::ast::{Literal, LiteralKind, ModelDecl, ModelOption};

/// Options every provider takes.
const COMMON: [&str; 15] = [
    "temperature",
    "max_tokens",
    "top_p",
    "system",
    "base_url",
    "api_key_env",
    "concurrency",
    "rpm",
    "tpm",
    "timeout",
    "retry",
    "max_reply_bytes",
    "price_in",
    "price_out",
    "structured",
];

/// Options only `mock` takes.
const MOCK_ONLY: [&str; 7] = [
    "reply",
    "replies",
    "rules",
    "echo",
    "latency",
    "chunk_delay",
    "fail_first",
];

const COMMON_LIST: &str = "`temperature`, `max_tokens`, `top_p`, `system`, `base_url`, `api_key_env`, `concurrency`, `rpm`, `tpm`, `timeout`, `retry`, `max_reply_bytes`, `price_in`, `price_out` and `structured`";
const MOCK_LIST: &str = "`reply`, `replies`, `rules`, `echo`, `latency`, `chunk_delay`, `fail_first` and the common options (`temperature`, `concurrency`, `timeout`, `retry`, ...)";

/// Build the spec of every model declared first under its name. A model with
/// an unknown provider has no spec (its uses are still fine to check).
pub fn build_models(
    decls: &IndexMap<String, &ModelDecl>,
    errors: &mut Vec<CheckError>,
) -> IndexMap<String, ModelSpec> {
    let mut specs = IndexMap::new();
    for (name, decl) in decls {
        if let Some(spec) = build_one(decl, errors) {
            specs.insert(name.clone(), spec);
        }
    }
    check_routes(decls, &specs, errors);
    specs
}

/// `fallback(a, b, ...)` or `round_robin(a, b, ...)`: a model that is a
/// choice among other models. Members are checked once every model is
/// known (`check_routes`).
fn route(decl: &ModelDecl, kind: RouteKind, errors: &mut Vec<CheckError>) -> ModelSpec {
    for arg in &decl.args {
        errors.push(CheckError::RouteMember {
            problem: format!("`{}` takes model names, not values", decl.provider.name),
            span: arg.span,
        });
    }
    for opt in &decl.options {
        errors.push(CheckError::RouteMember {
            problem: format!(
                "`{}` takes no options; set `{}` on its members",
                decl.provider.name, opt.name.name
            ),
            span: opt.span,
        });
    }
    if decl.refs.is_empty() {
        errors.push(CheckError::RouteMember {
            problem: format!("`{}` needs at least one model", decl.provider.name),
            span: decl.span,
        });
    }
    ModelSpec {
        name: decl.name.name.clone(),
        provider: ProviderKind::Mock,
        model_id: None,
        options: ModelOptions {
            route: Some(Route {
                kind,
                members: decl.refs.iter().map(|r| r.name.clone()).collect(),
            }),
            ..ModelOptions::default()
        },
        span: decl.span,
    }
}

/// Every member of a routed model is a declared model that is not routed
/// itself (so a call's worst case is one hop), named once.
pub fn check_routes(
    decls: &IndexMap<String, &ModelDecl>,
    specs: &IndexMap<String, ModelSpec>,
    errors: &mut Vec<CheckError>,
) {
    for decl in decls.values() {
        if decl.refs.is_empty() {
            continue;
        }
        let routed = matches!(decl.provider.name.as_str(), "fallback" | "round_robin");
        let mut seen: Vec<&str> = Vec::new();
        for r in &decl.refs {
            let problem = if !routed {
                Some(format!(
                    "`{}` takes values, not model names; only `fallback` and `round_robin` take models",
                    decl.provider.name
                ))
            } else if seen.contains(&r.name.as_str()) {
                Some(format!("`{}` is named twice", r.name))
            } else {
                match specs.get(&r.name) {
                    None if !decls.contains_key(&r.name) => {
                        Some(format!("there is no model `{}`", r.name))
                    }
                    Some(s) if s.options.route.is_some() => Some(format!(
                        "`{}` is itself a `fallback` or `round_robin` model",
                        r.name
                    )),
                    _ => None,
                }
            };
            seen.push(&r.name);
            if let Some(problem) = problem {
                errors.push(CheckError::RouteMember {
                    problem,
                    span: r.span,
                });
            }
        }
    }
}

/// One declaration's spec (a test block's model is built like any other).
pub(super) fn build_one(decl: &ModelDecl, errors: &mut Vec<CheckError>) -> Option<ModelSpec> {
    match decl.provider.name.as_str() {
        "fallback" => return Some(route(decl, RouteKind::Fallback, errors)),
        "round_robin" => return Some(route(decl, RouteKind::RoundRobin, errors)),
        _ => {}
    }
    let Some(provider) = ProviderKind::from_name(&decl.provider.name) else {
        errors.push(CheckError::UnknownProvider {
            name: decl.provider.name.clone(),
            span: decl.provider.span,
            suggestion: Suggestion(did_you_mean(
                &decl.provider.name,
                ProviderKind::ALL.iter().map(|(n, _)| *n),
            )),
        });
        return None;
    };
    let model_id = positional(decl, provider, errors);
    let mut options = ModelOptions::default();
    let mut seen: Vec<&ModelOption> = Vec::new();
    for opt in &decl.options {
        if let Some(first) = seen.iter().find(|o| o.name.name == opt.name.name) {
            errors.push(CheckError::DuplicateOption {
                name: opt.name.name.clone(),
                first: first.name.span,
                second: opt.name.span,
            });
            continue;
        }
        seen.push(opt);
        apply(opt, provider, &mut options, errors);
    }
    Some(ModelSpec {
        name: decl.name.name.clone(),
        provider,
        model_id,
        options,
        span: decl.span,
    })
}

/// The model id of `openai`/`anthropic`; `mock` takes no positional argument.
fn positional(
    decl: &ModelDecl,
    provider: ProviderKind,
    errors: &mut Vec<CheckError>,
) -> Option<String> {
    let provider_name = provider.name().to_string();
    if provider == ProviderKind::Mock {
        if let Some(arg) = decl.args.first() {
            errors.push(CheckError::ModelArgs {
                provider: provider_name,
                expected: "no positional arguments",
                span: arg.span,
            });
        }
        return None;
    }
    let example = match provider {
        ProviderKind::Anthropic => "claude-3-5-haiku-latest",
        _ => "gpt-4o-mini",
    };
    let id = match decl.args.first() {
        Some(Literal {
            kind: LiteralKind::Str(s),
            ..
        }) if !s.trim().is_empty() => Some(s.clone()),
        Some(other) => {
            errors.push(CheckError::ModelId {
                provider: provider_name.clone(),
                example,
                span: other.span,
            });
            None
        }
        None => {
            errors.push(CheckError::ModelId {
                provider: provider_name.clone(),
                example,
                span: decl.provider.span,
            });
            None
        }
    };
    for extra in decl.args.iter().skip(1) {
        errors.push(CheckError::ModelArgs {
            provider: provider_name.clone(),
            expected: "one positional argument, the model id",
            span: extra.span,
        });
    }
    id
}

fn apply(
    opt: &ModelOption,
    provider: ProviderKind,
    o: &mut ModelOptions,
    errors: &mut Vec<CheckError>,
) {
    let name = opt.name.name.as_str();
    let v = &opt.value;
    let is_mock = provider == ProviderKind::Mock;
    let bad = |expected: &'static str, example: &'static str| CheckError::OptionType {
        name: name.to_string(),
        expected,
        example,
        span: v.span,
    };
    let result: Result<(), CheckError> = match name {
        "temperature" => number(v)
            .filter(|t| (0.0..=2.0).contains(t))
            .map(|t| o.temperature = Some(t))
            .ok_or_else(|| bad("a number from 0 to 2", "0.7")),
        "top_p" => number(v)
            .filter(|t| (0.0..=1.0).contains(t))
            .map(|t| o.top_p = Some(t))
            .ok_or_else(|| bad("a number from 0 to 1", "0.9")),
        "price_in" => number(v)
            .filter(|p| *p >= 0.0)
            .map(|p| o.price_in = Some(p))
            .ok_or_else(|| bad("a non-negative number (dollars per million tokens)", "0.15")),
        "price_out" => number(v)
            .filter(|p| *p >= 0.0)
            .map(|p| o.price_out = Some(p))
            .ok_or_else(|| bad("a non-negative number (dollars per million tokens)", "0.6")),
        "max_tokens" => int(v, 1)
            .map(|n| o.max_tokens = Some(n))
            .ok_or_else(|| bad("a whole number of at least 1", "400")),
        "concurrency" => int(v, 1)
            .map(|n| o.concurrency = Some(n))
            .ok_or_else(|| bad("a whole number of at least 1", "4")),
        "rpm" => int(v, 1)
            .map(|n| o.rpm = Some(n))
            .ok_or_else(|| bad("a whole number of at least 1", "60")),
        "tpm" => int(v, 1)
            .map(|n| o.tpm = Some(n))
            .ok_or_else(|| bad("a whole number of at least 1", "90000")),
        "max_reply_bytes" => int(v, 1)
            .map(|n| o.max_reply_bytes = Some(n))
            .ok_or_else(|| bad("a whole number of bytes, at least 1", "67108864")),
        "retry" => int(v, 0)
            .map(|n| o.retry = Some(n))
            .ok_or_else(|| bad("a whole number of at least 0", "2")),
        "system" => string(v)
            .map(|s| o.system = Some(s))
            .ok_or_else(|| bad("a string", "\"You are terse.\"")),
        "base_url" => string(v)
            .map(|s| o.base_url = Some(s))
            .ok_or_else(|| bad("a string", "\"http://localhost:11434/v1\"")),
        "api_key_env" => string(v).map(|s| o.api_key_env = Some(s)).ok_or_else(|| {
            bad(
                "the name of an environment variable, as a string",
                "\"MY_KEY\"",
            )
        }),
        "timeout" => duration(v)
            .map(|d| o.timeout = Some(d))
            .ok_or_else(|| bad("a duration", "30s")),
        "structured" => match string(v) {
            Some(mode) => match Structured::from_name(&mode) {
                Some(m) => {
                    o.structured = Some(m);
                    Ok(())
                }
                None => Err(CheckError::UnknownStructured {
                    suggestion: Suggestion(did_you_mean(
                        &mode,
                        Structured::ALL.iter().map(|(n, _)| *n),
                    )),
                    value: mode,
                    span: v.span,
                }),
            },
            None => Err(bad(
                "one of \"schema\", \"json\", \"prompt\" or \"off\"",
                "\"prompt\"",
            )),
        },
        "reply" if is_mock => string(v)
            .map(|s| o.mock.reply = Some(s))
            .ok_or_else(|| bad("a string", "\"yes\"")),
        "replies" if is_mock => strings(v)
            .filter(|l| !l.is_empty())
            .map(|l| o.mock.replies = Some(l))
            .ok_or_else(|| bad("a non-empty list of strings", "[\"yes\", \"no\"]")),
        "rules" if is_mock => rules(v).map(|r| o.mock.rules = Some(r)).ok_or_else(|| {
            bad(
                "a map from strings to strings",
                "{\"bomb\": \"yes\", \"*\": \"no\"}",
            )
        }),
        "echo" if is_mock => match v.kind {
            LiteralKind::Bool(b) => {
                o.mock.echo = b;
                Ok(())
            }
            _ => Err(bad("`true` or `false`", "true")),
        },
        "latency" if is_mock => duration(v)
            .map(|d| o.mock.latency = Some(d))
            .ok_or_else(|| bad("a duration", "20ms")),
        "chunk_delay" if is_mock => duration(v)
            .map(|d| o.mock.chunk_delay = Some(d))
            .ok_or_else(|| bad("a duration", "10ms")),
        "fail_first" if is_mock => int(v, 0)
            .map(|n| o.mock.fail_first = n)
            .ok_or_else(|| bad("a whole number of at least 0", "1")),
        _ => {
            let mock_only = !is_mock && MOCK_ONLY.contains(&name);
            let candidates: Vec<&str> = if is_mock {
                COMMON.iter().chain(MOCK_ONLY.iter()).copied().collect()
            } else {
                COMMON.to_vec()
            };
            Err(CheckError::UnknownOption {
                name: name.to_string(),
                provider: provider.name().to_string(),
                span: opt.name.span,
                hint: if mock_only {
                    OptionHelp::MockOnly
                } else if is_mock {
                    OptionHelp::Accepted(MOCK_LIST)
                } else {
                    OptionHelp::Accepted(COMMON_LIST)
                },
                suggestion: Suggestion(if mock_only {
                    None
                } else {
                    did_you_mean(name, candidates)
                }),
            })
        }
    };
    if let Err(e) = result {
        errors.push(e);
    }
}

fn number(v: &Literal) -> Option<f64> {
    match v.kind {
        LiteralKind::Number(n) if n.is_finite() => Some(n),
        LiteralKind::Int(i) => Some(i as f64),
        _ => None,
    }
}

fn int(v: &Literal, min: i64) -> Option<u32> {
    match v.kind {
        LiteralKind::Int(i) if i >= min => u32::try_from(i).ok(),
        _ => None,
    }
}

fn string(v: &Literal) -> Option<String> {
    match &v.kind {
        LiteralKind::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn duration(v: &Literal) -> Option<Duration> {
    match v.kind {
        LiteralKind::Duration(d) => Some(Duration::from_millis(d.millis)),
        _ => None,
    }
}

fn strings(v: &Literal) -> Option<Vec<String>> {
    match &v.kind {
        LiteralKind::List(items) => items.iter().map(string).collect(),
        _ => None,
    }
}

fn rules(v: &Literal) -> Option<Vec<(String, String)>> {
    match &v.kind {
        LiteralKind::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| Some((string(k)?, string(v)?)))
            .collect(),
        _ => None,
    }
}
