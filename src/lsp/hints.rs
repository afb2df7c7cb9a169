//! Inlay hints: each `ask`'s worst-case calls after it, and each section's
//! parallel width after its `<`, so the cost of a line is visible while it
//! is written.
//!
//! Counted from the syntax tree alone, so they show even while other
//! statements have errors: an `ask` makes its `repeat`/`vote` count of
//! calls (one more for a judge), the count of its voting section when it is
//! a voter, times the length of every enclosing `for` list (written out, or
//! `len(list)` when known only at run time).

use crate::syntax::Span;
use crate::syntax::ast::{Ask, Expr, ExprKind, FnBody, Item, Modifiers, Program, Section};

/// One hint: where it goes (a byte offset) and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub offset: usize,
    pub label: String,
}

pub fn hints(program: &Program, text: &str) -> Vec<Hint> {
    let mut w = Walker {
        text,
        hints: Vec::new(),
        lists: Vec::new(),
    };
    for item in &program.items {
        match item {
            Item::Binding(b) => w.expr(&b.value, None),
            Item::Section(s) => w.section(s),
            Item::Output(o) => {
                if let Some(v) = &o.value {
                    w.expr(v, None);
                }
            }
            Item::Input(i) => {
                if let Some(d) = &i.default {
                    w.expr(d, None);
                }
            }
            Item::Function(f) => match &f.body {
                FnBody::Expr(e) => w.expr(e, None),
                FnBody::Block { members, .. } => {
                    for m in members {
                        w.expr(&m.value, None);
                    }
                }
            },
            Item::Model(_) | Item::Type(_) | Item::Import(_) | Item::Test(_) => {}
        }
    }
    w.hints.sort_by_key(|h| h.offset);
    w.hints
}

struct Walker<'t> {
    text: &'t str,
    hints: Vec<Hint>,
    /// Enclosing `for` lists: a written-out length, or the list as written.
    lists: Vec<Result<u64, String>>,
}

/// Calls one evaluation of a call site makes: samples, and a judge.
fn samples(m: &Modifiers) -> u64 {
    let judge = m
        .vote
        .as_ref()
        .is_some_and(|v| v.strategy.name.name == "judge") as u64;
    let n = match (&m.repeat, &m.vote) {
        (Some(r), _) => r.value,
        (None, Some(v)) => v.count.map(|c| c.value).unwrap_or(1),
        (None, None) => 1,
    };
    n.saturating_add(judge)
}

impl Walker<'_> {
    /// `n` calls, times each enclosing list.
    fn label(&self, n: u64) -> String {
        let mut fixed = n;
        let mut per = Vec::new();
        for l in &self.lists {
            match l {
                Ok(len) => fixed = fixed.saturating_mul(*len),
                Err(list) => per.push(format!("len({list})")),
            }
        }
        let noun = if fixed == 1 && per.is_empty() {
            "call"
        } else {
            "calls"
        };
        if per.is_empty() {
            format!("{fixed} {noun}")
        } else if fixed == 1 {
            format!("{} {noun}", per.join(" × "))
        } else {
            format!("{fixed} × {} {noun}", per.join(" × "))
        }
    }

    fn push(&mut self, span: Span, label: String) {
        self.hints.push(Hint {
            offset: span.end,
            label,
        });
    }

    /// `per_voter`: the samples of the voting section this is a voter of.
    fn ask(&mut self, ask: &Ask, span: Span, per_voter: Option<u64>) {
        let mut n = samples(&ask.modifiers);
        if let Some(k) = per_voter {
            n = n.saturating_mul(k);
        }
        let label = self.label(n);
        self.push(span, format!("⟵ {label}"));
    }

    fn section(&mut self, s: &Section) {
        let voting = s.modifiers.vote.as_ref();
        let per_voter = voting.map(|v| v.count.map(|c| c.value).unwrap_or(1));
        let width = s.members.len();
        let mut calls: u64 = 0;
        for m in &s.members {
            calls = calls.saturating_add(asks_in(&m.value, per_voter));
        }
        if voting.is_some_and(|v| v.strategy.name.name == "judge") {
            calls = calls.saturating_add(1);
        }
        let what = match voting {
            Some(_) => format!("{width} voters"),
            None => format!("{width} in parallel"),
        };
        let label = format!("{what} · {}", self.label(calls));
        self.hints.push(Hint {
            offset: s.open.end,
            label,
        });
        for m in &s.members {
            self.expr(&m.value, per_voter);
        }
    }

    fn expr(&mut self, e: &Expr, per_voter: Option<u64>) {
        match &e.kind {
            ExprKind::Ask(ask) => self.ask(ask, e.span, per_voter),
            ExprKind::Section(s) => self.section(s),
            ExprKind::For { list, body, .. } => {
                self.expr(list, None);
                let len = match &list.kind {
                    ExprKind::List(items) => Ok(items.len() as u64),
                    _ => Err(self
                        .text
                        .get(list.span.start..list.span.end)
                        .unwrap_or("list")
                        .to_string()),
                };
                self.lists.push(len);
                self.expr(body, None);
                self.lists.pop();
            }
            ExprKind::List(items) | ExprKind::Call(_, items) => {
                items.iter().for_each(|i| self.expr(i, None));
            }
            ExprKind::Field(inner, _) | ExprKind::Unary(_, inner) => self.expr(inner, None),
            ExprKind::Binary(_, a, b) => {
                self.expr(a, None);
                self.expr(b, None);
            }
            ExprKind::If { cond, then, else_ } => {
                self.expr(cond, None);
                self.expr(then, None);
                self.expr(else_, None);
            }
            ExprKind::Str(_)
            | ExprKind::Int(_)
            | ExprKind::Number(_)
            | ExprKind::Bool(_)
            | ExprKind::Name(_) => {}
        }
    }
}

/// Calls an expression's `ask`s make, not counting nested `for`s (their
/// hint says it) — a section's hint adds its direct members' calls.
fn asks_in(e: &Expr, per_voter: Option<u64>) -> u64 {
    match &e.kind {
        ExprKind::Ask(ask) => samples(&ask.modifiers).saturating_mul(per_voter.unwrap_or(1)),
        ExprKind::If { cond, then, else_ } => {
            asks_in(cond, None).saturating_add(asks_in(then, None).max(asks_in(else_, None)))
        }
        ExprKind::List(items) | ExprKind::Call(_, items) => {
            items.iter().map(|i| asks_in(i, None)).sum()
        }
        ExprKind::Binary(_, a, b) => asks_in(a, None).saturating_add(asks_in(b, None)),
        ExprKind::Field(inner, _) | ExprKind::Unary(_, inner) => asks_in(inner, None),
        ExprKind::Section(s) => s.members.iter().map(|m| asks_in(&m.value, None)).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(text: &str) -> Vec<String> {
        let p = crate::syntax::parse_partial(text).program.unwrap();
        hints(&p, text).into_iter().map(|h| h.label).collect()
    }

    #[test]
    fn asks_and_sections_are_counted() {
        let text = "model m = mock()\nsection <\n  a = ask m \"x\" vote 5 by majority\n  b = ask m \"y\"\n>\nv = section < ask m \"p\"\n ask m \"q\" > vote 3 by judge m\nf = for x in [1, 2] < ask m \"{x}\" repeat 2 >\ng = for x in lines(a) < ask m \"{x}\" >\n";
        assert_eq!(
            labels(text),
            [
                "2 in parallel · 6 calls",
                "⟵ 5 calls",
                "⟵ 1 call",
                "2 voters · 7 calls",
                "⟵ 3 calls",
                "⟵ 3 calls",
                "⟵ 4 calls",
                "⟵ len(lines(a)) calls",
            ]
        );
    }
}
