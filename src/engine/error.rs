//! Why an engine cannot be built: everything that can be known to fail
//! before the first call.

use miette::Diagnostic;

use super::overrides::OverrideError;
use crate::cache::CacheError;
use crate::syntax::Span;

#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum EngineError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Override(#[from] OverrideError),

    #[error("model `{model}` cannot be used: {message}")]
    #[diagnostic(code(flow::run::provider_setup), help("{help}"))]
    Provider {
        model: String,
        message: String,
        help: String,
        #[label("this model")]
        span: Span,
    },

    #[error("the program may make {worst} LLM calls, more than `--max-calls {limit}`")]
    #[diagnostic(
        code(flow::run::over_budget),
        help(
            "raise `--max-calls`, or lower the `vote`/`repeat` counts (see `flow check` for the worst case)"
        )
    )]
    OverBudget { worst: String, limit: u64 },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Cache(#[from] CacheError),
}
