//! `type NAME = TYPE` declarations, resolved once before anything uses them.
//!
//! Types have a namespace of their own (a binding `verdict` and a type
//! `Verdict` never clash), and a declared type stands for its definition
//! wherever a type is written: after `as`, on an `input`, inside `list<...>`
//! and as a record field. Resolving is a depth-first walk, so a type may be
//! used above the line that declares it, and a type that reaches itself is
//! reported once, with the path, instead of looping.

use indexmap::IndexMap;

use super::error::{CheckError, Path, Suggestion};
use super::suggest::did_you_mean;
use crate::syntax::ast::{Ident, Item, Program, TypeDecl, TypeExpr, TypeKind};
use crate::types::Type;

/// The built-in type names, which no declaration may take.
pub const BUILTIN: [&str; 6] = ["text", "bool", "int", "number", "json", "list"];

/// Every declared type, resolved.
#[derive(Debug, Default)]
pub struct TypeDefs {
    resolved: IndexMap<String, Type>,
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
        };
        for name in decls.keys() {
            r.declared(name, errors);
        }
        let mut resolved = r.done;
        // Declaration order, for stable suggestions.
        resolved.sort_by_cached_key(|k, _| decls.get_index_of(k));
        TypeDefs { resolved }
    }

    /// A written type, resolved; an unknown name is reported and becomes `Unknown`.
    pub fn resolve(&self, t: &TypeExpr, errors: &mut Vec<CheckError>) -> Type {
        build(t, &mut Done(&self.resolved), errors)
    }
}

/// How a type name is looked up while building a type.
trait Names {
    fn named(&mut self, name: &Ident, errors: &mut Vec<CheckError>) -> Type;
}

/// Use sites: every declaration is resolved already.
struct Done<'r>(&'r IndexMap<String, Type>);

impl Names for Done<'_> {
    fn named(&mut self, name: &Ident, errors: &mut Vec<CheckError>) -> Type {
        match self.0.get(&name.name) {
            Some(t) => t.clone(),
            None => {
                errors.push(unknown(name, self.0.keys().map(String::as_str)));
                Type::Unknown
            }
        }
    }
}

fn unknown<'a>(name: &Ident, declared: impl Iterator<Item = &'a str>) -> CheckError {
    let candidates: Vec<&str> = BUILTIN.into_iter().chain(declared).collect();
    CheckError::UnknownType {
        name: name.name.clone(),
        span: name.span,
        suggestion: Suggestion(did_you_mean(&name.name, candidates)),
    }
}

/// Declarations: resolved on first use, depth first.
struct Resolver<'d, 'a> {
    decls: &'d IndexMap<String, &'a TypeDecl>,
    done: IndexMap<String, Type>,
    /// The declarations being resolved, outermost first.
    stack: Vec<String>,
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
        let ty = build(&decl.ty, self, errors);
        self.stack.pop();
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
            errors.push(unknown(name, self.decls.keys().map(String::as_str)));
            return Type::Unknown;
        }
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
