//! Hand-built graphs for the renderers' tests, so they do not depend on the
//! checker: each node's edges are derived from the nodes its expressions
//! mention, as lowering does.

use std::collections::HashSet;

use indexmap::IndexMap;
use petgraph::graph::DiGraph;

use super::describe::walk_expr;
use super::*;
use crate::model::{ModelOptions, ModelSpec, ProviderKind};
use crate::types::Type;
use crate::value::Value;

pub struct Builder {
    g: FlowGraph,
    section: Option<usize>,
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            g: FlowGraph {
                dag: DiGraph::default(),
                models: IndexMap::new(),
                inputs: IndexMap::new(),
                outputs: IndexMap::new(),
                sections: Vec::new(),
            },
            section: None,
        }
    }

    fn span(&self) -> Span {
        let at = (self.g.dag.node_count() + self.g.models.len() + self.g.sections.len()) * 10;
        Span::new(at, at + 5)
    }

    pub fn model(
        &mut self,
        name: &str,
        provider: ProviderKind,
        id: Option<&str>,
    ) -> &mut ModelSpec {
        let spec = ModelSpec {
            name: name.to_string(),
            provider,
            model_id: id.map(str::to_string),
            options: ModelOptions::default(),
            span: self.span(),
        };
        self.g.models.insert(name.to_string(), spec);
        &mut self.g.models[name]
    }

    /// Opens a section inside the current one; nodes added next belong to it.
    pub fn open_section(&mut self, name: Option<&str>) -> usize {
        let span = self.span();
        self.g.sections.push(SectionInfo {
            name: name.map(str::to_string),
            span,
            parent: self.section,
            function: None,
        });
        let id = self.g.sections.len() - 1;
        self.section = Some(id);
        id
    }

    pub fn close_section(&mut self) {
        self.section = self
            .section
            .and_then(|s| self.g.sections.get(s))
            .and_then(|s| s.parent);
    }

    /// Adds a node with data edges from every node its expressions mention.
    pub fn node(&mut self, name: &str, ty: Type, kind: NodeKind) -> NodeId {
        let mut deps = Vec::new();
        let mut seen = HashSet::new();
        let mut visit = |e: &Expr| {
            if let ExprKind::Node(id) = e.kind
                && seen.insert(id)
            {
                deps.push(id);
            }
        };
        for e in node_exprs(&kind) {
            walk_expr(e, &mut visit);
        }
        if let NodeKind::Record(members) = &kind {
            deps.extend(members.iter().map(|(_, id)| *id));
        }
        let span = self.span();
        let id = self.g.dag.add_node(Node {
            name: name.to_string(),
            kind,
            ty,
            span,
            section: self.section,
            guards: Vec::new(),
        });
        for dep in deps {
            let label = self.g.dag[dep].name.clone();
            self.g.dag.add_edge(
                dep,
                id,
                Edge {
                    label,
                    kind: EdgeKind::Data,
                },
            );
        }
        id
    }

    pub fn input(&mut self, name: &str, ty: Type) -> NodeId {
        let id = self.node(name, ty, NodeKind::Input { default: None });
        self.g.inputs.insert(name.to_string(), id);
        id
    }

    pub fn ask(
        &mut self,
        name: &str,
        model: &str,
        prompt: Template,
        as_: Type,
        sampling: Sampling,
    ) -> NodeId {
        let ty = match sampling {
            Sampling::Repeat(_) => Type::list(as_.clone()),
            _ => as_.clone(),
        };
        let call = self.call(model, prompt, as_);
        self.node(name, ty, NodeKind::Ask { call, sampling })
    }

    pub fn call(&self, model: &str, prompt: Template, parse_as: Type) -> AskCall {
        AskCall {
            model: model.to_string(),
            history: None,
            span: prompt.span,
            prompt,
            system: None,
            parse_as,
            timeout: None,
            retry: None,
        }
    }

    pub fn output(&mut self, name: &str, expr: Expr) -> NodeId {
        let ty = expr.ty.clone();
        let id = self.node(name, ty, NodeKind::Output(expr));
        self.g.outputs.insert(name.to_string(), id);
        id
    }

    /// Makes `id` run only when `cond` is `when`, with the guard edge lowering adds.
    pub fn guard(&mut self, id: NodeId, cond: NodeId, when: bool) {
        self.g.dag[id].guards.push(Guard { cond, when });
        let label = self.g.dag[cond].name.clone();
        self.g.dag.add_edge(
            cond,
            id,
            Edge {
                label,
                kind: EdgeKind::Guard,
            },
        );
    }

    /// A reference to a node, typed as the node is.
    pub fn at(&self, id: NodeId) -> Expr {
        expr(ExprKind::Node(id), self.g.dag[id].ty.clone())
    }

    pub fn finish(self) -> FlowGraph {
        self.g
    }
}

fn node_exprs(kind: &NodeKind) -> Vec<&Expr> {
    fn parts<'a>(t: &'a Template, out: &mut Vec<&'a Expr>) {
        for p in &t.parts {
            if let TemplatePart::Expr(e) = p {
                out.push(e);
            }
        }
    }
    let mut out = Vec::new();
    match kind {
        NodeKind::Input { default } => out.extend(default.iter()),
        NodeKind::Ask { call, .. } => parts(&call.prompt, &mut out),
        NodeKind::Ensemble { voters, .. } => {
            for v in voters {
                parts(&v.prompt, &mut out);
            }
        }
        NodeKind::Pure(e) | NodeKind::Output(e) => out.push(e),
        NodeKind::Map { list, body, .. } => {
            out.push(list);
            out.push(body);
        }
        NodeKind::Record(_) => {}
    }
    out
}

pub fn expr(kind: ExprKind, ty: Type) -> Expr {
    Expr {
        kind,
        ty,
        span: Span::default(),
    }
}

pub fn text(s: &str) -> Expr {
    expr(ExprKind::Lit(Value::Text(s.to_string())), Type::Text)
}

/// A template from literal pieces and interpolated expressions.
pub fn tpl(parts: Vec<TemplatePart>) -> Template {
    Template {
        parts,
        span: Span::default(),
    }
}

pub fn lit(s: &str) -> TemplatePart {
    TemplatePart::Lit(s.to_string())
}

pub fn hole(e: Expr) -> TemplatePart {
    TemplatePart::Expr(e)
}

pub fn vote(n: u32, strategy: Strategy) -> Sampling {
    Sampling::Vote {
        n,
        strategy,
        until: None,
    }
}

/// The language guide's first program, with the refusal branch asking again:
/// `output answer = if unsafe then "Sorry..." else ask assistant "Polish: {reply}"`.
pub fn guardrails() -> FlowGraph {
    let mut b = Builder::new();
    b.model("assistant", ProviderKind::OpenAi, Some("gpt-4o-mini"));
    b.model("moderator", ProviderKind::OpenAi, Some("gpt-4o-mini"))
        .options
        .temperature = Some(1.0);
    let query = b.input("query", Type::Text);
    b.open_section(None);
    let reply = b.ask(
        "reply",
        "assistant",
        tpl(vec![
            lit("Answer the user's question concisely.\n\n"),
            hole(b.at(query)),
        ]),
        Type::Text,
        Sampling::One,
    );
    let unsafe_ = b.ask(
        "unsafe",
        "moderator",
        tpl(vec![
            lit("Is the following request inappropriate? Answer \"yes\" or \"no\".\n\n"),
            hole(b.at(query)),
        ]),
        Type::Bool,
        vote(5, Strategy::Majority),
    );
    b.close_section();
    let polish = b.ask(
        "answer.ask1",
        "assistant",
        tpl(vec![lit("Polish: "), hole(b.at(reply))]),
        Type::Text,
        Sampling::One,
    );
    b.guard(polish, unsafe_, false);
    let answer = expr(
        ExprKind::If {
            cond: Box::new(b.at(unsafe_)),
            then: Box::new(text("Sorry, I can't help with that.")),
            else_: Box::new(b.at(polish)),
        },
        Type::Text,
    );
    b.output("answer", answer);
    b.finish()
}

/// Three asks one after another, the last repeated, joined by a pure node.
pub fn chain() -> FlowGraph {
    let mut b = Builder::new();
    b.model("m", ProviderKind::Mock, None);
    let doc = b.input("doc", Type::Text);
    let a = b.ask(
        "a",
        "m",
        tpl(vec![lit("Summarize: "), hole(b.at(doc))]),
        Type::Text,
        Sampling::One,
    );
    let c1 = b.ask(
        "b",
        "m",
        tpl(vec![lit("Critique: "), hole(b.at(a))]),
        Type::Text,
        Sampling::One,
    );
    let c = b.ask(
        "c",
        "m",
        tpl(vec![lit("Improve: "), hole(b.at(c1))]),
        Type::Text,
        Sampling::Repeat(3),
    );
    let joined = expr(
        ExprKind::Call(Builtin::Join, vec![b.at(c), text("\n---\n")]),
        Type::Text,
    );
    let d = b.node("d", Type::Text, NodeKind::Pure(joined));
    let out = b.at(d);
    b.output("d", out);
    b.finish()
}

/// A map over an input list, a map over a written-out list, and a judged vote.
pub fn mapped() -> FlowGraph {
    let mut b = Builder::new();
    b.model("m", ProviderKind::OpenAi, Some("gpt-4o"))
        .options
        .base_url = Some("https://user:sk-secret@proxy.example.com/v1?key=abc".to_string());
    b.model(
        "j",
        ProviderKind::Anthropic,
        Some("claude-3-5-haiku-latest"),
    );
    let items = b.input("items", Type::list(Type::Text));
    let x = expr(ExprKind::Var("x".into()), Type::Text);
    let body = expr(
        ExprKind::Ask(
            Box::new(b.call("m", tpl(vec![lit("Summarize "), hole(x)]), Type::Text)),
            vote(3, Strategy::Majority),
        ),
        Type::Text,
    );
    let list = b.at(items);
    let summaries = b.node(
        "summaries",
        Type::list(Type::Text),
        NodeKind::Map {
            var: "x".into(),
            list,
            body,
            calls_per_item: 3,
        },
    );
    let y = expr(ExprKind::Var("y".into()), Type::Text);
    let body = expr(
        ExprKind::Ask(
            Box::new(b.call("m", tpl(vec![hole(y)]), Type::Text)),
            Sampling::One,
        ),
        Type::Text,
    );
    let list = expr(
        ExprKind::List(vec![text("a"), text("b")]),
        Type::list(Type::Text),
    );
    let fixed = b.node(
        "fixed",
        Type::list(Type::Text),
        NodeKind::Map {
            var: "y".into(),
            list,
            body,
            calls_per_item: 1,
        },
    );
    let best = b.ask(
        "best",
        "m",
        tpl(vec![lit("Pick the best:\n"), hole(b.at(summaries))]),
        Type::Text,
        vote(2, Strategy::Judge("j".into())),
    );
    let out = b.at(best);
    b.output("best", out);
    let out = b.at(fixed);
    b.output("fixed", out);
    b.finish()
}

/// An ensemble of three voters nested in a bound section, beside a plain ask.
pub fn ensemble() -> FlowGraph {
    let mut b = Builder::new();
    b.model("reviewer", ProviderKind::OpenAi, Some("gpt-4o"));
    b.model(
        "strict",
        ProviderKind::Anthropic,
        Some("claude-3-5-sonnet-latest"),
    );
    let code = b.input("code", Type::Text);
    b.open_section(Some("checks"));
    b.open_section(Some("vulnerable"));
    let voters = [
        "As a security auditor: exploitable?",
        "As a penetration tester: breakable?",
        "Unsafe input handling?",
    ]
    .iter()
    .zip(["reviewer", "reviewer", "strict"])
    .map(|(q, m)| {
        b.call(
            m,
            tpl(vec![lit(q), lit("\n"), hole(b.at(code))]),
            Type::Bool,
        )
    })
    .collect();
    let vulnerable = b.node(
        "vulnerable",
        Type::Bool,
        NodeKind::Ensemble {
            voters,
            per_voter: 3,
            strategy: Strategy::AtLeast(4),
            until: None,
        },
    );
    b.close_section();
    let style = b.ask(
        "style",
        "strict",
        tpl(vec![lit("Review the style of <code>: "), hole(b.at(code))]),
        Type::Text,
        Sampling::One,
    );
    b.close_section();
    let record_ty = Type::Record(IndexMap::from([
        ("vulnerable".to_string(), Type::Bool),
        ("style".to_string(), Type::Text),
    ]));
    let checks = b.node(
        "checks",
        record_ty,
        NodeKind::Record(vec![
            ("vulnerable".into(), vulnerable),
            ("style".into(), style),
        ]),
    );
    let field = |f: &str, ty| expr(ExprKind::Field(Box::new(b.at(checks)), f.to_string()), ty);
    let verdict = expr(
        ExprKind::If {
            cond: Box::new(field("vulnerable", Type::Bool)),
            then: Box::new(text("reject")),
            else_: Box::new(field("style", Type::Text)),
        },
        Type::Text,
    );
    b.output("verdict", verdict);
    b.finish()
}

/// Names and text chosen to break naive quoting in every output format.
pub fn hostile() -> FlowGraph {
    const NASTY: &str = "say \"hi\" \\N \\l <b>{}</b> #quot; `md` a|b &amp;\n} ]; digraph x { end";
    let mut b = Builder::new();
    b.model("m\"x", ProviderKind::Mock, None);
    let q = b.input("q", Type::Text);
    b.open_section(Some("s\\\"} end ]"));
    let a = b.ask(
        "a|\"b",
        "m\"x",
        tpl(vec![lit(NASTY), hole(b.at(q))]),
        Type::Text,
        Sampling::One,
    );
    b.close_section();
    let out = expr(
        ExprKind::Template(tpl(vec![lit(NASTY), hole(b.at(a))])),
        Type::Text,
    );
    b.output("o", out);
    b.finish()
}
