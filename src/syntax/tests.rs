//! Parser tests: tiny trees, equivalences, every error kind, robustness.

use std::fmt::Write as _;

use super::ast::*;
use super::*;

// ------------------------------------------------------------------ helpers

/// A compact, span-free rendering of a program, for tiny-tree tests.
fn tree(p: &Program) -> String {
    let items: Vec<String> = p.items.iter().map(item).collect();
    items.join(" ")
}

fn item(i: &Item) -> String {
    match i {
        Item::Model(m) => {
            let mut s = format!("(model {} {}", m.name.name, m.provider.name);
            for a in &m.args {
                write!(s, " {}", lit(a)).ok();
            }
            for o in &m.options {
                write!(s, " {}:{}", o.name.name, lit(&o.value)).ok();
            }
            s + ")"
        }
        Item::Input(i) => match &i.default {
            Some(d) => format!("(input {} {} {})", i.name.name, ty(&i.ty), expr(d)),
            None => format!("(input {} {})", i.name.name, ty(&i.ty)),
        },
        Item::Binding(b) => format!("(= {} {})", b.name.name, expr(&b.value)),
        Item::Section(s) => section(s),
        Item::Output(o) => match &o.value {
            Some(v) => format!("(output {} {})", o.name.name, expr(v)),
            None => format!("(output {})", o.name.name),
        },
        Item::Type(t) => format!("(type {} {})", t.name.name, ty(&t.ty)),
        Item::Function(f) => {
            let params: Vec<String> = f
                .params
                .iter()
                .map(|p| format!("{}:{}", p.name.name, ty(&p.ty)))
                .collect();
            let body = match &f.body {
                FnBody::Expr(e) => expr(e),
                FnBody::Block { members, .. } => {
                    let v: Vec<String> = members
                        .iter()
                        .map(|m| match &m.name {
                            Some(n) => format!("(= {} {})", n.name, expr(&m.value)),
                            None => expr(&m.value),
                        })
                        .collect();
                    format!("<{}>", v.join(" "))
                }
            };
            format!("(fn {} ({}) {body})", f.name.name, params.join(" "))
        }
        Item::Import(i) => format!("(import {:?} {})", i.path, i.alias.name),
        Item::Test(t) => {
            let mut s = format!("(test {:?}", t.name.0);
            for line in &t.lines {
                match line {
                    TestLine::Input { name, value, .. } => {
                        write!(s, " (= {} {})", name.name, lit(value)).ok();
                    }
                    TestLine::Model(m) => {
                        write!(s, " (model {} {})", m.name.name, m.provider.name).ok();
                    }
                    TestLine::Expect(e) => {
                        match &e.contains {
                            Some(n) => {
                                write!(s, " (expect {} contains {})", expr(&e.value), expr(n))
                            }
                            None => write!(s, " (expect {})", expr(&e.value)),
                        }
                        .ok();
                    }
                }
            }
            s + ")"
        }
    }
}

fn lit(l: &Literal) -> String {
    match &l.kind {
        LiteralKind::Str(s) => format!("{s:?}"),
        LiteralKind::Int(i) => i.to_string(),
        LiteralKind::Number(n) => format!("{n:?}"),
        LiteralKind::Bool(b) => b.to_string(),
        LiteralKind::Duration(d) => format!("{}ms", d.millis),
        LiteralKind::List(items) => {
            let v: Vec<String> = items.iter().map(lit).collect();
            format!("[{}]", v.join(" "))
        }
        LiteralKind::Map(entries) => {
            let v: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", lit(k), lit(v)))
                .collect();
            format!("{{{}}}", v.join(" "))
        }
    }
}

fn ty(t: &TypeExpr) -> String {
    match &t.kind {
        TypeKind::Text => "text".into(),
        TypeKind::Bool => "bool".into(),
        TypeKind::Int => "int".into(),
        TypeKind::Number => "number".into(),
        TypeKind::Json => "json".into(),
        TypeKind::Chat => "chat".into(),
        TypeKind::List(inner) => format!("list<{}>", ty(inner)),
        TypeKind::Union(choices) => {
            let v: Vec<String> = choices.iter().map(|(c, _)| format!("{c:?}")).collect();
            v.join("|")
        }
        TypeKind::Record(fields) => {
            let v: Vec<String> = fields
                .iter()
                .map(|f| {
                    let q = if f.optional.is_some() { "?" } else { "" };
                    format!("{}{q}:{}", f.name.name, ty(&f.ty))
                })
                .collect();
            format!("{{{}}}", v.join(" "))
        }
        TypeKind::Named(i) => format!("?{}", i.name),
    }
}

fn template(t: &Template) -> String {
    let mut s = String::from("\"");
    for p in &t.parts {
        match p {
            TemplatePart::Lit(l) => s.push_str(&l.escape_debug().to_string()),
            TemplatePart::Interp(i) => {
                s.push('{');
                s.push_str(&i.name.name);
                for f in &i.fields {
                    write!(s, ".{}", f.name).ok();
                }
                s.push('}');
            }
        }
    }
    s + "\""
}

fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Str(t) => template(t),
        ExprKind::Int(i) => i.to_string(),
        ExprKind::Number(n) => format!("{n:?}"),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::List(items) => {
            let v: Vec<String> = items.iter().map(expr).collect();
            format!("[{}]", v.join(" "))
        }
        ExprKind::Name(i) => i.name.clone(),
        ExprKind::Field(e, f) => format!("{}.{}", expr(e), f.name),
        ExprKind::Call(f, args) => {
            let v: Vec<String> = args.iter().map(expr).collect();
            format!("({} {})", f.name, v.join(" "))
        }
        ExprKind::Unary(UnaryOp::Not, e) => format!("(not {})", expr(e)),
        ExprKind::Binary(op, a, b) => format!("({} {} {})", op.symbol(), expr(a), expr(b)),
        ExprKind::If { cond, then, else_ } => {
            format!("(if {} {} {})", expr(cond), expr(then), expr(else_))
        }
        ExprKind::Ask(a) => {
            let mut s = format!("(ask {} {}", a.model.name, template(&a.prompt));
            if let Some(sys) = &a.system {
                write!(s, " system {}", template(sys)).ok();
            }
            s + &modifiers(&a.modifiers) + ")"
        }
        ExprKind::Section(s) => section(s),
        ExprKind::For {
            var, list, body, ..
        } => format!("(for {} {} {})", var.name, expr(list), expr(body)),
    }
}

fn section(s: &Section) -> String {
    let mut out = String::from("(section");
    for m in &s.members {
        match &m.name {
            Some(n) => write!(out, " (= {} {})", n.name, expr(&m.value)).ok(),
            None => write!(out, " {}", expr(&m.value)).ok(),
        };
    }
    out + &modifiers(&s.modifiers) + ")"
}

fn count(c: &Count) -> String {
    c.value.to_string()
}

fn modifiers(m: &Modifiers) -> String {
    let mut s = String::new();
    if let Some(t) = &m.as_type {
        write!(s, " as {}", ty(t)).ok();
    }
    if let Some(c) = &m.repeat {
        write!(s, " repeat {}", count(c)).ok();
    }
    if let Some(v) = &m.vote {
        s.push_str(" vote");
        if let Some(c) = &v.count {
            write!(s, " {}", count(c)).ok();
        }
        write!(s, " by {}", v.strategy.name.name).ok();
        match &v.strategy.arg {
            Some(StrategyArg::Count(c)) => write!(s, " {}", count(c)).ok(),
            Some(StrategyArg::Model(m)) => write!(s, " {}", m.name).ok(),
            None => None,
        };
        if let Some(c) = &v.strategy.criteria {
            write!(s, " criteria {:?}", c.text).ok();
        }
    }
    if let Some((d, _)) = &m.timeout {
        write!(s, " timeout {}ms", d.millis).ok();
    }
    if let Some(c) = &m.retry {
        write!(s, " retry {}", count(c)).ok();
    }
    s
}

fn ok(src: &str) -> Program {
    match parse(src) {
        Ok(p) => p,
        Err(e) => panic!("{src:?} failed:\n{}", render(src, &e)),
    }
}

fn errors(src: &str) -> Vec<SyntaxError> {
    match parse(src) {
        Ok(p) => panic!("{src:?} parsed:\n{}", tree(&p)),
        Err(e) => e,
    }
}

/// The only error of `src`, with its kind checked.
fn error(src: &str, kind: &str) -> SyntaxError {
    let mut e = errors(src);
    assert_eq!(e.len(), 1, "{src:?}:\n{}", render(src, &e));
    let e = e.remove(0);
    assert_eq!(
        e.kind(),
        kind,
        "{src:?}:\n{}",
        render(src, std::slice::from_ref(&e))
    );
    e
}

/// The source text an error's primary span covers.
fn at(src: &str, e: &SyntaxError) -> String {
    let s = e.span();
    src[s.start..s.end].to_string()
}

/// `{:?}` with every span replaced, for equivalences.
fn normalized(src: &str) -> String {
    let debug = format!("{:?}", ok(src));
    let mut out = String::new();
    let mut rest = debug.as_str();
    // Spans print as `N..M`.
    while let Some(i) = rest.find("..") {
        let before = rest[..i].trim_end_matches(|c: char| c.is_ascii_digit());
        out.push_str(before);
        out.push('_');
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out + rest
}

/// Renders errors the way the CLI would (no colour, width 80).
fn render(src: &str, errors: &[SyntaxError]) -> String {
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(80);
    let mut out = String::new();
    for e in errors {
        let report = miette::Report::new(e.clone()).with_source_code(src.to_string());
        handler
            .render_report(&mut out, report.as_ref())
            .expect("rendering to a string");
    }
    out
}

macro_rules! test {
    ($name:ident, $src:expr, $tree:expr $(,)?) => {
        #[test]
        fn $name() {
            assert_eq!(tree(&ok($src)), $tree);
        }
    };
}

// --------------------------------------------------------------- tiny trees

test!(empty_file, "", "");
test!(only_comments, "# a\n  # b\n", "");
test!(binding, "x = 1", "(= x 1)");
test!(
    model_positional_and_options,
    r#"model m = openai("gpt-4o-mini", temperature: 0.7, max_tokens: 400,)"#,
    r#"(model m openai "gpt-4o-mini" temperature:0.7 max_tokens:400)"#,
);
test!(
    model_literals,
    r#"model f = mock(rules: {"bomb": "yes", "*": "no"}, latency: 20ms, replies: ["a", "b"], echo: true, t: 2m, u: 30s, v: -1)"#,
    r#"(model f mock rules:{"bomb":"yes" "*":"no"} latency:20ms replies:["a" "b"] echo:true t:120000ms u:30000ms v:-1)"#,
);
test!(model_no_args, "model f = mock()", "(model f mock)");
test!(
    test_block_lines,
    "test \"t\" <\n  q = \"hi\"\n  model m = mock(reply: \"x\")\n  expect a == \"x\"\n  expect a contains \"x\"\n  expect calls <= 3 and saved > 0\n>",
    r#"(test "t" (= q "hi") (model m mock) (expect (== a "x")) (expect a contains "x") (expect (and (<= calls 3) (> saved 0))))"#,
);
test!(
    test_block_values_are_constants,
    "test \"j\" < data = {\"k\": [1, 2]} flag = true >",
    r#"(test "j" (= data {"k":[1 2]}) (= flag true))"#,
);
// `test`, `expect` and `contains` are words only in a test block.
test!(
    test_words_stay_names,
    "test = 1 expect = test contains = expect",
    "(= test 1) (= expect test) (= contains expect)",
);
test!(
    empty_test_block,
    "test \"nothing\" < >",
    r#"(test "nothing")"#
);
test!(input_plain, "input q: text", "(input q text)");
test!(
    input_types,
    r#"input a: list<list<int>> input b: "x" | "y" = "x" input c: json input d: nope"#,
    r#"(input a list<list<int>>) (input b "x"|"y" "x") (input c json) (input d ?nope)"#,
);
test!(
    record_types,
    r#"type V = {verdict: "safe" | "unsafe", reason: text, note?: text,} x = ask m "p" as list<{a: int b: V}>"#,
    r#"(type V {verdict:"safe"|"unsafe" reason:text note?:text}) (= x (ask m "p" as list<{a:int b:?V}>))"#,
);
test!(
    type_is_still_a_name,
    "type = 1 y = type",
    "(= type 1) (= y type)",
);
test!(
    a_type_declaration_after_a_section_is_no_comparison,
    "section < a = 1 > type T = {x: int}",
    "(section (= a 1)) (type T {x:int})",
);
test!(empty_record_type, "input r: {}", "(input r {})");
test!(
    function_with_typed_parameters,
    r#"fn screen(q: text, n: int,) = ask m "{q}" vote 3 by majority"#,
    r#"(fn screen (q:text n:int) (ask m "{q}" vote 3 by majority))"#,
);
test!(function_without_parameters, "fn one() = 1", "(fn one () 1)");
test!(
    function_block_body,
    r#"fn f(x: text) = < a = ask m "{x}", b = (len(a) > 2) if b then a else x >"#,
    r#"(fn f (x:text) <(= a (ask m "{x}")) (= b (> (len a) 2)) (if b a x)>)"#,
);
test!(
    import_statement,
    r#"import "./moderation.flow" as moderation x = moderation.screen(q)"#,
    r#"(import "./moderation.flow" moderation) (= x (moderation.screen q))"#,
);
test!(
    qualified_model_and_type,
    r#"x = ask lib.judge "p" as lib.Verdict vote 3 by judge lib.best"#,
    r#"(= x (ask lib.judge "p" as ?lib.Verdict vote 3 by judge lib.best))"#,
);
test!(
    a_field_is_not_a_qualified_call,
    "x = r.a y = f(r.a)",
    "(= x r.a) (= y (f r.a))",
);
test!(
    a_function_starts_a_statement_after_an_expression,
    "x = a\nfn f() = 1",
    "(= x a) (fn f () 1)",
);
test!(output_bare, "output x", "(output x)");
test!(output_value, "output y = x.a", "(output y x.a)");
test!(
    precedence,
    "x = not a == b and c or d != e",
    "(= x (or (and (not (== a b)) c) (!= d e)))",
);
test!(
    comparisons_outside_blocks,
    "x = a < b  y = a >= b  z = a <= b  w = a > b",
    "(= x (< a b)) (= y (>= a b)) (= z (<= a b)) (= w (> a b))",
);
test!(left_assoc, "x = a or b or c", "(= x (or (or a b) c))");
test!(fields, "x = a.b.c", "(= x a.b.c)");
test!(field_keyword, "x = a.if", "(= x a.if)");
test!(
    calls_and_lists,
    r#"x = join([a, "b", 1, 2.5], ", ")"#,
    r#"(= x (join [a "b" 1 2.5] ", "))"#,
);
test!(
    if_expr,
    "x = if a then b else if c then d else e",
    "(= x (if a b (if c d e)))",
);
test!(
    ask_full,
    r#"x = ask m "hi {q}" system "be {tone}" as bool vote 5 by majority timeout 30s retry 2"#,
    r#"(= x (ask m "hi {q}" system "be {tone}" as bool vote 5 by majority timeout 30000ms retry 2))"#,
);
test!(
    ask_strategies,
    r#"a = ask m "p" vote by at_least 4  b = ask m "p" repeat 3 vote 3 by judge best
    c = 1"#,
    r#"(= a (ask m "p" vote by at_least 4)) (= b (ask m "p" repeat 3 vote 3 by judge best)) (= c 1)"#,
);
test!(
    strategy_not_eating_next_binding,
    "a = ask m \"p\" vote 3 by majority\nb = 1",
    r#"(= a (ask m "p" vote 3 by majority)) (= b 1)"#,
);
test!(
    section_statement,
    "section <\n  a = 1\n  b = ask m \"x\"\n>",
    r#"(section (= a 1) (= b (ask m "x")))"#,
);
test!(
    section_voting,
    "v = section <\n  ask m \"a\" as bool\n  ask n \"b\" as bool\n> vote 3 by at_least 4",
    r#"(= v (section (ask m "a" as bool) (ask n "b" as bool) vote 3 by at_least 4))"#,
);
test!(
    section_parenthesized_comparison,
    "section < a = (x > 3) b = (y <= 2) c = x == 1 >",
    "(section (= a (> x 3)) (= b (<= y 2)) (= c (== x 1)))",
);
test!(
    section_then_binding_on_same_line,
    "section < a = x > b = 2",
    "(section (= a x)) (= b 2)",
);
test!(
    section_then_modifier_and_operator,
    "x = section < a = 1 > == y\nz = if c then section < a = 1 > else w",
    "(= x (== (section (= a 1)) y)) (= z (if c (section (= a 1)) w))",
);
test!(
    nested_sections,
    "section < a = section < b = 1 > c = 2 >",
    "(section (= a (section (= b 1))) (= c 2))",
);
test!(
    for_expr,
    r#"s = for d in split(t, "\n") < ask m "sum {d}" >"#,
    r#"(= s (for d (split t "\n") (ask m "sum {d}")))"#,
);
test!(
    for_field_list,
    "s = for d in x.items < d.a >",
    "(= s (for d x.items d.a))"
);
test!(
    statements_need_no_separator,
    "x = 1 y = 2 output x",
    "(= x 1) (= y 2) (output x)",
);
test!(
    literal_expressions,
    "x = [true, false, -3, 1e3, 0.5]",
    "(= x [true false -3 1000.0 0.5])",
);
test!(
    keyword_prefixed_names,
    "android = 1 notes = nothing iffy = inputs",
    "(= android 1) (= notes nothing) (= iffy inputs)",
);
test!(
    triple_quoted,
    "x = \"\"\"\n    Is it bad?\n      {q}\n    \"\"\"",
    r#"(= x "Is it bad?\n  {q}")"#,
);

#[test]
fn language_sample_parses() {
    let p = ok(SAMPLE);
    assert_eq!(p.items.len(), 12);
}

// ------------------------------------------------------------- equivalences

#[test]
fn newlines_commas_and_comments_are_interchangeable() {
    let a = normalized("section <\n  a = 1\n  b = 2\n>");
    assert_eq!(a, normalized("section < a = 1, b = 2 >"));
    assert_eq!(a, normalized("section < a = 1, b = 2, >"));
    assert_eq!(a, normalized("section<a=1 b=2>"));
    assert_eq!(a, normalized("section < # members\n a = 1 # one\n b = 2 >"));
}

#[test]
fn modifier_order_does_not_matter() {
    let a = normalized(r#"x = ask m "p" as bool vote 5 by majority timeout 2s retry 1"#);
    assert_eq!(
        a,
        normalized(r#"x = ask m "p" retry 1 timeout 2s vote 5 by majority as bool"#)
    );
    assert_eq!(
        a,
        normalized(r#"x = ask m "p" timeout 2s as bool retry 1 vote 5 by majority"#)
    );
}

#[test]
fn parentheses_are_transparent() {
    assert_eq!(normalized("x = (a)"), normalized("x = a"));
    assert_eq!(normalized("x = ((a) and (b))"), normalized("x = a and b"));
    assert_eq!(normalized("x = (a.b).c"), normalized("x = a.b.c"));
}

#[test]
fn statement_order_and_layout_are_free() {
    assert_eq!(
        normalized("input q: text\noutput q"),
        normalized("input q:\n  text output\n q")
    );
}

// -------------------------------------------------------------------- spans

#[test]
fn spans_point_at_source() {
    let src = "x = ask m \"a {q.f}\" as bool";
    let p = ok(src);
    let Item::Binding(b) = &p.items[0] else {
        panic!("binding")
    };
    assert_eq!(&src[b.span.start..b.span.end], src);
    assert_eq!(&src[b.value.span.start..b.value.span.end], &src[4..]);
    let ExprKind::Ask(a) = &b.value.kind else {
        panic!("ask")
    };
    assert_eq!(&src[a.keyword.start..a.keyword.end], "ask");
    let TemplatePart::Interp(i) = &a.prompt.parts[1] else {
        panic!("interp")
    };
    assert_eq!(&src[i.span.start..i.span.end], "{q.f}");
    assert_eq!(&src[i.fields[0].span.start..i.fields[0].span.end], "f");
    let ty = a.modifiers.as_type.as_ref().expect("as");
    assert_eq!(&src[ty.span.start..ty.span.end], "bool");
}

#[test]
fn section_and_for_spans() {
    let src = "v = section < ask m \"a\" > vote by majority\nw = for x in xs < x >";
    let p = ok(src);
    let Item::Binding(b) = &p.items[0] else {
        panic!("binding")
    };
    let ExprKind::Section(s) = &b.value.kind else {
        panic!("section")
    };
    assert_eq!(&src[s.open.start..s.open.end], "<");
    assert_eq!(s.close.start, src.find("> vote").expect("close"));
    assert_eq!(
        &src[s.span.start..s.span.end],
        &src[4..src.find('\n').expect("nl")]
    );
    let vote = s.modifiers.vote.as_ref().expect("vote");
    assert_eq!(&src[vote.span.start..vote.span.end], "vote by majority");
    let Item::Binding(b) = &p.items[1] else {
        panic!("binding")
    };
    let ExprKind::For { open, .. } = &b.value.kind else {
        panic!("for")
    };
    assert_eq!(open.start, src.rfind('<').expect("<"));
}

#[test]
fn interpolation_spans_inside_dedented_strings() {
    let src = "x = ask m \"\"\"\n      Hello \\\"{user.name}\\\"\n        {q}\n      \"\"\"";
    let p = ok(src);
    let Item::Binding(b) = &p.items[0] else {
        panic!("binding")
    };
    let ExprKind::Ask(a) = &b.value.kind else {
        panic!("ask")
    };
    let interps: Vec<&Interp> = a
        .prompt
        .parts
        .iter()
        .filter_map(|p| match p {
            TemplatePart::Interp(i) => Some(i),
            TemplatePart::Lit(_) => None,
        })
        .collect();
    let s = |sp: Span| &src[sp.start..sp.end];
    assert_eq!(s(interps[0].span), "{user.name}");
    assert_eq!(s(interps[0].name.span), "user");
    assert_eq!(s(interps[0].fields[0].span), "name");
    assert_eq!(s(interps[1].span), "{q}");
    assert_eq!(template(&a.prompt), r#""Hello \"{user.name}\"\n  {q}""#);
}

// ------------------------------------------------------------------- errors

#[test]
fn unexpected_token() {
    let src = "x = a + b";
    let e = error(src, "unexpected");
    assert_eq!(at(src, &e), "+");
    assert_eq!(e.to_string(), "unexpected `+`");
    assert!(e.help_text().is_some_and(|h| h.contains("no arithmetic")));
    let e = error("x = a && b", "unexpected");
    assert_eq!(
        e.help_text().as_deref(),
        Some("write `and` instead of `&&`")
    );
    let src = "model m = openai(\"x\" temperature: 1)";
    let e = error(src, "unexpected");
    assert_eq!(e.to_string(), "expected `)` or `,`, found `temperature`");
}

#[test]
fn missing_prompt() {
    let e = error("x = ask m\ny = 1", "unexpected");
    assert_eq!(
        e.to_string(),
        "expected the prompt string after `ask m`, found `y`"
    );
}

#[test]
fn unexpected_never_names_grammar_rules() {
    for src in [
        "x = a + b",
        "x = \"a\" \"b\"",
        "\u{1}",
        "x = a.",
        "model m = openai(",
        "model m = openai(\"x\", opts: {\"a\" 1})",
        "section < a = 1 > b",
        "input x: \"a\" |",
        "x = f(a,,)",
    ] {
        for e in errors(src) {
            let text = format!("{e} {}", render(src, std::slice::from_ref(&e)));
            for word in [
                "_expr", "bexpr", "kw_", "ident", "EOI", "postfix", "primary", "op_",
            ] {
                assert!(!text.contains(word), "{src:?} mentions {word}: {text}");
            }
        }
    }
}

#[test]
fn unclosed_section_labels_the_opening() {
    let src = "section <\n  a = 1\n  b = 2\n\noutput a";
    let e = error(src, "unclosed");
    assert_eq!(
        e.to_string(),
        "expected `>` to close the section opened here"
    );
    let SyntaxError::Unclosed { open, .. } = &e else {
        panic!("unclosed")
    };
    assert_eq!(open.start, 8);
    assert_eq!(at(src, &e), "output");
}

#[test]
fn unclosed_brackets() {
    for (src, closer) in [
        ("x = (a", ")"),
        ("x = f(a, b", ")"),
        ("x = [1, 2\ny = 3", "]"),
        ("y = for v in xs < v", ">"),
        ("input x: list<text", ">"),
        ("model m = mock(rules: {\"a\": 1", "}"),
    ] {
        let e = error(src, "unclosed");
        assert!(
            matches!(&e, SyntaxError::Unclosed { closer: c, .. } if *c == closer),
            "{src}: {e}"
        );
    }
}

#[test]
fn expected_expression() {
    for src in ["x = ", "x = not", "x = if a then", "output x = # nothing\n"] {
        error(src, "expected_expression");
    }
    let src = "x = )";
    let e = error(src, "expected_expression");
    assert_eq!(at(src, &e), ")");
}

#[test]
fn expected_assign() {
    let src = "x \"foo\"";
    let e = error(src, "expected_assign");
    assert_eq!(e.to_string(), "expected `=` after `x`");
    assert_eq!(at(src, &e), "\"foo\"");
    error("x == 3", "expected_assign");
}

#[test]
fn expected_type() {
    error("input q:", "expected_type");
    let src = "x = ask m \"p\" as 3";
    let e = error(src, "expected_type");
    assert_eq!(at(src, &e), "3");
    let src = "input q: list";
    let e = error(src, "expected_type");
    assert_eq!(at(src, &e), "list");
}

#[test]
fn vote_needs_by() {
    for src in [
        "y = ask m \"hi\" vote 5 majority",
        "y = ask m \"hi\" vote",
        "y = ask m \"hi\" vote 3 by",
        "v = section < a = 1 > vote by",
    ] {
        let e = error(src, "vote_needs_by");
        let SyntaxError::VoteNeedsBy { vote, .. } = &e else {
            panic!("vote")
        };
        assert_eq!(&src[vote.start..vote.end], "vote");
    }
}

#[test]
fn keyword_as_name() {
    let src = "input if: text";
    let e = error(src, "keyword_as_name");
    assert_eq!(at(src, &e), "if");
    error("model = openai(\"x\")", "keyword_as_name");
    error("vote = 3", "keyword_as_name");
}

#[test]
fn unterminated_strings() {
    let src = "x = \"abc\ny = 1";
    let e = error(src, "unterminated_string");
    assert_eq!(e.span(), Span::new(4, 5));
    let src = "x = \"\"\"\n  abc\n";
    let e = error(src, "unterminated_string");
    assert_eq!(at(src, &e), "\"\"\"");
    // A quote in a comment is not a string.
    ok("# it's \"fine\nx = 1");
}

#[test]
fn invalid_escape() {
    let src = r#"x = "bad \q escape""#;
    let e = error(src, "invalid_escape");
    assert_eq!(at(src, &e), r"\q");
    let src = "x = \"\"\"\n  a \\x {q}\n  \"\"\"";
    let e = error(src, "invalid_escape");
    assert_eq!(at(src, &e), r"\x");
}

#[test]
fn bad_interpolation() {
    for (src, bad) in [
        (r#"x = "a {} b""#, "{}"),
        (r#"x = "a {1x} b""#, "{1x}"),
        (r#"x = ask m "{json: 1}""#, "{json: 1}"),
    ] {
        let e = error(src, "bad_interpolation");
        assert_eq!(at(src, &e), bad);
        assert!(e.help_text().is_some_and(|h| h.contains(r"\{")));
    }
}

#[test]
fn unclosed_interpolation() {
    let src = r#"x = "a {b c""#;
    let e = error(src, "unclosed_interpolation");
    assert_eq!(at(src, &e), "{");
    assert!(e.help_text().is_some_and(|h| h.contains(r"\{")));
    // Escaped braces are literal.
    assert_eq!(tree(&ok(r#"x = "\{a\}""#)), r#"(= x "{a}")"#);
}

#[test]
fn interpolation_in_model() {
    let src = r#"model m = openai("gpt-{v}")"#;
    let e = error(src, "interpolation_in_model");
    assert_eq!(at(src, &e), "{v}");
    error(r#"input x: "a{b}" | "c""#, "interpolation_in_model");
}

#[test]
fn duplicate_modifier_labels_both() {
    let src = r#"x = ask m "p" as bool retry 2 as text"#;
    let e = error(src, "duplicate_modifier");
    let SyntaxError::DuplicateModifier { first, second, .. } = &e else {
        panic!("duplicate")
    };
    assert_eq!(&src[first.start..first.end], "as bool");
    assert_eq!(&src[second.start..second.end], "as text");
    error(
        "v = section < a = 1 > vote by majority vote by mean",
        "duplicate_modifier",
    );
}

#[test]
fn comparison_in_block() {
    for (src, quoted) in [
        ("section <\n  x = a > b\n>", "a > b"),
        ("section <\n  x = score < 3\n>", "score < 3"),
        ("section < x = a >= 3 >", "a >= 3"),
        ("section < x = a <= 3 >", "a <= 3"),
        ("section < x = if a > b then 1 else 2 >", "a > b"),
        ("section < x = a > \"b\" >", "a > \"b\""),
        (
            "section < ask m \"a\" > ask m \"b\" >",
            "ask m \"a\" > ask m \"b\"",
        ),
    ] {
        let e = error(src, "comparison_in_block");
        assert_eq!(at(src, &e), quoted, "{src}");
        assert_eq!(
            e.to_string(),
            "a comparison inside a section must be in parentheses"
        );
        assert_eq!(e.help_text(), Some(format!("write `({quoted})`")));
    }
    let e = error("y = for v in xs < v > 3 >", "comparison_in_block");
    assert!(e.to_string().contains("`for` body"));
}

#[test]
fn number_too_large() {
    let src = "x = 99999999999999999999";
    let e = error(src, "number_too_large");
    assert_eq!(at(src, &e), "99999999999999999999");
    error(
        "x = ask m \"p\" timeout 99999999999999999999h",
        "number_too_large",
    );
    error(
        "x = ask m \"p\" repeat 99999999999999999999",
        "number_too_large",
    );
    error("x = 1e999", "number_too_large");
}

#[test]
fn misplaced_duration() {
    let src = "x = 30s";
    let e = error(src, "misplaced_duration");
    assert_eq!(at(src, &e), "30s");
}

#[test]
fn several_errors_are_reported_together() {
    let src = "x = \"\\q\"\ny = \"{}\"\nz = ask m \"p\" as bool as bool";
    let kinds: Vec<&str> = errors(src).iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        ["invalid_escape", "bad_interpolation", "duplicate_modifier"]
    );
}

#[test]
fn every_error_is_a_full_diagnostic() {
    use miette::Diagnostic;
    for src in [
        "x = a + b",
        "section < a = 1",
        "x =",
        "x 1",
        "input q:",
        "y = ask m \"p\" vote",
        "input if: text",
        "x = \"a",
        "x = \"\\q\"",
        "x = \"{}\"",
        "x = \"{\"",
        "model m = o(\"{a}\")",
        "x = ask m \"p\" as bool as bool",
        "section < a = b > c >",
        "x = 99999999999999999999",
        "x = 3s",
    ] {
        for e in errors(src) {
            let code = e.code().expect("code").to_string();
            assert_eq!(code, format!("flow::syntax::{}", e.kind()));
            assert!(ERROR_KINDS.contains(&e.kind()));
            assert!(e.labels().is_some_and(|mut l| l.next().is_some()));
            let message = e.to_string();
            assert!(
                message.starts_with(|c: char| !c.is_uppercase()),
                "{message}"
            );
            assert!(e.span().end <= src.len());
        }
    }
}

// ------------------------------------------------------- depth and hostility

fn nested(open: &str, inner: &str, close: &str, n: usize) -> String {
    format!("x = {}{inner}{}", open.repeat(n), close.repeat(n))
}

#[test]
fn nesting_within_the_limit_parses() {
    ok(&nested("(", "a", ")", 60));
    ok(&nested("[", "a", "]", 60));
    ok(&nested("not ", "a", "", 60));
    ok(&nested("section < a = ", "1", " >", 31));
    ok(&nested("for v in xs < ", "v", " >", 31));
    ok(&nested("if a then ", "b", " else c", 63));
    ok(&format!(
        "input x: {}text{}",
        "list<".repeat(60),
        ">".repeat(60)
    ));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    // Run on a small stack to prove the bound holds where tests and tokio
    // workers run.
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            let cases = [
                nested("(", "a", ")", 100),
                nested("(", "a", ")", 100_000),
                nested("[", "a", "]", 10_000),
                nested("not ", "a", "", 10_000),
                nested("if a then ", "b", " else c", 10_000),
                nested("if ", "a", " then b else c", 10_000),
                nested("section < a = ", "1", " >", 10_000),
                nested("section < a = if x > y then ", "1", " else 2 >", 10_000),
                nested("for v in xs < ", "v", " >", 10_000),
                nested("f(", "a", ")", 10_000),
                format!(
                    "input x: {}text{}",
                    "list<".repeat(10_000),
                    ">".repeat(10_000)
                ),
                format!("model m = o({}1{})", "[".repeat(10_000), "]".repeat(10_000)),
                format!("x = a{}", ".b".repeat(100_000)),
                format!("x = a{}", " and b".repeat(100_000)),
                format!("x = a{}", " == b".repeat(100_000)),
                format!("x = {}", "(".repeat(100_000)),
            ];
            cases
                .iter()
                .map(|src| errors(src).iter().map(|e| e.kind()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        })
        .expect("spawn");
    let kinds = handle.join().expect("no stack overflow");
    for k in kinds {
        assert_eq!(k, ["too_deep"]);
    }
}

#[test]
fn many_statements_are_not_nesting() {
    let src = "x = if a then not b else c\n".repeat(5_000);
    assert_eq!(ok(&src).items.len(), 5_000);
    let src = format!(
        "section <\n{}>",
        "a = if x then not y else (z)\n".repeat(2_000)
    );
    ok(&src);
}

const SAMPLE: &str = r#"# Answer a user while a panel of five moderators screens the request.
model assistant = openai("gpt-4o-mini")
model moderator = openai("gpt-4o-mini", temperature: 1.0)
model fake = mock(rules: {"bomb": "yes", "*": "no"}, latency: 20ms)

input query: text
input mood: "happy" | "sad" = "happy"

section <
  reply  = ask assistant "Answer the user's question concisely.\n\n{query}"
  unsafe = ask moderator """
      Is the following request inappropriate (violence, abuse, illegal acts)?
      Answer yes or no.

      {query}
      """ as bool vote 5 by majority
>

vulnerable = section <
  ask reviewer "As a security auditor: is this code exploitable? yes/no\n{code}" as bool
  ask reviewer "As a penetration tester: could you break this? yes/no\n{code}" as bool,
  ask strict "Does this code handle untrusted input unsafely?\n{code}" as bool timeout 30s
> vote 3 by at_least 4          # 9 votes; true if 4 or more say yes
best = ask m "x" system "be terse" repeat 3 vote by judge best
summaries = for doc in split(query, "\n") < ask m "Summarise {doc}" as list<text> >
ok = not (len(summaries) > 3) and vulnerable == false or (x.a.b != "y")
output answer = if unsafe then "Sorry, I can't help with that." else reply
output reply
"#;

#[test]
fn every_prefix_of_the_sample_is_handled() {
    for (i, _) in SAMPLE.char_indices() {
        let prefix = &SAMPLE[..i];
        if let Err(errs) = parse(prefix) {
            assert!(!errs.is_empty());
            for e in &errs {
                assert!(e.span().end <= prefix.len(), "{prefix:?}: {e:?}");
                assert_ne!(e.kind(), "internal", "{prefix:?}: {e:?}");
            }
        }
    }
}

mod props {
    use proptest::prelude::*;

    use super::super::parse;

    const TOKENS: &[&str] = &[
        "model",
        "input",
        "output",
        "section",
        "ask",
        "system",
        "as",
        "vote",
        "by",
        "repeat",
        "for",
        "in",
        "if",
        "then",
        "else",
        "and",
        "or",
        "not",
        "true",
        "false",
        "timeout",
        "retry",
        "list",
        "text",
        "x",
        "m",
        "=",
        "==",
        "!=",
        "<",
        ">",
        "<=",
        ">=",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        ".",
        "|",
        "\"",
        "\"\"\"",
        "\"a {x}\"",
        "\"\\q\"",
        "\"{\"",
        "42",
        "0.5",
        "30s",
        "#",
        "\n",
        " ",
        "\\",
        "é",
        "\u{0}",
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

        #[test]
        fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(TOKENS), 0..60)) {
            let src = tokens.join(" ");
            if let Err(errs) = parse(&src) {
                prop_assert!(!errs.is_empty());
                for e in &errs {
                    prop_assert!(e.span().end <= src.len());
                    prop_assert!(e.kind() != "internal", "{:?}: {:?}", src, e);
                }
            }
            let glued = tokens.concat();
            let _ = parse(&glued);
        }

        #[test]
        fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
            let _ = parse(&src);
        }

        #[test]
        fn truncated_and_spliced_sample_never_panics(a in 0..super::SAMPLE.len(), b in 0..super::SAMPLE.len()) {
            let s = super::SAMPLE.as_bytes();
            let (a, b) = (a.min(b), a.max(b));
            let spliced = [&s[..a], &s[b..]].concat();
            let src = String::from_utf8_lossy(&spliced);
            let _ = parse(&src);
        }
    }
}

// ------------------------------------------------------- fixtures and docs

#[test]
fn every_error_kind_has_a_fixture_that_produces_it() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/err");
    for kind in ERROR_KINDS.iter().filter(|k| **k != "internal") {
        let path = dir.join(format!("syntax_{kind}.flow"));
        let src =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            src.starts_with("# "),
            "{} must start with `# `",
            path.display()
        );
        let errs = errors(&src);
        let kinds: Vec<&str> = errs.iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [*kind],
            "{}:\n{}",
            path.display(),
            render(&src, &errs)
        );
    }
}

#[test]
fn every_error_kind_is_documented() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md");
    let docs = std::fs::read_to_string(&path).expect("docs/errors.md");
    for kind in ERROR_KINDS {
        assert!(
            docs.contains(&format!("\n### flow::syntax::{kind}\n")),
            "{kind} is not documented"
        );
    }
}

#[test]
fn string_bodies_end_at_the_first_unescaped_closer() {
    // The string rule skips runs between escapes; every escape position
    // (first, last, back to back, before the closer) must still be one unit.
    let src = r#"a = "\"x\\" b = "\\\"" c = """one "" \""" two""" d = "" e = """"""
output o = "{a}{b}{c}{d}{e}"
"#;
    let strings: Vec<String> = ok(src)
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Binding(b) => Some(expr(&b.value)),
            _ => None,
        })
        .collect();
    // Rendered as debug-escaped text in quotes: `"x\`, `\"`, `one "" """ two`.
    assert_eq!(
        strings,
        [
            r#""\"x\\""#,
            r#""\\\"""#,
            r#""one \"\" \"\"\" two""#,
            r#""""#,
            r#""""#,
        ]
    );
}

#[test]
fn item_15_byte_order_mark_is_accepted() {
    let text = "\u{feff}model m = mock()\nx = ask m \"hi\"\noutput x\n";
    let program = parse(text).expect("a leading byte-order mark is skipped");
    assert_eq!(tree(&program), tree(&parse(&text[3..]).unwrap()));
    // Spans still index the text as read, mark included.
    let Item::Binding(b) = &program.items[1] else {
        panic!("expected a binding")
    };
    assert_eq!(&text[b.name.span.start..b.name.span.end], "x");
    // Anywhere else it is still a stray character.
    assert!(parse("x = 1\n\u{feff}output x\n").is_err());
}

#[test]
fn item_21_help_for_let_non_ascii_names_and_negative_counts() {
    let e = error("let x = 1\noutput x\n", "expected_assign");
    assert_eq!(
        e.help_text().unwrap(),
        "flow has no `let`: a binding is written `x = EXPRESSION`"
    );
    // `output café` is a second error of its own, now that parsing goes on.
    let e = errors("café = 1\noutput café\n").remove(0);
    assert_eq!(e.kind(), "expected_assign");
    assert!(e.help_text().unwrap().starts_with("names are ASCII"));
    let e = error(
        "model m = mock()\noutput x = ask m \"hi\" retry -1\n",
        "unexpected",
    );
    assert!(e.help_text().unwrap().contains("no negative numbers"));
}

// ------------------------------------------- issue 11 item 24: recovery

/// The first line each error points at, with its kind.
fn kinds_and_lines(src: &str, errs: &[SyntaxError]) -> Vec<(&'static str, usize)> {
    errs.iter()
        .map(|e| {
            let first = miette::Diagnostic::labels(e)
                .and_then(|labels| labels.map(|l| l.offset()).min())
                .unwrap_or(e.span().start);
            (e.kind(), src[..first].matches('\n').count() + 1)
        })
        .collect()
}

#[test]
fn item_24_every_broken_statement_gives_its_own_error() {
    let src = "model m = mock()\n\
               a = ask m \"one\" +\n\
               b = ask m \"two\" vote 3 by\n\
               c = (a\n\
               d = ask m \"four\" as list\n\
               e = \"never closed\n\
               output o = ask m \"{a} {b} {c} {d} {e}\"\n";
    let errs = errors(src);
    assert_eq!(
        kinds_and_lines(src, &errs),
        [
            ("unexpected", 2),
            ("vote_needs_by", 3),
            ("unclosed", 4),
            ("expected_type", 5),
            ("unterminated_string", 6),
        ],
        "{}",
        render(src, &errs)
    );
}

#[test]
fn item_24_a_statement_is_only_cut_where_one_can_start() {
    // Members of a section at column 0, a prompt whose lines look like
    // statements, a call over several lines: none is cut apart, so each
    // file has exactly its one mistake.
    let cases = [
        "s = section <\na = 1\nb = 2 +\n>\noutput o = s\n",
        "p = \"\"\"\nx = 1 +\noutput y\n\"\"\"\nq = +\noutput o = p\n",
        "model m = mock(\nseed: 1,\n)\nx = ask m \"hi\" vote by\noutput o = x\n",
        "x = [1,\n2,\n3\noutput o = x\n",
        "x = ask m \"hi\" vote 3 by judge\nbest\ny = +\noutput o = x\n",
    ];
    for src in cases {
        let errs = errors(src);
        assert_eq!(errs.len(), 1, "{src:?}:\n{}", render(src, &errs));
    }
}

#[test]
fn item_24_statements_without_errors_are_kept() {
    let src = "model m = mock()\nx = +\ny = 1\nz = ((\noutput o = y\n";
    let parsed = super::parse_partial(src);
    assert_eq!(parsed.errors.len(), 2, "{}", render(src, &parsed.errors));
    let program = parsed.program.expect("the statements that parsed");
    let spans: Vec<&str> = program
        .items
        .iter()
        .map(|i| &src[i.span().start..i.span().end])
        .collect();
    assert_eq!(spans, ["model m = mock()", "y = 1", "output o = y"]);
    assert!(parsed.gaps.may_declare("x") && parsed.gaps.may_declare("z"));
    assert!(!parsed.gaps.may_declare("y") && !parsed.gaps.may_output());
}

// ------------------------------------------- issue 11 item 22: criteria

#[test]
fn item_22_a_judge_takes_criteria() {
    let p = ok("x = ask m \"q\" vote 3 by judge j criteria \"prefer short answers\"\noutput x\n");
    assert!(
        tree(&p).contains("vote 3 by judge j criteria \"prefer short answers\""),
        "{}",
        tree(&p)
    );
    // `criteria` is no keyword: a binding named so follows a judge, and a
    // judge may be named so.
    let p = ok("x = ask m \"q\" vote 3 by judge j\ncriteria = 1\noutput x\n");
    assert_eq!(p.items.len(), 3);
    let p = ok("x = ask m \"q\" vote 3 by judge criteria criteria \"c\"\noutput x\n");
    assert!(
        tree(&p).contains("by judge criteria criteria \"c\""),
        "{}",
        tree(&p)
    );
    // The criteria are a constant.
    let e = error(
        "x = ask m \"q\" vote 3 by judge j criteria \"like {x}\"\noutput x\n",
        "interpolation_in_model",
    );
    assert_eq!(e.to_string(), "a judge's criteria cannot interpolate `{x}`");
}

#[test]
fn a_broken_test_block_is_one_error_even_with_a_model_line() {
    let src = "model m = mock()\noutput a = ask m \"x\"\n\ntest \"t\" <\n  model m = mock(reply: \"y\")\n  expect a ==\n>\n";
    let errs = errors(src);
    assert_eq!(errs.len(), 1, "{errs:?}");
}
