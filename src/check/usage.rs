//! Warnings for declarations nothing uses, and the one required declaration:
//! an output.

use std::collections::HashSet;

use super::error::{CheckError, NameKind};
use super::names::{DeclKind, Scope};
use super::resolve::Resolved;
use crate::syntax::Span;
use crate::syntax::ast::Program;

/// Unused inputs, bindings, section members and models. A name starting
/// with `_` is exempt: that is how a program says "on purpose".
pub fn unused(scope: &Scope<'_>, resolved: &Resolved, errors: &mut Vec<CheckError>) {
    // Without any output everything is unused; `no_output` says it once.
    if scope.outputs.is_empty() {
        return;
    }
    let mut used: HashSet<usize> = resolved.loose_uses.clone();
    for (from, refs) in resolved.refs.iter().enumerate() {
        // A record "uses" its members only by containing them.
        if scope.record_members(from).is_some() {
            continue;
        }
        for r in refs {
            if r.target != from {
                used.insert(r.target);
            }
        }
    }
    for (id, decl) in scope.decls.iter().enumerate() {
        let top_level = scope.globals.get(&decl.name) == Some(&id);
        if matches!(decl.kind, DeclKind::Output(_))
            || !top_level
            || decl.name.starts_with('_')
            || resolved.suggested.contains(&decl.name)
            || used_within(scope, &used, id)
        {
            continue;
        }
        errors.push(CheckError::Unused {
            kind: decl.name_kind,
            name: decl.name.clone(),
            span: decl.ident.span,
        });
    }
    // A member of a `fallback` or `round_robin` model is used through it.
    let members: Vec<&str> = scope
        .models
        .values()
        .flat_map(|d| d.refs.iter().map(|r| r.name.as_str()))
        .collect();
    for (name, decl) in &scope.models {
        // An imported file's models (`ns.name`) are there to be picked from.
        if !name.starts_with('_')
            && !name.contains('.')
            && !members.contains(&name.as_str())
            && !resolved.used_models.contains(name)
            && !resolved.suggested.contains(name)
        {
            errors.push(CheckError::Unused {
                kind: NameKind::Model,
                name: name.clone(),
                span: decl.name.span,
            });
        }
    }
}

pub fn require_output(program: &Program, scope: &Scope<'_>, errors: &mut Vec<CheckError>) {
    // A file of functions alone is a library, to be imported.
    let library = scope.decls.is_empty() && !scope.functions.is_empty();
    if scope.outputs.is_empty() && !library {
        let end = program.items.last().map_or(0, |i| i.span().end);
        errors.push(CheckError::NoOutput {
            span: Span::point(end),
        });
    }
}

/// A record is used when it or any of its members (at any depth) is.
fn used_within(scope: &Scope<'_>, used: &HashSet<usize>, id: usize) -> bool {
    let mut stack = vec![id];
    while let Some(cur) = stack.pop() {
        if used.contains(&cur) {
            return true;
        }
        if let Some(members) = scope.record_members(cur) {
            stack.extend(members.iter().map(|(_, m)| *m));
        }
    }
    false
}
