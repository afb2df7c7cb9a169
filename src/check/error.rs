//! Every mistake the checker can find, one variant per mistake.
//!
//! All user-facing text lives here, so raise sites only say *what* went wrong
//! and the wording stays consistent. Codes are documented in
//! `docs/errors.md`, one heading per code.

use std::fmt;

use miette::{Diagnostic, LabeledSpan};

use crate::syntax::Span;
use crate::types::Type;

/// "did you mean `x`?" when a close name exists; renders as nothing otherwise,
/// so help text can end with `{suggestion}` unconditionally.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Suggestion(pub Option<String>);

impl fmt::Display for Suggestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(name) => write!(f, "; did you mean `{name}`?"),
            None => Ok(()),
        }
    }
}

/// Names joined as `` `a` → `b` → `c` `` for cycle and path messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(pub Vec<String>);

/// A path longer than this is shown as its start, a count and its end.
const PATH_SHOWN: usize = 12;

/// Labels shown on a long cycle; the rest are counted in the message.
const CYCLE_LABELS: usize = 10;

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = &self.0;
        let long = names.len() > PATH_SHOWN;
        for (i, name) in names.iter().enumerate() {
            if long && (PATH_SHOWN - 2..names.len() - 1).contains(&i) {
                if i == PATH_SHOWN - 2 {
                    write!(f, " → … {} more …", names.len() - PATH_SHOWN + 1)?;
                }
                continue;
            }
            if i > 0 {
                f.write_str(" → ")?;
            }
            write!(f, "`{name}`")?;
        }
        Ok(())
    }
}

/// What kind of name a duplicate or unused warning is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Binding,
    Input,
    Model,
    Output,
    Member,
    Type,
    Function,
    // No check reports an unused or duplicate option by this kind yet; it was
    // only kept alive by being public.
    #[allow(dead_code)]
    Option,
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Binding => "binding",
            NameKind::Input => "input",
            NameKind::Model => "model",
            NameKind::Output => "output",
            NameKind::Member => "section member",
            NameKind::Type => "type",
            NameKind::Function => "function",
            NameKind::Option => "option",
        })
    }
}

/// What to do about a type mismatch, by where it is: `as TYPE` is only
/// advice where a reply is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeHelp {
    InputDefault,
    ListElement,
    Condition,
    Comparison,
    Ordering,
    Argument,
    Chat,
}

impl fmt::Display for TypeHelp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TypeHelp::InputDefault => "change the default, or the type after `input NAME:`",
            TypeHelp::ListElement => "a list holds values of one type; change or remove this one",
            TypeHelp::Condition => {
                "use a `bool`: a comparison such as `x == \"yes\"`, or a reply asked for with `as bool`"
            }
            TypeHelp::Comparison => {
                "compare values of one type; a reply can be asked for as another type with `as TYPE`"
            }
            TypeHelp::Ordering => {
                "order numbers only; a reply can be asked for as one with `as int` or `as number`"
            }
            TypeHelp::Argument => {
                "pass a value of the type the builtin takes; for a reply, that is its `as TYPE`"
            }
            TypeHelp::Chat => {
                "a conversation is not text: pass it to an `ask` with `with NAME`, which sends its turns as messages"
            }
        })
    }
}

/// Which count a `count` error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountKind {
    Vote,
    Repeat,
    /// Samples per voter times voters in an ensemble.
    TotalVotes,
    Retry,
}

impl fmt::Display for CountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CountKind::Vote => "`vote`",
            CountKind::Repeat => "`repeat`",
            CountKind::TotalVotes => "the total number of votes",
            CountKind::Retry => "`retry`",
        })
    }
}

/// The largest `vote`/`repeat` count (and total votes of an ensemble) accepted:
/// beyond this a program is almost certainly a typo that would burn money.
pub const MAX_SAMPLES: u64 = 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error, Diagnostic)]
pub enum CheckError {
    // ----- names -------------------------------------------------------
    #[error("`{name}` is not defined")]
    #[diagnostic(
        code(flow::check::undefined_name),
        help(
            "define it with `{name} = ...`, `input {name}: TYPE` or as a section member{suggestion}"
        )
    )]
    UndefinedName {
        name: String,
        #[label("not a binding, input or `for` variable in scope")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("`{name}` is a model, not a value")]
    #[diagnostic(
        code(flow::check::model_as_value),
        help(
            "models are only used by `ask {name} \"...\"` and `judge {name}`; to use a model's answer, bind it: `x = ask {name} \"...\"`"
        )
    )]
    ModelAsValue {
        name: String,
        #[label("a model")]
        span: Span,
    },

    #[error("`{name}` is a {kind}, not a model")]
    #[diagnostic(
        code(flow::check::value_as_model),
        help(
            "`ask` and `judge` take a model declared with `model NAME = openai(\"MODEL-ID\")` (or `anthropic(...)`, `mock(...)`){suggestion}"
        )
    )]
    ValueAsModel {
        name: String,
        kind: NameKind,
        #[label("used as a model")]
        span: Span,
        #[label("a {kind}, declared here")]
        declared: Span,
        suggestion: Suggestion,
    },

    #[error("there is no model named `{name}`")]
    #[diagnostic(
        code(flow::check::undefined_model),
        help(
            "declare it with `model {name} = openai(\"MODEL-ID\")` (or `anthropic(...)`, `mock(...)`){suggestion}"
        )
    )]
    UndefinedModel {
        name: String,
        #[label("not a declared model")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("`output {name}` names no binding")]
    #[diagnostic(
        code(flow::check::undefined_output),
        help(
            "`output {name}` outputs the binding `{name}`; define it, or give the output a value: `output {name} = EXPR`{suggestion}"
        )
    )]
    UndefinedOutput {
        name: String,
        #[label("no binding named `{name}`")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("there is no builtin function `{name}`")]
    #[diagnostic(
        code(flow::check::unknown_builtin),
        help(
            "the builtins are `join`, `split`, `lines`, `len`, `trim`, `lower`, `upper`, `contains` and `agreement`{suggestion}"
        )
    )]
    UnknownBuiltin {
        name: String,
        #[label("unknown function")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("there is no voting strategy `{name}`")]
    #[diagnostic(
        code(flow::check::unknown_strategy),
        help(
            "the strategies are `majority`, `unanimous`, `at_least K`, `mean`, `median` and `judge MODEL`{suggestion}"
        )
    )]
    UnknownStrategy {
        name: String,
        #[label("unknown strategy")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("there is no provider `{name}`")]
    #[diagnostic(
        code(flow::check::unknown_provider),
        help("the providers are `openai`, `anthropic` and `mock`{suggestion}")
    )]
    UnknownProvider {
        name: String,
        #[label("unknown provider")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("`{provider}` has no option `{name}`")]
    #[diagnostic(code(flow::check::unknown_option), help("{hint}{suggestion}"))]
    UnknownOption {
        name: String,
        provider: String,
        #[label("unknown option")]
        span: Span,
        hint: OptionHelp,
        suggestion: Suggestion,
    },

    #[error("there is no type `{name}`")]
    #[diagnostic(
        code(flow::check::unknown_type),
        help(
            "the types are `text`, `bool`, `int`, `number`, `json`, `list<T>`, `chat`, unions of strings like `\"yes\" | \"no\"`, records like `{{reason: text}}` and the names given with `type NAME = ...`{suggestion}"
        )
    )]
    UnknownType {
        name: String,
        #[label("unknown type")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("`{record}` has no {what} `{name}`")]
    #[diagnostic(
        code(flow::check::unknown_field),
        help("the {what}s of `{record}` are {members}{suggestion}")
    )]
    UnknownField {
        name: String,
        record: String,
        /// `member` for a section record, `field` for a record type.
        what: &'static str,
        members: String,
        #[label("not a {what} of {whose}")]
        span: Span,
        /// `the section` or `` `{T}` `` (the record type).
        whose: String,
        suggestion: Suggestion,
    },

    // ----- type declarations -----------------------------------------------
    #[error("type `{name}` is declared twice")]
    #[diagnostic(
        code(flow::check::duplicate_type),
        help("type names must be unique; rename one of them")
    )]
    DuplicateType {
        name: String,
        #[label("first declared here")]
        first: Span,
        #[label(primary, "declared again here")]
        second: Span,
    },

    #[error("`{name}` is a built-in type and cannot be declared again")]
    #[diagnostic(
        code(flow::check::builtin_type_name),
        help(
            "`text`, `bool`, `int`, `number`, `json` and `list` are built in; give the type another name"
        )
    )]
    BuiltinTypeName {
        name: String,
        #[label("a built-in type")]
        span: Span,
    },

    #[error("type `{name}` contains itself: {path}")]
    #[diagnostic(
        code(flow::check::recursive_type),
        help(
            "a reply's type must be finite, since it describes one JSON value; replace the inner use with `json` or with a list of a smaller record"
        )
    )]
    RecursiveType {
        name: String,
        path: Path,
        #[label("`{name}` is used inside its own definition")]
        span: Span,
    },

    #[error("type `{name}` is too large: {size} types in all, nested {depth} deep")]
    #[diagnostic(
        code(flow::check::type_too_large),
        help(
            "a declared type may hold at most 10000 types in all and nest at most 32 deep; a model cannot reliably fill a reply that large, so split it into several asks"
        )
    )]
    TypeTooLarge {
        name: String,
        size: usize,
        depth: usize,
        #[label("too large")]
        span: Span,
    },

    #[error("field `{name}` appears twice in the record")]
    #[diagnostic(
        code(flow::check::duplicate_field),
        help("a record's field names must be unique; rename or remove one")
    )]
    DuplicateField {
        name: String,
        #[label("first here")]
        first: Span,
        #[label(primary, "again here")]
        second: Span,
    },

    #[error("optional field `{name}` is `{ty}`, which has no empty value")]
    #[diagnostic(
        code(flow::check::optional_field),
        help(
            "a field left out of a reply reads as its type's empty value: `\"\"` for text, `[]` for a list, `null` for json; `{ty}` has none, so make `{name}` required (drop the `?`) or give it one of those types"
        )
    )]
    OptionalField {
        name: String,
        ty: Type,
        #[label("optional, but `{ty}` has no empty value")]
        span: Span,
    },

    // ----- duplicates ----------------------------------------------------
    #[error("`{name}` is defined twice")]
    #[diagnostic(
        code(flow::check::duplicate_binding),
        help(
            "inputs, bindings, section members and `output NAME = ...` share one namespace; rename one of them"
        )
    )]
    DuplicateBinding {
        name: String,
        first_kind: NameKind,
        second_kind: NameKind,
        #[label("first defined here ({first_kind})")]
        first: Span,
        #[label(primary, "defined again here ({second_kind})")]
        second: Span,
    },

    #[error("model `{name}` is declared twice")]
    #[diagnostic(code(flow::check::duplicate_model), help("rename one of the models"))]
    DuplicateModel {
        name: String,
        #[label("first declared here")]
        first: Span,
        #[label(primary, "declared again here")]
        second: Span,
    },

    #[error("output `{name}` is declared twice")]
    #[diagnostic(
        code(flow::check::duplicate_output),
        help("output names must be unique; rename one of the outputs")
    )]
    DuplicateOutput {
        name: String,
        #[label("first declared here")]
        first: Span,
        #[label(primary, "declared again here")]
        second: Span,
    },

    #[error("option `{name}` is given twice")]
    #[diagnostic(code(flow::check::duplicate_option), help("remove one of them"))]
    DuplicateOption {
        name: String,
        #[label("first given here")]
        first: Span,
        #[label(primary, "given again here")]
        second: Span,
    },

    // ----- graph shape ---------------------------------------------------
    #[error("{path} form a cycle")]
    #[diagnostic(
        code(flow::check::cycle),
        help(
            "a flow program is a DAG: every value must be computable from inputs without depending on itself; break the cycle by removing one of these references"
        )
    )]
    Cycle {
        path: Path,
        #[label(collection)]
        labels: Vec<LabeledSpan>,
    },

    #[error("section members `{dependent}` and `{dependency}` are not independent: {path}")]
    #[diagnostic(
        code(flow::check::section_dependency),
        help(
            "members of one section run at the same time, so none may use another's result; move `{dependent}` out of the section (it will still run as soon as `{dependency}` is ready)"
        )
    )]
    SectionDependency {
        dependent: String,
        dependency: String,
        path: Path,
        #[label(primary, "`{dependent}` depends on `{dependency}`")]
        dependent_span: Span,
        #[label("`{dependency}` is a member of the same section")]
        dependency_span: Span,
    },

    #[error("the program has no output")]
    #[diagnostic(
        code(flow::check::no_output),
        help("add `output NAME` for a binding, or `output NAME = EXPR`")
    )]
    NoOutput {
        #[label("the program ends here without an `output`")]
        span: Span,
    },

    // ----- sections ------------------------------------------------------
    #[error("a voting section must be bound to a name")]
    #[diagnostic(
        code(flow::check::section_vote_statement),
        help(
            "a section statement binds its members' names; a voting section has one value, so bind it: `NAME = section < ... > vote ...`"
        )
    )]
    SectionVoteStatement {
        #[label("this vote has nowhere to go")]
        span: Span,
    },

    #[error("`{modifier}` cannot follow a section")]
    #[diagnostic(
        code(flow::check::section_modifier),
        help(
            "a section takes `vote`, `timeout` and `retry` only; put `{modifier}` on the `ask`s inside it"
        )
    )]
    SectionModifier {
        modifier: &'static str,
        #[label("not allowed on a section")]
        span: Span,
    },

    #[error("a section member needs a name")]
    #[diagnostic(
        code(flow::check::unnamed_member),
        help(
            "write `NAME = ...`; unnamed members are only allowed in a voting section (`section < ... > vote N by STRATEGY`)"
        )
    )]
    UnnamedMember {
        #[label("unnamed member")]
        span: Span,
    },

    #[error("every member of a voting section must be a plain `ask`")]
    #[diagnostic(code(flow::check::ensemble_member), help("{reason}"))]
    EnsembleMember {
        reason: EnsembleReason,
        #[label("not a single `ask`")]
        span: Span,
    },

    // ----- functions and imports -----------------------------------------
    #[error("function `{name}` is declared twice")]
    #[diagnostic(
        code(flow::check::duplicate_function),
        help("rename one of the functions")
    )]
    DuplicateFunction {
        name: String,
        #[label("first declared here")]
        first: Span,
        #[label(primary, "declared again here")]
        second: Span,
    },

    #[error("`{name}` is a builtin function")]
    #[diagnostic(
        code(flow::check::builtin_function),
        help("a function may not take a builtin's name; rename it")
    )]
    BuiltinFunction {
        name: String,
        #[label("the builtin `{name}` has this name")]
        span: Span,
    },

    #[error("namespace `{name}` is imported twice")]
    #[diagnostic(
        code(flow::check::duplicate_import),
        help("give each import its own name after `as`")
    )]
    DuplicateImport {
        name: String,
        #[label("first imported here")]
        first: Span,
        #[label(primary, "imported again here")]
        second: Span,
    },

    #[error("{path} call each other: a function may not call itself")]
    #[diagnostic(
        code(flow::check::recursion),
        help(
            "every call is expanded into the graph before the program runs, so a chain of calls must end; write the repeated step out, or use `for` over a list"
        )
    )]
    Recursion {
        path: Path,
        #[label(collection)]
        labels: Vec<LabeledSpan>,
    },

    #[error("`{function}` takes {expected}, but {found} given")]
    #[diagnostic(code(flow::check::arity), help("call it as `{signature}`"))]
    FnArity {
        function: String,
        expected: Count_,
        found: ArgCount,
        signature: String,
        #[label(primary, "wrong number of arguments")]
        span: Span,
        #[label("declared here")]
        declared: Span,
    },

    #[error("argument `{param}` of `{function}` must be `{expected}`, found `{found}`")]
    #[diagnostic(
        code(flow::check::argument_type),
        help("pass a `{expected}` value, or change the parameter's type")
    )]
    ArgumentType {
        function: String,
        param: String,
        expected: Type,
        found: Type,
        #[label(primary, "this is `{found}`")]
        span: Span,
        #[label("`{param}` is declared `{expected}` here")]
        declared: Span,
    },

    #[error(
        "function `{function}` cannot use {kind} `{name}`: a function sees only its parameters"
    )]
    #[diagnostic(
        code(flow::check::outside_function),
        help("add a parameter (`{name}: TYPE`) and pass `{name}` at each call")
    )]
    OutsideFunction {
        function: String,
        name: String,
        kind: NameKind,
        #[label(primary, "not a parameter of `{function}`")]
        span: Span,
        #[label("`{name}` is declared here")]
        declared: Span,
    },

    #[error("the block of function `{function}` has {found} values; it needs exactly one")]
    #[diagnostic(
        code(flow::check::block_value),
        help(
            "in `fn NAME(...) = < a = EXPR ... RESULT >` the named members are local bindings and the one unnamed member is the function's value"
        )
    )]
    BlockValue {
        function: String,
        found: usize,
        #[label("this block")]
        span: Span,
    },

    #[error("`{namespace}` has no function, model or type `{name}`")]
    #[diagnostic(
        code(flow::check::unknown_import_name),
        help("`{namespace}` is `{file}`; check the name there{suggestion}")
    )]
    UnknownImportName {
        namespace: String,
        name: String,
        file: String,
        #[label("not in `{namespace}`")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("there is no namespace `{namespace}`")]
    #[diagnostic(
        code(flow::check::unknown_namespace),
        help("a namespace is named by `import \"./FILE.flow\" as NAME`{suggestion}")
    )]
    UnknownNamespace {
        namespace: String,
        #[label("no import is called `{namespace}`")]
        span: Span,
        suggestion: Suggestion,
    },

    #[error("expanding the calls of this program makes more than {limit} {what}")]
    #[diagnostic(
        code(flow::check::expansion_too_large),
        help(
            "each call is a copy of its function's body, so calls nested in calls multiply; call a function once and reuse its value, or use `for` over a list"
        )
    )]
    ExpansionTooLarge {
        limit: usize,
        what: &'static str,
        #[label("expansion stopped at this call")]
        span: Span,
    },

    /// A mistake inside a function's body, found while expanding the call
    /// `called_from` names (innermost call first).
    #[error("{inner}")]
    #[diagnostic(forward(inner))]
    InCall {
        inner: Box<CheckError>,
        #[related]
        called_from: Vec<CalledFrom>,
    },

    #[error("a section must be the whole value of a binding")]
    #[diagnostic(
        code(flow::check::section_position),
        help("bind the section to a name (`NAME = section < ... >`) and use `NAME` here")
    )]
    SectionPosition {
        #[label("section used inside an expression")]
        span: Span,
    },

    #[error("an input's default must be a constant")]
    #[diagnostic(
        code(flow::check::input_default),
        help(
            "defaults are computed before anything runs, so they cannot use names, `ask`, `for` or sections; write a literal value"
        )
    )]
    InputDefault {
        #[label("not a constant")]
        span: Span,
    },

    // ----- models --------------------------------------------------------
    #[error("`{provider}` needs a model id as its first argument")]
    #[diagnostic(
        code(flow::check::model_id),
        help("write the provider's model name as a string, e.g. `{provider}(\"{example}\")`")
    )]
    ModelId {
        provider: String,
        example: &'static str,
        #[label("expected a model id string here")]
        span: Span,
    },

    #[error("`{provider}` takes {expected}")]
    #[diagnostic(
        code(flow::check::model_args),
        help("pass everything else as `name: value` options")
    )]
    ModelArgs {
        provider: String,
        expected: &'static str,
        #[label("unexpected argument")]
        span: Span,
    },

    #[error("option `{name}` must be {expected}")]
    #[diagnostic(
        code(flow::check::option_type),
        help("for example `{name}: {example}`")
    )]
    OptionType {
        name: String,
        expected: &'static str,
        example: &'static str,
        #[label("not {expected}")]
        span: Span,
    },

    #[error("`structured` has no mode `{value}`")]
    #[diagnostic(
        code(flow::check::unknown_structured),
        help("the modes are \"schema\", \"json\", \"prompt\" and \"off\"{suggestion}")
    )]
    UnknownStructured {
        value: String,
        #[label("unknown mode")]
        span: Span,
        suggestion: Suggestion,
    },

    // ----- types ---------------------------------------------------------
    #[error("{context} must be {expected}, but it is `{found}`")]
    #[diagnostic(code(flow::check::type_mismatch), help("{help}"))]
    TypeMismatch {
        context: String,
        expected: String,
        found: Type,
        help: TypeHelp,
        #[label("this is `{found}`")]
        span: Span,
    },

    #[error("{value:?} is not one of the choices of `{ty}`")]
    #[diagnostic(
        code(flow::check::union_choice),
        help(
            "a value of this type is always one of its choices, so this comparison is always {always}; compare with one of the choices{suggestion}"
        )
    )]
    UnionChoice {
        value: String,
        ty: Type,
        always: &'static str,
        suggestion: Suggestion,
        #[label("not a choice")]
        span: Span,
        #[label("this is `{ty}`")]
        union_span: Span,
    },

    #[error("the condition of `if` must be `bool`, but it is `{found}`")]
    #[diagnostic(
        code(flow::check::condition_type),
        help("compare it (`x == \"yes\"`) or ask for a bool (`ask m \"...\" as bool`)")
    )]
    ConditionType {
        found: Type,
        #[label("this is `{found}`")]
        span: Span,
    },

    #[error("the branches of `if` have different types: `{then_ty}` and `{else_ty}`")]
    #[diagnostic(
        code(flow::check::branch_mismatch),
        help(
            "both branches must give the same type (text and string unions mix as text, int and number as number)"
        )
    )]
    BranchMismatch {
        then_ty: Type,
        else_ty: Type,
        #[label("`then` gives `{then_ty}`")]
        then_span: Span,
        #[label("`else` gives `{else_ty}`")]
        else_span: Span,
    },

    #[error("the members of a voting section give different types: `{first_ty}` and `{other_ty}`")]
    #[diagnostic(
        code(flow::check::voter_mismatch),
        help("votes are pooled, so every voter must answer with the same `as TYPE`")
    )]
    VoterMismatch {
        first_ty: Type,
        other_ty: Type,
        #[label("this voter gives `{first_ty}`")]
        first: Span,
        #[label(primary, "this voter gives `{other_ty}`")]
        other: Span,
    },

    #[error("`.{field}` is used on a value of type `{found}`")]
    #[diagnostic(
        code(flow::check::field_access),
        help(
            "fields exist on `json` values and on section records (`NAME = section < ... >`); ask for json with `as json`"
        )
    )]
    FieldAccess {
        field: String,
        found: Type,
        #[label("`{found}` has no fields")]
        span: Span,
    },

    #[error("`{name}` takes {expected}, but {found} given")]
    #[diagnostic(code(flow::check::arity), help("call it as `{signature}`"))]
    Arity {
        name: &'static str,
        expected: &'static str,
        found: ArgCount,
        signature: &'static str,
        #[label("wrong number of arguments")]
        span: Span,
    },

    #[error("`for` needs a list, but this is `{found}`")]
    #[diagnostic(
        code(flow::check::for_non_list),
        help(
            "iterate over a `list<T>` (`as list<text>` on an `ask`, `lines(x)`, `split(x, \",\")`) or a json array"
        )
    )]
    ForNonList {
        found: Type,
        #[label("this is `{found}`")]
        span: Span,
    },

    #[error("a section record cannot be interpolated into a string")]
    #[diagnostic(
        code(flow::check::interpolate_record),
        help("interpolate its members one by one, e.g. `{{{name}.MEMBER}}`")
    )]
    InterpolateRecord {
        name: String,
        #[label("`{name}` is a section record")]
        span: Span,
    },

    // ----- conversations -------------------------------------------------
    #[error("a conversation is not text: `{name}` cannot be interpolated")]
    #[diagnostic(
        code(flow::check::chat_as_text),
        help(
            "pass it to an `ask` with `with {name}`, which sends its turns as messages before the prompt"
        )
    )]
    ChatAsText {
        name: String,
        #[label("`{name}` is a chat")]
        span: Span,
    },

    #[error("`with` takes a conversation, but `{name}` is {found}")]
    #[diagnostic(
        code(flow::check::with_not_chat),
        help("declare the conversation as `input {name}: chat`, or pass one that is")
    )]
    WithNotChat {
        name: String,
        found: Type,
        #[label("not a chat")]
        span: Span,
    },

    #[error("a reply cannot be parsed into a conversation")]
    #[diagnostic(
        code(flow::check::as_chat),
        help("ask for text (the default) and pass the conversation with `with NAME`")
    )]
    AsChat {
        #[label("`chat` is for inputs")]
        span: Span,
    },

    // ----- votes ---------------------------------------------------------
    #[error("{kind} must be between {min} and {max}, but it is {value}")]
    #[diagnostic(
        code(flow::check::count),
        help(
            "use a count from {min} to {max}; more samples than that is almost certainly a typo that would cost a lot"
        )
    )]
    Count {
        kind: CountKind,
        value: u64,
        min: u64,
        max: u64,
        #[label("out of range")]
        span: Span,
    },

    #[error("`vote` on an `ask` needs a number of samples")]
    #[diagnostic(
        code(flow::check::vote_count_missing),
        help(
            "write `vote N by STRATEGY`, e.g. `vote 5 by majority`; only a voting section may omit `N` (one vote per member)"
        )
    )]
    VoteCountMissing {
        #[label("how many samples?")]
        span: Span,
    },

    #[error("`repeat` and `vote` cannot be used together")]
    #[diagnostic(
        code(flow::check::repeat_and_vote),
        help(
            "`repeat N` keeps all N samples as a list; `vote N by S` aggregates N samples into one value; pick one"
        )
    )]
    RepeatAndVote {
        #[label("`repeat` here")]
        repeat: Span,
        #[label(primary, "`vote` here")]
        vote: Span,
    },

    #[error("{problem}")]
    #[diagnostic(
        code(flow::check::strategy_arg),
        help(
            "write `at_least K` with a number and `judge MODEL` with a model (and, if you like, `criteria \"...\"`); the other strategies take nothing"
        )
    )]
    StrategyArg {
        problem: StrategyArgProblem,
        #[label("here")]
        span: Span,
    },

    #[error("`{strategy}` needs {expected} votes, but they are `{found}`")]
    #[diagnostic(code(flow::check::strategy_type), help("{hint}"))]
    StrategyType {
        strategy: &'static str,
        expected: &'static str,
        found: Type,
        hint: &'static str,
        #[label(primary, "`{strategy}` here")]
        span: Span,
        #[label("the votes are `{found}`")]
        votes_span: Span,
    },

    #[error("`at_least {k}` can never be reached with {votes} votes")]
    #[diagnostic(
        code(flow::check::at_least_count),
        help("`K` must be between 1 and the number of votes ({votes})")
    )]
    AtLeastCount {
        k: u64,
        votes: u64,
        #[label("K is out of range")]
        span: Span,
    },

    // ----- warnings ------------------------------------------------------
    #[error("{kind} `{name}` is never used")]
    #[diagnostic(
        code(flow::check::unused),
        severity(Warning),
        help("remove it, use it, or start its name with `_` to keep it quiet")
    )]
    Unused {
        kind: NameKind,
        name: String,
        #[label("unused {kind}")]
        span: Span,
    },

    #[error("this prompt's lines are indented with tabs on some and spaces on others")]
    #[diagnostic(
        code(flow::check::mixed_indent),
        severity(Warning),
        help(
            "only the indentation all lines share is removed, so the prompt keeps the rest; indent every line with spaces only or with tabs only"
        )
    )]
    MixedIndent {
        #[label("indented differently from the lines above")]
        span: Span,
    },

    #[error("`majority` over an even number of votes ({votes}) can tie")]
    #[diagnostic(
        code(flow::check::even_majority),
        severity(Warning),
        help(
            "ties go to the value seen first in sample order; use an odd number of votes to avoid them"
        )
    )]
    EvenMajority {
        votes: u64,
        #[label("{votes} votes")]
        span: Span,
    },

    #[error("voting on model `{model}`, whose temperature is 0")]
    #[diagnostic(
        code(flow::check::deterministic_vote),
        severity(Warning),
        help(
            "at temperature 0 the samples will likely all agree, so the vote costs calls and adds no confidence; raise the model's `temperature`"
        )
    )]
    DeterministicVote {
        model: String,
        #[label("every sample of this call is likely identical")]
        span: Span,
        #[label("temperature 0 here")]
        temperature: Span,
    },

    // ----- tests ---------------------------------------------------------
    #[error("test {name:?} is declared twice")]
    #[diagnostic(
        code(flow::check::duplicate_test),
        help("give each test its own name: `flow test --filter` and the results name tests by it")
    )]
    DuplicateTest {
        name: String,
        #[label("first declared here")]
        first: Span,
        #[label("declared again here")]
        second: Span,
    },

    #[error("test {test:?} gives a value to `{name}`, which is not an input")]
    #[diagnostic(code(flow::check::test_unknown_input), help("{help}{suggestion}"))]
    TestUnknownInput {
        test: String,
        name: String,
        #[label("no input named `{name}`")]
        span: Span,
        /// The inputs there are.
        help: String,
        suggestion: Suggestion,
    },

    #[error("test {test:?} gives input `{name}` a value not of its type: {reason}")]
    #[diagnostic(code(flow::check::test_input_value), help("{help}"))]
    TestInputValue {
        test: String,
        name: String,
        reason: String,
        help: String,
        #[label("not a value of the input's type")]
        span: Span,
    },

    #[error("test {test:?} gives no value to input `{name}` of type {ty}")]
    #[diagnostic(
        code(flow::check::test_missing_input),
        help("add `{name} = VALUE` to the test, or give the input a default in the program")
    )]
    TestMissingInput {
        test: String,
        name: String,
        ty: Type,
        #[label("this test")]
        span: Span,
    },

    #[error("test {test:?} replaces model `{name}`, which the program does not declare")]
    #[diagnostic(code(flow::check::test_unknown_model), help("{help}{suggestion}"))]
    TestUnknownModel {
        test: String,
        name: String,
        #[label("no model named `{name}`")]
        span: Span,
        help: String,
        suggestion: Suggestion,
    },

    #[error("test {test:?} gives `{name}` twice")]
    #[diagnostic(
        code(flow::check::test_duplicate_line),
        help("a test gives each input one value and replaces each model once")
    )]
    TestDuplicateLine {
        test: String,
        name: String,
        #[label("first given here")]
        first: Span,
        #[label("given again here")]
        second: Span,
    },

    #[error("test {test:?} expects `{name}`, which is not an output")]
    #[diagnostic(code(flow::check::test_unknown_output), help("{help}{suggestion}"))]
    TestUnknownOutput {
        test: String,
        name: String,
        #[label("no output named `{name}`")]
        span: Span,
        help: String,
        suggestion: Suggestion,
    },

    #[error("an expectation must be {expected}, but this is `{found}`")]
    #[diagnostic(code(flow::check::test_expect_type), help("{help}"))]
    TestExpectType {
        expected: &'static str,
        found: Type,
        help: &'static str,
        #[label("this is `{found}`")]
        span: Span,
    },

    #[error("an expectation cannot {what}")]
    #[diagnostic(
        code(flow::check::test_expect_form),
        help(
            "an expectation reads the outputs, `calls` and `saved` with operators, literals and builtins; put the work in the program and expect its output"
        )
    )]
    TestExpectForm {
        what: &'static str,
        #[label("not allowed in `expect`")]
        span: Span,
    },
    #[error("{problem}")]
    #[diagnostic(
        code(flow::check::adaptive_vote),
        help(
            "an adaptive vote is written `ask ... vote up to N by majority until P` (at most `N` samples, stopping once the leader is the model's most frequent answer with confidence `P`) or `vote N by majority until P` (the answer of a vote of `N`, stopping once all `N` would give it with confidence `P`)"
        )
    )]
    AdaptiveVote {
        problem: AdaptiveProblem,
        #[label("here")]
        span: Span,
    },

    #[error("{problem}")]
    #[diagnostic(
        code(flow::check::route_member),
        help(
            "write `model smart = fallback(primary, backup)` or `model spread = round_robin(a, b)` with models declared elsewhere, each with its own provider and options"
        )
    )]
    RouteMember {
        problem: String,
        #[label("here")]
        span: Span,
    },

    #[error("`agreement` reads a vote, but {problem}")]
    #[diagnostic(
        code(flow::check::agreement_arg),
        help(
            "pass the name of a binding made by `vote`, e.g. `agreement(unsafe)` where `unsafe = ask moderator \"...\" as bool vote 5 by majority`"
        )
    )]
    AgreementArg {
        problem: String,
        #[label("not a vote")]
        span: Span,
    },

    #[error("an adaptive vote's confidence must be above 0.5 and at most 1, not {value}")]
    #[diagnostic(
        code(flow::check::confidence_range),
        help(
            "write the probability the leader must win with, e.g. `until 0.95`; below 0.5 a vote would stop on a leader that is more likely wrong than right"
        )
    )]
    ConfidenceRange {
        value: f64,
        #[label("not in (0.5, 1]")]
        span: Span,
    },
}

/// The type `agreement(vote)` gives: how decided the vote was.
pub fn agreement_type() -> Type {
    Type::Record(
        [
            ("share", Type::Number),
            ("answered", Type::Int),
            ("abstained", Type::Int),
            ("winner", Type::Int),
            ("samples", Type::Int),
            ("cap", Type::Int),
        ]
        .into_iter()
        .map(|(k, t)| (k.to_string(), t))
        .collect(),
    )
}

/// What is wrong with an adaptive vote's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdaptiveProblem {
    /// `up to N` with no confidence to stop at.
    CapWithoutUntil,
    /// `until` on a strategy other than `majority` or `at_least`.
    Strategy(String),
}

impl fmt::Display for AdaptiveProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdaptiveProblem::CapWithoutUntil => {
                f.write_str("`vote up to N` needs `until P`, the confidence to stop at")
            }
            AdaptiveProblem::Strategy(s) => write!(
                f,
                "only a vote by `majority` or `at_least K` can stop once confident, not one by `{s}`: `unanimous` already stops at the first disagreement, and `mean`, `median` and `judge` need every sample"
            ),
        }
    }
}

/// Why an `unknown_option` happened, for its help text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionHelp {
    /// A mock-only option on a real provider.
    MockOnly,
    /// Anything else: list what is accepted.
    Accepted(&'static str),
}

impl fmt::Display for OptionHelp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionHelp::MockOnly => f.write_str("this option only exists on `mock(...)` models"),
            OptionHelp::Accepted(list) => write!(f, "the options are {list}"),
        }
    }
}

/// What is wrong with an ensemble member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsembleReason {
    NotAsk,
    HasRepeat,
    HasVote,
    Empty,
}

impl fmt::Display for EnsembleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EnsembleReason::NotAsk => {
                "each voter is one `ask MODEL \"...\"`; compute other values outside the section"
            }
            EnsembleReason::HasRepeat => {
                "remove `repeat` from the member; the section's `vote N` samples every member N times"
            }
            EnsembleReason::HasVote => {
                "remove `vote` from the member; the section's `vote N` samples every member N times and pools the votes"
            }
            EnsembleReason::Empty => "add at least one `ask` to the section",
        })
    }
}

/// How many arguments a call got, as words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgCount(pub usize);

impl fmt::Display for ArgCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("none were"),
            1 => f.write_str("1 was"),
            n => write!(f, "{n} were"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyArgProblem {
    MissingCount,
    MissingModel,
    Unexpected(String),
    CountForJudge,
    ModelForAtLeast,
    /// `criteria` on a strategy other than `judge`.
    CriteriaNotForJudge(String),
}

impl fmt::Display for StrategyArgProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrategyArgProblem::MissingCount => {
                f.write_str("`at_least` needs a count: `at_least K`")
            }
            StrategyArgProblem::MissingModel => f.write_str("`judge` needs a model: `judge MODEL`"),
            StrategyArgProblem::Unexpected(s) => write!(f, "`{s}` takes no argument"),
            StrategyArgProblem::CountForJudge => f.write_str("`judge` takes a model, not a number"),
            StrategyArgProblem::ModelForAtLeast => {
                f.write_str("`at_least` takes a number, not a model")
            }
            StrategyArgProblem::CriteriaNotForJudge(s) => {
                write!(f, "`{s}` takes no `criteria`: only a `judge` is told them")
            }
        }
    }
}

/// "in the call of `f` here": where the expansion that met an error in a
/// function's body started.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Diagnostic)]
#[error("in the call of `{function}` here")]
#[diagnostic(severity(Advice))]
pub struct CalledFrom {
    pub function: String,
    #[label("`{function}` is called here")]
    pub span: Span,
}

/// "1 argument", "2 arguments".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count_(pub usize);

impl fmt::Display for Count_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 argument"),
            n => write!(f, "{n} arguments"),
        }
    }
}

impl CheckError {
    /// A chain of calls that comes back to where it started (first name
    /// repeated at the end), with a label on each call that closes a link.
    pub fn recursion(names: Vec<String>, links: Vec<(String, String, Span)>) -> CheckError {
        let labels = links
            .into_iter()
            .take(CYCLE_LABELS)
            .map(|(from, to, span)| {
                let text = if from == to {
                    format!("`{from}` calls itself here")
                } else {
                    format!("`{from}` calls `{to}` here")
                };
                LabeledSpan::new_with_span(Some(text), span)
            })
            .collect();
        CheckError::Recursion {
            path: Path(names),
            labels,
        }
    }

    /// A cycle through `names` (first name repeated at the end), with one
    /// label per reference that closes a link.
    pub fn cycle(names: Vec<String>, links: Vec<(String, String, Span)>) -> CheckError {
        // Thousands of labels make an unreadable report that is slow to
        // draw; the path in the message says how long the cycle is.
        let labels = links
            .into_iter()
            .take(CYCLE_LABELS)
            .map(|(from, to, span)| {
                let text = if from == to {
                    format!("`{from}` uses itself here")
                } else {
                    format!("`{from}` uses `{to}` here")
                };
                LabeledSpan::new_with_span(Some(text), span)
            })
            .collect();
        CheckError::Cycle {
            path: Path(names),
            labels,
        }
    }

    pub fn is_warning(&self) -> bool {
        if let CheckError::InCall { inner, .. } = self {
            return inner.is_warning();
        }
        matches!(
            self,
            CheckError::Unused { .. }
                | CheckError::MixedIndent { .. }
                | CheckError::EvenMajority { .. }
                | CheckError::DeterministicVote { .. }
        )
    }
}
