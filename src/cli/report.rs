//! Rendering diagnostics: the source text is attached here, once, so the
//! stages only ever carry spans.

use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, Severity,
    SourceCode,
};

use crate::engine::SourceFile;

/// How diagnostics are drawn: colour for people, plain at a fixed width for
/// pipes and snapshot tests.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: bool,
    pub width: usize,
}

impl Style {
    /// Colour and width for stderr, from the environment and the terminal.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let env = |name: &str| std::env::var(name).ok();
        let color = wants_color(env, std::io::stderr().is_terminal());
        let width = terminal_width(env).unwrap_or(100);
        Style { color, width }
    }

    fn handler(self) -> GraphicalReportHandler {
        let theme = if self.color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        GraphicalReportHandler::new_themed(theme)
            .with_width(self.width)
            .with_links(false)
    }
}

/// The conventions people set, strongest first: `NO_COLOR` with a value
/// turns colour off (an empty one does not, as no-color.org says);
/// `CLICOLOR_FORCE` (not `0`) turns it on even through a pipe; `TERM=dumb`
/// and `CLICOLOR=0` turn it off; otherwise colour on a terminal only.
pub(crate) fn wants_color(env: impl Fn(&str) -> Option<String>, is_terminal: bool) -> bool {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    if set("NO_COLOR").is_some() {
        return false;
    }
    if set("CLICOLOR_FORCE").is_some_and(|v| v != "0") {
        return true;
    }
    if env("TERM").as_deref() == Some("dumb") || env("CLICOLOR").as_deref() == Some("0") {
        return false;
    }
    is_terminal
}

/// `COLUMNS` when set (scripts and tests pin it), else the width of the
/// terminal stderr is on.
fn terminal_width(env: impl Fn(&str) -> Option<String>) -> Option<usize> {
    if let Some(columns) = env("COLUMNS").and_then(|c| c.trim().parse::<usize>().ok())
        && columns > 0
    {
        return Some(columns);
    }
    terminal_size::terminal_size_of(std::io::stderr()).map(|(w, _)| usize::from(w.0))
}

/// Render one diagnostic; `source` is attached when given.
pub fn render(diagnostic: &dyn Diagnostic, source: Option<&SourceFile>, style: Style) -> String {
    let mut out = String::new();
    let named = source.map(|s| NamedSource::new(&s.name, s.text.clone()));
    let wrapped = WithSource {
        inner: diagnostic,
        source: named.as_ref(),
    };
    if style.handler().render_report(&mut out, &wrapped).is_err() {
        // Rendering into a String only fails on a formatter bug; fall back to the message.
        out = format!("error: {diagnostic}\n");
    }
    out
}

/// Lends a source to a diagnostic that carries only spans.
struct WithSource<'a> {
    inner: &'a dyn Diagnostic,
    source: Option<&'a NamedSource<String>>,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.inner, f)
    }
}

impl std::error::Error for WithSource<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner.source()
    }
}

impl Diagnostic for WithSource<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.help()
    }
    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.url()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self.source {
            Some(s) => Some(s as &dyn SourceCode),
            None => self.inner.source_code(),
        }
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let len = self.source.map(|s| s.inner().len());
        let labels = self.inner.labels()?;
        // A label past the end of the text would make the renderer drop the
        // snippet; clamp so a bad span still shows where it points.
        Some(Box::new(labels.map(move |l| match len {
            Some(len) if l.offset() + l.len() > len => {
                let start = l.offset().min(len);
                LabeledSpan::new(l.label().map(str::to_owned), start, 0)
            }
            _ => l,
        })))
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        self.inner.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.inner.diagnostic_source()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn item_16_colour_follows_no_color_clicolor_force_and_term() {
        assert!(wants_color(env(&[]), true));
        assert!(!wants_color(env(&[]), false));
        // An empty `NO_COLOR` is as if unset.
        assert!(wants_color(env(&[("NO_COLOR", "")]), true));
        assert!(!wants_color(env(&[("NO_COLOR", "1")]), true));
        assert!(wants_color(env(&[("CLICOLOR_FORCE", "1")]), false));
        assert!(!wants_color(env(&[("CLICOLOR_FORCE", "0")]), false));
        assert!(!wants_color(
            env(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]),
            true
        ));
        assert!(!wants_color(env(&[("TERM", "dumb")]), true));
        assert!(wants_color(
            env(&[("TERM", "dumb"), ("CLICOLOR_FORCE", "1")]),
            false
        ));
        assert!(!wants_color(env(&[("CLICOLOR", "0")]), true));
    }

    #[test]
    fn item_16_columns_pins_the_width() {
        assert_eq!(terminal_width(env(&[("COLUMNS", "72")])), Some(72));
    }
}
