//! Rendering diagnostics: the source text is attached here, once, so the
//! stages only ever carry spans.

use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, Severity, SourceCode,
};

use crate::engine::SourceFile;

mod indexed;
use indexed::IndexedSource;

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
    Renderer::new(source, style).render(diagnostic)
}

/// Renders many diagnostics of one source: the source's lines are indexed
/// once, so each diagnostic costs the lines it shows, not the whole file.
pub struct Renderer<'a> {
    source: Option<Files<'a>>,
    handler: GraphicalReportHandler,
}

impl<'a> Renderer<'a> {
    pub fn new(source: Option<&'a SourceFile>, style: Style) -> Renderer<'a> {
        Renderer {
            source: source.map(Files::new),
            handler: style.handler(),
        }
    }

    pub fn render(&self, diagnostic: &dyn Diagnostic) -> String {
        let mut out = String::new();
        let wrapped = WithSource {
            inner: diagnostic,
            source: self.source.as_ref(),
        };
        if self.handler.render_report(&mut out, &wrapped).is_err() {
            // Rendering into a String only fails on a formatter bug; fall back to the message.
            out = format!("error: {diagnostic}\n");
        }
        out
    }
}

/// A program's files as one source: a span is read from the file its
/// offset falls in (see `SourceFile::imported`), and the snippet is headed
/// with that file's name.
struct Files<'a> {
    /// Each file with the offset its spans start at, the program's first.
    files: Vec<(usize, IndexedSource<'a>)>,
}

impl<'a> Files<'a> {
    fn new(s: &'a SourceFile) -> Files<'a> {
        let mut files = vec![(0, IndexedSource::new(&s.name, &s.text))];
        files.extend(
            s.imported
                .iter()
                .map(|f| (f.offset, IndexedSource::new(&f.name, &f.text))),
        );
        Files { files }
    }

    /// The file holding `offset`, with its start.
    fn at(&self, offset: usize) -> (usize, &IndexedSource<'a>) {
        let i = self
            .files
            .partition_point(|(start, _)| *start <= offset)
            .saturating_sub(1);
        let (start, file) = &self.files[i];
        (*start, file)
    }
}

impl SourceCode for Files<'_> {
    fn read_span<'b>(
        &'b self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let (start, file) = self.at(span.offset());
        if start == 0 {
            return file.read_span(span, context_lines_before, context_lines_after);
        }
        let local = miette::SourceSpan::new((span.offset() - start).into(), span.len());
        let c = file.read_span(&local, context_lines_before, context_lines_after)?;
        let global = miette::SourceSpan::new((c.span().offset() + start).into(), c.span().len());
        let contents = match c.name() {
            Some(name) => miette::MietteSpanContents::new_named(
                name.to_string(),
                c.data(),
                global,
                c.line(),
                c.column(),
                c.line_count(),
            ),
            None => miette::MietteSpanContents::new(
                c.data(),
                global,
                c.line(),
                c.column(),
                c.line_count(),
            ),
        };
        Ok(Box::new(contents))
    }
}

/// Lends a source to a diagnostic that carries only spans.
struct WithSource<'a> {
    inner: &'a dyn Diagnostic,
    source: Option<&'a Files<'a>>,
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
        let source = self.source;
        let labels = self.inner.labels()?;
        Some(Box::new(labels.map(move |l| {
            let Some(files) = source else {
                return l;
            };
            let (start, s) = files.at(l.offset());
            let local = l.offset() - start;
            // A label past the end of the text would make the renderer drop
            // the snippet; clamp so a bad span still shows where it points.
            if local.saturating_add(l.len()) > s.len() {
                return relabel(&l, start + local.min(s.len()), 0);
            }
            let (offset, len) = s.fit_label(local, l.len());
            if (offset, len) == (local, l.len()) {
                l
            } else {
                relabel(&l, start + offset, len)
            }
        })))
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        self.inner.related()
    }
    fn diagnostic_source(&self) -> Option<&dyn Diagnostic> {
        self.inner.diagnostic_source()
    }
}

/// `label` moved to `offset..offset + len`, still primary if it was.
fn relabel(label: &LabeledSpan, offset: usize, len: usize) -> LabeledSpan {
    let text = label.label().map(str::to_owned);
    if label.primary() {
        LabeledSpan::new_primary_with_span(text, (offset, len))
    } else {
        LabeledSpan::new(text, offset, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error, miette::Diagnostic)]
    #[error("test")]
    #[diagnostic(code(flow::test))]
    struct Spans {
        #[label("here")]
        a: miette::SourceSpan,
        #[label("and here")]
        b: Option<miette::SourceSpan>,
    }

    fn plain() -> Style {
        Style {
            color: false,
            width: 80,
        }
    }

    fn file(text: &str) -> SourceFile {
        SourceFile::new("t.flow", text)
    }

    fn at(offset: usize, len: usize) -> Spans {
        Spans {
            a: (offset, len).into(),
            b: None,
        }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn item_01_label_past_column_65535_does_not_panic() {
        let line = format!("x = \"{}{{nope}}\"", "a".repeat(70_000));
        let text = format!("model m = mock()\n{line}\noutput x\n");
        let offset = text.find("nope").unwrap();
        let out = render(&at(offset, 4), Some(&file(&text)), plain());
        assert!(out.contains("[t.flow:2:70007]"), "{out}");
        assert!(out.contains("{nope}"), "{out}");
        // A window of the line, not all of it.
        assert!(out.len() < 2_000, "{} bytes", out.len());
        // Labels far apart on the long line, a label spanning all of it,
        // tabs and wide characters before it: never a panic.
        let wide = format!("x = \"{}{}\"\n", "\t".repeat(40_000), "猫".repeat(40_000));
        let cases = [
            (text.clone(), 18, offset - 18 + 4),
            (wide.clone(), wide.len() - 3, 1),
            (wide.clone(), 5, wide.len() - 7),
        ];
        for (text, offset, len) in cases {
            let two = Spans {
                a: (offset, len).into(),
                b: Some((offset + len - 1, 1).into()),
            };
            render(&two, Some(&file(&text)), plain());
            render(&at(offset, len), Some(&file(&text)), plain());
        }
    }

    /// On ordinary text the indexed source draws exactly what miette's own
    /// reader draws, for any one or two labels.
    #[test]
    fn indexed_source_renders_like_miette() {
        let text = "model m = mock()\n\ninput q: text\r\nx = ask m \"{q}\"\ny = x\n\noutput y";
        let plain_miette = |d: &Spans| {
            let named = miette::NamedSource::new("t.flow", text.to_string());
            let report = miette::Report::new(Spans { a: d.a, b: d.b }).with_source_code(named);
            let mut out = String::new();
            plain()
                .handler()
                .render_report(&mut out, report.as_ref())
                .unwrap();
            out
        };
        let ends: Vec<usize> = (0..=text.len()).collect();
        for &a in &ends {
            for len in [0, 1, 3, 20] {
                if a + len > text.len() {
                    continue;
                }
                let d = at(a, len);
                assert_eq!(
                    render(&d, Some(&file(text)), plain()),
                    plain_miette(&d),
                    "label at {a}+{len}"
                );
                for b in [a + len, (a + 12).min(text.len())] {
                    let two = Spans {
                        a: (a, len).into(),
                        b: Some((b, 0).into()),
                    };
                    // Labels further apart are drawn in snippets of their own.
                    if b - a < 10 {
                        assert_eq!(
                            render(&two, Some(&file(text)), plain()),
                            plain_miette(&two),
                            "labels at {a}+{len} and {b}"
                        );
                    }
                }
            }
        }
    }

    /// Drawing N diagnostics of a file of N lines scans about N lines, not
    /// N files: the work at 4N is about 4 times the work at N.
    #[test]
    fn item_02_rendering_many_diagnostics_is_linear() {
        let scanned = |n: usize| {
            let text: String = (0..n).map(|i| format!("b{i} = u{i}\n")).collect();
            let source = file(&text);
            let renderer = Renderer::new(Some(&source), plain());
            let mut offset = 0;
            for line in text.lines() {
                renderer.render(&at(offset + 5, line.len() - 5));
                offset += line.len() + 1;
            }
            renderer.source.as_ref().unwrap().files[0].1.scanned()
        };
        let (small, large) = (scanned(1_000), scanned(4_000));
        assert!(
            large < small * 5,
            "{small} bytes at 1,000, {large} at 4,000"
        );
    }

    #[test]
    fn item_15_columns_count_characters() {
        let text = "x = \"café ☕\" + nope\n";
        let offset = text.find("nope").unwrap();
        let out = render(&at(offset, 4), Some(&file(text)), plain());
        // `nope` is the 16th character on its line, the 20th byte.
        assert!(out.contains("[t.flow:1:16]"), "{out}");
        // Nor is a byte-order mark a column.
        let text = format!("\u{feff}{text}");
        let out = render(&at(offset + 3, 4), Some(&file(&text)), plain());
        assert!(out.contains("[t.flow:1:16]"), "{out}");
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
