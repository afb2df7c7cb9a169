//! Section rules: the shape of sections and the independence of members.

use super::cycles::{Components, DeclGraph, ReachScratch};
use super::error::{CheckError, CountKind, EnsembleReason, Path};
use super::names::{DeclKind, Scope};
use super::votes;
use crate::syntax::ast::{ExprKind, Item, Modifiers, Program, Section};

/// Shape rules: modifiers a section cannot take, voting statements, and the
/// members a voting section (ensemble) may have.
pub fn check_shapes(program: &Program, scope: &Scope<'_>, errors: &mut Vec<CheckError>) {
    for item in &program.items {
        if let Item::Section(section) = item
            && let Some(vote) = &section.modifiers.vote
        {
            errors.push(CheckError::SectionVoteStatement { span: vote.span });
        }
    }
    for s in &scope.sections {
        modifiers(&s.ast.modifiers, errors);
    }
    for decl in &scope.decls {
        if let DeclKind::Value(expr) = &decl.kind
            && let ExprKind::Section(section) = &expr.kind
            && section.modifiers.vote.is_some()
        {
            modifiers(&section.modifiers, errors);
            ensemble_members(section, errors);
        }
    }
}

fn modifiers(m: &Modifiers, errors: &mut Vec<CheckError>) {
    if let Some(c) = &m.retry {
        votes::in_range(c.value, c.span, CountKind::Retry, errors);
    }
    if let Some(t) = &m.as_type {
        errors.push(CheckError::SectionModifier {
            modifier: "as",
            span: t.span,
        });
    }
    if let Some(r) = &m.repeat {
        errors.push(CheckError::SectionModifier {
            modifier: "repeat",
            span: r.span,
        });
    }
    if let Some(h) = &m.history {
        errors.push(CheckError::SectionModifier {
            modifier: "with",
            span: h.span,
        });
    }
}

fn ensemble_members(section: &Section, errors: &mut Vec<CheckError>) {
    if section.members.is_empty() {
        errors.push(CheckError::EnsembleMember {
            reason: EnsembleReason::Empty,
            span: section.open.to(section.close),
        });
    }
    for member in &section.members {
        let reason = match &member.value.kind {
            ExprKind::Ask(ask) if ask.modifiers.vote.is_some() => Some(EnsembleReason::HasVote),
            ExprKind::Ask(ask) if ask.modifiers.repeat.is_some() => Some(EnsembleReason::HasRepeat),
            ExprKind::Ask(_) => None,
            _ => Some(EnsembleReason::NotAsk),
        };
        if let Some(reason) = reason {
            errors.push(CheckError::EnsembleMember {
                reason,
                span: member.value.span,
            });
        }
    }
}

/// Members of one section must not use each other, directly or through
/// other declarations. Pairs on a cycle are left to the cycle error.
pub fn check_independence(
    scope: &Scope<'_>,
    graph: &DeclGraph<'_>,
    components: &Components,
    errors: &mut Vec<CheckError>,
) {
    let on_cycle = &components.on_cycle;
    let mut scratch = ReachScratch::default();
    for section in &scope.sections {
        // No member can reach a declaration ranked below every member, so
        // the searches stop there.
        let Some(floor) = section
            .members
            .iter()
            .filter_map(|&m| components.rank.get(m).copied())
            .min()
        else {
            continue;
        };
        for &a in &section.members {
            let reach = graph.reach(a, &components.rank, floor, &mut scratch);
            for &b in &section.members {
                if a == b || (on_cycle.contains(&a) && on_cycle.contains(&b)) {
                    continue;
                }
                let Some(path) = reach.path_to(b) else {
                    continue;
                };
                let (Some(da), Some(db)) = (scope.decls.get(a), scope.decls.get(b)) else {
                    continue;
                };
                errors.push(CheckError::SectionDependency {
                    dependent: da.name.clone(),
                    dependency: db.name.clone(),
                    path: Path(
                        path.iter()
                            .filter_map(|&d| scope.decls.get(d).map(|d| d.name.clone()))
                            .collect(),
                    ),
                    dependent_span: da.ident.span,
                    dependency_span: db.ident.span,
                });
            }
        }
    }
}
