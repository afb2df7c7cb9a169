//! Why an engine cannot be built: everything that can be known to fail
//! before the first call.

use miette::Diagnostic;

use super::overrides::OverrideError;
use crate::cache::CacheError;
use crate::syntax::Span;

/// Why [`Engine::new`](super::Engine::new) refused to build an engine; each
/// is found before any call is made.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum EngineError {
    /// A model override is wrong.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Override(#[from] OverrideError),

    /// A model's provider cannot be set up (a missing API key, a bad `base_url`).
    #[error("model `{model}` cannot be used: {message}")]
    #[diagnostic(code(flow::run::provider_setup), help("{help}"))]
    Provider {
        /// The flow model's name.
        model: String,
        /// The provider's description of the problem.
        message: String,
        /// What to do about it.
        help: String,
        /// The model's declaration.
        #[label("this model")]
        span: Span,
    },

    /// The program's worst case is more calls than `max_calls` or
    /// `total_calls` allow.
    #[error("the program may make {worst} LLM calls, more than {budget}")]
    #[diagnostic(
        code(flow::run::over_budget),
        help(
            "raise `--max-calls`, or lower the `vote`/`repeat` counts (see `flow check` for the worst case)"
        )
    )]
    OverBudget {
        /// The worst case, as `flow check` writes it (`14`, `3 × len(items)`).
        worst: String,
        /// The limit it exceeds.
        limit: u64,
        /// That limit as the caller set it: `` `--max-calls 3` `` for a
        /// run's own, "the engine's total of 3 calls" for `total_calls`.
        budget: String,
    },

    /// A provider was given for a model the program does not declare.
    #[error("the program has no model `{name}` to give a provider to")]
    #[diagnostic(code(flow::run::unknown_model), help("{help}"))]
    UnknownModel {
        /// The name the provider was given for.
        name: String,
        /// The closest model name, or the list of them.
        help: String,
    },

    /// The cache could not be opened.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] CacheError),
}
