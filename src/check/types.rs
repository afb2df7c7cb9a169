//! Type rules: how two types combine, and builtin signatures (written
//! types are resolved by `typedefs`).

use super::error::{ArgCount, CheckError, TypeHelp};
use crate::graph::Builtin;
use crate::syntax::Span;
use crate::types::Type;

/// The type both `a` and `b` fit in, if any: text and unions mix as text, int
/// and number as number, and `Unknown` (an error already reported) fits all.
pub fn unify(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        (Type::Unknown, t) | (t, Type::Unknown) => Some(t.clone()),
        _ if a == b => Some(a.clone()),
        (Type::Int, Type::Number) | (Type::Number, Type::Int) => Some(Type::Number),
        (Type::Union(x), Type::Union(y)) if same_choices(x, y) => Some(a.clone()),
        _ if a.is_textual() && b.is_textual() => Some(Type::Text),
        (Type::List(x), Type::List(y)) => unify(x, y).map(Type::list),
        _ => None,
    }
}

fn same_choices(x: &[String], y: &[String]) -> bool {
    x.len() == y.len() && x.iter().all(|c| y.contains(c))
}

/// Whether `==`/`!=` make sense between the two types.
pub fn comparable(a: &Type, b: &Type) -> bool {
    if matches!(a, Type::Record(_)) || matches!(b, Type::Record(_)) {
        return false;
    }
    matches!(a, Type::Json) || matches!(b, Type::Json) || unify(a, b).is_some()
}

/// Whether `<`, `<=`, `>`, `>=` make sense: numbers (json may hold one).
pub fn ordered(t: &Type) -> bool {
    t.is_numeric() || matches!(t, Type::Json)
}

/// A value of type `found` can be used where `expected` is declared
/// (an input default, for instance).
pub fn assignable(expected: &Type, found: &Type) -> bool {
    match (expected, found) {
        (_, Type::Unknown) | (Type::Unknown, _) | (Type::Json, _) => true,
        (Type::Number, Type::Int) => true,
        (Type::Text, Type::Union(_)) => true,
        (Type::Union(_), Type::Text) => true,
        (Type::List(e), Type::List(f)) => assignable(e, f),
        _ => expected == found,
    }
}

/// One argument as the builtin checker sees it.
pub struct Arg<'t> {
    pub ty: &'t Type,
    pub span: Span,
}

const ORDINALS: [&str; 3] = ["first", "second", "third"];

/// The result type of a builtin call, reporting arity and argument types.
pub fn builtin(
    b: Builtin,
    args: &[Arg<'_>],
    call_span: Span,
    errors: &mut Vec<CheckError>,
) -> Type {
    let (arity, expected, signature): (usize, &'static str, &'static str) = match b {
        Builtin::Join => (2, "2 arguments", "join(list, separator)"),
        Builtin::Split => (2, "2 arguments", "split(text, separator)"),
        Builtin::Lines => (1, "1 argument", "lines(text)"),
        Builtin::Len => (1, "1 argument", "len(text or list)"),
        Builtin::Trim => (1, "1 argument", "trim(text)"),
        Builtin::Lower => (1, "1 argument", "lower(text)"),
        Builtin::Upper => (1, "1 argument", "upper(text)"),
        Builtin::Contains => (2, "2 arguments", "contains(text or list, value)"),
        Builtin::Agreement => (1, "1 argument", "agreement(vote)"),
    };
    let result = match b {
        Builtin::Join => Type::Text,
        Builtin::Split | Builtin::Lines => Type::list(Type::Text),
        Builtin::Len => Type::Int,
        Builtin::Trim | Builtin::Lower | Builtin::Upper => Type::Text,
        Builtin::Contains => Type::Bool,
        Builtin::Agreement => super::error::agreement_type(),
    };
    if args.len() != arity {
        errors.push(CheckError::Arity {
            name: b.name(),
            expected,
            found: ArgCount(args.len()),
            signature,
            span: call_span,
        });
        return result;
    }
    let mut want = |i: usize, ok: bool, expected: &str| {
        if let Some(arg) = args.get(i)
            && !ok
        {
            errors.push(CheckError::TypeMismatch {
                context: format!(
                    "the {} argument of `{}`",
                    ORDINALS.get(i).copied().unwrap_or("next"),
                    b.name()
                ),
                expected: expected.to_string(),
                found: arg.ty.clone(),
                help: if *arg.ty == Type::Chat {
                    TypeHelp::Chat
                } else {
                    TypeHelp::Argument
                },
                span: arg.span,
            });
        }
    };
    let ty = |i: usize| args.get(i).map(|a| a.ty).unwrap_or(&Type::Unknown);
    let textual = |t: &Type| t.is_textual() || matches!(t, Type::Json);
    let listy = |t: &Type| matches!(t, Type::List(_) | Type::Json | Type::Unknown);
    match b {
        Builtin::Join => {
            want(0, listy(ty(0)), "a list");
            want(1, textual(ty(1)), "text");
        }
        Builtin::Split => {
            want(0, textual(ty(0)), "text");
            want(1, textual(ty(1)), "text");
        }
        Builtin::Lines | Builtin::Trim | Builtin::Lower | Builtin::Upper => {
            want(0, textual(ty(0)), "text");
        }
        Builtin::Len => want(0, textual(ty(0)) || listy(ty(0)), "text or a list"),
        Builtin::Contains => match ty(0) {
            Type::List(elem) => {
                let ok = comparable(elem, ty(1));
                want(1, ok, "a value like the list's elements");
            }
            t => {
                want(0, textual(t) || listy(t), "text or a list");
                want(1, textual(ty(1)), "text");
            }
        },
        // Whether the argument is a vote is a question of names, answered
        // where names are resolved (`lower`).
        Builtin::Agreement => {}
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn union(c: &[&str]) -> Type {
        Type::Union(c.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn unify_rules() {
        assert_eq!(unify(&Type::Int, &Type::Number), Some(Type::Number));
        assert_eq!(unify(&Type::Text, &union(&["a"])), Some(Type::Text));
        assert_eq!(
            unify(&union(&["a", "b"]), &union(&["b", "a"])),
            Some(union(&["a", "b"]))
        );
        assert_eq!(unify(&union(&["a"]), &union(&["b"])), Some(Type::Text));
        assert_eq!(unify(&Type::Bool, &Type::Text), None);
        assert_eq!(unify(&Type::Unknown, &Type::Bool), Some(Type::Bool));
        assert_eq!(
            unify(&Type::list(Type::Int), &Type::list(Type::Number)),
            Some(Type::list(Type::Number))
        );
    }

    #[test]
    fn builtin_arity_and_types() {
        let mut errors = Vec::new();
        let text = Type::Text;
        let int = Type::Int;
        let arg = |ty| Arg {
            ty,
            span: Span::new(0, 1),
        };
        let t = builtin(Builtin::Join, &[arg(&text)], Span::new(0, 5), &mut errors);
        assert_eq!(t, Type::Text);
        assert!(matches!(errors.as_slice(), [CheckError::Arity { .. }]));
        errors.clear();
        builtin(Builtin::Trim, &[arg(&int)], Span::new(0, 5), &mut errors);
        assert!(matches!(
            errors.as_slice(),
            [CheckError::TypeMismatch { .. }]
        ));
        errors.clear();
        let list = Type::list(Type::Text);
        builtin(
            Builtin::Contains,
            &[arg(&list), arg(&text)],
            Span::new(0, 5),
            &mut errors,
        );
        assert!(errors.is_empty());
    }
}
