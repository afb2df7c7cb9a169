//! The message loop: documents in, analyses out.
//!
//! One thread owns every document. A change after a quiet spell is
//! compiled at once; changes coming faster than the debounce window are
//! coalesced and compiled once when it closes (`debounce`), and a request
//! compiles at once whatever is pending, so a burst of keystrokes costs one
//! compile per window and an answer is never about stale text.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lsp_server::{Connection, ErrorCode, Message, Notification, Request, Response};
use lsp_types::notification::{
    DidChangeTextDocument, DidCloseTextDocument, DidOpenTextDocument, Exit, Notification as _,
    PublishDiagnostics,
};
use lsp_types::request::{
    CodeLensRequest, Completion, DocumentHighlightRequest, DocumentSymbolRequest, Formatting,
    GotoDefinition, HoverRequest, InlayHintRequest, PrepareRenameRequest, References, Rename,
    Request as _, SemanticTokensFullRequest, Shutdown,
};
use lsp_types::{
    CodeLens, CodeLensOptions, Command, CompletionOptions, CompletionResponse, DocumentHighlight,
    DocumentSymbolResponse, GotoDefinitionResponse, Hover, HoverContents, HoverProviderCapability,
    InitializeParams, InlayHint, InlayHintLabel, MarkupContent, MarkupKind, OneOf,
    PositionEncodingKind, PrepareRenameResponse, PublishDiagnosticsParams, RenameOptions,
    SemanticTokens, SemanticTokensFullOptions, SemanticTokensOptions, SemanticTokensResult,
    SemanticTokensServerCapabilities, ServerCapabilities, TextDocumentContentChangeEvent,
    TextDocumentSyncCapability, TextDocumentSyncKind, TextEdit, Uri,
};
use serde_json::Value;

use super::analysis::Analysis;
use super::debounce::{Debounce, OnChange};
use super::error::LspError;
use super::{completion, hints, hover, navigate, tokens};

/// Settings a client may pass as `initializationOptions`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The window in which changes after the first are coalesced into one
    /// compile (the first after a quiet spell is compiled at once).
    pub debounce: Duration,
    /// Where docs/errors.md is, for the links of diagnostic codes.
    pub errors_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            debounce: Duration::from_millis(20),
            errors_url: format!("file://{}/docs/errors.md", env!("CARGO_MANIFEST_DIR")),
        }
    }
}

impl Settings {
    fn from_options(options: Option<&Value>) -> Settings {
        let mut s = Settings::default();
        if let Some(ms) = options
            .and_then(|o| o.get("debounceMs"))
            .and_then(Value::as_u64)
        {
            s.debounce = Duration::from_millis(ms.min(10_000));
        }
        if let Some(url) = options
            .and_then(|o| o.get("errorsUrl"))
            .and_then(Value::as_str)
        {
            s.errors_url = url.trim_end_matches('#').to_string();
        }
        s
    }
}

struct Document {
    text: String,
    version: i32,
    /// The analysis of the text as it was when last compiled.
    analysis: Option<Arc<Analysis>>,
    /// `text` changed since `analysis` was made (or there is none yet).
    dirty: bool,
    /// When the next compile is due.
    debounce: Debounce,
}

pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(
            TextDocumentSyncKind::INCREMENTAL,
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        document_highlight_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: Default::default(),
        })),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![
                ".".into(),
                "{".into(),
                "(".into(),
                ",".into(),
                " ".into(),
            ]),
            ..CompletionOptions::default()
        }),
        document_symbol_provider: Some(OneOf::Left(true)),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: tokens::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                work_done_progress_options: Default::default(),
            },
        )),
        inlay_hint_provider: Some(OneOf::Left(true)),
        code_lens_provider: Some(CodeLensOptions {
            resolve_provider: Some(false),
        }),
        document_formatting_provider: super::format::available().then_some(OneOf::Left(true)),
        ..ServerCapabilities::default()
    }
}

/// Serves one client on `connection` until it says `exit`.
pub fn serve(connection: &Connection) -> Result<(), LspError> {
    let (id, params) = connection.initialize_start()?;
    let params: InitializeParams = serde_json::from_value(params).unwrap_or_default();
    let settings = Settings::from_options(params.initialization_options.as_ref());
    let result = serde_json::json!({
        "capabilities": capabilities(),
        "serverInfo": { "name": "flow", "version": env!("CARGO_PKG_VERSION") },
    });
    connection.initialize_finish(id, result)?;
    let mut server = Server {
        connection,
        settings,
        docs: HashMap::new(),
        shutdown: false,
    };
    server.run()
}

struct Server<'c> {
    connection: &'c Connection,
    settings: Settings,
    docs: HashMap<Uri, Document>,
    shutdown: bool,
}

impl Server<'_> {
    fn run(&mut self) -> Result<(), LspError> {
        loop {
            let next_due = self.docs.values().filter_map(|d| d.debounce.due()).min();
            let msg = match next_due {
                Some(due) => {
                    let wait = due.saturating_duration_since(Instant::now());
                    match self.connection.receiver.recv_timeout(wait) {
                        Ok(msg) => Some(msg),
                        Err(e) if e.is_timeout() => None,
                        Err(_) => return Err(LspError::Disconnected),
                    }
                }
                None => match self.connection.receiver.recv() {
                    Ok(msg) => Some(msg),
                    Err(_) => return Err(LspError::Disconnected),
                },
            };
            match msg {
                None => self.publish_due()?,
                Some(Message::Request(req)) => self.request(req)?,
                Some(Message::Notification(n)) => {
                    if n.method == Exit::METHOD {
                        return if self.shutdown {
                            Ok(())
                        } else {
                            Err(LspError::ExitBeforeShutdown)
                        };
                    }
                    self.notification(n)?;
                }
                Some(Message::Response(_)) => {}
            }
        }
    }

    fn send(&self, msg: impl Into<Message>) -> Result<(), LspError> {
        self.connection
            .sender
            .send(msg.into())
            .map_err(|_| LspError::Disconnected)
    }

    /// Compiles every document whose debounce has run out, and publishes.
    fn publish_due(&mut self) -> Result<(), LspError> {
        let now = Instant::now();
        let due: Vec<Uri> = self
            .docs
            .iter()
            .filter(|(_, d)| d.debounce.is_due(now))
            .map(|(u, _)| u.clone())
            .collect();
        for uri in due {
            self.analyse(&uri)?;
        }
        Ok(())
    }

    /// The current analysis of `uri`, compiling (and publishing) first if
    /// the text changed since the last; the compile opens a debounce window.
    fn analyse(&mut self, uri: &Uri) -> Result<Option<Arc<Analysis>>, LspError> {
        let Some(doc) = self.docs.get_mut(uri) else {
            return Ok(None);
        };
        if let Some(a) = &doc.analysis
            && !doc.dirty
        {
            // Nothing to compile, so nothing stays due (a due compile
            // always comes with a change, but a loop must never spin on one).
            doc.debounce.cancel();
            return Ok(Some(a.clone()));
        }
        doc.dirty = false;
        let text = doc.text.clone();
        // The statements of the last version, when it parsed cleanly, for
        // parsing only what changed; taken rather than copied when no
        // request still holds that analysis (the usual case). What is left
        // of it is freed once the new diagnostics are out.
        let mut old = doc.analysis.take();
        let previous = old.as_mut().and_then(|a| match Arc::get_mut(a) {
            Some(mine) => mine.take_syntax(),
            None => a.copy_syntax(),
        });
        // Imports are read from the editor's buffers when they are open.
        let loader = super::imports::OpenFirst {
            open: self
                .docs
                .iter()
                .filter(|(u, _)| *u != uri)
                .filter_map(|(u, d)| {
                    let path = super::imports::file_path(u)?;
                    Some((crate::import::normalize(path.as_ref()), d.text.as_str()))
                })
                .collect(),
        };
        let errors_url = &self.settings.errors_url;
        let analysis = catch_unwind(AssertUnwindSafe(|| {
            Analysis::after_edit(uri, text, previous, errors_url, &loader)
        }))
        .map_err(|_| LspError::Bug("compiling the document"))?;
        drop(loader);
        let analysis = Arc::new(analysis);
        let Some(doc) = self.docs.get_mut(uri) else {
            return Ok(None);
        };
        let params = PublishDiagnosticsParams {
            uri: uri.clone(),
            diagnostics: analysis.diagnostics.clone(),
            version: Some(doc.version),
        };
        // The diagnostics go out first; the old analysis is freed after.
        self.send(Notification::new(PublishDiagnostics::METHOD.into(), params))?;
        if let Some(doc) = self.docs.get_mut(uri) {
            doc.analysis = Some(analysis.clone());
            doc.debounce.checked(Instant::now());
        }
        Ok(Some(analysis))
    }

    /// Open documents importing `uri` are checked again, `after` from now:
    /// what they import changed.
    fn importers_due(&mut self, uri: &Uri, after: Duration) {
        let Some(path) = super::imports::file_path(uri) else {
            return;
        };
        let path = crate::import::normalize(path.as_ref());
        for (u, d) in &mut self.docs {
            let imports_it = d.analysis.as_ref().is_some_and(|a| {
                a.imports
                    .files
                    .iter()
                    .any(|f| std::path::Path::new(&f.name) == path)
            });
            if u != uri && imports_it {
                d.dirty = true;
                d.debounce.schedule(Instant::now() + after);
            }
        }
    }

    fn notification(&mut self, n: Notification) -> Result<(), LspError> {
        match n.method.as_str() {
            DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(n.params)
                else {
                    return Ok(());
                };
                let uri = p.text_document.uri;
                self.docs.insert(
                    uri.clone(),
                    Document {
                        text: p.text_document.text,
                        version: p.text_document.version,
                        analysis: None,
                        dirty: true,
                        debounce: Debounce::new(self.settings.debounce),
                    },
                );
                // Opening is not typing: no reason to wait, and the first
                // edit after it is a leading edge.
                self.analyse(&uri)?;
                if let Some(doc) = self.docs.get_mut(&uri) {
                    doc.debounce.checked_quietly();
                }
                self.importers_due(&uri, Duration::ZERO);
            }
            DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(n.params)
                else {
                    return Ok(());
                };
                let debounce = self.settings.debounce;
                let uri = p.text_document.uri;
                let Some(doc) = self.docs.get_mut(&uri) else {
                    return Ok(());
                };
                for change in p.content_changes {
                    apply(&mut doc.text, change);
                }
                doc.version = p.text_document.version;
                doc.dirty = true;
                if doc.debounce.changed(Instant::now()) == OnChange::CheckNow {
                    self.analyse(&uri)?;
                }
                self.importers_due(&uri, debounce);
            }
            DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(n.params)
                else {
                    return Ok(());
                };
                self.docs.remove(&p.text_document.uri);
                // Its importers read it from disk again.
                self.importers_due(&p.text_document.uri, Duration::ZERO);
                let params = PublishDiagnosticsParams {
                    uri: p.text_document.uri,
                    diagnostics: Vec::new(),
                    version: None,
                };
                self.send(Notification::new(PublishDiagnostics::METHOD.into(), params))?;
            }
            _ => {}
        }
        Ok(())
    }

    fn request(&mut self, req: Request) -> Result<(), LspError> {
        if req.method == Shutdown::METHOD {
            self.shutdown = true;
            return self.send(Response::new_ok(req.id, ()));
        }
        if self.shutdown {
            return self.send(Response::new_err(
                req.id,
                ErrorCode::InvalidRequest as i32,
                "the server is shutting down".into(),
            ));
        }
        let Some(uri) = req
            .params
            .get("textDocument")
            .and_then(|t| t.get("uri"))
            .and_then(Value::as_str)
            .and_then(|u| u.parse::<Uri>().ok())
        else {
            return self.send(Response::new_err(
                req.id,
                ErrorCode::MethodNotFound as i32,
                format!("`{}` is not supported", req.method),
            ));
        };
        let Some(analysis) = self.analyse(&uri)? else {
            return self.send(Response::new_ok(req.id, Value::Null));
        };
        let id = req.id.clone();
        // Other open documents, for the uses of a name across files.
        let others: Vec<(Uri, Arc<Analysis>)> = if req.method == References::METHOD {
            self.docs
                .iter()
                .filter(|(u, _)| **u != uri)
                .filter_map(|(u, d)| Some((u.clone(), d.analysis.clone()?)))
                .collect()
        } else {
            Vec::new()
        };
        let answer = catch_unwind(AssertUnwindSafe(|| answer(&analysis, &uri, &others, req)));
        let response = match answer {
            Ok(Ok(value)) => Response::new_ok(id, value),
            Ok(Err((code, message))) => Response::new_err(id, code as i32, message),
            Err(_) => Response::new_err(
                id,
                ErrorCode::InternalError as i32,
                "this is a bug in flow: the language server failed to answer; please report it"
                    .into(),
            ),
        };
        self.send(response)
    }
}

/// Applies one change to a document's text.
fn apply(text: &mut String, change: TextDocumentContentChangeEvent) {
    match change.range {
        None => *text = change.text,
        Some(range) => {
            let lines = super::line_index::LineIndex::new(text);
            let start = lines.offset(text, range.start);
            let end = lines.offset(text, range.end).max(start);
            text.replace_range(start..end, &change.text);
        }
    }
}

type Answer = Result<Value, (ErrorCode, String)>;

fn params<P: serde::de::DeserializeOwned>(req: Request) -> Result<P, (ErrorCode, String)> {
    serde_json::from_value(req.params).map_err(|e| (ErrorCode::InvalidParams, e.to_string()))
}

fn json(v: impl serde::Serialize) -> Answer {
    serde_json::to_value(v).map_err(|e| (ErrorCode::InternalError, e.to_string()))
}

fn answer(a: &Analysis, uri: &Uri, others: &[(Uri, Arc<Analysis>)], req: Request) -> Answer {
    match req.method.as_str() {
        HoverRequest::METHOD => {
            let p: lsp_types::HoverParams = params(req)?;
            let offset = a.offset(p.text_document_position_params.position);
            json(hover::hover(a, offset).map(|(md, span)| Hover {
                contents: HoverContents::Markup(MarkupContent {
                    kind: MarkupKind::Markdown,
                    value: md,
                }),
                range: Some(a.range(span)),
            }))
        }
        GotoDefinition::METHOD => {
            let p: lsp_types::GotoDefinitionParams = params(req)?;
            let offset = a.offset(p.text_document_position_params.position);
            json(navigate::definition(a, uri, offset).map(GotoDefinitionResponse::Scalar))
        }
        References::METHOD => {
            let p: lsp_types::ReferenceParams = params(req)?;
            let offset = a.offset(p.text_document_position.position);
            json(navigate::references_everywhere(
                (uri, a),
                others,
                offset,
                p.context.include_declaration,
            ))
        }
        DocumentHighlightRequest::METHOD => {
            let p: lsp_types::DocumentHighlightParams = params(req)?;
            let offset = a.offset(p.text_document_position_params.position);
            let spans = navigate::references(a, offset, true);
            json(
                spans
                    .into_iter()
                    .filter(|s| s.start <= a.text.len())
                    .map(|s| DocumentHighlight {
                        range: a.range(s),
                        kind: None,
                    })
                    .collect::<Vec<_>>(),
            )
        }
        PrepareRenameRequest::METHOD => {
            let p: lsp_types::TextDocumentPositionParams = params(req)?;
            let offset = a.offset(p.position);
            json(
                navigate::prepare_rename(a, offset)
                    .map(|s| PrepareRenameResponse::Range(a.range(s))),
            )
        }
        Rename::METHOD => {
            let p: lsp_types::RenameParams = params(req)?;
            let offset = a.offset(p.text_document_position.position);
            match navigate::rename(a, offset, &p.new_name) {
                Ok(spans) => json(navigate::workspace_edit(a, uri, spans, &p.new_name)),
                Err(why) => Err((ErrorCode::InvalidParams, why)),
            }
        }
        Completion::METHOD => {
            let p: lsp_types::CompletionParams = params(req)?;
            let offset = a.offset(p.text_document_position.position);
            json(CompletionResponse::Array(completion::complete(a, offset)))
        }
        DocumentSymbolRequest::METHOD => json(DocumentSymbolResponse::Nested(
            navigate::document_symbols(a),
        )),
        SemanticTokensFullRequest::METHOD => json(SemanticTokensResult::Tokens(SemanticTokens {
            result_id: None,
            data: tokens::semantic_tokens(a),
        })),
        InlayHintRequest::METHOD => {
            let p: lsp_types::InlayHintParams = params(req)?;
            let (from, to) = (a.offset(p.range.start), a.offset(p.range.end));
            let hints = a
                .program
                .as_ref()
                .map(|prog| hints::hints(prog, &a.text))
                .unwrap_or_default();
            json(
                hints
                    .into_iter()
                    .filter(|h| from <= h.offset && h.offset <= to)
                    .map(|h| InlayHint {
                        position: a.lines.position(&a.text, h.offset),
                        label: InlayHintLabel::String(h.label),
                        kind: None,
                        text_edits: None,
                        tooltip: None,
                        padding_left: Some(true),
                        padding_right: None,
                        data: None,
                    })
                    .collect::<Vec<_>>(),
            )
        }
        CodeLensRequest::METHOD => {
            let lenses = a
                .program
                .as_ref()
                .map(|prog| hints::lenses(prog, &a.text))
                .unwrap_or_default();
            json(
                lenses
                    .into_iter()
                    .map(|l| {
                        let at = a.lines.position(&a.text, l.offset);
                        CodeLens {
                            range: lsp_types::Range::new(at, at),
                            // No command to run: the title is the point
                            // (VS Code shows a lens without one as text).
                            command: Some(Command::new(l.title, String::new(), None)),
                            data: None,
                        }
                    })
                    .collect::<Vec<_>>(),
            )
        }
        Formatting::METHOD => match super::format::format(&a.text) {
            Some(formatted) if formatted != a.text => json(vec![TextEdit::new(
                a.range(crate::syntax::Span::new(0, a.text.len())),
                formatted,
            )]),
            _ => json(Vec::<TextEdit>::new()),
        },
        other => Err((
            ErrorCode::MethodNotFound,
            format!("`{other}` is not supported"),
        )),
    }
}
