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

#[cfg(test)]
mod tests {
    use super::*;
    use miette::Diagnostic;

    /// The error names the feature and the command, and says how to build
    /// with it; the exit code is a usage error's.
    #[test]
    fn says_which_feature_and_how_to_get_it() {
        let e = FeatureMissing {
            feature: "serve",
            command: "flow serve",
        };
        assert_eq!(
            e.to_string(),
            "this `flow` was built without the `serve` feature, which `flow serve` needs"
        );
        let help = e.help().map(|h| h.to_string()).unwrap_or_default();
        assert!(
            help.contains("cargo install --path . --features serve"),
            "{help}"
        );
        assert_eq!(
            e.code().map(|c| c.to_string()).as_deref(),
            Some("flow::cli::feature_missing")
        );
        assert_eq!(missing("lsp", "flow lsp").code, crate::cli::exit::FAILURE);
    }
}
