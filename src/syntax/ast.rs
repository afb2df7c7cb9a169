//! The abstract syntax tree of a `.flow` file.
//!
//! This is the only shape of a program that later stages see: the parser turns
//! pest pairs into these types and nothing of pest leaks out. Every node carries
//! the byte span it came from so diagnostics can point at it.

use super::Span;

/// A whole `.flow` file: its statements in source order (order has no meaning
/// to the semantics, but diagnostics are sorted by position).
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Model(ModelDecl),
    Input(InputDecl),
    Binding(Binding),
    /// `section < ... >` as a statement: binds every named member in the program.
    Section(Section),
    Output(OutputDecl),
    /// `type NAME = TYPE`: a name for a type, usable wherever one is written.
    Type(TypeDecl),
    /// `fn NAME(PARAMS) = BODY`: expanded at every call.
    Function(FnDecl),
    /// `import "PATH" as NAME`.
    Import(ImportDecl),
    /// `test "name" < ... >`: checked with the program, run by `flow test` only.
    Test(TestDecl),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Model(m) => m.span,
            Item::Input(i) => i.span,
            Item::Binding(b) => b.span,
            Item::Section(s) => s.span,
            Item::Output(o) => o.span,
            Item::Type(t) => t.span,
            Item::Function(f) => f.span,
            Item::Import(i) => i.span,
            Item::Test(t) => t.span,
        }
    }
}

/// `model NAME = PROVIDER(ARGS...)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDecl {
    pub name: Ident,
    pub provider: Ident,
    /// Positional arguments; for `openai`/`anthropic` the first is the model id.
    pub args: Vec<Literal>,
    /// `name: value` options, in written order.
    pub options: Vec<ModelOption>,
    /// Other models named as arguments: `fallback(primary, backup)`.
    pub refs: Vec<Ident>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelOption {
    pub name: Ident,
    pub value: Literal,
    pub span: Span,
}

/// A constant in a model declaration: option values are not expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    pub kind: LiteralKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LiteralKind {
    /// A string without interpolation (an interpolation in an option is a syntax error).
    Str(String),
    Int(i64),
    Number(f64),
    Bool(bool),
    Duration(Duration),
    List(Vec<Literal>),
    /// `{"key": value, ...}` in written order; keys are strings.
    Map(Vec<(Literal, Literal)>),
}

/// A duration literal, kept in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duration {
    pub millis: u64,
}

/// `input NAME: TYPE [= DEFAULT]`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `NAME = EXPR`.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `output NAME [= EXPR]`. Without a value it outputs the binding `NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputDecl {
    pub name: Ident,
    pub value: Option<Expr>,
    pub span: Span,
}

/// `fn NAME(PARAM: TYPE, ...) = BODY`.
#[derive(Debug, Clone, PartialEq)]
pub struct FnDecl {
    pub name: Ident,
    pub params: Vec<Param>,
    pub body: FnBody,
    pub span: Span,
}

/// `NAME: TYPE` in a function's parameter list.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FnBody {
    /// `= EXPR`.
    Expr(Expr),
    /// `= < a = EXPR ... RESULT >`: named members are local bindings, the
    /// unnamed one is the value (the checker reports none or several).
    Block {
        members: Vec<Member>,
        /// The `<` that opens the block.
        open: Span,
        /// The `>` that closes it.
        close: Span,
    },
}

/// `import "./path.flow" as NAME`.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportDecl {
    /// The path as written (decoded), relative to the importing file.
    pub path: String,
    /// Where the path's string is written.
    pub path_span: Span,
    /// The namespace the file's names are reached through.
    pub alias: Ident,
    /// Set once the file has been read and parsed: names missing from a
    /// file that could not be are not reported again, one by one.
    pub loaded: bool,
    pub span: Span,
}

/// `test "NAME" < LINE ... >`: the program run with these inputs and models,
/// and what its outputs must then be.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDecl {
    /// The test's name, decoded, and where its string is written.
    pub name: (String, Span),
    /// The lines in written order.
    pub lines: Vec<TestLine>,
    /// The `<` that opens the block.
    pub open: Span,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestLine {
    /// `NAME = VALUE`: an input's value (a constant, as in a model declaration).
    Input {
        name: Ident,
        value: Literal,
        span: Span,
    },
    /// `model NAME = PROVIDER(...)`: a declared model replaced for this test.
    Model(ModelDecl),
    /// `expect ...`.
    Expect(Expect),
}

impl TestLine {
    pub fn span(&self) -> Span {
        match self {
            TestLine::Input { span, .. } => *span,
            TestLine::Model(m) => m.span,
            TestLine::Expect(e) => e.span,
        }
    }
}

/// `expect BOOL` or `expect HAYSTACK contains NEEDLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub value: Expr,
    /// The needle of `contains`.
    pub contains: Option<Expr>,
    pub span: Span,
}

/// `type NAME = TYPE`.
#[derive(Debug, Clone, PartialEq)]
pub struct TypeDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    Text,
    Bool,
    Int,
    Number,
    Json,
    /// `chat`: a conversation.
    Chat,
    List(Box<TypeExpr>),
    /// `"a" | "b" | "c"`: each choice with its span.
    Union(Vec<(String, Span)>),
    /// `{name: T, note?: T}`: the fields in written order.
    Record(Vec<FieldDecl>),
    /// A type name that is not one of the above: a `type` declaration's, or
    /// unknown (the checker resolves it, with a suggestion when unknown).
    Named(Ident),
}

/// `name: T` or `name?: T` in a record type.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    /// The `?` of an optional field.
    pub optional: Option<Span>,
    pub ty: TypeExpr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A string literal, possibly with `{name}` interpolations.
    Str(Template),
    Int(i64),
    Number(f64),
    Bool(bool),
    /// `[a, b, c]`.
    List(Vec<Expr>),
    Name(Ident),
    /// `expr.field`.
    Field(Box<Expr>, Ident),
    /// `f(args)`: builtins only; the checker resolves the name.
    Call(Ident, Vec<Expr>),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        else_: Box<Expr>,
    },
    Ask(Box<Ask>),
    Section(Box<Section>),
    /// `for VAR in LIST < BODY >`: a parallel map.
    For {
        var: Ident,
        list: Box<Expr>,
        body: Box<Expr>,
        /// The `<` that opens the body, for "not closed" diagnostics.
        open: Span,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
        }
    }
}

/// A string literal split into literal text and interpolations. Escapes are
/// already resolved and triple-quoted strings already dedented.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
    pub span: Span,
    /// A line of a triple-quoted string whose indentation mixes tabs and
    /// spaces differently from the others, so that the indentation could not
    /// all be removed; the checker warns about it.
    pub mixed_indent: Option<Span>,
}

impl Template {
    /// The text if the template has no interpolation.
    pub fn as_plain(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                TemplatePart::Lit(t) => s.push_str(t),
                TemplatePart::Interp(_) => return None,
            }
        }
        Some(s)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Lit(String),
    Interp(Interp),
}

/// `{name}` or `{name.field.field}`; spans point inside the string.
#[derive(Debug, Clone, PartialEq)]
pub struct Interp {
    pub name: Ident,
    pub fields: Vec<Ident>,
    /// The whole `{...}` including braces.
    pub span: Span,
}

/// `ask MODEL STRING [system STRING] MODIFIERS`.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub model: Ident,
    pub prompt: Template,
    pub system: Option<Template>,
    pub modifiers: Modifiers,
    /// The `ask` keyword, for labels that should not cover a long prompt.
    pub keyword: Span,
}

/// Modifiers after an `ask` or a section. Each appears at most once; the parser
/// reports a repeated one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Modifiers {
    pub as_type: Option<TypeExpr>,
    pub repeat: Option<Count>,
    pub vote: Option<Vote>,
    pub timeout: Option<(Duration, Span)>,
    pub retry: Option<Count>,
    /// `with NAME`: the conversation before the prompt (a `chat` value).
    /// Boxed: rare, and every section and `ask` carries modifiers.
    pub history: Option<Box<Ident>>,
}

impl Modifiers {
    pub fn is_empty(&self) -> bool {
        self.as_type.is_none()
            && self.repeat.is_none()
            && self.vote.is_none()
            && self.timeout.is_none()
            && self.retry.is_none()
            && self.history.is_none()
    }
}

/// A non-negative integer written in the source, with its span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    pub value: u64,
    pub span: Span,
}

/// `vote [N] by STRATEGY`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    /// `None` when `N` is omitted (allowed on sections: one sample per member).
    pub count: Option<Count>,
    pub strategy: StrategyExpr,
    /// `up to` and `until P`, when either is written (boxed: rare, and
    /// every section and `ask` carries a `Vote`'s room).
    pub adaptive: Option<Box<Adaptive>>,
    /// From `vote` to the end of the strategy (or of `until P`).
    pub span: Span,
}

/// The adaptive parts of `vote up to N by S until P`.
#[derive(Debug, Clone, PartialEq)]
pub struct Adaptive {
    /// `up to`: `N` is a cap, not a count.
    pub up_to: Option<Span>,
    /// `until P`: the confidence the vote stops at, and where.
    pub until: Option<(f64, Span)>,
}

/// A strategy as written; the checker resolves the name (`majority`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyExpr {
    pub name: Ident,
    pub arg: Option<StrategyArg>,
    /// `criteria "..."`: what a judge is to prefer (boxed: rare, and
    /// every modifier list would carry its size).
    pub criteria: Option<Box<Criteria>>,
    pub span: Span,
}

/// `criteria "..."` after a strategy.
#[derive(Debug, Clone, PartialEq)]
pub struct Criteria {
    /// The string, decoded.
    pub text: String,
    /// Where the string is written.
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrategyArg {
    /// `at_least 4`
    Count(Count),
    /// `judge MODEL`
    Model(Ident),
}

/// `section < MEMBER ... > [MODIFIERS]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub members: Vec<Member>,
    /// Only `vote` is meaningful on a section; the checker reports the others.
    pub modifiers: Modifiers,
    /// The `<` that opens the section.
    pub open: Span,
    /// The `>` that closes it.
    pub close: Span,
    /// From `section` to the end of the modifiers.
    pub span: Span,
}

/// `NAME = EXPR`, or a bare `EXPR` (only meaningful in a voting section).
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}
