//! The program's namespaces: what every name means, before any expression is
//! looked at.
//!
//! Two namespaces exist. Models have their own (they are only ever named after
//! `ask` and `judge`, so a model and a binding may share a name without
//! ambiguity). Everything that holds a value — inputs, bindings, members of
//! section statements and `output NAME = EXPR` — shares the binding namespace.
//! Members of a bound section (`r = section < a = ... >`) are not in it: they
//! are reached as `r.a`, and their names only need to be unique in the section.

use indexmap::IndexMap;

use super::error::{CheckError, NameKind};
use crate::syntax::Span;
use crate::syntax::ast::{
    Expr, ExprKind, FnDecl, Ident, ImportDecl, InputDecl, Item, ModelDecl, OutputDecl, Program,
    Section,
};

/// Index into [`Scope::decls`]; lowering gives declaration `i` node `i`.
pub type DeclId = usize;

/// Anything that becomes a node of its own: an input, a binding, a section
/// member, a section record or an output.
#[derive(Debug)]
pub struct Decl<'a> {
    /// The full name: `a`, or `r.a` for a member of record `r`.
    pub name: String,
    /// Where the name is written.
    pub ident: &'a Ident,
    /// The whole declaration.
    pub span: Span,
    pub kind: DeclKind<'a>,
    /// The innermost non-voting section this declaration is a member of.
    pub section: Option<usize>,
    pub name_kind: NameKind,
}

#[derive(Debug)]
pub enum DeclKind<'a> {
    Input(&'a InputDecl),
    /// A binding or member computed by an expression (this includes voting
    /// sections, which are one value).
    Value(&'a Expr),
    /// A binding or member whose value is a non-voting section: a record of
    /// its members' values. `members` are (short name, declaration).
    Record {
        members: Vec<(String, DeclId)>,
    },
    /// `output NAME [= EXPR]`.
    Output(&'a OutputDecl),
}

/// A non-voting section, statement or record; the clusters of the graph.
#[derive(Debug)]
pub struct SectionDecl<'a> {
    pub ast: &'a Section,
    /// The record name when bound (`r = section < ... >`).
    pub name: Option<String>,
    pub parent: Option<usize>,
    /// Member declarations in written order (named members only).
    pub members: Vec<DeclId>,
}

#[derive(Debug, Default)]
pub struct Scope<'a> {
    pub decls: Vec<Decl<'a>>,
    /// The binding namespace.
    pub globals: IndexMap<String, DeclId>,
    /// Output name → output declaration, in source order.
    pub outputs: IndexMap<String, DeclId>,
    /// The model namespace, first declaration of each name.
    pub models: IndexMap<String, &'a ModelDecl>,
    pub sections: Vec<SectionDecl<'a>>,
    /// The function namespace (calls), first declaration of each name;
    /// an imported file's are under its namespace (`moderation.screen`).
    pub functions: IndexMap<String, &'a FnDecl>,
    /// Namespaces of imported files (`moderation`, and `moderation.x` for
    /// what that file imports), to word a name missing from one.
    pub imports: IndexMap<String, &'a ImportDecl>,
}

impl<'a> Scope<'a> {
    /// Collect every declaration, reporting duplicates and unnamed members.
    pub fn collect(program: &'a Program, errors: &mut Vec<CheckError>) -> Scope<'a> {
        let mut scope = Scope::default();
        for item in &program.items {
            match item {
                Item::Model(m) => {
                    if let Some(first) = scope.models.get(&m.name.name) {
                        errors.push(CheckError::DuplicateModel {
                            name: m.name.name.clone(),
                            first: first.name.span,
                            second: m.name.span,
                        });
                    } else {
                        scope.models.insert(m.name.name.clone(), m);
                    }
                }
                Item::Input(input) => {
                    let id = scope.push(Decl {
                        name: input.name.name.clone(),
                        ident: &input.name,
                        span: input.span,
                        kind: DeclKind::Input(input),
                        section: None,
                        name_kind: NameKind::Input,
                    });
                    scope.bind_global(id, errors);
                }
                Item::Binding(b) => {
                    scope.bind_value(
                        &b.name,
                        b.span,
                        &b.value,
                        None,
                        None,
                        NameKind::Binding,
                        errors,
                    );
                }
                Item::Section(section) => {
                    let index = scope.sections.len();
                    scope.sections.push(SectionDecl {
                        ast: section,
                        name: None,
                        parent: None,
                        members: Vec::new(),
                    });
                    // A voting statement is an error (reported by `sections`),
                    // but its named members are still bound so that their uses
                    // elsewhere do not cascade into undefined names.
                    let voting = section.modifiers.vote.is_some();
                    for member in &section.members {
                        match &member.name {
                            Some(name) => {
                                let id = scope.bind_value(
                                    name,
                                    member.span,
                                    &member.value,
                                    Some(index),
                                    None,
                                    NameKind::Member,
                                    errors,
                                );
                                if let Some(s) = scope.sections.get_mut(index) {
                                    s.members.push(id);
                                }
                            }
                            None if !voting => errors.push(CheckError::UnnamedMember {
                                span: member.value.span,
                            }),
                            None => {}
                        }
                    }
                }
                // Types have a namespace of their own (`typedefs`).
                // A test declares nothing: it is checked against the graph.
                Item::Type(_) | Item::Test(_) => {}
                Item::Function(f) => {
                    if let Some(first) = scope.functions.get(&f.name.name) {
                        errors.push(CheckError::DuplicateFunction {
                            name: f.name.name.clone(),
                            first: first.name.span,
                            second: f.name.span,
                        });
                    } else if crate::graph::Builtin::from_name(&f.name.name).is_some() {
                        errors.push(CheckError::BuiltinFunction {
                            name: f.name.name.clone(),
                            span: f.name.span,
                        });
                    } else {
                        scope.functions.insert(f.name.name.clone(), f);
                    }
                }
                Item::Import(i) => {
                    if let Some(first) = scope.imports.get(&i.alias.name) {
                        errors.push(CheckError::DuplicateImport {
                            name: i.alias.name.clone(),
                            first: first.alias.span,
                            second: i.alias.span,
                        });
                    } else {
                        scope.imports.insert(i.alias.name.clone(), i);
                    }
                }
                Item::Output(out) => {
                    let id = scope.push(Decl {
                        name: out.name.name.clone(),
                        ident: &out.name,
                        span: out.span,
                        kind: DeclKind::Output(out),
                        section: None,
                        name_kind: NameKind::Output,
                    });
                    if let Some(&first) = scope.outputs.get(&out.name.name) {
                        errors.push(CheckError::DuplicateOutput {
                            name: out.name.name.clone(),
                            first: scope.decls[first].ident.span,
                            second: out.name.span,
                        });
                    } else {
                        scope.outputs.insert(out.name.name.clone(), id);
                    }
                    // `output x = EXPR` defines `x`; `output x` only names it.
                    if out.value.is_some() {
                        scope.bind_global(id, errors);
                    }
                }
            }
        }
        scope
    }

    fn push(&mut self, decl: Decl<'a>) -> DeclId {
        self.decls.push(decl);
        self.decls.len() - 1
    }

    fn bind_global(&mut self, id: DeclId, errors: &mut Vec<CheckError>) {
        let decl = &self.decls[id];
        if let Some(&first) = self.globals.get(&decl.name) {
            let first = &self.decls[first];
            errors.push(CheckError::DuplicateBinding {
                name: decl.name.clone(),
                first_kind: first.name_kind,
                second_kind: decl.name_kind,
                first: first.ident.span,
                second: decl.ident.span,
            });
        } else {
            self.globals.insert(decl.name.clone(), id);
        }
    }

    /// Declare `name = value`; a non-voting section value becomes a record
    /// whose members are declared (recursively) under `name.`.
    #[allow(clippy::too_many_arguments)]
    fn bind_value(
        &mut self,
        name: &'a Ident,
        span: Span,
        value: &'a Expr,
        section: Option<usize>,
        prefix: Option<&str>,
        name_kind: NameKind,
        errors: &mut Vec<CheckError>,
    ) -> DeclId {
        let full = match prefix {
            Some(p) => format!("{p}.{}", name.name),
            None => name.name.clone(),
        };
        let id = match &value.kind {
            ExprKind::Section(inner) if inner.modifiers.vote.is_none() => {
                let index = self.sections.len();
                self.sections.push(SectionDecl {
                    ast: inner,
                    name: Some(full.clone()),
                    parent: section,
                    members: Vec::new(),
                });
                let id = self.push(Decl {
                    name: full.clone(),
                    ident: name,
                    span,
                    kind: DeclKind::Record {
                        members: Vec::new(),
                    },
                    section,
                    name_kind,
                });
                let mut members: Vec<(String, DeclId)> = Vec::new();
                for member in &inner.members {
                    let Some(member_name) = &member.name else {
                        errors.push(CheckError::UnnamedMember {
                            span: member.value.span,
                        });
                        continue;
                    };
                    let mid = self.bind_value(
                        member_name,
                        member.span,
                        &member.value,
                        Some(index),
                        Some(&full),
                        NameKind::Member,
                        errors,
                    );
                    if let Some((_, first)) = members.iter().find(|(n, _)| *n == member_name.name) {
                        errors.push(CheckError::DuplicateBinding {
                            name: member_name.name.clone(),
                            first_kind: NameKind::Member,
                            second_kind: NameKind::Member,
                            first: self.decls[*first].ident.span,
                            second: member_name.span,
                        });
                    } else {
                        members.push((member_name.name.clone(), mid));
                    }
                    if let Some(s) = self.sections.get_mut(index) {
                        s.members.push(mid);
                    }
                }
                if let DeclKind::Record { members: m, .. } = &mut self.decls[id].kind {
                    *m = members;
                }
                id
            }
            _ => self.push(Decl {
                name: full,
                ident: name,
                span,
                kind: DeclKind::Value(value),
                section,
                name_kind,
            }),
        };
        if prefix.is_none() {
            self.bind_global(id, errors);
        }
        id
    }

    /// The members of a record declaration, if it is one.
    pub fn record_members(&self, id: DeclId) -> Option<&[(String, DeclId)]> {
        match &self.decls.get(id)?.kind {
            DeclKind::Record { members, .. } => Some(members),
            _ => None,
        }
    }

    /// Follow `fields` into nested records as far as they name members:
    /// `r.a.b` on record `r` with member `a` gives (`r.a`, 1 field used).
    pub fn descend(&self, mut id: DeclId, fields: &[Ident]) -> (DeclId, usize) {
        let mut used = 0;
        for field in fields {
            let Some(members) = self.record_members(id) else {
                break;
            };
            match members.iter().find(|(n, _)| *n == field.name) {
                Some((_, member)) => {
                    id = *member;
                    used += 1;
                }
                None => break,
            }
        }
        (id, used)
    }
}
