//! pest pairs → AST.
//!
//! The grammar guarantees the shape of every pair, so a pair that is not what
//! a function expects is a bug in flow, reported as `flow::internal`
//! (the `presume` idea from just). User mistakes found while building (bad
//! escapes, a modifier given twice, a comparison in a block, number overflow)
//! are collected and building continues, so one run reports all of them.

use pest::Parser;
use pest::iterators::{Pair, Pairs};

use super::Span;
use super::ast::*;
use super::diagnose;
use super::error::SyntaxError;
use super::scan;
use super::strings;
use crate::internal::InternalError;

pub(crate) use flow_grammar::{FlowParser, Rule};

/// Words that cannot be names. Must match `keyword` in the grammar.
pub const KEYWORDS: &[&str] = &[
    "model", "input", "output", "section", "ask", "system", "as", "vote", "by", "repeat", "for",
    "in", "if", "then", "else", "and", "or", "not", "true", "false", "timeout", "retry", "fn",
    "import", "until",
];

type R<T> = Result<T, SyntaxError>;

/// The block name of a `test`, where comparisons are allowed.
const TEST_BLOCK: &str = "test";

/// What one pass of the parser over a whole text gives.
pub enum Whole {
    /// The grammar (or the pre-scan) rejected it.
    Rejected(Rejection),
    /// The tree, and the mistakes found while building it (bad escapes, a
    /// modifier given twice, ...), each inside the statement it concerns.
    Built(Program, Vec<SyntaxError>),
    /// Building met a shape the grammar rules out: a bug in flow.
    Broken(Vec<SyntaxError>),
}

/// Parses and builds `source` in one go: the fast path, and all there is
/// for a file without syntax errors.
pub fn parse_whole(source: &str) -> Whole {
    let mut pairs = match grammar(source) {
        Ok(pairs) => pairs,
        Err(rejected) => return Whole::Rejected(rejected.rejection()),
    };
    let mut builder = Builder {
        src: source,
        errors: Vec::new(),
        blocks: Vec::new(),
    };
    let program = match pairs.next() {
        Some(p) => builder.program(p),
        None => Err(bug("no program pair", Span::point(0))),
    };
    match program {
        Ok(p) => Whole::Built(p, builder.errors),
        Err(e) => {
            builder.errors.push(e);
            Whole::Broken(builder.errors)
        }
    }
}

/// Why the grammar rejected a text: the pre-scan's error, or pest's.
enum Rejected {
    Scan(SyntaxError),
    Pest(Box<pest::error::Error<Rule>>),
}

/// Where a text was rejected, and by what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// An offset inside the statement at fault, or at the start of the one
    /// after it when it ran off its end.
    pub at: usize,
    /// The pre-scan rejected it (an unterminated string, too deep a
    /// nesting), which, unlike pest, says nothing of the statements before.
    pub by_scan: bool,
}

impl Rejected {
    fn rejection(&self) -> Rejection {
        match self {
            Rejected::Scan(e) => Rejection {
                at: e.span().start,
                by_scan: true,
            },
            Rejected::Pest(e) => Rejection {
                at: match e.location {
                    pest::error::InputLocation::Pos(p) => p,
                    pest::error::InputLocation::Span((s, _)) => s,
                },
                by_scan: false,
            },
        }
    }
}

fn grammar(text: &str) -> Result<Pairs<'_, Rule>, Rejected> {
    scan::prescan(text).map_err(Rejected::Scan)?;
    FlowParser::parse(Rule::program, text).map_err(|e| Rejected::Pest(Box::new(e)))
}

/// Where the grammar rejects `text`, if it does, without building a tree.
pub fn rejects(text: &str) -> Option<Rejection> {
    grammar(text).err().map(|r| r.rejection())
}

/// Whether the grammar accepts `text`, one statement or a run of them cut
/// from the start of `rest` (the source from that statement on), without
/// building a tree. Offsets in the error count from the start of `text`;
/// the error is worded with `rest`, so running off the end of `text` names
/// the token that follows it, as a parse of the whole file would.
pub fn accepts(text: &str, rest: &str) -> Result<(), SyntaxError> {
    match grammar(text) {
        Ok(_) => Ok(()),
        Err(Rejected::Scan(e)) => Err(e),
        Err(Rejected::Pest(e)) => Err(diagnose::from_pest(rest, *e)),
    }
}

fn bug(message: impl Into<String>, span: Span) -> SyntaxError {
    SyntaxError::Internal {
        error: InternalError::new(message),
        span,
    }
}

/// The pair's span without trailing white space and comments.
fn span_of(p: &Pair<'_, Rule>) -> Span {
    let s = p.as_span();
    let span = Span::new(s.start(), s.end());
    Span::new(span.start, scan::content_end(s.get_input(), span))
}

/// The children of a pair, consumed in grammar order.
struct Kids<'i> {
    inner: Pairs<'i, Rule>,
    /// The parent's span, for errors about a missing child.
    span: Span,
}

impl<'i> Kids<'i> {
    fn of(p: Pair<'i, Rule>) -> Self {
        // The raw pest span is enough for "missing child" bugs and avoids
        // rescanning the pair's text for every node.
        let span = Span::new(p.as_span().start(), p.as_span().end());
        Kids {
            inner: p.into_inner(),
            span,
        }
    }

    fn next(&mut self) -> R<Pair<'i, Rule>> {
        self.inner
            .next()
            .ok_or_else(|| bug("a pair is missing a child", self.span))
    }

    /// The next child, which the grammar guarantees is `rule`. A mismatch is
    /// a bug in flow, reported as `flow::internal` (never a panic);
    /// named after just's `presume_*`, as opposed to a user-facing `expect`.
    fn presume(&mut self, rule: Rule) -> R<Pair<'i, Rule>> {
        let p = self.next()?;
        if p.as_rule() == rule {
            Ok(p)
        } else {
            Err(bug(
                format!("expected {rule:?}, got {:?}", p.as_rule()),
                span_of(&p),
            ))
        }
    }

    /// The next child if it is `rule`.
    fn accept(&mut self, rule: Rule) -> Option<Pair<'i, Rule>> {
        if self.inner.peek().is_some_and(|p| p.as_rule() == rule) {
            self.inner.next()
        } else {
            None
        }
    }

    fn peek_rule(&self) -> Option<Rule> {
        self.inner.peek().map(|p| p.as_rule())
    }
}

struct Builder<'s> {
    src: &'s str,
    errors: Vec<SyntaxError>,
    /// The blocks (`section`, `for` body) being built, innermost last, to name
    /// the block in a misplaced-comparison error.
    blocks: Vec<&'static str>,
}

impl Builder<'_> {
    fn program(&mut self, p: Pair<'_, Rule>) -> R<Program> {
        let pairs = p.into_inner();
        // Sized once: a statement is ~400 bytes, and growing the list of a
        // 10,000-binding file copied 13 MB on the way to its 6.
        let mut items = Vec::with_capacity(pairs.len());
        for item in pairs {
            let item = match item.as_rule() {
                Rule::model_decl => Item::Model(self.model_decl(item)?),
                Rule::input_decl => Item::Input(self.input_decl(item)?),
                Rule::output_decl => Item::Output(self.output_decl(item)?),
                Rule::section => Item::Section(self.section(item)?),
                Rule::binding => Item::Binding(self.binding(item)?),
                Rule::type_decl => Item::Type(self.type_decl(item)?),
                Rule::fn_decl => Item::Function(self.fn_decl(item)?),
                Rule::import_decl => Item::Import(self.import_decl(item)?),
                Rule::test_decl => Item::Test(self.test_decl(item)?),
                Rule::EOI => continue,
                other => return Err(bug(format!("unexpected item {other:?}"), span_of(&item))),
            };
            items.push(item);
        }
        Ok(Program { items })
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: span_of(&p),
        }
    }

    fn model_decl(&mut self, p: Pair<'_, Rule>) -> R<ModelDecl> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_model)?;
        // A test's `model` line may name an imported model (`ns.model`).
        let name = self.ident(k.next()?);
        k.presume(Rule::assign)?;
        let provider = self.ident(k.presume(Rule::ident)?);
        k.presume(Rule::lparen)?;
        let mut args = Vec::new();
        let mut options = Vec::new();
        let mut refs = Vec::new();
        for arg in k.presume(Rule::model_args)?.into_inner() {
            match arg.as_rule() {
                Rule::comma => {}
                Rule::model_ref => refs.push(self.ident(Kids::of(arg).next()?)),
                Rule::literal => args.push(self.literal(arg)?),
                Rule::model_option => {
                    let span = span_of(&arg);
                    let mut o = Kids::of(arg);
                    let name = self.ident(o.presume(Rule::field_name)?);
                    o.presume(Rule::colon)?;
                    let value = self.literal(o.presume(Rule::literal)?)?;
                    options.push(ModelOption { name, value, span });
                }
                other => return Err(bug(format!("unexpected model arg {other:?}"), span)),
            }
        }
        k.presume(Rule::rparen)?;
        Ok(ModelDecl {
            name,
            provider,
            args,
            options,
            refs,
            span,
        })
    }

    fn test_decl(&mut self, p: Pair<'_, Rule>) -> R<TestDecl> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_test)?;
        let name = k.presume(Rule::string)?;
        let name = (self.constant_string(name.clone()), span_of(&name));
        let open = span_of(&k.presume(Rule::open_angle)?);
        let mut lines = Vec::new();
        self.blocks.push(TEST_BLOCK);
        let result = (|| {
            while let Some(rule) = k.peek_rule() {
                let line = match rule {
                    Rule::test_model => TestLine::Model(self.model_decl(k.next()?)?),
                    Rule::expect_line => TestLine::Expect(self.expect_line(k.next()?)?),
                    Rule::test_input => {
                        let line = k.next()?;
                        let span = span_of(&line);
                        let mut l = Kids::of(line);
                        let name = self.ident(l.presume(Rule::ident)?);
                        l.presume(Rule::assign)?;
                        let value = self.literal(l.presume(Rule::literal)?)?;
                        TestLine::Input { name, value, span }
                    }
                    _ => break,
                };
                lines.push(line);
            }
            Ok(())
        })();
        self.blocks.pop();
        result?;
        k.presume(Rule::close_angle)?;
        Ok(TestDecl {
            name,
            lines,
            open,
            span,
        })
    }

    fn expect_line(&mut self, p: Pair<'_, Rule>) -> R<Expect> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_expect)?;
        let value = self.expr(k.next()?)?;
        let contains = match k.accept(Rule::kw_contains) {
            Some(_) => Some(self.expr(k.next()?)?),
            None => None,
        };
        Ok(Expect {
            value,
            contains,
            span,
        })
    }

    fn literal(&mut self, p: Pair<'_, Rule>) -> R<Literal> {
        let span = span_of(&p);
        let inner = Kids::of(p).next()?;
        let kind = match inner.as_rule() {
            Rule::string => LiteralKind::Str(self.constant_string(inner)),
            Rule::duration => LiteralKind::Duration(self.duration(&inner)),
            Rule::number => LiteralKind::Number(self.number(&inner)),
            Rule::int => LiteralKind::Int(self.int(&inner)),
            Rule::kw_true => LiteralKind::Bool(true),
            Rule::kw_false => LiteralKind::Bool(false),
            Rule::lit_list => {
                let mut items = Vec::new();
                for item in inner.into_inner() {
                    if item.as_rule() == Rule::literal {
                        items.push(self.literal(item)?);
                    }
                }
                LiteralKind::List(items)
            }
            Rule::lit_map => {
                let mut entries = Vec::new();
                for entry in inner.into_inner() {
                    if entry.as_rule() != Rule::map_entry {
                        continue;
                    }
                    let mut e = Kids::of(entry);
                    let key = e.presume(Rule::string)?;
                    let key = Literal {
                        span: span_of(&key),
                        kind: LiteralKind::Str(self.constant_string(key)),
                    };
                    e.presume(Rule::colon)?;
                    let value = self.literal(e.presume(Rule::literal)?)?;
                    entries.push((key, value));
                }
                LiteralKind::Map(entries)
            }
            other => return Err(bug(format!("unexpected literal {other:?}"), span)),
        };
        Ok(Literal { kind, span })
    }

    fn template(&mut self, p: &Pair<'_, Rule>) -> Template {
        strings::decode(p.as_str(), p.as_span().start(), &mut self.errors)
    }

    /// A string where interpolation is not allowed (model options, type choices).
    fn constant_string(&mut self, p: Pair<'_, Rule>) -> String {
        self.constant(p, false)
    }

    /// A judge's criteria: a constant, since the judge is asked once the
    /// votes are in and nothing else is.
    fn criteria_string(&mut self, p: Pair<'_, Rule>) -> String {
        self.constant(p, true)
    }

    fn constant(&mut self, p: Pair<'_, Rule>, criteria: bool) -> String {
        let t = self.template(&p);
        let mut s = String::new();
        for part in t.parts {
            match part {
                TemplatePart::Lit(l) => s.push_str(&l),
                TemplatePart::Interp(i) => {
                    let text = self.src.get(i.span.start..i.span.end).unwrap_or("{...}");
                    self.errors.push(SyntaxError::InterpolationInModel {
                        text: text.to_string(),
                        span: i.span,
                        criteria,
                    });
                }
            }
        }
        s
    }

    fn int(&mut self, p: &Pair<'_, Rule>) -> i64 {
        match p.as_str().parse::<i64>() {
            Ok(v) => v,
            Err(_) => {
                self.too_large(p);
                0
            }
        }
    }

    fn count(&mut self, p: Pair<'_, Rule>) -> Count {
        let value = match p.as_str().parse::<u64>() {
            Ok(v) => v,
            Err(_) => {
                self.too_large(&p);
                0
            }
        };
        Count {
            value,
            span: span_of(&p),
        }
    }

    fn number(&mut self, p: &Pair<'_, Rule>) -> f64 {
        match p.as_str().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.too_large(p);
                0.0
            }
        }
    }

    fn duration(&mut self, p: &Pair<'_, Rule>) -> Duration {
        let text = p.as_str();
        let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &text[digits.len()..];
        let scale: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            _ => 3_600_000,
        };
        match digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
        {
            Some(millis) => Duration { millis },
            None => {
                self.too_large(p);
                Duration { millis: 0 }
            }
        }
    }

    fn too_large(&mut self, p: &Pair<'_, Rule>) {
        self.errors.push(SyntaxError::NumberTooLarge {
            text: p.as_str().to_string(),
            span: span_of(p),
        });
    }

    fn input_decl(&mut self, p: Pair<'_, Rule>) -> R<InputDecl> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_input)?;
        let name = self.ident(k.presume(Rule::ident)?);
        k.presume(Rule::colon)?;
        let ty = self.type_expr(k.presume(Rule::type_expr)?)?;
        let default = match k.accept(Rule::assign) {
            Some(_) => Some(self.expr(k.next()?)?),
            None => None,
        };
        Ok(InputDecl {
            name,
            ty,
            default,
            span,
        })
    }

    fn output_decl(&mut self, p: Pair<'_, Rule>) -> R<OutputDecl> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_output)?;
        let name = self.ident(k.presume(Rule::ident)?);
        let value = match k.accept(Rule::assign) {
            Some(_) => Some(self.expr(k.next()?)?),
            None => None,
        };
        Ok(OutputDecl { name, value, span })
    }

    fn binding(&mut self, p: Pair<'_, Rule>) -> R<Binding> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        let name = self.ident(k.presume(Rule::ident)?);
        k.presume(Rule::assign)?;
        let value = self.expr(k.next()?)?;
        Ok(Binding { name, value, span })
    }

    fn type_decl(&mut self, p: Pair<'_, Rule>) -> R<TypeDecl> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_type)?;
        let name = self.ident(k.presume(Rule::ident)?);
        k.presume(Rule::assign)?;
        let ty = self.type_expr(k.presume(Rule::type_expr)?)?;
        Ok(TypeDecl { name, ty, span })
    }

    fn fn_decl(&mut self, p: Pair<'_, Rule>) -> R<FnDecl> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_fn)?;
        let name = self.ident(k.presume(Rule::ident)?);
        k.presume(Rule::lparen)?;
        let mut params = Vec::new();
        while let Some(rule) = k.peek_rule() {
            match rule {
                Rule::comma => {
                    k.next()?;
                }
                Rule::param => {
                    let param = k.next()?;
                    let span = span_of(&param);
                    let mut pk = Kids::of(param);
                    let name = self.ident(pk.presume(Rule::ident)?);
                    pk.presume(Rule::colon)?;
                    let ty = self.type_expr(pk.presume(Rule::type_expr)?)?;
                    params.push(Param { name, ty, span });
                }
                _ => break,
            }
        }
        k.presume(Rule::rparen)?;
        k.presume(Rule::assign)?;
        let body = k.next()?;
        let body = match body.as_rule() {
            Rule::fn_block => {
                let mut b = Kids::of(body);
                let open = span_of(&b.presume(Rule::open_angle)?);
                let mut members = Vec::new();
                self.blocks.push("function block");
                let result = (|| {
                    while let Some(rule) = b.peek_rule() {
                        match rule {
                            Rule::comma => {
                                b.next()?;
                            }
                            Rule::member => members.push(self.member(b.next()?)?),
                            _ => break,
                        }
                    }
                    Ok(())
                })();
                self.blocks.pop();
                result?;
                let close = span_of(&b.presume(Rule::close_angle)?);
                FnBody::Block {
                    members,
                    open,
                    close,
                }
            }
            _ => FnBody::Expr(self.expr(body)?),
        };
        Ok(FnDecl {
            name,
            params,
            body,
            span,
        })
    }

    fn import_decl(&mut self, p: Pair<'_, Rule>) -> R<ImportDecl> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_import)?;
        let path = k.presume(Rule::string)?;
        let path_span = span_of(&path);
        let path = self.constant_string(path);
        k.presume(Rule::kw_as)?;
        let alias = self.ident(k.presume(Rule::ident)?);
        Ok(ImportDecl {
            path,
            path_span,
            alias,
            loaded: false,
            span,
        })
    }

    /// A name that may be qualified by an import's namespace (`ns.name`).
    fn name_ref(&self, k: &mut Kids<'_>) -> R<Ident> {
        match k.accept(Rule::qual_name) {
            Some(q) => Ok(self.ident(q)),
            None => Ok(self.ident(k.presume(Rule::ident)?)),
        }
    }

    fn record_type(&mut self, p: Pair<'_, Rule>) -> R<TypeKind> {
        let mut fields = Vec::new();
        for f in p.into_inner() {
            if f.as_rule() != Rule::record_field {
                continue;
            }
            let span = span_of(&f);
            let mut k = Kids::of(f);
            let name = self.ident(k.presume(Rule::field_name)?);
            let optional = k.accept(Rule::question).map(|q| span_of(&q));
            k.presume(Rule::colon)?;
            let ty = self.type_expr(k.presume(Rule::type_expr)?)?;
            fields.push(FieldDecl {
                name,
                optional,
                ty,
                span,
            });
        }
        Ok(TypeKind::Record(fields))
    }

    fn type_expr(&mut self, p: Pair<'_, Rule>) -> R<TypeExpr> {
        let span = span_of(&p);
        let inner = Kids::of(p).next()?;
        let kind = match inner.as_rule() {
            Rule::list_type => {
                let mut k = Kids::of(inner);
                k.presume(Rule::kw_list)?;
                k.presume(Rule::open_angle)?;
                let elem = self.type_expr(k.presume(Rule::type_expr)?)?;
                k.presume(Rule::close_angle)?;
                TypeKind::List(Box::new(elem))
            }
            Rule::record_type => self.record_type(inner)?,
            Rule::union_type => {
                let mut choices = Vec::new();
                for s in inner.into_inner() {
                    if s.as_rule() == Rule::string {
                        let sp = span_of(&s);
                        choices.push((self.constant_string(s), sp));
                    }
                }
                TypeKind::Union(choices)
            }
            Rule::type_name => {
                let ident = self.name_ref(&mut Kids::of(inner))?;
                match ident.name.as_str() {
                    "text" => TypeKind::Text,
                    "bool" => TypeKind::Bool,
                    "int" => TypeKind::Int,
                    "number" => TypeKind::Number,
                    "json" => TypeKind::Json,
                    "chat" => TypeKind::Chat,
                    "list" => {
                        self.errors.push(SyntaxError::ExpectedType {
                            found: "`list` alone".into(),
                            span: ident.span,
                            bare_list: true,
                        });
                        TypeKind::Named(ident)
                    }
                    _ => TypeKind::Named(ident),
                }
            }
            other => return Err(bug(format!("unexpected type {other:?}"), span)),
        };
        Ok(TypeExpr { kind, span })
    }

    /// Any expression layer, block or not: they build the same AST.
    ///
    /// Each form is built in its own small function: this one recurses once
    /// per level of user nesting, and a frame holding every form's locals
    /// would multiply the stack needed for deep (but legal) nesting.
    fn expr(&mut self, p: Pair<'_, Rule>) -> R<Expr> {
        let p = skip_trivial_layers(p);
        match p.as_rule() {
            Rule::if_expr | Rule::bif_expr => self.if_expr(p),
            Rule::or_expr | Rule::bor_expr | Rule::and_expr | Rule::band_expr => self.logic(p),
            Rule::not_expr | Rule::bnot_expr => self.not_expr(p),
            Rule::cmp_expr | Rule::bcmp_expr => self.comparison(p),
            Rule::postfix => self.postfix(p),
            other => Err(bug(format!("unexpected expression {other:?}"), span_of(&p))),
        }
    }

    fn if_expr(&mut self, p: Pair<'_, Rule>) -> R<Expr> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_if)?;
        let cond = self.expr(k.next()?)?;
        k.presume(Rule::kw_then)?;
        let then = self.expr(k.next()?)?;
        k.presume(Rule::kw_else)?;
        let else_ = self.expr(k.next()?)?;
        Ok(Expr {
            kind: ExprKind::If {
                cond: Box::new(cond),
                then: Box::new(then),
                else_: Box::new(else_),
            },
            span,
        })
    }

    /// `a or b or c`, `a and b`: left-associative.
    fn logic(&mut self, p: Pair<'_, Rule>) -> R<Expr> {
        let mut k = Kids::of(p);
        let mut acc = self.expr(k.next()?)?;
        while let Some(op) = k.inner.next() {
            let op = match op.as_rule() {
                Rule::op_or => BinaryOp::Or,
                Rule::op_and => BinaryOp::And,
                other => return Err(bug(format!("unexpected op {other:?}"), span_of(&op))),
            };
            let rhs = self.expr(k.next()?)?;
            acc = binary(op, acc, rhs);
        }
        Ok(acc)
    }

    fn not_expr(&mut self, p: Pair<'_, Rule>) -> R<Expr> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        if k.accept(Rule::op_not).is_none() {
            return self.expr(k.next()?);
        }
        let operand = self.expr(k.next()?)?;
        Ok(Expr {
            kind: ExprKind::Unary(UnaryOp::Not, Box::new(operand)),
            span,
        })
    }

    fn comparison(&mut self, p: Pair<'_, Rule>) -> R<Expr> {
        let mut k = Kids::of(p);
        let mut acc = self.postfix(k.presume(Rule::postfix)?)?;
        while let Some(op) = k.inner.next() {
            if op.as_rule() == Rule::misplaced_cmp {
                let mut m = Kids::of(op);
                let op = cmp_op(m.next()?)?;
                let rhs = self.postfix(m.presume(Rule::postfix)?)?;
                self.misplaced(&acc, &rhs);
                acc = binary(op, acc, rhs);
            } else {
                let op = cmp_op(op)?;
                let rhs = self.postfix(k.presume(Rule::postfix)?)?;
                acc = binary(op, acc, rhs);
            }
        }
        Ok(acc)
    }

    fn misplaced(&mut self, lhs: &Expr, rhs: &Expr) {
        // An expectation compares freely: its line ends before the `>`.
        if self.blocks.last() == Some(&TEST_BLOCK) {
            return;
        }
        let whole = lhs.span.to(rhs.span);
        let suggestion = self
            .src
            .get(whole.start..whole.end)
            .filter(|s| s.len() <= 40 && !s.contains('\n'))
            .map(str::to_string);
        self.errors.push(SyntaxError::ComparisonInBlock {
            block: self.blocks.last().copied().unwrap_or("section"),
            span: whole,
            suggestion,
        });
    }

    fn postfix(&mut self, p: Pair<'_, Rule>) -> R<Expr> {
        let start = p.as_span().start();
        let mut k = Kids::of(p);
        let mut acc = self.primary(k.next()?)?;
        while let Some(field) = k.accept(Rule::field) {
            let mut f = Kids::of(field);
            f.presume(Rule::dot)?;
            let name = self.ident(f.presume(Rule::field_name)?);
            let span = Span::new(start, name.span.end);
            acc = Expr {
                kind: ExprKind::Field(Box::new(acc), name),
                span,
            };
        }
        Ok(acc)
    }

    fn primary(&mut self, p: Pair<'_, Rule>) -> R<Expr> {
        let span = span_of(&p);
        let kind = match p.as_rule() {
            Rule::string => ExprKind::Str(self.template(&p)),
            Rule::int => ExprKind::Int(self.int(&p)),
            Rule::number => ExprKind::Number(self.number(&p)),
            Rule::duration => {
                self.errors.push(SyntaxError::MisplacedDuration {
                    text: p.as_str().to_string(),
                    span,
                });
                ExprKind::Int(0)
            }
            Rule::kw_true => ExprKind::Bool(true),
            Rule::kw_false => ExprKind::Bool(false),
            Rule::list => ExprKind::List(self.expr_list(p)?),
            Rule::call => {
                let mut k = Kids::of(p);
                let name = match k.accept(Rule::qual_call) {
                    Some(q) => self.ident(q),
                    None => self.ident(k.presume(Rule::ident)?),
                };
                match k.accept(Rule::lparen) {
                    Some(_) => ExprKind::Call(name, self.expr_list_of(k.inner)?),
                    None => ExprKind::Name(name),
                }
            }
            Rule::paren => {
                let mut k = Kids::of(p);
                k.presume(Rule::lparen)?;
                return self.expr(k.presume(Rule::expr)?);
            }
            Rule::ask => ExprKind::Ask(Box::new(self.ask(p)?)),
            Rule::section => ExprKind::Section(Box::new(self.section(p)?)),
            Rule::for_expr => self.for_expr(p)?,
            other => return Err(bug(format!("unexpected primary {other:?}"), span)),
        };
        Ok(Expr { kind, span })
    }

    fn expr_list(&mut self, p: Pair<'_, Rule>) -> R<Vec<Expr>> {
        self.expr_list_of(p.into_inner())
    }

    /// The `expr` children among punctuation.
    fn expr_list_of(&mut self, pairs: Pairs<'_, Rule>) -> R<Vec<Expr>> {
        let mut items = Vec::new();
        for item in pairs {
            if item.as_rule() == Rule::expr {
                items.push(self.expr(item)?);
            }
        }
        Ok(items)
    }

    fn for_expr(&mut self, p: Pair<'_, Rule>) -> R<ExprKind> {
        let mut k = Kids::of(p);
        k.presume(Rule::kw_for)?;
        let var = self.ident(k.presume(Rule::ident)?);
        k.presume(Rule::kw_in)?;
        let list = self.postfix(k.presume(Rule::postfix)?)?;
        let open = span_of(&k.presume(Rule::open_angle)?);
        self.blocks.push("`for` body");
        let body = self.expr(k.presume(Rule::bexpr)?);
        self.blocks.pop();
        k.presume(Rule::close_angle)?;
        Ok(ExprKind::For {
            var,
            list: Box::new(list),
            body: Box::new(body?),
            open,
        })
    }

    fn ask(&mut self, p: Pair<'_, Rule>) -> R<Ask> {
        let mut k = Kids::of(p);
        let keyword = span_of(&k.presume(Rule::kw_ask)?);
        let model = self.name_ref(&mut k)?;
        let prompt = self.template(&k.presume(Rule::string)?);
        let system = match k.accept(Rule::system) {
            Some(s) => {
                let mut s = Kids::of(s);
                s.presume(Rule::kw_system)?;
                Some(self.template(&s.presume(Rule::string)?))
            }
            None => None,
        };
        let modifiers = self.modifiers(k.presume(Rule::modifiers)?)?;
        Ok(Ask {
            model,
            prompt,
            system,
            modifiers,
            keyword,
        })
    }

    fn section(&mut self, p: Pair<'_, Rule>) -> R<Section> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        k.presume(Rule::kw_section)?;
        let open = span_of(&k.presume(Rule::open_angle)?);
        let mut members = Vec::new();
        self.blocks.push("section");
        let result = (|| {
            while let Some(rule) = k.peek_rule() {
                match rule {
                    Rule::comma => {
                        k.next()?;
                    }
                    Rule::member => members.push(self.member(k.next()?)?),
                    _ => break,
                }
            }
            Ok(())
        })();
        self.blocks.pop();
        result?;
        let close = span_of(&k.presume(Rule::close_angle)?);
        let modifiers = self.modifiers(k.presume(Rule::modifiers)?)?;
        Ok(Section {
            members,
            modifiers,
            open,
            close,
            span,
        })
    }

    fn member(&mut self, p: Pair<'_, Rule>) -> R<Member> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        let name = match k.accept(Rule::ident) {
            Some(id) => {
                k.presume(Rule::assign)?;
                Some(self.ident(id))
            }
            None => None,
        };
        let value = self.expr(k.presume(Rule::bexpr)?)?;
        Ok(Member { name, value, span })
    }

    fn modifiers(&mut self, p: Pair<'_, Rule>) -> R<Modifiers> {
        let mut m = Modifiers::default();
        // Where each modifier was first given, for the duplicate error.
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        for modifier in p.into_inner() {
            let span = span_of(&modifier);
            let rule = modifier.as_rule();
            let mut k = Kids::of(modifier);
            let keyword = k.next()?;
            let name = match rule {
                Rule::mod_as => "as",
                Rule::mod_repeat => "repeat",
                Rule::mod_vote => "vote",
                Rule::mod_timeout => "timeout",
                Rule::mod_retry => "retry",
                Rule::mod_with => "with",
                other => return Err(bug(format!("unexpected modifier {other:?}"), span)),
            };
            if let Some(&(_, first)) = seen.iter().find(|(n, _)| *n == name) {
                self.errors.push(SyntaxError::DuplicateModifier {
                    modifier: name,
                    first,
                    second: span,
                });
                continue;
            }
            seen.push((name, span));
            let _ = keyword;
            match rule {
                Rule::mod_as => m.as_type = Some(self.type_expr(k.presume(Rule::type_expr)?)?),
                Rule::mod_repeat => m.repeat = Some(self.count(k.presume(Rule::count)?)),
                Rule::mod_retry => m.retry = Some(self.count(k.presume(Rule::count)?)),
                Rule::mod_with => m.history = Some(Box::new(self.ident(k.presume(Rule::ident)?))),
                Rule::mod_timeout => {
                    let d = k.presume(Rule::duration)?;
                    m.timeout = Some((self.duration(&d), span_of(&d)));
                }
                _ => {
                    let mut up_to = None;
                    let count = match k.accept(Rule::vote_cap) {
                        Some(cap) => {
                            let cap_span = span_of(&cap);
                            let mut c = Kids::of(cap);
                            c.presume(Rule::kw_up)?;
                            let to = c.presume(Rule::kw_to)?;
                            up_to = Some(cap_span.to(span_of(&to)));
                            Some(self.count(c.presume(Rule::count)?))
                        }
                        None => k.accept(Rule::count).map(|c| self.count(c)),
                    };
                    k.presume(Rule::kw_by)?;
                    let strategy = self.strategy(k.presume(Rule::strategy)?)?;
                    let until = match k.accept(Rule::vote_until) {
                        Some(u) => {
                            let mut c = Kids::of(u);
                            c.presume(Rule::kw_until)?;
                            let p = c.next()?;
                            let value = match p.as_rule() {
                                Rule::count => self.count(p.clone()).value as f64,
                                _ => self.number(&p),
                            };
                            Some((value, span_of(&p)))
                        }
                        None => None,
                    };
                    m.vote = Some(Vote {
                        count,
                        strategy,
                        adaptive: (up_to.is_some() || until.is_some())
                            .then(|| Box::new(Adaptive { up_to, until })),
                        span,
                    });
                }
            }
        }
        Ok(m)
    }

    fn strategy(&mut self, p: Pair<'_, Rule>) -> R<StrategyExpr> {
        let span = span_of(&p);
        let mut k = Kids::of(p);
        let name = self.ident(k.presume(Rule::ident)?);
        let arg = match k.accept(Rule::strategy_arg) {
            Some(a) => {
                let inner = Kids::of(a).next()?;
                Some(match inner.as_rule() {
                    Rule::count => StrategyArg::Count(self.count(inner)),
                    _ => StrategyArg::Model(self.ident(inner)),
                })
            }
            None => None,
        };
        let criteria = match k.accept(Rule::criteria) {
            Some(c) => {
                let mut c = Kids::of(c);
                c.presume(Rule::kw_criteria)?;
                let text = c.presume(Rule::string)?;
                let span = span_of(&text);
                Some(Box::new(Criteria {
                    text: self.criteria_string(text),
                    span,
                }))
            }
            None => None,
        };
        Ok(StrategyExpr {
            name,
            arg,
            criteria,
            span,
        })
    }
}

/// Walks down the precedence layers that hold a single operand (and through
/// parentheses) without recursing: most expressions are a name or a literal
/// wrapped in every layer, and recursion per layer would cost stack for each
/// level of nesting the user writes.
fn skip_trivial_layers(mut p: Pair<'_, Rule>) -> Pair<'_, Rule> {
    loop {
        let mut inner = p.clone().into_inner();
        let (Some(first), second) = (inner.next(), inner.next()) else {
            return p;
        };
        p = match (p.as_rule(), first.as_rule(), second) {
            (Rule::expr | Rule::bexpr, _, None) => first,
            (
                Rule::or_expr
                | Rule::bor_expr
                | Rule::and_expr
                | Rule::band_expr
                | Rule::cmp_expr
                | Rule::bcmp_expr,
                _,
                None,
            ) => first,
            (Rule::not_expr | Rule::bnot_expr, r, None) if r != Rule::op_not => first,
            // `(inner)` with no field access: the inner expression.
            (Rule::postfix, Rule::paren, None) => match first.into_inner().nth(1) {
                Some(e) => e,
                None => return p,
            },
            _ => return p,
        };
    }
}

fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let span = lhs.span.to(rhs.span);
    Expr {
        kind: ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)),
        span,
    }
}

fn cmp_op(p: Pair<'_, Rule>) -> R<BinaryOp> {
    Ok(match p.as_rule() {
        Rule::op_eq => BinaryOp::Eq,
        Rule::op_ne => BinaryOp::Ne,
        Rule::op_lt => BinaryOp::Lt,
        Rule::op_le => BinaryOp::Le,
        Rule::op_gt | Rule::op_gt_operand => BinaryOp::Gt,
        Rule::op_ge => BinaryOp::Ge,
        other => return Err(bug(format!("unexpected comparison {other:?}"), span_of(&p))),
    })
}
