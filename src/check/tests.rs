//! Checker tests on `.flow` source: one per diagnostic code (code and label
//! spans), then lowering (node kinds, edges, guards, sections).

use miette::Diagnostic;

use super::check_errors;
use super::error::CheckError;
use crate::graph::{EdgeKind, FlowGraph, Node, NodeId, NodeKind, Sampling, Strategy, Until};
use crate::syntax::Span;
use crate::types::Type;

const MODELS: &str = "model m = openai(\"gpt-4o-mini\", temperature: 0.7)\n";

fn run(src: &str) -> (Option<FlowGraph>, Vec<CheckError>) {
    let program = match crate::syntax::parse(src) {
        Ok(p) => p,
        Err(e) => panic!("test program does not parse: {e:?}\n{src}"),
    };
    check_errors(&program)
}

fn code(e: &CheckError) -> String {
    e.code().map(|c| c.to_string()).unwrap_or_default()
}

/// Label spans, without trailing white space (so the tests do not depend on
/// whether the parser's spans end before or after it).
fn labels(src: &str, e: &CheckError) -> Vec<Span> {
    e.labels()
        .map(|ls| {
            ls.map(|l| {
                let start = l.offset();
                let text = src.get(start..start + l.len()).unwrap_or("");
                Span::new(start, start + text.trim_end().len())
            })
            .collect()
        })
        .unwrap_or_default()
}

fn help(e: &CheckError) -> String {
    e.help().map(|h| h.to_string()).unwrap_or_default()
}

/// The span of the `n`th (1-based) occurrence of `needle` in `src`.
fn at(src: &str, needle: &str, n: usize) -> Span {
    let mut from = 0;
    for _ in 1..n {
        from += src[from..].find(needle).expect("needle occurs") + needle.len();
    }
    let start = from + src[from..].find(needle).expect("needle occurs");
    Span::new(start, start + needle.len())
}

/// The first character of the `n`th occurrence of `needle`: for one-letter
/// names written before something that makes them unique.
fn ch(src: &str, needle: &str, n: usize) -> Span {
    let s = at(src, needle, n);
    Span::new(s.start, s.start + 1)
}

/// The only diagnostic with `code` (short form, e.g. `cycle`).
fn one(src: &str, short: &str) -> CheckError {
    let (graph, errors) = run(src);
    let full = format!("flow::check::{short}");
    let found: Vec<&CheckError> = errors.iter().filter(|e| code(e) == full).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {full}, got: {:#?}",
        errors
            .iter()
            .map(|e| (code(e), e.to_string()))
            .collect::<Vec<_>>()
    );
    if !errors.iter().all(CheckError::is_warning) {
        assert!(graph.is_none(), "a program with errors has no graph");
    }
    found[0].clone()
}

/// No errors and no warnings at all.
fn clean(src: &str) -> FlowGraph {
    let (graph, errors) = run(src);
    assert!(
        errors.is_empty(),
        "unexpected diagnostics: {:#?}",
        errors
            .iter()
            .map(|e| (code(e), e.to_string()))
            .collect::<Vec<_>>()
    );
    graph.expect("a clean program has a graph")
}

fn node<'g>(g: &'g FlowGraph, name: &str) -> (NodeId, &'g Node) {
    g.dag
        .node_indices()
        .map(|i| (i, &g.dag[i]))
        .find(|(_, n)| n.name == name)
        .unwrap_or_else(|| panic!("no node `{name}`"))
}

/// Edges into `name` as (source name, label, kind), sorted.
fn edges_into(g: &FlowGraph, name: &str) -> Vec<(String, String, EdgeKind)> {
    let (id, _) = node(g, name);
    let mut v: Vec<_> = g
        .dag
        .edges_directed(id, petgraph::Direction::Incoming)
        .map(|e| {
            use petgraph::visit::EdgeRef;
            (
                g.dag[e.source()].name.clone(),
                e.weight().label.clone(),
                e.weight().kind,
            )
        })
        .collect();
    v.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    v
}

fn data(from: &str, label: &str) -> (String, String, EdgeKind) {
    (from.into(), label.into(), EdgeKind::Data)
}

// ----- names ---------------------------------------------------------------

#[test]
fn undefined_name_with_suggestion() {
    let src = "input query: text\noutput a = qurey\n";
    let e = one(src, "undefined_name");
    assert_eq!(labels(src, &e), vec![at(src, "qurey", 1)]);
    assert!(help(&e).contains("did you mean `query`?"), "{}", help(&e));
}

#[test]
fn undefined_name_inside_interpolation_points_inside_the_string() {
    let src = "input query: text\noutput a = \"hello {qurey.x} there\"\n";
    let e = one(src, "undefined_name");
    assert_eq!(labels(src, &e), vec![at(src, "qurey", 1)]);
}

#[test]
fn every_error_is_reported_in_one_run() {
    let src = "output a = \"{x} {y}\"\noutput b = z\n";
    let (_, errors) = run(src);
    let names: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[test]
fn model_used_as_value() {
    let src = format!("{MODELS}output a = m\n");
    let e = one(&src, "model_as_value");
    assert_eq!(labels(&src, &e), vec![ch(&src, "m\n", 1)]);
}

#[test]
fn undefined_model() {
    let src = "model fast = mock()\noutput a = ask fats \"hi\"\n";
    let e = one(src, "undefined_model");
    assert_eq!(labels(src, &e), vec![at(src, "fats", 1)]);
    assert!(help(&e).contains("did you mean `fast`?"));
}

#[test]
fn undefined_output() {
    let src = "answer = \"x\"\noutput answr\n";
    let e = one(src, "undefined_output");
    assert_eq!(labels(src, &e), vec![at(src, "answr", 1)]);
    assert!(help(&e).contains("did you mean `answer`?"));
}

#[test]
fn unknown_builtin() {
    let src = "output a = lenght(\"abc\")\n";
    let e = one(src, "unknown_builtin");
    assert_eq!(labels(src, &e), vec![at(src, "lenght", 1)]);
    assert!(help(&e).contains("`len`"));
}

#[test]
fn unknown_strategy() {
    let src = format!("{MODELS}output a = ask m \"q\" vote 3 by majorty\n");
    let e = one(&src, "unknown_strategy");
    assert_eq!(labels(&src, &e), vec![at(&src, "majorty", 1)]);
    assert!(help(&e).contains("did you mean `majority`?"));
}

#[test]
fn unknown_provider() {
    let src = "model m = opnai(\"gpt-4o\")\noutput a = ask m \"q\"\n";
    let e = one(src, "unknown_provider");
    assert_eq!(labels(src, &e), vec![at(src, "opnai", 1)]);
    assert!(help(&e).contains("did you mean `openai`?"));
}

#[test]
fn unknown_option() {
    let src = "model m = openai(\"gpt-4o\", temprature: 0.5)\noutput a = ask m \"q\"\n";
    let e = one(src, "unknown_option");
    assert_eq!(labels(src, &e), vec![at(src, "temprature", 1)]);
    assert!(help(&e).contains("did you mean `temperature`?"));
}

#[test]
fn unknown_structured_mode() {
    let src = "model m = openai(\"gpt-4o\", structured: \"shema\")\noutput a = ask m \"q\"\n";
    let e = one(src, "unknown_structured");
    assert_eq!(labels(src, &e), vec![at(src, "\"shema\"", 1)]);
    assert!(help(&e).contains("did you mean `schema`?"), "{}", help(&e));
    let src = "model m = anthropic(\"c\", structured: true)\noutput a = ask m \"q\"\n";
    let e = one(src, "option_type");
    assert!(e.to_string().contains("\"schema\""), "{e}");
    let g = crate::compile("model m = mock(structured: \"prompt\")\noutput a = ask m \"q\"\n");
    let spec = &g.graph.expect("compiles").models["m"];
    assert_eq!(spec.structured(), crate::model::Structured::Prompt);
}

#[test]
fn mock_only_option_on_a_real_provider() {
    let src = "model m = openai(\"gpt-4o\", reply: \"x\")\noutput a = ask m \"q\"\n";
    let e = one(src, "unknown_option");
    assert!(help(&e).contains("only exists on `mock"), "{}", help(&e));
}

#[test]
fn unknown_type() {
    let src = format!("{MODELS}output a = ask m \"q\" as boolean\n");
    let e = one(&src, "unknown_type");
    assert_eq!(labels(&src, &e), vec![at(&src, "boolean", 1)]);
    assert!(help(&e).contains("did you mean `bool`?"), "{}", help(&e));
}

#[test]
fn unknown_field_of_a_record() {
    let src = format!(
        "{MODELS}r = section <\n  risks = ask m \"a\"\n  dates = ask m \"b\"\n>\noutput a = r.risk\n"
    );
    let e = one(&src, "unknown_field");
    let risk = at(&src, "risk\n", 1);
    assert_eq!(labels(&src, &e), vec![Span::new(risk.start, risk.end - 1)]);
    assert!(help(&e).contains("did you mean `risks`?"));
}

// ----- duplicates ------------------------------------------------------------

#[test]
fn duplicate_binding_labels_both() {
    let src = "input x: text\nx = \"a\"\noutput y = x\n";
    let e = one(src, "duplicate_binding");
    assert_eq!(labels(src, &e), vec![ch(src, "x:", 1), ch(src, "x =", 1)]);
}

#[test]
fn section_members_share_the_binding_namespace() {
    let src = format!(
        "{MODELS}a = \"x\"\nsection <\n  a = ask m \"q\"\n  b = ask m \"r\"\n>\noutput o = b\n"
    );
    let e = one(&src, "duplicate_binding");
    assert_eq!(
        labels(&src, &e),
        vec![ch(&src, "a = ", 1), ch(&src, "a = ", 2)]
    );
}

#[test]
fn duplicate_model() {
    let src = "model m = mock()\nmodel m = mock()\noutput a = ask m \"q\"\n";
    let e = one(src, "duplicate_model");
    assert_eq!(labels(src, &e), vec![Span::new(6, 7), Span::new(23, 24)]);
}

#[test]
fn duplicate_output() {
    let src = "x = \"a\"\noutput x\noutput x\n";
    let e = one(src, "duplicate_output");
    assert_eq!(labels(src, &e), vec![ch(src, "x\n", 1), ch(src, "x\n", 2)]);
}

#[test]
fn duplicate_option() {
    let src = "model m = mock(reply: \"a\", reply: \"b\")\noutput a = ask m \"q\"\n";
    let e = one(src, "duplicate_option");
    assert_eq!(
        labels(src, &e),
        vec![at(src, "reply", 1), at(src, "reply", 2)]
    );
}

// ----- graph shape -------------------------------------------------------------

#[test]
fn cycle_names_every_binding_in_order() {
    let src = "a = \"{b}\"\nb = \"{c}\"\nc = \"{a}\"\noutput o = a\n";
    let e = one(src, "cycle");
    assert_eq!(e.to_string(), "`a` → `b` → `c` → `a` form a cycle");
    assert_eq!(
        labels(src, &e),
        vec![at(src, "b", 1), at(src, "c", 1), at(src, "a", 2)]
    );
}

#[test]
fn cycle_of_one() {
    let src = "a = \"{a}\"\noutput o = a\n";
    let e = one(src, "cycle");
    assert_eq!(e.to_string(), "`a` → `a` form a cycle");
    assert_eq!(labels(src, &e), vec![at(src, "a", 2)]);
}

#[test]
fn section_members_must_be_independent() {
    let src = format!(
        "{MODELS}section <\n  x = ask m \"q\"\n  y = ask m \"{{z}}\"\n>\nz = upper(x)\noutput o = y\n"
    );
    let e = one(&src, "section_dependency");
    assert_eq!(
        e.to_string(),
        "section members `y` and `x` are not independent: `y` → `z` → `x`"
    );
    assert_eq!(
        labels(&src, &e),
        vec![ch(&src, "y =", 1), ch(&src, "x =", 1)]
    );
}

#[test]
fn record_members_must_be_independent() {
    let src = format!(
        "{MODELS}r = section <\n  x = ask m \"q\"\n  y = ask m \"{{r.x}}\"\n>\noutput o = r.y\n"
    );
    let e = one(&src, "section_dependency");
    assert!(e.to_string().contains("`r.y` → `r.x`"), "{e}");
}

#[test]
fn section_dependency_names_a_shortest_path() {
    // `y` reaches `x` through `p → r` and through `q`; the shorter one is named.
    let src = format!(
        "{MODELS}section <\n  x = ask m \"q\"\n  y = ask m \"{{p}} {{q}}\"\n>\np = upper(r)\nr = upper(x)\nq = upper(x)\noutput o = y\n"
    );
    let e = one(&src, "section_dependency");
    assert_eq!(
        e.to_string(),
        "section members `y` and `x` are not independent: `y` → `q` → `x`"
    );
}

#[test]
fn component_rank_never_rises_along_a_use() {
    // `a` and `b` form a cycle; the searches for section dependencies rely on
    // ranks to stop early, which is only sound if every use keeps or lowers it.
    let src = "a = \"{b}\"\nb = \"{c} {a}\"\nc = \"x\"\nd = \"{a} {c}\"\noutput o = d\n";
    let program = match crate::syntax::parse(src) {
        Ok(p) => p,
        Err(e) => panic!("test program does not parse: {e:?}"),
    };
    let mut errors = Vec::new();
    let scope = super::names::Scope::collect(&program, &mut errors);
    let resolved = super::resolve::resolve(&scope, &mut errors);
    let graph = super::cycles::DeclGraph::new(&resolved.refs);
    let components = graph.cycles(&scope, &mut errors);
    assert_eq!(components.on_cycle.len(), 2);
    let mut uses = 0;
    for (from, refs) in resolved.refs.iter().enumerate() {
        for r in refs {
            assert!(components.rank[r.target] <= components.rank[from]);
            uses += 1;
        }
    }
    assert!(uses >= 5, "{uses}");
}

#[test]
fn no_output() {
    let src = "x = \"a\"\n";
    let e = one(src, "no_output");
    let label = labels(src, &e);
    assert!(
        matches!(label.as_slice(), [s] if s.is_empty() && s.start >= 7),
        "{label:?}"
    );
}

// ----- sections ------------------------------------------------------------

#[test]
fn voting_section_statement() {
    let src = format!(
        "{MODELS}section <\n  ask m \"a\" as bool\n> vote 3 by majority\noutput o = \"x\"\n"
    );
    let e = one(&src, "section_vote_statement");
    assert_eq!(labels(&src, &e), vec![at(&src, "vote 3 by majority", 1)]);
}

#[test]
fn section_modifier() {
    let src = format!("{MODELS}r = section <\n  a = ask m \"a\"\n> repeat 3\noutput o = r.a\n");
    let e = one(&src, "section_modifier");
    assert_eq!(labels(&src, &e), vec![at(&src, "3", 1)]);
}

#[test]
fn unnamed_member() {
    let src =
        format!("{MODELS}r = section <\n  ask m \"a\"\n  b = ask m \"b\"\n>\noutput o = r.b\n");
    let e = one(&src, "unnamed_member");
    assert_eq!(labels(&src, &e), vec![at(&src, "ask m \"a\"", 1)]);
}

#[test]
fn ensemble_member_must_be_a_plain_ask() {
    let src = format!(
        "{MODELS}v = section <\n  ask m \"a\" as bool vote 3 by majority\n  ask m \"b\" as bool\n> vote by majority\noutput o = v\n"
    );
    let e = one(&src, "ensemble_member");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "ask m \"a\" as bool vote 3 by majority", 1)]
    );
}

#[test]
fn section_inside_an_expression() {
    let src = format!("{MODELS}output o = upper(section < a = ask m \"a\" >)\n");
    let e = one(&src, "section_position");
    let start = at(&src, "section", 1).start;
    let end = at(&src, ">", 1).end;
    assert_eq!(labels(&src, &e), vec![Span::new(start, end)]);
}

#[test]
fn input_default_must_be_constant() {
    let src = "input a: text = \"x\"\ninput b: text = a\noutput o = \"{a}{b}\"\n";
    let e = one(src, "input_default");
    assert_eq!(labels(src, &e), vec![ch(src, "a\n", 1)]);
}

// ----- models ----------------------------------------------------------------

#[test]
fn model_id_required() {
    let src = "model m = openai(temperature: 0.5)\noutput a = ask m \"q\"\n";
    let e = one(src, "model_id");
    assert_eq!(labels(src, &e), vec![at(src, "openai", 1)]);
    let src = "model m = anthropic(42)\noutput a = ask m \"q\"\n";
    let e = one(src, "model_id");
    assert_eq!(labels(src, &e), vec![at(src, "42", 1)]);
}

#[test]
fn mock_takes_no_model_id() {
    let src = "model m = mock(\"gpt\")\noutput a = ask m \"q\"\n";
    let e = one(src, "model_args");
    assert_eq!(labels(src, &e), vec![at(src, "\"gpt\"", 1)]);
}

#[test]
fn option_types_and_ranges() {
    for (opt, bad) in [
        ("temperature", "3.5"),
        ("temperature", "\"hot\""),
        ("max_tokens", "1.5"),
        ("concurrency", "0"),
        ("rpm", "0"),
        ("base_url", "30"),
        ("timeout", "30"),
        ("system", "true"),
        ("retry", "-1"),
        ("api_key_env", "true"),
        ("top_p", "2"),
    ] {
        let src = format!("model m = openai(\"g\", {opt}: {bad})\noutput a = ask m \"q\"\n");
        let e = one(&src, "option_type");
        assert_eq!(labels(&src, &e), vec![at(&src, bad, 1)], "{opt}: {bad}");
    }
    for (opt, bad) in [
        ("replies", "[1, 2]"),
        ("rules", "{\"a\": 1}"),
        ("echo", "1"),
        ("latency", "5"),
    ] {
        let src = format!("model m = mock({opt}: {bad})\noutput a = ask m \"q\"\n");
        let e = one(&src, "option_type");
        assert_eq!(labels(&src, &e), vec![at(&src, bad, 1)], "{opt}: {bad}");
    }
}

#[test]
fn model_spec_is_built() {
    let src = "model f = openai(\"gpt-4o-mini\", temperature: 1, max_tokens: 400, top_p: 0.5, timeout: 30s, retry: 2, system: \"terse\", api_key_env: \"K\")\nmodel t = mock(rules: {\"bomb\": \"yes\", \"*\": \"no\"}, latency: 20ms, fail_first: 2, echo: true)\noutput a = ask f \"q\"\noutput b = ask t \"q\"\n";
    let g = clean(src);
    let f = &g.models["f"];
    assert_eq!(f.model_id.as_deref(), Some("gpt-4o-mini"));
    assert_eq!(f.options.temperature, Some(1.0));
    assert_eq!(f.options.max_tokens, Some(400));
    assert_eq!(f.options.top_p, Some(0.5));
    assert_eq!(f.options.timeout, Some(std::time::Duration::from_secs(30)));
    assert_eq!(f.options.retry, Some(2));
    assert_eq!(f.options.system.as_deref(), Some("terse"));
    assert_eq!(f.key_env(), Some("K"));
    let t = &g.models["t"];
    assert_eq!(t.model_id, None);
    assert_eq!(
        t.options.mock.rules,
        Some(vec![
            ("bomb".into(), "yes".into()),
            ("*".into(), "no".into())
        ])
    );
    assert_eq!(
        t.options.mock.latency,
        Some(std::time::Duration::from_millis(20))
    );
    assert_eq!(t.options.mock.fail_first, 2);
    assert!(t.options.mock.echo);
}

// ----- types ----------------------------------------------------------------

#[test]
fn type_mismatch_in_builtin() {
    let src = format!("{MODELS}n = ask m \"q\" as int\noutput o = upper(n)\n");
    let e = one(&src, "type_mismatch");
    assert_eq!(labels(&src, &e), vec![ch(&src, "n)", 1)]);
}

#[test]
fn comparing_a_union_with_a_value_it_cannot_have() {
    let src = format!(
        "{MODELS}v = ask m \"q\" as \"safe\" | \"unsafe\"\noutput o = if v == \"maybe\" then 1 else 2\n"
    );
    let e = one(&src, "union_choice");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "\"maybe\"", 1), ch(&src, "v ==", 1)]
    );
    assert!(help(&e).contains("always false"));
    let src = format!(
        "{MODELS}v = ask m \"q\" as \"safe\" | \"unsafe\"\noutput o = if \"safe\" != v then 1 else 2\n"
    );
    clean(&src);
}

#[test]
fn condition_must_be_bool() {
    let src = format!("{MODELS}c = ask m \"q\"\noutput o = if c then \"a\" else \"b\"\n");
    let e = one(&src, "condition_type");
    assert_eq!(
        labels(&src, &e),
        vec![Span::new(
            at(&src, "if c", 1).start + 3,
            at(&src, "if c", 1).end
        )]
    );
}

#[test]
fn branches_must_agree() {
    let src = "input c: bool\noutput o = if c then 1 else \"b\"\n";
    let e = one(src, "branch_mismatch");
    assert_eq!(labels(src, &e), vec![at(src, "1", 1), at(src, "\"b\"", 1)]);
}

#[test]
fn branches_unify() {
    let src = "input c: bool\ninput v: \"a\" | \"b\"\nx = if c then 1 else 2.5\ny = if c then v else \"other\"\noutput o = \"{x}{y}\"\n";
    let g = clean(src);
    assert_eq!(node(&g, "x").1.ty, Type::Number);
    assert_eq!(node(&g, "y").1.ty, Type::Text);
}

#[test]
fn voters_must_agree() {
    let src = format!(
        "{MODELS}v = section <\n  ask m \"a\" as bool\n  ask m \"b\" as int\n> vote by majority\noutput o = v\n"
    );
    let e = one(&src, "voter_mismatch");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "bool", 1), at(&src, "int", 1)]
    );
}

#[test]
fn field_access_on_text() {
    let src = format!(
        "{MODELS}t = ask m \"q\"\nj = ask m \"q\" as json\noutput o = \"{{t.name}} {{j.name}}\"\n"
    );
    let e = one(&src, "field_access");
    assert_eq!(labels(&src, &e), vec![at(&src, "name", 1)]);
}

#[test]
fn arity() {
    let src = "output o = join(\"a\")\n";
    let e = one(src, "arity");
    assert_eq!(labels(src, &e), vec![at(src, "join(\"a\")", 1)]);
    assert_eq!(e.to_string(), "`join` takes 2 arguments, but 1 was given");
}

#[test]
fn for_over_non_list() {
    let src = format!("{MODELS}t = ask m \"q\"\noutput o = for x in t < ask m \"{{x}}\" >\n");
    let e = one(&src, "for_non_list");
    assert_eq!(labels(&src, &e), vec![ch(&src, "t <", 1)]);
}

#[test]
fn interpolating_a_record() {
    let src = format!("{MODELS}r = section <\n  a = ask m \"a\"\n>\noutput o = \"{{r}}\"\n");
    let e = one(&src, "interpolate_record");
    assert_eq!(labels(&src, &e), vec![at(&src, "{r}", 1)]);
}

#[test]
fn unknown_types_do_not_cascade() {
    // `x` is undefined: nothing that uses it is reported again.
    let src = "y = x\nz = if y then y.a else len(y)\noutput o = z\n";
    let (_, errors) = run(src);
    let codes: Vec<String> = errors.iter().map(code).collect();
    assert_eq!(codes, vec!["flow::check::undefined_name".to_string()]);
}

// ----- votes -----------------------------------------------------------------

#[test]
fn counts() {
    for (m, n) in [
        ("vote", "0"),
        ("repeat", "0"),
        ("vote", "5000"),
        ("repeat", "1001"),
    ] {
        let by = if m == "vote" { " by majority" } else { "" };
        let src = format!("{MODELS}output o = ask m \"q\" {m} {n}{by}\n");
        let e = one(&src, "count");
        let written = at(&src, &format!("{m} {n}"), 1);
        let number = Span::new(written.end - n.len(), written.end);
        assert_eq!(labels(&src, &e), vec![number], "{m} {n}");
    }
}

#[test]
fn section_retry_is_reported_once() {
    let src = format!(
        "{MODELS}v = section <\n  ask m \"a\" as bool\n> vote 3 by majority retry 5000\noutput o = v\n"
    );
    let e = one(&src, "count");
    assert_eq!(labels(&src, &e), vec![at(&src, "5000", 1)]);
}

#[test]
fn ensemble_total_votes_are_bounded() {
    let src = format!(
        "{MODELS}v = section <\n  ask m \"a\" as bool\n  ask m \"b\" as bool\n> vote 600 by majority\noutput o = v\n"
    );
    let e = one(&src, "count");
    assert!(e.to_string().contains("total number of votes"), "{e}");
}

#[test]
fn vote_count_missing_on_ask() {
    let src = format!("{MODELS}output o = ask m \"q\" vote by majority\n");
    let e = one(&src, "vote_count_missing");
    assert_eq!(labels(&src, &e), vec![at(&src, "vote by majority", 1)]);
}

#[test]
fn repeat_and_vote() {
    let src = format!("{MODELS}output o = ask m \"q\" repeat 3 vote 3 by majority\n");
    let e = one(&src, "repeat_and_vote");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "3", 1), at(&src, "vote 3 by majority", 1)]
    );
}

#[test]
fn strategy_args() {
    let src = format!("{MODELS}output o = ask m \"q\" as bool vote 3 by at_least\n");
    let e = one(&src, "strategy_arg");
    assert_eq!(labels(&src, &e), vec![at(&src, "at_least", 1)]);
    let src = format!("{MODELS}output o = ask m \"q\" vote 3 by majority 2\n");
    let e = one(&src, "strategy_arg");
    assert_eq!(labels(&src, &e), vec![at(&src, "2", 1)]);
}

#[test]
fn strategy_types() {
    let src = format!("{MODELS}output o = ask m \"q\" vote 3 by mean\n");
    let e = one(&src, "strategy_type");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "mean", 1), at(&src, "ask", 1)]
    );
    let src = format!("{MODELS}output o = ask m \"q\" as int vote 3 by at_least 2\n");
    let e = one(&src, "strategy_type");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "at_least 2", 1), at(&src, "int", 1)]
    );
}

#[test]
fn at_least_beyond_the_votes() {
    let src = format!(
        "{MODELS}v = section <\n  ask m \"a\" as bool\n  ask m \"b\" as bool\n> vote 2 by at_least 5\noutput o = v\n"
    );
    let e = one(&src, "at_least_count");
    assert_eq!(labels(&src, &e), vec![at(&src, "5", 1)]);
    assert!(e.to_string().contains("4 votes"), "{e}");
}

// ----- warnings -----------------------------------------------------------------

#[test]
fn unused_warnings() {
    let src = "model m = mock()\nmodel unused_model = mock()\ninput i: text\ninput _quiet: text\nx = ask m \"q\"\noutput o = \"a\"\n";
    let (graph, errors) = run(src);
    assert!(graph.is_some(), "warnings still give a graph");
    let got: Vec<(String, Vec<Span>)> = errors
        .iter()
        .map(|e| (e.to_string(), labels(src, e)))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "input `i` is never used".to_string(),
                vec![ch(src, "i:", 1)]
            ),
            (
                "binding `x` is never used".to_string(),
                vec![ch(src, "x =", 1)]
            ),
            (
                "model `unused_model` is never used".to_string(),
                vec![at(src, "unused_model", 1)]
            ),
        ]
    );
    assert!(
        errors
            .iter()
            .all(|e| e.severity() == Some(miette::Severity::Warning))
    );
}

#[test]
fn even_majority() {
    let src = format!("{MODELS}output o = ask m \"q\" vote 4 by majority\n");
    let e = one(&src, "even_majority");
    assert_eq!(labels(&src, &e), vec![at(&src, "vote 4 by majority", 1)]);
    assert_eq!(e.severity(), Some(miette::Severity::Warning));
}

#[test]
fn deterministic_vote() {
    let src =
        "model m = openai(\"g\", temperature: 0)\noutput o = ask m \"q\" vote 3 by majority\n";
    let e = one(src, "deterministic_vote");
    assert_eq!(labels(src, &e), vec![at(src, "ask m", 1), at(src, "0", 1)]);
}

// ----- lowering ---------------------------------------------------------------

#[test]
fn the_first_program_lowers() {
    let src = r#"# Answer a user while a panel of five moderators screens the request.
model assistant = openai("gpt-4o-mini")
model moderator = openai("gpt-4o-mini", temperature: 1.0)

input query: text

section <
  reply  = ask assistant "Answer the user's question concisely.\n\n{query}"
  unsafe = ask moderator """
      Is the following request inappropriate (violence, abuse, illegal acts)?
      Answer yes or no.

      {query}
      """ as bool vote 5 by majority
>

output answer = if unsafe then "Sorry, I can't help with that." else reply
"#;
    let g = clean(src);
    let names: Vec<&str> = g
        .dag
        .node_indices()
        .map(|i| g.dag[i].name.as_str())
        .collect();
    assert_eq!(names, vec!["query", "reply", "unsafe", "answer"]);
    let (_, unsafe_) = node(&g, "unsafe");
    match &unsafe_.kind {
        NodeKind::Ask { call, sampling } => {
            assert_eq!(call.model, "moderator");
            assert_eq!(call.parse_as, Type::Bool);
            assert_eq!(
                *sampling,
                Sampling::Vote {
                    n: 5,
                    strategy: Strategy::Majority,
                    until: None,
                }
            );
        }
        other => panic!("unsafe should be an ask, not {other:?}"),
    }
    assert_eq!(unsafe_.ty, Type::Bool);
    assert_eq!(unsafe_.section, Some(0));
    assert_eq!(node(&g, "reply").1.section, Some(0));
    assert_eq!(node(&g, "answer").1.section, None);
    assert_eq!(edges_into(&g, "reply"), vec![data("query", "query")]);
    assert_eq!(
        edges_into(&g, "answer"),
        vec![data("reply", "reply"), data("unsafe", "unsafe")]
    );
    assert!(matches!(
        node(&g, "query").1.kind,
        NodeKind::Input { default: None }
    ));
    assert!(matches!(node(&g, "answer").1.kind, NodeKind::Output(_)));
    assert_eq!(g.inputs.keys().collect::<Vec<_>>(), vec!["query"]);
    assert_eq!(g.outputs.keys().collect::<Vec<_>>(), vec!["answer"]);
    assert_eq!(g.sections.len(), 1);
    assert_eq!(g.topo_order().len(), 4);
}

#[test]
fn inline_asks_in_branches_are_guarded() {
    let src = format!(
        "{MODELS}input q: text\nok = ask m \"{{q}}\" as bool\noutput a = if ok then ask m \"yes {{q}}\" else ask m \"no\"\n"
    );
    let g = clean(&src);
    let (ok, _) = node(&g, "ok");
    let (_, ask1) = node(&g, "a.ask1");
    let (_, ask2) = node(&g, "a.ask2");
    assert_eq!(
        ask1.guards,
        vec![crate::graph::Guard {
            cond: ok,
            when: true
        }]
    );
    assert_eq!(
        ask2.guards,
        vec![crate::graph::Guard {
            cond: ok,
            when: false
        }]
    );
    assert_eq!(
        edges_into(&g, "a.ask1"),
        vec![("ok".into(), "ok".into(), EdgeKind::Guard), data("q", "q")]
    );
    assert_eq!(
        edges_into(&g, "a"),
        vec![
            data("a.ask1", "a.ask1"),
            data("a.ask2", "a.ask2"),
            data("ok", "ok")
        ]
    );
}

#[test]
fn a_compound_condition_becomes_its_own_node() {
    let src = format!(
        "{MODELS}input n: int\ninput q: text\noutput a = if n > 3 and q != \"\" then ask m \"{{q}}\" else \"small\"\n"
    );
    let g = clean(&src);
    let (cond, c) = node(&g, "a.cond1");
    assert!(matches!(c.kind, NodeKind::Pure(_)));
    assert_eq!(c.ty, Type::Bool);
    assert_eq!(
        edges_into(&g, "a.cond1"),
        vec![data("n", "n"), data("q", "q")]
    );
    assert_eq!(
        node(&g, "a.ask1").1.guards,
        vec![crate::graph::Guard { cond, when: true }]
    );
}

#[test]
fn nested_ifs_accumulate_guards() {
    let src = format!(
        "{MODELS}input x: bool\ninput y: bool\noutput a = if x then (if y then ask m \"1\" else \"2\") else \"3\"\n"
    );
    let g = clean(&src);
    let (x, _) = node(&g, "x");
    let (y, _) = node(&g, "y");
    assert_eq!(
        node(&g, "a.ask1").1.guards,
        vec![
            crate::graph::Guard {
                cond: x,
                when: true
            },
            crate::graph::Guard {
                cond: y,
                when: true
            }
        ]
    );
}

#[test]
fn records_and_nested_sections() {
    let src = format!(
        "{MODELS}input c: text\nsection <\n  r = section <\n    risks = ask m \"{{c}}\"\n    dates = ask m \"{{c}}\"\n  >\n  parties = ask m \"{{c}}\"\n>\nbrief = ask m \"{{r.risks}} {{r.dates}} {{parties}}\"\noutput brief\n"
    );
    let g = clean(&src);
    assert_eq!(g.sections.len(), 2);
    assert_eq!(g.sections[0].name, None);
    assert_eq!(g.sections[1].name.as_deref(), Some("r"));
    assert_eq!(g.sections[1].parent, Some(0));
    let (_, r) = node(&g, "r");
    assert_eq!(r.section, Some(0));
    match &r.kind {
        NodeKind::Record(members) => {
            let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, vec!["risks", "dates"]);
        }
        other => panic!("r should be a record, not {other:?}"),
    }
    assert_eq!(node(&g, "r.risks").1.section, Some(1));
    assert_eq!(
        edges_into(&g, "brief"),
        vec![
            data("parties", "parties"),
            data("r.dates", "r.dates"),
            data("r.risks", "r.risks")
        ]
    );
    assert_eq!(
        edges_into(&g, "r"),
        vec![data("r.dates", "r.dates"), data("r.risks", "r.risks")]
    );
}

#[test]
fn ensembles() {
    let src = format!(
        "{MODELS}input code: text\nvulnerable = section <\n  ask m \"auditor {{code}}\" as bool\n  ask m \"tester {{code}}\" as bool\n  ask m \"strict {{code}}\" as bool\n> vote 3 by at_least 4 timeout 10s\noutput vulnerable\n"
    );
    let g = clean(&src);
    let (_, v) = node(&g, "vulnerable");
    match &v.kind {
        NodeKind::Ensemble {
            voters,
            per_voter,
            strategy,
            ..
        } => {
            assert_eq!(voters.len(), 3);
            assert_eq!(*per_voter, 3);
            assert_eq!(*strategy, Strategy::AtLeast(4));
            assert!(
                voters
                    .iter()
                    .all(|c| c.timeout == Some(std::time::Duration::from_secs(10)))
            );
        }
        other => panic!("vulnerable should be an ensemble, not {other:?}"),
    }
    assert_eq!(v.ty, Type::Bool);
    assert_eq!(edges_into(&g, "vulnerable"), vec![data("code", "code")]);
}

#[test]
fn for_bodies_keep_calls_inline_and_count_them() {
    let src = format!(
        "{MODELS}input doc: text\nitems = ask m \"list {{doc}}\" as list<text>\nchecked = for item in items < ask m \"{{item}} in {{doc}}?\" as bool vote 3 by majority >\nsummary = join(for i in items < if contains(i, \"x\") then ask m \"{{i}}\" else ask m \"{{i}}\" vote 3 by majority >, \",\")\noutput checked\noutput summary\n"
    );
    let g = clean(&src);
    let (_, checked) = node(&g, "checked");
    match &checked.kind {
        NodeKind::Map {
            var,
            calls_per_item,
            body,
            ..
        } => {
            assert_eq!(var, "item");
            assert_eq!(*calls_per_item, 3);
            assert!(matches!(body.kind, crate::graph::ExprKind::Ask(..)));
        }
        other => panic!("checked should be a map, not {other:?}"),
    }
    assert_eq!(checked.ty, Type::list(Type::Bool));
    assert_eq!(
        edges_into(&g, "checked"),
        vec![data("doc", "doc"), data("items", "items")]
    );
    let (_, map) = node(&g, "summary.map1");
    match &map.kind {
        NodeKind::Map { calls_per_item, .. } => assert_eq!(*calls_per_item, 3),
        other => panic!("summary.map1 should be a map, not {other:?}"),
    }
    assert_eq!(
        edges_into(&g, "summary"),
        vec![data("summary.map1", "summary.map1")]
    );
    assert_eq!(node(&g, "summary").1.ty, Type::Text);
}

#[test]
fn field_edges_are_labelled_with_the_path() {
    let src = format!("{MODELS}j = ask m \"q\" as json\noutput o = \"{{j.name}}\"\n");
    let g = clean(&src);
    assert_eq!(edges_into(&g, "o"), vec![data("j", "j.name")]);
}

#[test]
fn every_node_has_a_span_and_order_is_stable() {
    let src = format!(
        "{MODELS}input q: text\na = ask m \"{{q}}\"\nb = if (len(a) > 3) then ask m \"x\" else a\noutput b\n"
    );
    let first: Vec<String> = {
        let g = clean(&src);
        for i in g.dag.node_indices() {
            assert!(!g.dag[i].span.is_empty(), "{} has no span", g.dag[i].name);
        }
        g.dag
            .node_indices()
            .map(|i| g.dag[i].name.clone())
            .collect()
    };
    let again: Vec<String> = {
        let g = clean(&src);
        g.dag
            .node_indices()
            .map(|i| g.dag[i].name.clone())
            .collect()
    };
    assert_eq!(first, again);
    assert_eq!(first, vec!["q", "a", "b", "b", "b.cond1", "b.ask1"]);
}

// ----- fixtures -----------------------------------------------------------------

fn fixtures(dir: &str) -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<(String, String)> = std::fs::read_dir(&root)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "flow"))
                .filter_map(|p| {
                    let name = p.file_stem()?.to_string_lossy().into_owned();
                    Some((name, std::fs::read_to_string(&p).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn ok_fixtures_check_without_diagnostics() {
    let files = fixtures("tests/fixtures/ok");
    assert!(files.len() >= 3);
    for (name, src) in files {
        let path = format!("tests/fixtures/ok/{name}.flow");
        let (compiled, _) = crate::import::compile(&path, &src, &crate::import::FsLoader);
        assert!(
            compiled.diagnostics.is_empty(),
            "{name}: {:?}",
            compiled.diagnostics
        );
        let g = compiled.graph.expect("a graph");
        assert_eq!(g.topo_order().len(), g.dag.node_count(), "{name} is a DAG");
    }
}

#[test]
fn err_fixtures_report_their_code() {
    let files: Vec<(String, String)> = fixtures("tests/fixtures/err")
        .into_iter()
        .filter(|(n, _)| n.starts_with("check_"))
        .collect();
    assert!(files.len() >= 40);
    for (name, src) in files {
        // `check_type_mismatch__input_default` is one more case of a code.
        let code_part = name.split_once("__").map_or(name.as_str(), |(c, _)| c);
        let want = format!("flow::check::{}", code_part.trim_start_matches("check_"));
        // Through the import stage, for the fixtures that import.
        let path = format!("tests/fixtures/err/{name}.flow");
        let (compiled, _) = crate::import::compile(&path, &src, &crate::import::FsLoader);
        let codes: Vec<String> = compiled
            .diagnostics
            .iter()
            .map(|d| d.code().map(|c| c.to_string()).unwrap_or_default())
            .collect();
        // Exactly one: a fixture shows one mistake, with no cascade.
        assert_eq!(codes, vec![want], "{name}");
        assert!(src.starts_with("# "), "{name} starts with a comment");
    }
}

#[test]
fn item_21_value_used_as_model_says_so_and_is_not_also_unused() {
    let src = "model m = mock()\nm2 = \"hi\"\noutput x = ask m2 \"hi\"\n";
    let (_, errors) = run(src);
    let codes: Vec<String> = errors.iter().map(code).collect();
    assert_eq!(codes, ["flow::check::value_as_model"], "{errors:?}");
    assert_eq!(errors[0].to_string(), "`m2` is a binding, not a model");
    assert!(help(&errors[0]).contains("did you mean `m`?"));
}

#[test]
fn item_21_as_type_help_only_where_a_reply_is_parsed() {
    let e = one("input n: int = \"x\"\noutput o = n\n", "type_mismatch");
    assert!(!help(&e).contains("as TYPE"), "{}", help(&e));
    let e = one("output o = [1, \"a\"]\n", "type_mismatch");
    assert!(!help(&e).contains("as "), "{}", help(&e));
}

// ----- record types and type declarations ------------------------------------

const VERDICT: &str =
    "type Verdict = {verdict: \"safe\" | \"unsafe\", reason: text, note?: text}\n";

#[test]
fn a_record_reply_reads_its_fields_in_expressions_templates_and_loops() {
    let src = format!(
        "{MODELS}{VERDICT}input q: text\n\
         v = ask m \"{{q}}\" as Verdict\n\
         vs = ask m \"{{q}}\" as list<Verdict>\n\
         reasons = for x in vs < \"{{x.verdict}}: {{x.reason}}\" >\n\
         output blocked = v.verdict == \"unsafe\"\n\
         output why = \"{{v.reason}} {{v.note}} {{v}}\"\n\
         output all = reasons\n"
    );
    let g = clean(&src);
    let v = g
        .dag
        .node_weights()
        .find(|n| n.name == "v")
        .expect("node v");
    assert_eq!(
        v.ty.to_string(),
        "{verdict: \"safe\" | \"unsafe\", reason: text, note?: text}"
    );
}

#[test]
fn an_unknown_field_of_a_record_reply_suggests_one() {
    let src = format!("{MODELS}{VERDICT}v = ask m \"q\" as Verdict\noutput o = v.reasn\n");
    let e = one(&src, "unknown_field");
    assert_eq!(labels(&src, &e), vec![at(&src, "reasn", 1)]);
    assert_eq!(e.to_string(), "`v` has no field `reasn`");
    assert!(help(&e).contains("did you mean `reason`?"), "{}", help(&e));
    // In a template and through a `for` variable too.
    let src = format!("{MODELS}{VERDICT}v = ask m \"q\" as Verdict\noutput o = \"{{v.verdct}}\"\n");
    let e = one(&src, "unknown_field");
    assert!(help(&e).contains("did you mean `verdict`?"), "{}", help(&e));
    let src = format!(
        "{MODELS}{VERDICT}vs = ask m \"q\" as list<Verdict>\noutput o = for x in vs < x.resaon >\n"
    );
    let e = one(&src, "unknown_field");
    assert_eq!(e.to_string(), "`x` has no field `resaon`");
}

#[test]
fn a_union_field_compares_only_with_its_choices() {
    let src =
        format!("{MODELS}{VERDICT}v = ask m \"q\" as Verdict\noutput o = v.verdict == \"saef\"\n");
    let e = one(&src, "union_choice");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "\"saef\"", 1), at(&src, "v.verdict", 1)]
    );
    assert!(help(&e).contains("did you mean `safe`?"), "{}", help(&e));
}

#[test]
fn an_inline_record_type_needs_no_declaration() {
    let src = format!(
        "{MODELS}v = ask m \"q\" as {{ok: bool, items: list<{{name: text, n: int}}>}}\n\
         output o = for i in v.items < i.n >\noutput k = v.ok\n"
    );
    clean(&src);
}

#[test]
fn type_names_resolve_in_any_order_with_suggestions() {
    let src = format!(
        "{MODELS}type Panel = {{votes: list<Verdict>}}\n{VERDICT}\
         input p: Panel\noutput o = ask m \"{{p}}\" as Verdcit\n"
    );
    let e = one(&src, "unknown_type");
    assert!(help(&e).contains("did you mean `Verdict`?"), "{}", help(&e));
}

#[test]
fn duplicate_and_builtin_type_declarations() {
    let src = format!("{MODELS}{VERDICT}{VERDICT}output o = ask m \"q\" as Verdict\n");
    let e = one(&src, "duplicate_type");
    assert_eq!(
        labels(&src, &e),
        vec![at(&src, "Verdict", 1), at(&src, "Verdict", 2)]
    );
    let src = format!("{MODELS}type text = {{a: int}}\noutput o = ask m \"q\"\n");
    let e = one(&src, "builtin_type_name");
    assert_eq!(labels(&src, &e), vec![at(&src, "text", 1)]);
}

#[test]
fn recursive_type_declarations_name_the_path() {
    let src = format!(
        "{MODELS}type A = {{b: B}}\ntype B = {{a: list<A>}}\noutput o = ask m \"q\" as A\n"
    );
    let e = one(&src, "recursive_type");
    assert_eq!(e.to_string(), "type `A` contains itself: `A` → `B` → `A`");
    assert_eq!(labels(&src, &e), vec![ch(&src, "A>", 1)]);
    let src = format!("{MODELS}type A = {{a: A}}\noutput o = ask m \"q\" as A\n");
    one(&src, "recursive_type");
}

#[test]
fn fields_are_unique_and_optional_ones_need_an_empty_value() {
    let src = format!("{MODELS}output o = ask m \"q\" as {{a: int, a: text}}\n");
    let e = one(&src, "duplicate_field");
    assert_eq!(
        labels(&src, &e),
        vec![ch(&src, "a: int", 1), ch(&src, "a: text", 1)]
    );
    let src = format!(
        "{MODELS}output o = ask m \"q\" as {{score?: int, note?: text, tags?: list<text>}}\n"
    );
    let e = one(&src, "optional_field");
    assert_eq!(labels(&src, &e), vec![at(&src, "score?", 1)]);
}

#[test]
fn a_section_record_still_cannot_be_interpolated_but_a_reply_record_can() {
    let src = format!("{MODELS}r = section <\n  a = ask m \"a\"\n>\noutput o = \"{{r}}\"\n");
    one(&src, "interpolate_record");
}

#[test]
fn an_unused_type_declaration_is_a_warning() {
    let src = format!("{MODELS}{VERDICT}type _Spare = {{a: int}}\noutput o = ask m \"q\"\n");
    let e = one(&src, "unused");
    assert_eq!(e.to_string(), "type `Verdict` is never used");
    assert_eq!(labels(&src, &e), vec![at(&src, "Verdict", 1)]);
    // Used only by another declaration that is used counts.
    let src = format!(
        "{MODELS}{VERDICT}type Panel = {{votes: list<Verdict>}}\noutput o = ask m \"q\" as Panel\n"
    );
    clean(&src);
}

#[test]
fn a_type_that_doubles_at_every_declaration_is_refused_not_built() {
    let mut src = String::from(MODELS);
    src.push_str("type T0 = {a: int}\n");
    for i in 1..40 {
        src.push_str(&format!("type T{i} = {{a: T{}, b: T{}}}\n", i - 1, i - 1));
    }
    src.push_str("output o = ask m \"q\" as T39\n");
    let (_, errors) = run(&src);
    let too_large: Vec<_> = errors
        .iter()
        .filter(|e| code(e) == "flow::check::type_too_large")
        .collect();
    // Reported where it first goes over, and the types above it are unknown.
    assert_eq!(too_large.len(), 1, "{errors:#?}");
    assert!(
        too_large[0]
            .to_string()
            .starts_with("type `T12` is too large"),
        "{}",
        too_large[0]
    );
    let mut src = String::from(MODELS);
    src.push_str("type D0 = {a: int}\n");
    for i in 1..40 {
        src.push_str(&format!("type D{i} = {{a: D{}}}\n", i - 1));
    }
    src.push_str("output o = ask m \"q\" as D39\n");
    let (_, errors) = run(&src);
    assert_eq!(
        errors
            .iter()
            .filter(|e| code(e) == "flow::check::type_too_large")
            .count(),
        1
    );
}

// ----- conversations -------------------------------------------------------

#[test]
fn with_passes_a_chat_and_a_chat_input_defaults_to_an_empty_conversation() {
    let src = format!("{MODELS}input h: chat\ninput q: text\noutput a = ask m \"{{q}}\" with h\n");
    let (graph, errors) = run(&src);
    assert!(errors.is_empty(), "{errors:?}");
    let graph = graph.expect("graph");
    let h = graph.inputs["h"];
    assert_eq!(graph.node(h).ty, Type::Chat);
    assert!(matches!(
        &graph.node(h).kind,
        NodeKind::Input { default: Some(d) } if matches!(&d.kind, crate::graph::ExprKind::Lit(crate::value::Value::Chat(c)) if c.is_empty())
    ));
    // The history is a data dependency of the call.
    let ask = graph
        .dag
        .node_indices()
        .find(|&i| matches!(graph.node(i).kind, NodeKind::Ask { .. }))
        .expect("an ask node");
    assert!(graph.dag.find_edge(h, ask).is_some());
}

#[test]
fn a_chat_is_not_text_and_with_takes_only_a_chat() {
    let src = format!(
        "{MODELS}input h: chat\ninput q: text\noutput a = ask m \"{{h}}\"\noutput b = trim(h)\noutput c = ask m \"x\" with q\noutput d = ask m \"y\" as list<chat>\n"
    );
    let (_, errors) = run(&src);
    let codes: Vec<String> = errors.iter().map(code).collect();
    assert_eq!(
        codes,
        [
            "flow::check::chat_as_text",
            "flow::check::type_mismatch",
            "flow::check::with_not_chat",
            "flow::check::as_chat"
        ]
    );
    assert_eq!(labels(&src, &errors[0]), [at(&src, "{h}", 1)]);
    assert!(
        help(&errors[0]).contains("`with h`"),
        "{}",
        help(&errors[0])
    );
    assert!(help(&errors[1]).contains("a conversation is not text"));
    let q = at(&src, "with q", 1);
    assert_eq!(labels(&src, &errors[2]), [Span::new(q.end - 1, q.end)]);
}

#[test]
fn with_is_not_a_keyword_and_not_a_section_modifier() {
    // A binding may still be called `with`.
    let src = format!("{MODELS}with = ask m \"x\"\noutput o = with\n");
    let (_, errors) = run(&src);
    assert!(errors.is_empty(), "{errors:?}");
    let src = format!(
        "{MODELS}input h: chat\nsection <\n  a = ask m \"x\"\n> with h\noutput o = ask m \"{{a}}\" with h\n"
    );
    let (_, errors) = run(&src);
    let codes: Vec<String> = errors.iter().map(code).collect();
    assert_eq!(codes, ["flow::check::section_modifier"]);
}

/// The codes of everything `crate::compile` reports, in order.
fn compile_codes(src: &str) -> Vec<String> {
    crate::compile(src)
        .diagnostics
        .iter()
        .map(|d| d.code().map(|c| c.to_string()).unwrap_or_default())
        .collect()
}

#[test]
fn item_24_statements_that_parse_are_checked_past_a_syntax_error() {
    // `a` does not parse; `b` uses it, `output z` names nothing, `zz` is
    // no model: only the last two are the checker's to report.
    let src = "model m = mock()\ninput q: text\na = ask m \"{q}\" +\nb = ask m \"{a}\"\nc = ask zz \"hi\"\noutput z\noutput o = b\n";
    assert_eq!(
        compile_codes(src),
        [
            "flow::syntax::unexpected",
            "flow::check::undefined_model",
            "flow::check::undefined_output",
        ]
    );
}

#[test]
fn item_24_no_cascade_from_a_statement_that_did_not_parse() {
    // What the broken statements would have declared is not undefined, an
    // output among them is not missing, and nothing is called unused.
    let cases = [
        "model m = mock()\nx = ask m \"hi\" vote 3\noutput o = x\n",
        "model m = mock()\nanswer ask m \"hi\"\noutput answer\n",
        "model m = mock(\noutput o = ask m \"hi\"\n",
        "model m = mock()\ninput q: text\noutput o = ask m \"{q}\" +\n",
        "input q: text\nx = \"unterminated\noutput o = x\n",
    ];
    for src in cases {
        let codes = compile_codes(src);
        assert_eq!(codes.len(), 1, "{src:?}: {codes:?}");
        assert!(codes[0].starts_with("flow::syntax::"), "{src:?}: {codes:?}");
    }
}

#[test]
fn item_21_errors_come_before_warnings_about_the_same_names() {
    // `y` is unused, but what is wrong is the model its `ask` names: the
    // warning used to come first, between the program and its error.
    let src = "model m = mock()\nx = ask m \"a\"\ny = ask zz \"{x}\"\nz = 1 +\noutput o = \"k\"\n";
    let src_ok_syntax = src.replace("z = 1 +\n", "");
    assert_eq!(
        compile_codes(&src_ok_syntax),
        ["flow::check::undefined_model", "flow::check::unused"]
    );
    // While a statement does not parse, nothing is called unused.
    assert_eq!(
        compile_codes(src),
        ["flow::check::undefined_model", "flow::syntax::unexpected"]
    );
}

#[test]
fn item_22_criteria_reach_the_judge_and_belong_to_judges_only() {
    let src = format!(
        "{MODELS}x = ask m \"q\" vote 3 by judge m criteria \"prefer short answers\"\noutput x\n"
    );
    let (graph, errors) = run(&src);
    assert!(errors.is_empty(), "{errors:?}");
    let graph = graph.expect("a graph");
    let judge = graph.dag.node_weights().find_map(|n| match &n.kind {
        NodeKind::Ask {
            sampling:
                Sampling::Vote {
                    strategy: Strategy::Judge(j),
                    ..
                },
            ..
        } => Some(j.clone()),
        _ => None,
    });
    let judge = judge.expect("a judge vote");
    assert_eq!(judge.model, "m");
    assert_eq!(judge.criteria.as_deref(), Some("prefer short answers"));

    let e = one(
        &format!("{MODELS}x = ask m \"q\" vote 3 by majority criteria \"short\"\noutput x\n"),
        "strategy_arg",
    );
    assert_eq!(
        e.to_string(),
        "`majority` takes no `criteria`: only a `judge` is told them"
    );
}

// ------------------------------------------------------------- functions

const PANEL: &str = "model j = mock(reply: \"no\")\n\
    fn flagged(t: text) = ask j \"unsafe? {t}\" as bool vote 3 by majority\n";

#[test]
fn each_call_expands_into_its_own_nodes_inside_a_call_cluster() {
    let src = format!(
        "{PANEL}input q: text\nsection <\n  a = flagged(q)\n  b = flagged(\"{{q}}!\")\n>\noutput o = a or b\n"
    );
    let g = clean(&src);
    let (_, a) = node(&g, "a.flagged");
    let (_, b) = node(&g, "b.flagged");
    assert!(matches!(a.kind, NodeKind::Ask { .. }));
    assert!(matches!(b.kind, NodeKind::Ask { .. }));
    let (ca, cb) = (a.section.expect("a cluster"), b.section.expect("a cluster"));
    assert_ne!(ca, cb, "one cluster per call");
    for c in [ca, cb] {
        assert_eq!(g.sections[c].function.as_deref(), Some("flagged"));
        assert_eq!(g.sections[c].parent, Some(0), "inside the section");
    }
    assert_eq!(crate::graph::stats::summary(&g).calls.to_string(), "6");
    // The call's value is the body's node; its input reaches it directly.
    assert!(
        edges_into(&g, "a.flagged")
            .iter()
            .any(|(from, _, _)| from == "q")
    );
}

#[test]
fn a_block_body_lowers_each_local_once_in_any_order() {
    let src = format!(
        "{MODELS}fn brief(c: text) = < s = ask m \"sum {{r}}\"\n r = ask m \"risks {{c}}\"\n \"{{s}}/{{r}}\" >\n\
         input c: text\noutput o = brief(c)\n"
    );
    let g = clean(&src);
    node(&g, "o.brief.r");
    node(&g, "o.brief.s");
    let edges = edges_into(&g, "o.brief.s");
    assert!(
        edges.iter().any(|(from, _, _)| from == "o.brief.r"),
        "{edges:?}"
    );
    assert_eq!(crate::graph::stats::summary(&g).longest_chain, 2);
}

#[test]
fn a_section_body_is_a_record_and_a_for_body_calls_per_item() {
    let src = format!(
        "{MODELS}fn facets(d: text) = section < who = ask m \"who {{d}}\", when = ask m \"when {{d}}\" >\n\
         fn each(xs: list<text>) = for x in xs < ask m \"{{x}}\" >\n\
         input d: text\nf = facets(d)\noutput o = \"{{f.who}} {{f.when}}\"\noutput l = each([d, d])\n"
    );
    let g = clean(&src);
    assert!(matches!(node(&g, "f.facets").1.kind, NodeKind::Record(_)));
    node(&g, "f.facets.who");
    assert!(matches!(node(&g, "l.each").1.kind, NodeKind::Map { .. }));
}

#[test]
fn a_call_in_a_branch_is_guarded_like_an_inline_ask() {
    let src =
        format!("{PANEL}input q: text\noutput o = if len(q) > 3 then flagged(q) else false\n");
    let g = clean(&src);
    assert_eq!(node(&g, "o.flagged").1.guards.len(), 1);
}

#[test]
fn recursion_names_the_chain_of_calls() {
    let src = "fn a(x: int) = b(x)\nfn b(y: int) = a(y)\ninput n: int\noutput o = a(n)\n";
    let e = one(src, "recursion");
    assert!(e.to_string().contains("`a` → `b` → `a`"), "{e}");
    assert_eq!(
        labels(src, &e),
        vec![ch(src, "b(x)", 1), ch(src, "a(y)", 1)]
    );
}

#[test]
fn arity_and_argument_types_are_checked_at_the_call() {
    let src =
        format!("{PANEL}input n: int\noutput o = flagged(n)\noutput p = flagged(\"a\", \"b\")\n");
    let e = one(&src, "argument_type");
    assert_eq!(labels(&src, &e)[0], ch(&src, "n)", 1));
    let e = one(&src, "arity");
    assert!(
        e.to_string().contains("takes 1 argument, but 2 were given"),
        "{e}"
    );
}

#[test]
fn a_body_sees_only_its_parameters() {
    let src = format!(
        "{MODELS}input tone: text\nfn f(q: text) = ask m \"{{tone}} {{q}}\"\noutput o = f(tone)\n"
    );
    let e = one(&src, "outside_function");
    assert_eq!(labels(&src, &e)[0], at(&src, "tone", 2));
}

#[test]
fn a_mistake_in_a_body_is_reported_once_with_the_first_call() {
    let src = format!(
        "{MODELS}fn f(q: text) = ask m \"{{q}}\" as int vote 2 by at_least 1\ninput q: text\noutput a = f(q)\noutput b = f(q)\n"
    );
    let e = one(&src, "strategy_type");
    let related: Vec<_> = e.related().into_iter().flatten().collect();
    assert_eq!(related.len(), 1);
    let call = related[0]
        .labels()
        .and_then(|mut l| l.next())
        .expect("a label");
    assert_eq!(call.offset(), at(&src, "f(q)", 1).start);
}

#[test]
fn a_block_needs_one_value() {
    let src = format!(
        "{MODELS}fn f(q: text) = < a = ask m \"{{q}}\" >\ninput q: text\noutput o = f(q)\n"
    );
    one(&src, "block_value");
}

#[test]
fn functions_are_unique_and_not_builtins_and_unused_ones_warn() {
    one(
        "fn f() = 1\nfn f() = 2\noutput o = f()\n",
        "duplicate_function",
    );
    one(
        "fn len(t: text) = 1\noutput o = len(\"a\")\n",
        "builtin_function",
    );
    let e = one("fn f() = 1\noutput o = 2\n", "unused");
    assert!(e.to_string().contains("function `f`"), "{e}");
}

#[test]
fn nested_calls_that_multiply_are_bounded() {
    let mut src = String::from("fn f0(t: text) = t\n");
    for i in 1..=18 {
        src.push_str(&format!(
            "fn f{i}(t: text) = join([f{}(t), f{}(t)], \"\")\n",
            i - 1,
            i - 1
        ));
    }
    src.push_str("input t: text\noutput o = f18(t)\n");
    one(&src, "expansion_too_large");
}

#[test]
fn a_file_of_functions_alone_is_a_library() {
    let (graph, errors) = run(PANEL);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(graph.is_some());
}

#[test]
fn a_namespace_that_is_not_imported_is_reported() {
    let e = one("input q: text\noutput o = lib.f(q)\n", "unknown_namespace");
    assert!(e.to_string().contains("`lib`"), "{e}");
}

/// Inside a `for` body a call through a `fallback` model may try every
/// member, and a vote by judge asks the judge once more: the worst case
/// counts both per item, as it does outside a `for`.
#[test]
fn a_for_body_counts_fallback_members_and_a_judge() {
    let g = clean(
        "model a = mock(reply: \"x\")\nmodel b = mock(reply: \"y\")\n\
         model smart = fallback(a, b)\n\
         output o = for x in [\"1\", \"2\"] < ask smart \"{x}\" >\n",
    );
    assert_eq!(crate::graph::stats::summary(&g).calls.to_string(), "4");
    let g = clean(
        "model a = mock(reply: \"x\")\nmodel j = mock(reply: \"1\")\n\
         output o = for x in [\"1\", \"2\"] < ask a \"{x}\" vote 3 by judge j >\n",
    );
    assert_eq!(crate::graph::stats::summary(&g).calls.to_string(), "8");
}

#[test]
fn the_two_forms_of_until_ask_different_questions() {
    let sampling = |vote: &str| {
        let ty = if vote.contains("at_least") {
            "bool"
        } else {
            "int"
        };
        let src = format!("{MODELS}v = ask m \"q\" as {ty} {vote}\noutput o = v\n");
        match &node(&clean(&src), "v").1.kind {
            NodeKind::Ask { sampling, .. } => sampling.clone(),
            other => panic!("`v` should be an ask, not {other:?}"),
        }
    };
    let vote = |n, strategy, until| Sampling::Vote { n, strategy, until };
    // `up to N` is a cap: the paper's rule on the leader.
    assert_eq!(
        sampling("vote up to 9 by majority until 0.95"),
        vote(9, Strategy::Majority, Some(Until::leader(0.95)))
    );
    // A vote of `N` that may stop: would all `N` give the leader?
    assert_eq!(
        sampling("vote 9 by majority until 0.95"),
        vote(9, Strategy::Majority, Some(Until::full_vote(0.95)))
    );
    // `at_least` asks about a count, which only the full vote answers.
    for form in [
        "vote up to 9 by at_least 5 until 0.9",
        "vote 9 by at_least 5 until 0.9",
    ] {
        assert_eq!(
            sampling(form),
            vote(9, Strategy::AtLeast(5), Some(Until::full_vote(0.9))),
            "{form}"
        );
    }
}
