//! Inlay hints: each `ask`'s worst-case calls after it, and each section's
//! parallel width after its `<`, so the cost of a line is visible while it
//! is written; and code lenses, the same counts a line above each statement
//! that makes calls ("7 calls worst case") and each section ("section: 3 in
//! parallel · 3 calls worst case"), for editors that show lenses rather than
//! hints.
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

/// One code lens: the start of what it is above, and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lens {
    pub offset: usize,
    pub title: String,
}

pub fn hints(program: &Program, text: &str) -> Vec<Hint> {
    let mut w = Walker::new(text);
    for item in &program.items {
        w.item(item);
    }
    w.hints.sort_by_key(|h| h.offset);
    w.hints
}

/// A lens above each statement that makes calls, with the sum of its
/// hints (both branches of an `if` counted, as hover counts them), and
/// above each section, with its width; one walk, like the hints.
pub fn lenses(program: &Program, text: &str) -> Vec<Lens> {
    let mut w = Walker::new(text);
    let mut lenses = Vec::new();
    for item in &program.items {
        let before = (w.calls.len(), w.sections.len());
        w.item(item);
        let calls = &w.calls[before.0..];
        // A section's own lens says what a statement that is just the
        // section would.
        let just_a_section = match item {
            Item::Section(_) => true,
            Item::Binding(b) => matches!(b.value.kind, ExprKind::Section(_)),
            _ => false,
        };
        if !calls.is_empty() && !just_a_section {
            lenses.push(Lens {
                offset: item.span().start,
                title: format!("{} worst case", total(calls)),
            });
        }
        lenses.extend(w.sections.drain(before.1..));
    }
    lenses.sort_by_key(|l| l.offset);
    lenses
}

/// Calls written as the hints write them, summed: the fixed counts added,
/// the run-time ones (`len(xs)`) kept as terms.
fn total(calls: &[Calls]) -> String {
    let fixed: u64 = calls
        .iter()
        .filter(|c| c.per.is_empty())
        .fold(0, |a, c| a.saturating_add(c.fixed));
    let mut terms: Vec<String> = Vec::new();
    if fixed > 0 {
        terms.push(fixed.to_string());
    }
    terms.extend(
        calls
            .iter()
            .filter(|c| !c.per.is_empty())
            .map(Calls::product),
    );
    if terms.is_empty() {
        terms.push("0".into());
    }
    let noun = if terms.len() == 1 && fixed == 1 {
        "call"
    } else {
        "calls"
    };
    format!("{} {noun}", terms.join(" + "))
}

/// Calls made by one call site (or a judge): `fixed` times each run-time
/// list length in `per`.
#[derive(Debug, Clone)]
struct Calls {
    fixed: u64,
    per: Vec<String>,
}

impl Calls {
    fn product(&self) -> String {
        if self.per.is_empty() {
            self.fixed.to_string()
        } else if self.fixed == 1 {
            self.per.join(" × ")
        } else {
            format!("{} × {}", self.fixed, self.per.join(" × "))
        }
    }

    fn label(&self) -> String {
        let noun = if self.fixed == 1 && self.per.is_empty() {
            "call"
        } else {
            "calls"
        };
        format!("{} {noun}", self.product())
    }
}

impl<'t> Walker<'t> {
    fn new(text: &'t str) -> Walker<'t> {
        Walker {
            text,
            hints: Vec::new(),
            lists: Vec::new(),
            calls: Vec::new(),
            sections: Vec::new(),
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Binding(b) => self.expr(&b.value, None),
            Item::Section(s) => self.section(s),
            Item::Output(o) => {
                if let Some(v) = &o.value {
                    self.expr(v, None);
                }
            }
            Item::Input(i) => {
                if let Some(d) = &i.default {
                    self.expr(d, None);
                }
            }
            Item::Function(f) => match &f.body {
                FnBody::Expr(e) => self.expr(e, None),
                FnBody::Block { members, .. } => {
                    for m in members {
                        self.expr(&m.value, None);
                    }
                }
            },
            Item::Model(_) | Item::Type(_) | Item::Import(_) | Item::Test(_) => {}
        }
    }
}

struct Walker<'t> {
    text: &'t str,
    hints: Vec<Hint>,
    /// Enclosing `for` lists: a written-out length, or the list as written.
    lists: Vec<Result<u64, String>>,
    /// Every call site's calls (and each judge's), in walk order: the
    /// lenses sum a statement's.
    calls: Vec<Calls>,
    /// A lens for each section walked.
    sections: Vec<Lens>,
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
    fn times_lists(&self, n: u64) -> Calls {
        let mut fixed = n;
        let mut per = Vec::new();
        for l in &self.lists {
            match l {
                Ok(len) => fixed = fixed.saturating_mul(*len),
                Err(list) => per.push(format!("len({list})")),
            }
        }
        Calls { fixed, per }
    }

    fn label(&self, n: u64) -> String {
        self.times_lists(n).label()
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
        let calls = self.times_lists(n);
        self.push(span, format!("⟵ {}", calls.label()));
        self.calls.push(calls);
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
            let judge = self.times_lists(1);
            self.calls.push(judge);
        }
        let what = match voting {
            Some(_) => format!("{width} voters"),
            None => format!("{width} in parallel"),
        };
        let label = format!("{what} · {}", self.label(calls));
        self.sections.push(Lens {
            offset: s.span.start,
            title: format!("section: {label} worst case"),
        });
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
    fn lenses_sum_each_statement_and_name_each_section() {
        let text = "model m = mock()\nsection <\n  a = ask m \"x\" vote 5 by majority\n  b = ask m \"y\"\n>\nv = section < ask m \"p\"\n ask m \"q\" > vote 3 by judge m\nf = for x in [1, 2] < ask m \"{x}\" repeat 2 >\ng = if a then ask m \"{b}\" else join(for x in lines(a) < ask m \"{x}\" >, ask m \"1\")\nh = \"{g}\"\noutput one = ask m \"{h}\"\n";
        let p = crate::syntax::parse_partial(text).program.unwrap();
        let got: Vec<(usize, String)> = lenses(&p, text)
            .into_iter()
            .map(|l| (text[..l.offset].matches('\n').count(), l.title))
            .collect();
        assert_eq!(
            got,
            [
                (1, "section: 2 in parallel · 6 calls worst case".into()),
                (5, "section: 2 voters · 7 calls worst case".into()),
                (7, "4 calls worst case".into()),
                (8, "2 + len(lines(a)) calls worst case".into()),
                (10, "1 call worst case".into()),
            ]
        );
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
