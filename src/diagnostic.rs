//! A bag of diagnostics from any stage, sorted by where they point.
//!
//! Stages return concrete `thiserror + miette::Diagnostic` types carrying spans
//! only; the source text is attached once, when the CLI renders them.

use miette::{Diagnostic, Severity};

/// A diagnostic of any stage, boxed so one list can hold them all.
pub type BoxDiagnostic = Box<dyn Diagnostic + Send + Sync + 'static>;

/// The errors and warnings of a compile, in position order once sorted.
/// Render each with miette against the program's source.
#[derive(Default)]
pub struct Diagnostics {
    items: Vec<BoxDiagnostic>,
}

impl std::fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.items.iter().map(|d| d.to_string()))
            .finish()
    }
}

impl Diagnostics {
    /// Adds one diagnostic.
    pub fn push(&mut self, d: impl Diagnostic + Send + Sync + 'static) {
        self.items.push(Box::new(d));
    }

    /// Adds one already boxed.
    pub fn push_boxed(&mut self, d: BoxDiagnostic) {
        self.items.push(d);
    }

    /// Errors first, then warnings, each by the first label's offset;
    /// stable, so equal positions keep their order. Errors are what stop the
    /// program, and a warning about a name never sits between the errors
    /// about it (`y` is unused, but the error is that its `ask` names no model).
    pub fn sort(&mut self) {
        self.items
            .sort_by_key(|d| (!is_error(d.as_ref()), first_offset(d.as_ref())));
    }

    /// Whether there is none at all.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many there are, errors and warnings.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Each diagnostic, in the current order.
    pub fn iter(&self) -> impl Iterator<Item = &BoxDiagnostic> {
        self.items.iter()
    }

    /// How many are errors (anything not marked as a warning or advice).
    pub fn errors(&self) -> usize {
        self.items.iter().filter(|d| is_error(d.as_ref())).count()
    }

    /// How many are warnings or advice.
    pub fn warnings(&self) -> usize {
        self.items.len() - self.errors()
    }

    /// Whether any is an error, which means there is no program to run.
    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }
}

/// Whether `d` is an error: its severity is unset or `Error`.
pub fn is_error(d: &dyn Diagnostic) -> bool {
    matches!(d.severity(), None | Some(Severity::Error))
}

fn first_offset(d: &dyn Diagnostic) -> usize {
    d.labels()
        .and_then(|mut labels| labels.next())
        .map(|l| l.offset())
        .unwrap_or(usize::MAX)
}
