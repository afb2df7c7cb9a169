//! `type NAME = TYPE` declarations, resolved once before anything uses them.
//!
//! Types have a namespace of their own (a binding `verdict` and a type
//! `Verdict` never clash), and a declared type stands for its definition
//! wherever a type is written: after `as`, on an `input`, inside `list<...>`
//! and as a record field. Resolving is a depth-first walk, so a type may be
//! used above the line that declares it, and a type that reaches itself is
//! reported once, with the path, instead of looping.

use std::cell::RefCell;
use std::collections::HashSet;

use indexmap::IndexMap;

use super::error::{CheckError, NameKind, Path, Suggestion};
use super::suggest::did_you_mean;
use crate::syntax::Span;
use crate::syntax::ast::{Ident, Item, Program, TypeDecl, TypeExpr, TypeKind};
use crate::types::Type;

/// The most types a declared type may hold in all, counting every field
/// and element type once per place it appears.
pub const MAX_TYPE_SIZE: usize = 10_000;

/// The deepest a declared type may nest records and lists.
pub const MAX_TYPE_DEPTH: usize = 32;

/// (types in all, nesting depth) of a type.
fn measure(t: &Type) -> (usize, usize) {
    match t {
        Type::List(inner) | Type::Optional(inner) => {
            let (size, depth) = measure(inner);
            (size.saturating_add(1), depth + 1)
        }
        Type::Record(fields) => {
            let mut size = 1usize;
            let mut depth = 0;
            for f in fields.values() {
                let (s, d) = measure(f);
                size = size.saturating_add(s);
                depth = depth.max(d);
            }
            (size, depth + 1)
        }
        _ => (1, 1),
    }
}

fn has_unknown(t: &Type) -> bool {
    match t {
        Type::Unknown => true,
        Type::List(inner) | Type::Optional(inner) => has_unknown(inner),
        Type::Record(fields) => fields.values().any(has_unknown),
        _ => false,
    }
}

/// The built-in type names, which no declaration may take.
pub const BUILTIN: [&str; 7] = ["text", "bool", "int", "number", "json", "list", "chat"];

/// Every declared type, resolved.
#[derive(Debug, Default)]
pub struct TypeDefs {
    resolved: IndexMap<String, Type>,
    /// Where each is declared, for the unused warning.
    spans: IndexMap<String, Span>,
    /// The names used (or suggested) anywhere, declarations included.
    used: RefCell<HashSet<String>>,
}

impl TypeDefs {
    /// Resolve every `type` declaration of the program, reporting duplicates,
    /// built-in names, unknown names and recursion.
    pub fn collect(program: &Program, errors: &mut Vec<CheckError>) -> TypeDefs {
        let mut decls: IndexMap<String, &TypeDecl> = IndexMap::new();
        for item in &program.items {
            let Item::Type(decl) = item else {
                continue;
            };
            let name = &decl.name.name;
            if BUILTIN.contains(&name.as_str()) {
                errors.push(CheckError::BuiltinTypeName {
                    name: name.clone(),
                    span: decl.name.span,
                });
            } else if let Some(first) = decls.get(name) {
                errors.push(CheckError::DuplicateType {
                    name: name.clone(),
                    first: first.name.span,
                    second: decl.name.span,
                });
            } else {
                decls.insert(name.clone(), decl);
            }
        }
        let mut r = Resolver {
            decls: &decls,
            done: IndexMap::new(),
            stack: Vec::new(),
            used: HashSet::new(),
        };
        for name in decls.keys() {
            r.declared(name, errors);
        }
        let mut resolved = r.done;
        // Declaration order, for stable suggestions.
        resolved.sort_by_cached_key(|k, _| decls.get_index_of(k));
        TypeDefs {
            resolved,
            spans: decls
                .iter()
                .map(|(name, d)| (name.clone(), d.name.span))
                .collect(),
            used: RefCell::new(r.used),
        }
    }

    /// A warning for each declared type nothing uses (a name starting with
    /// `_` is exempt, as for bindings). Call after every use is resolved.
    pub fn unused(&self, errors: &mut Vec<CheckError>) {
        let used = self.used.borrow();
        for (name, &span) in &self.spans {
            if !name.starts_with('_') && !name.contains('.') && !used.contains(name) {
                errors.push(CheckError::Unused {
                    kind: NameKind::Type,
                    name: name.clone(),
                    span,
                });
            }
        }
    }

    /// A written type, resolved; an unknown name is reported and becomes `Unknown`.
    pub fn resolve(&self, t: &TypeExpr, errors: &mut Vec<CheckError>) -> Type {
        let mut used = self.used.borrow_mut();
        build(
            t,
            &mut Done {
                resolved: &self.resolved,
                used: &mut used,
            },
            errors,
        )
    }
}

/// How a type name is looked up while building a type.
trait Names {
    fn named(&mut self, name: &Ident, errors: &mut Vec<CheckError>) -> Type;
}

/// Use sites: every declaration is resolved already.
struct Done<'r> {
    resolved: &'r IndexMap<String, Type>,
    used: &'r mut HashSet<String>,
}

impl Names for Done<'_> {
    fn named(&mut self, name: &Ident, errors: &mut Vec<CheckError>) -> Type {
        match self.resolved.get(&name.name) {
            Some(t) => {
                self.used.insert(name.name.clone());
                t.clone()
            }
            None => {
                errors.push(unknown(
                    name,
                    self.resolved.keys().map(String::as_str),
                    self.used,
                ));
                Type::Unknown
            }
        }
    }
}

/// An unknown type name, with the closest name as a suggestion; the
/// suggested declaration counts as used, so it gets no unused warning too.
fn unknown<'a>(
    name: &Ident,
    declared: impl Iterator<Item = &'a str>,
    used: &mut HashSet<String>,
) -> CheckError {
    let candidates: Vec<&str> = BUILTIN.into_iter().chain(declared).collect();
    let suggestion = did_you_mean(&name.name, candidates);
    if let Some(s) = &suggestion {
        used.insert(s.clone());
    }
    CheckError::UnknownType {
        name: name.name.clone(),
        span: name.span,
        suggestion: Suggestion(suggestion),
    }
}

/// Declarations: resolved on first use, depth first.
struct Resolver<'d, 'a> {
    decls: &'d IndexMap<String, &'a TypeDecl>,
    done: IndexMap<String, Type>,
    /// The declarations being resolved, outermost first.
    stack: Vec<String>,
    used: HashSet<String>,
}

impl Resolver<'_, '_> {
    fn declared(&mut self, name: &str, errors: &mut Vec<CheckError>) {
        if self.done.contains_key(name) {
            return;
        }
        let Some(decl) = self.decls.get(name).copied() else {
            return;
        };
        self.stack.push(name.to_string());
        let mut ty = build(&decl.ty, self, errors);
        self.stack.pop();
        // Each use copies the type, so a chain of declarations each using
        // the one before twice would double at every step; and every walk
        // over a type (parsing a reply, a schema) recurses once per level.
        // A type holding an unknown one had its error reported already.
        let (size, depth) = measure(&ty);
        if size > MAX_TYPE_SIZE || depth > MAX_TYPE_DEPTH {
            if !has_unknown(&ty) {
                errors.push(CheckError::TypeTooLarge {
                    name: name.to_string(),
                    size,
                    depth,
                    span: decl.name.span,
                });
            }
            ty = Type::Unknown;
        }
        self.done.insert(name.to_string(), ty);
    }
}

impl Names for Resolver<'_, '_> {
    fn named(&mut self, name: &Ident, errors: &mut Vec<CheckError>) -> Type {
        if let Some(at) = self.stack.iter().position(|n| *n == name.name) {
            let mut path = self.stack[at..].to_vec();
            path.push(name.name.clone());
            errors.push(CheckError::RecursiveType {
                name: name.name.clone(),
                path: Path(path),
                span: name.span,
            });
            return Type::Unknown;
        }
        if !self.decls.contains_key(&name.name) {
            errors.push(unknown(
                name,
                self.decls.keys().map(String::as_str),
                &mut self.used,
            ));
            return Type::Unknown;
        }
        self.used.insert(name.name.clone());
        self.declared(&name.name, errors);
        self.done.get(&name.name).cloned().unwrap_or(Type::Unknown)
    }
}

/// A written type, with names looked up by `named`; record fields are
/// checked here (duplicates, optional fields without an empty value).
fn build(t: &TypeExpr, names: &mut dyn Names, errors: &mut Vec<CheckError>) -> Type {
    match &t.kind {
        TypeKind::Text => Type::Text,
        TypeKind::Bool => Type::Bool,
        TypeKind::Int => Type::Int,
        TypeKind::Number => Type::Number,
        TypeKind::Json => Type::Json,
        TypeKind::Chat => Type::Chat,
        TypeKind::List(inner) => Type::list(build(inner, names, errors)),
        TypeKind::Union(choices) => {
            let mut out: Vec<String> = Vec::new();
            for (c, _) in choices {
                if !out.contains(c) {
                    out.push(c.clone());
                }
            }
            Type::Union(out)
        }
        TypeKind::Record(fields) => {
            let mut out: IndexMap<String, Type> = IndexMap::new();
            let mut first_span = IndexMap::new();
            for f in fields {
                let ty = build(&f.ty, names, errors);
                if let Some(&first) = first_span.get(&f.name.name) {
                    errors.push(CheckError::DuplicateField {
                        name: f.name.name.clone(),
                        first,
                        second: f.name.span,
                    });
                    continue;
                }
                first_span.insert(f.name.name.clone(), f.name.span);
                let ty = match f.optional {
                    Some(q) => {
                        if ty.empty_value().is_none() && ty != Type::Unknown {
                            errors.push(CheckError::OptionalField {
                                name: f.name.name.clone(),
                                ty: ty.clone(),
                                span: f.name.span.to(q),
                            });
                        }
                        Type::Optional(Box::new(ty))
                    }
                    None => ty,
                };
                out.insert(f.name.name.clone(), ty);
            }
            Type::Record(out)
        }
        TypeKind::Named(name) => names.named(name, errors),
    }
}
