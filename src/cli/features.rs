//! Commands whose cargo feature this `flow` was built without: the command
//! line is the same in every build, so a script gets one clear error rather
//! than "unrecognized subcommand".

use super::terminal::Failure;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("this `flow` was built without the `{feature}` feature, which `{command}` needs")]
#[diagnostic(
    code(flow::cli::feature_missing),
    help(
        "build it with the feature: `cargo install --path . --features {feature}` \
         (a plain `cargo install --path .` has every feature)"
    )
)]
pub struct FeatureMissing {
    pub feature: &'static str,
    pub command: &'static str,
}

/// Fails as a usage error: the command exists, this build cannot run it.
#[cfg_attr(
    all(feature = "serve", feature = "lsp"),
    allow(dead_code, reason = "every feature is built in")
)]
pub fn missing(feature: &'static str, command: &'static str) -> Failure {
    Failure::new(
        FeatureMissing { feature, command },
        None,
        super::exit::FAILURE,
    )
}
