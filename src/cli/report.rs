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
    /// Colour only on a terminal and when `NO_COLOR` is unset.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let width = terminal_width().unwrap_or(100);
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

fn terminal_width() -> Option<usize> {
    std::env::var("COLUMNS").ok()?.parse().ok()
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
