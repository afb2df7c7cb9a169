//! `--model NAME=SPEC`: swap a declared model at run time, validated like a
//! declaration in the source.

use miette::Diagnostic;

use crate::graph::FlowGraph;
use crate::model::{ModelOptions, ModelSpec, ProviderKind};

/// One model swapped for another, as [`parse`] makes it from
/// `--model NAME=SPEC`; give it to
/// [`EngineOptions::models`](super::EngineOptions::models).
#[derive(Debug, Clone)]
pub struct ModelOverride {
    /// The declared model it replaces.
    pub name: String,
    /// The model to use instead, under the same name.
    pub spec: ModelSpec,
}

/// Why a `--model NAME=SPEC` override is refused.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum OverrideError {
    /// Not `NAME=PROVIDER[:MODEL]`.
    #[error("`--model {raw}` is not of the form NAME=PROVIDER[:MODEL]")]
    #[diagnostic(
        code(flow::run::bad_model_arg),
        help(
            "for example `--model fast=openai:gpt-4o`, `--model fast=anthropic:claude-3-5-haiku-latest` or `--model fast=mock`"
        )
    )]
    Syntax {
        /// The argument as given.
        raw: String,
    },

    /// `NAME` is not a model the program declares.
    #[error("the program has no model `{name}`")]
    #[diagnostic(code(flow::run::unknown_model), help("{help}"))]
    UnknownModel {
        /// The name given.
        name: String,
        /// A suggestion, or the models the program does declare.
        help: String,
    },

    /// `PROVIDER` is not `openai`, `anthropic` or `mock`.
    #[error("unknown provider `{provider}` in `--model {raw}`")]
    #[diagnostic(code(flow::run::unknown_provider), help("{help}"))]
    UnknownProvider {
        /// The provider given.
        provider: String,
        /// The argument as given.
        raw: String,
        /// A suggestion, or the providers there are.
        help: String,
    },

    /// A real provider without the model id to send.
    #[error("`{provider}` needs a model id in `--model {raw}`")]
    #[diagnostic(
        code(flow::run::missing_model_id),
        help("write it after a colon, e.g. `--model {name}={provider}:{example}`")
    )]
    MissingModelId {
        /// The provider's constructor name.
        provider: &'static str,
        /// The argument as given.
        raw: String,
        /// The model being replaced.
        name: String,
        /// A model id to show in the help.
        example: &'static str,
    },

    /// Two overrides name the same model.
    #[error("model `{name}` is given twice with `--model`")]
    #[diagnostic(
        code(flow::run::duplicate_model),
        help("give each model one `--model`, as each input gets one `--input`")
    )]
    Duplicate {
        /// The model named twice.
        name: String,
    },
}

/// `NAME=PROVIDER[:MODEL]`. For `mock`, the part after the colon is the reply.
/// Options that do not depend on the provider (temperature, limits, system
/// prompt, ...) are kept; provider-specific ones are dropped when it changes.
pub fn parse(raw: &str, graph: &FlowGraph) -> Result<ModelOverride, OverrideError> {
    let Some((name, spec)) = raw.split_once('=') else {
        return Err(OverrideError::Syntax { raw: raw.into() });
    };
    let (name, spec) = (name.trim(), spec.trim());
    if name.is_empty() || spec.is_empty() {
        return Err(OverrideError::Syntax { raw: raw.into() });
    }
    let Some(old) = graph.models.get(name) else {
        return Err(OverrideError::UnknownModel {
            name: name.into(),
            help: unknown_model_help(name, graph),
        });
    };
    let (provider_name, id) = match spec.split_once(':') {
        Some((p, id)) => (p.trim(), Some(id.trim().to_string())),
        None => (spec, None),
    };
    let Some(provider) = ProviderKind::from_name(provider_name) else {
        let names = ProviderKind::ALL.iter().map(|(n, _)| *n);
        let help = match crate::check::did_you_mean(provider_name, names) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "the providers are `openai`, `anthropic` and `mock`".into(),
        };
        return Err(OverrideError::UnknownProvider {
            provider: provider_name.into(),
            raw: raw.into(),
            help,
        });
    };
    let id = id.filter(|s| !s.is_empty());
    let same = provider == old.provider;
    let kept = &old.options;
    let mut options = ModelOptions {
        // An override names one provider: a routed model becomes a plain one.
        route: None,
        temperature: kept.temperature,
        max_tokens: kept.max_tokens,
        top_p: kept.top_p,
        system: kept.system.clone(),
        concurrency: kept.concurrency,
        rpm: kept.rpm,
        tpm: kept.tpm,
        timeout: kept.timeout,
        retry: kept.retry,
        max_reply_bytes: kept.max_reply_bytes,
        price_in: kept.price_in,
        price_out: kept.price_out,
        structured: kept.structured,
        base_url: if same { kept.base_url.clone() } else { None },
        api_key_env: if same { kept.api_key_env.clone() } else { None },
        mock: if same {
            kept.mock.clone()
        } else {
            Default::default()
        },
    };
    let model_id = match provider {
        ProviderKind::Mock => {
            if let Some(reply) = id {
                options.mock = Default::default();
                options.mock.reply = Some(reply);
            }
            None
        }
        ProviderKind::OpenAi | ProviderKind::Anthropic => match id {
            Some(id) => Some(id),
            None => {
                let example = if provider == ProviderKind::OpenAi {
                    "gpt-4o-mini"
                } else {
                    "claude-3-5-haiku-latest"
                };
                return Err(OverrideError::MissingModelId {
                    provider: provider.name(),
                    raw: raw.into(),
                    name: name.into(),
                    example,
                });
            }
        },
    };
    Ok(ModelOverride {
        name: name.into(),
        spec: ModelSpec {
            name: name.into(),
            provider,
            model_id,
            options,
            span: old.span,
        },
    })
}

/// The closest declared model to `name`, or the list of them.
pub(crate) fn unknown_model_help(name: &str, graph: &FlowGraph) -> String {
    let known: Vec<&str> = graph.models.keys().map(String::as_str).collect();
    match crate::check::did_you_mean(name, known.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None if known.is_empty() => "this program declares no models".into(),
        None => format!(
            "its models are {}",
            known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
