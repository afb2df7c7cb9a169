//! How nodes and expressions read to a person, in one place, so the DOT,
//! Mermaid and JSON renderings and the call counts all say the same thing.
//!
//! Everything here renders program text back in `.flow`-like syntax, made
//! short enough for a node label. Nothing here may show a secret: models are
//! named, never their keys, and URLs lose their credentials and query strings.

use super::{
    Expr, ExprKind, FlowGraph, Node, NodeKind, Sampling, StopRule, Strategy, Template,
    TemplatePart, Until,
};
use crate::value::{Value, format_number};

/// How long an expression may get in a one-line label before it is cut.
pub const LABEL_WIDTH: usize = 40;

/// The kind of a node as one lowercase word, for JSON and styling.
pub fn kind_name(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Input { .. } => "input",
        NodeKind::Ask { .. } => "ask",
        NodeKind::Ensemble { .. } => "ensemble",
        NodeKind::Pure(_) => "pure",
        NodeKind::Map { .. } => "map",
        NodeKind::Record(_) => "record",
        NodeKind::Output(_) => "output",
    }
}

/// Whether a node draws as "many samples": a repeat, a vote or an ensemble.
pub fn is_multi_sample(kind: &NodeKind) -> bool {
    match kind {
        NodeKind::Ask { sampling, .. } => *sampling != Sampling::One,
        NodeKind::Ensemble { .. } => true,
        _ => false,
    }
}

/// An adaptive vote's count as written: `×≤N` for `vote up to N` (a cap),
/// `×N` for `vote N ... until P` (a vote of `N` that may stop early).
fn cap(n: u32, until: Until) -> String {
    match until.rule {
        StopRule::Leader => format!("×≤{n}"),
        StopRule::FullVote => format!("×{n}"),
    }
}

fn until_text(until: Until) -> String {
    format!(" until {}", until.confidence)
}

/// ` ×5 by majority`, ` ×3` (repeat) or nothing for a single sample.
pub fn sampling_suffix(sampling: &Sampling) -> String {
    match sampling {
        Sampling::One => String::new(),
        Sampling::Repeat(n) => format!(" ×{n}"),
        Sampling::Vote {
            n,
            strategy,
            until: None,
        } => format!(" ×{n} by {strategy}"),
        Sampling::Vote {
            n,
            strategy,
            until: Some(until),
        } => format!(" {} by {strategy}{}", cap(*n, *until), until_text(*until)),
    }
}

/// The line under a node's name that says what it does, e.g.
/// `ask moderator ×5 by majority` or `for x in items`.
pub fn node_detail(g: &FlowGraph, node: &Node) -> String {
    match &node.kind {
        NodeKind::Input { default } => match default {
            Some(d) => truncate(
                &format!("input: {} = {}", node.ty, expr_text(g, d)),
                LABEL_WIDTH,
            ),
            None => format!("input: {}", node.ty),
        },
        NodeKind::Ask { call, sampling } => {
            format!("ask {}{}", call.model, sampling_suffix(sampling))
        }
        NodeKind::Ensemble {
            voters,
            per_voter,
            strategy,
            until,
        } => {
            let noun = if voters.len() == 1 { "voter" } else { "voters" };
            match until {
                None => format!("{} {noun} ×{per_voter} by {strategy}", voters.len()),
                Some(until) => format!(
                    "{} {noun} {} by {strategy}{}",
                    voters.len(),
                    cap(*per_voter, *until),
                    until_text(*until)
                ),
            }
        }
        NodeKind::Pure(e) => truncate(&expr_text(g, e), LABEL_WIDTH),
        NodeKind::Map { var, list, .. } => {
            let var = written_var(var);
            truncate(&format!("for {var} in {}", expr_text(g, list)), LABEL_WIDTH)
        }
        NodeKind::Record(members) => {
            let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
            truncate(&format!("section <{}>", names.join(", ")), LABEL_WIDTH)
        }
        NodeKind::Output(e) => match &e.kind {
            // `output x` outputs binding x: the name already says it all.
            ExprKind::Node(id) if g.dag.node_weight(*id).is_some_and(|n| n.name == node.name) => {
                "output".to_string()
            }
            _ => truncate(&format!("output = {}", expr_text(g, e)), LABEL_WIDTH),
        },
    }
}

/// The whole node as one line of `.flow`-like text (prompts included), for
/// tools that want more than a label; cut at 300 characters.
pub fn node_text(g: &FlowGraph, node: &Node) -> String {
    let text = match &node.kind {
        NodeKind::Ask { call, sampling } => format!(
            "{}: {} = ask {} {}{}{}{}",
            node.name,
            node.ty,
            call.model,
            template_text(g, &call.prompt),
            call.history
                .as_ref()
                .map(|h| format!(" with {}", expr_text(g, h)))
                .unwrap_or_default(),
            as_suffix(&call.parse_as),
            sampling_suffix(sampling)
        ),
        NodeKind::Ensemble { voters, .. } => {
            let lines: Vec<String> = voters
                .iter()
                .map(|v| {
                    format!(
                        "ask {} {}{}",
                        v.model,
                        template_text(g, &v.prompt),
                        as_suffix(&v.parse_as)
                    )
                })
                .collect();
            format!("{}: {}\n{}", node.name, node.ty, lines.join("\n"))
        }
        NodeKind::Map {
            var, list, body, ..
        } => format!(
            "{}: {} = for {} in {} < {} >",
            node.name,
            node.ty,
            written_var(var),
            expr_text(g, list),
            expr_text(g, body)
        ),
        NodeKind::Pure(e) | NodeKind::Output(e) => {
            format!("{}: {} = {}", node.name, node.ty, expr_text(g, e))
        }
        NodeKind::Input { .. } | NodeKind::Record(_) => format!("{}: {}", node.name, node.ty),
    };
    truncate(&text, 300)
}

fn as_suffix(ty: &crate::types::Type) -> String {
    if *ty == crate::types::Type::Text {
        String::new()
    } else {
        format!(" as {ty}")
    }
}

/// One model a node calls; `judge` when it is the judge of a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelUse<'a> {
    /// The model's flow name.
    pub model: &'a str,
    /// Whether the node calls it as the judge of a vote rather than to answer.
    pub judge: bool,
}

/// The models a node calls, first use first, each (model, role) once.
pub fn models_used(node: &Node) -> Vec<ModelUse<'_>> {
    fn add<'a>(uses: &mut Vec<ModelUse<'a>>, model: &'a str, judge: bool) {
        let u = ModelUse { model, judge };
        if !uses.contains(&u) {
            uses.push(u);
        }
    }
    fn add_sampling<'a>(uses: &mut Vec<ModelUse<'a>>, sampling: &'a Sampling) {
        if let Sampling::Vote {
            strategy: Strategy::Judge(m),
            ..
        } = sampling
        {
            add(uses, &m.model, true);
        }
    }
    fn add_expr<'a>(uses: &mut Vec<ModelUse<'a>>, e: &'a Expr) {
        walk_expr(e, &mut |e| {
            if let ExprKind::Ask(call, sampling) = &e.kind {
                add(uses, &call.model, false);
                add_sampling(uses, sampling);
            }
        });
    }
    let mut uses = Vec::new();
    match &node.kind {
        NodeKind::Ask { call, sampling } => {
            add(&mut uses, &call.model, false);
            add_sampling(&mut uses, sampling);
        }
        NodeKind::Ensemble {
            voters, strategy, ..
        } => {
            for v in voters {
                add(&mut uses, &v.model, false);
            }
            if let Strategy::Judge(m) = strategy {
                add(&mut uses, &m.model, true);
            }
        }
        NodeKind::Map { list, body, .. } => {
            add_expr(&mut uses, list);
            add_expr(&mut uses, body);
        }
        NodeKind::Pure(e) | NodeKind::Output(e) => add_expr(&mut uses, e),
        NodeKind::Input { .. } | NodeKind::Record(_) => {}
    }
    uses
}

/// Calls `f` on `e` and every expression inside it, templates included,
/// parents before children.
pub fn walk_expr<'a>(e: &'a Expr, f: &mut impl FnMut(&'a Expr)) {
    f(e);
    for child in children(e) {
        walk_expr(child, f);
    }
}

/// The direct sub-expressions of `e`, templates included.
pub fn children(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    match &e.kind {
        ExprKind::Lit(_) | ExprKind::Node(_) | ExprKind::Var(_) => {}
        ExprKind::Template(t) => push_template(&t.parts, &mut out),
        ExprKind::List(items) | ExprKind::Call(_, items) => out.extend(items.iter()),
        ExprKind::Field(inner, _) | ExprKind::Not(inner) => out.push(inner),
        ExprKind::And(a, b) | ExprKind::Or(a, b) | ExprKind::Compare(_, a, b) => {
            out.push(a);
            out.push(b);
        }
        ExprKind::If { cond, then, else_ } => {
            out.push(cond);
            out.push(then);
            out.push(else_);
        }
        ExprKind::Ask(call, _) => {
            push_template(&call.prompt.parts, &mut out);
            if let Some(s) = &call.system {
                push_template(&s.parts, &mut out);
            }
        }
        ExprKind::Map { list, body, .. } => {
            out.push(list);
            out.push(body);
        }
    }
    out
}

fn push_template<'a>(parts: &'a [TemplatePart], out: &mut Vec<&'a Expr>) {
    for p in parts {
        if let TemplatePart::Expr(e) = p {
            out.push(e);
        }
    }
}

/// The expression as it would be written in `.flow`, with node references by
/// binding name.
pub fn expr_text(g: &FlowGraph, e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(v) => value_text(v),
        ExprKind::Node(id) => node_name(g, *id).to_string(),
        ExprKind::Var(v) => written_var(v).to_string(),
        ExprKind::Template(t) => template_text(g, t),
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(|i| expr_text(g, i)).collect();
            format!("[{}]", items.join(", "))
        }
        ExprKind::Field(inner, field) => format!("{}.{field}", operand(g, inner)),
        ExprKind::Call(b, args) => {
            let args: Vec<String> = args.iter().map(|a| expr_text(g, a)).collect();
            format!("{}({})", b.name(), args.join(", "))
        }
        ExprKind::Not(inner) => format!("not {}", operand(g, inner)),
        ExprKind::And(a, b) => format!("{} and {}", operand(g, a), operand(g, b)),
        ExprKind::Or(a, b) => format!("{} or {}", operand(g, a), operand(g, b)),
        ExprKind::Compare(op, a, b) => {
            let op = match op {
                super::CompareOp::Eq => "==",
                super::CompareOp::Ne => "!=",
                super::CompareOp::Lt => "<",
                super::CompareOp::Le => "<=",
                super::CompareOp::Gt => ">",
                super::CompareOp::Ge => ">=",
            };
            format!("{} {op} {}", operand(g, a), operand(g, b))
        }
        ExprKind::If { cond, then, else_ } => format!(
            "if {} then {} else {}",
            expr_text(g, cond),
            expr_text(g, then),
            expr_text(g, else_)
        ),
        ExprKind::Ask(call, sampling) => format!(
            "ask {} {}{}{}",
            call.model,
            template_text(g, &call.prompt),
            as_suffix(&call.parse_as),
            sampling_suffix(sampling)
        ),
        ExprKind::Map { var, list, body } => format!(
            "for {} in {} < {} >",
            written_var(var),
            expr_text(g, list),
            expr_text(g, body)
        ),
    }
}

/// An operand of an operator, parenthesized unless it is atomic, so the text
/// reads unambiguously without knowing precedence.
fn operand(g: &FlowGraph, e: &Expr) -> String {
    match &e.kind {
        ExprKind::Lit(_)
        | ExprKind::Node(_)
        | ExprKind::Var(_)
        | ExprKind::Template(_)
        | ExprKind::List(_)
        | ExprKind::Field(..)
        | ExprKind::Call(..) => expr_text(g, e),
        _ => format!("({})", expr_text(g, e)),
    }
}

/// A node's binding name, or `?` for an id that is not in the graph.
/// Every edge as `(from, to, edge)` node indices, in a stable order (by
/// endpoints, then insertion), so renderings can be snapshot-tested.
pub fn edges_in_order(g: &FlowGraph) -> Vec<(usize, usize, &super::Edge)> {
    let mut edges: Vec<_> = g
        .dag
        .edge_indices()
        .filter_map(|e| {
            let (from, to) = g.dag.edge_endpoints(e)?;
            Some((from.index(), to.index(), e.index(), g.dag.edge_weight(e)?))
        })
        .collect();
    edges.sort_by_key(|(from, to, e, _)| (*from, *to, *e));
    edges
        .into_iter()
        .map(|(from, to, _, edge)| (from, to, edge))
        .collect()
}

/// How a guard edge reads: `if true` / `if false`, from the guarded node.
pub fn guard_label(g: &FlowGraph, from: usize, to: usize) -> String {
    g.dag
        .node_weight(super::NodeId::new(to))
        .and_then(|n| n.guards.iter().find(|gd| gd.cond.index() == from))
        .map(|gd| format!("if {}", gd.when))
        .unwrap_or_else(|| "guard".to_string())
}

/// The name of node `id`, or `?` for an id not in the graph.
pub fn node_name(g: &FlowGraph, id: super::NodeId) -> &str {
    g.dag
        .node_weight(id)
        .map(|n| n.name.as_str())
        .unwrap_or("?")
}

/// A template as a `.flow` string literal: `"text {name}"`.
pub fn template_text(g: &FlowGraph, t: &Template) -> String {
    let mut s = String::from("\"");
    for p in &t.parts {
        match p {
            TemplatePart::Lit(lit) => s.push_str(&escape_flow_string(lit)),
            TemplatePart::Expr(e) => {
                s.push('{');
                s.push_str(&expr_text(g, e));
                s.push('}');
            }
        }
    }
    s.push('"');
    s
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Text(s) => format!("\"{}\"", escape_flow_string(s)),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Number(n) => format_number(*n),
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(value_text).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Json(_) | Value::Record(_) | Value::Placeholder(_) | Value::Chat(_) => {
            v.to_json().to_string()
        }
    }
}

/// Escapes text the way a `.flow` string literal writes it, so a rendered
/// label never contains a raw line break or an ambiguous brace.
fn escape_flow_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// At most `max` characters, cut with `…` when longer.
pub fn truncate(s: &str, max: usize) -> String {
    // The ellipsis counts toward `max`, so labels keep their width.
    match crate::text::cut(s, max) {
        (all, false) => all.to_string(),
        _ => crate::text::shorten(s, max.saturating_sub(1)),
    }
}

/// A URL fit to show: no `user:password@`, no query string or fragment
/// (where tokens tend to hide).
pub fn redact_url(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or("");
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(i) => authority.get(i + 1..).unwrap_or(""),
        None => authority,
    };
    format!("{scheme}{host}{path}")
}

/// How a model reads in a label: `openai gpt-4o-mini`, plus its server when
/// set; a routed model as declared, `fallback(primary, backup)`.
pub fn model_detail(spec: &crate::model::ModelSpec) -> String {
    if let Some(route) = &spec.options.route {
        return route.to_string();
    }
    let mut s = spec.provider.name().to_string();
    if let Some(id) = &spec.model_id {
        s.push(' ');
        s.push_str(id);
    }
    if let Some(url) = &spec.options.base_url {
        s.push_str(" @ ");
        s.push_str(&redact_url(url));
    }
    s
}

/// A loop variable as the program wrote it: inside a function's body the
/// graph names it after its expansion too (`x@call.f`, see `check::lower`),
/// which a reader does not need to see.
fn written_var(var: &str) -> &str {
    var.split_once('@').map_or(var, |(v, _)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_drops_credentials_and_query() {
        assert_eq!(
            redact_url("https://user:sk-secret@api.example.com/v1?key=sk-2#frag"),
            "https://api.example.com/v1"
        );
        assert_eq!(
            redact_url("http://localhost:11434/v1"),
            "http://localhost:11434/v1"
        );
        assert_eq!(redact_url("tok@host"), "host");
        assert_eq!(redact_url("https://a@b@host/p@q"), "https://host/p@q");
        assert_eq!(redact_url(""), "");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("héllo", 5), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
        assert_eq!(truncate("abc", 0), "…");
    }

    #[test]
    fn the_two_adaptive_forms_read_as_written() {
        let vote = |until| Sampling::Vote {
            n: 40,
            strategy: Strategy::Majority,
            until: Some(until),
        };
        assert_eq!(
            sampling_suffix(&vote(Until::leader(0.95))),
            " ×≤40 by majority until 0.95"
        );
        assert_eq!(
            sampling_suffix(&vote(Until::full_vote(0.99))),
            " ×40 by majority until 0.99"
        );
    }

    #[test]
    fn flow_strings_escape_breaks_and_braces() {
        assert_eq!(
            escape_flow_string("a\"b\\c\nd{e}\u{7}"),
            "a\\\"b\\\\c\\nd\\{e\\} "
        );
    }
}
