//! AST → checked `FlowGraph`, with every semantic error and warning.
//!
//! The stages, each in its own module:
//!
//! | stage | module | gives |
//! | --- | --- | --- |
//! | type declarations | [`typedefs`] | every `type NAME = ...`, resolved |
//! | namespaces | [`names`] | every declaration; duplicates |
//! | resolution | [`resolve`] | which declaration uses which; undefined names |
//! | graph shape | [`cycles`], [`sections`] | cycles, section rules and independence |
//! | models | [`models`] | a [`ModelSpec`](crate::model::ModelSpec) per model |
//! | usage | [`usage`] | unused warnings, the required output |
//! | types and lowering | [`lower`] (with [`types`], [`votes`]) | the graph |
//!
//! Every stage runs even when an earlier one found errors, so one run reports
//! everything; an expression whose type cannot be known gets `Type::Unknown`,
//! which no later rule complains about, so one mistake is reported once.

// The stage table links the private stage modules, which resolve under
// `cargo doc --document-private-items`.
#![allow(rustdoc::private_intra_doc_links)]

mod calls;
pub(crate) mod cost;
mod cycles;
pub(crate) mod error;
mod lower;
mod models;
mod names;
mod resolve;
mod sections;
mod suggest;
mod test_blocks;
mod typedefs;
mod types;
mod usage;
mod votes;

#[cfg(test)]
mod tests;

use crate::diagnostic::BoxDiagnostic;
use crate::graph::FlowGraph;
use crate::syntax::Gaps;
use crate::syntax::ast::Program;

pub(crate) use error::CheckError;
pub(crate) use suggest::did_you_mean;

/// What [`check`] found: the graph when the program is valid, and every
/// diagnostic either way.
pub struct Checked {
    /// The lowered graph, when the program has no errors (warnings are fine).
    pub graph: Option<FlowGraph>,
    /// Errors and warnings, in the order they were found.
    pub diagnostics: Vec<BoxDiagnostic>,
    /// The program's `test` blocks, checked (meaningful when `graph` is).
    pub tests: Vec<crate::testing::TestCase>,
}

/// Checks a parsed program and lowers it to a graph, collecting every error
/// and warning rather than stopping at the first.
pub fn check(program: &Program) -> Checked {
    check_partial(program, &Gaps::default())
}

/// [`check`] for the statements that parsed when others did not: leaves out
/// what the missing statements may explain (a name one of them would have
/// declared, a missing output), which would otherwise pile a second, wrong
/// error on a syntax error. Nothing is called unused while statements are
/// missing: "unused" is a claim about the whole program, and any of them may
/// have been the use.
pub fn check_partial(program: &Program, gaps: &Gaps) -> Checked {
    let (graph, tests, mut errors) = check_all(program);
    if !gaps.is_empty() {
        errors.retain(|e| !explained_by(e, gaps));
    }
    let ok = errors.iter().all(CheckError::is_warning);
    Checked {
        graph: ok.then_some(graph),
        diagnostics: errors
            .into_iter()
            .map(|e| Box::new(e) as BoxDiagnostic)
            .collect(),
        tests,
    }
}

/// Whether a statement that did not parse may be all that `e` is about.
fn explained_by(e: &CheckError, gaps: &Gaps) -> bool {
    match e {
        CheckError::UndefinedName { name, .. }
        | CheckError::UndefinedModel { name, .. }
        | CheckError::UndefinedOutput { name, .. }
        | CheckError::TestUnknownInput { name, .. }
        | CheckError::TestUnknownModel { name, .. }
        | CheckError::TestUnknownOutput { name, .. } => gaps.may_declare(name),
        CheckError::Unused { .. } => true,
        CheckError::NoOutput { .. } => gaps.may_output(),
        _ => false,
    }
}

/// [`check_partial`] that keeps the graph even when there are errors: an
/// editor shows the types and costs of the parts that are fine while the
/// user is still fixing the others (`Type::Unknown` stands for the rest).
#[cfg_attr(not(feature = "lsp"), allow(dead_code))]
pub(crate) fn check_keeping_graph(
    program: &Program,
    gaps: &Gaps,
) -> (FlowGraph, Vec<BoxDiagnostic>) {
    let (graph, _, mut errors) = check_all(program);
    if !gaps.is_empty() {
        errors.retain(|e| !explained_by(e, gaps));
    }
    let diagnostics = errors
        .into_iter()
        .map(|e| Box::new(e) as BoxDiagnostic)
        .collect();
    (graph, diagnostics)
}

/// [`check`] with the concrete error type, for tests and tools that match on it.
#[cfg(test)]
pub(crate) fn check_errors(program: &Program) -> (Option<FlowGraph>, Vec<CheckError>) {
    let (graph, _, errors) = check_all(program);
    let ok = errors.iter().all(CheckError::is_warning);
    (ok.then_some(graph), errors)
}

/// Every pass, the graph lowered whatever they found, and the checked tests.
fn check_all(program: &Program) -> (FlowGraph, Vec<crate::testing::TestCase>, Vec<CheckError>) {
    let mut errors = Vec::new();
    let typedefs = typedefs::TypeDefs::collect(program, &mut errors);
    let scope = names::Scope::collect(program, &mut errors);
    let resolved = resolve::resolve(&scope, &mut errors);
    calls::recursion(&resolved.calls, &mut errors);
    let decl_graph = cycles::DeclGraph::new(&resolved.refs);
    let components = decl_graph.cycles(&scope, &mut errors);
    sections::check_shapes(program, &scope, &mut errors);
    sections::check_independence(&scope, &decl_graph, &components, &mut errors);
    // An imported file's models that nothing uses are left out: they would
    // only ask for keys.
    let declared: indexmap::IndexMap<String, &crate::syntax::ast::ModelDecl> = scope
        .models
        .iter()
        .filter(|(name, _)| !name.contains('.') || resolved.used_models.contains(*name))
        .map(|(n, m)| (n.clone(), *m))
        .collect();
    let models = models::build_models(&declared, &mut errors);
    usage::unused(&scope, &resolved, &mut errors);
    usage::require_output(program, &scope, &mut errors);
    let order = decl_graph.dependency_order();
    let graph = lower::lower(&scope, &typedefs, &models, &order, &mut errors);
    if !scope.outputs.is_empty() {
        typedefs.unused(&mut errors);
    }
    let tests = test_blocks::check(program, &graph, &scope.models, &mut errors);
    (graph, tests, errors)
}
