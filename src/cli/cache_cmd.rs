//! `flow cache stats|clear`, and opening the cache for `flow run`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use miette::Diagnostic;

use super::args::{CacheAction, CacheArgs};
use super::exit;
use super::terminal::{Failure, Terminal};
use crate::cache::{CacheClose, CacheError, CallCache};
use crate::engine::CacheChoice;

#[derive(Debug, thiserror::Error, Diagnostic)]
enum CacheCmdError {
    #[error("there is no program `{path}`: its cache entries cannot be found")]
    #[diagnostic(
        code(flow::cache::no_program),
        help("check the path; `flow cache clear --all` empties the whole cache")
    )]
    NoProgram { path: String },

    #[error("there is no cache directory on this system for the default cache")]
    #[diagnostic(
        code(flow::cache::no_cache_dir),
        help("name the file with `--cache PATH`")
    )]
    NoCacheDir,
}

/// The default cache could not be used: the run goes on without it.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("running without the call cache: {cause}")]
#[diagnostic(
    code(flow::cache::unavailable),
    severity(Warning),
    help(
        "completed calls will not be saved for a re-run; fix the cause, choose a file with `--cache PATH`, or pass `--no-cache` to silence this"
    )
)]
struct Unavailable {
    cause: CacheError,
}

/// The environment variable naming the cache when `--cache` does not: a
/// file path or a `postgres://` URL, so every shard of a job can be pointed
/// at one database without repeating the URL (and its password) in
/// each command line.
pub const CACHE_ENV: &str = "FLOW_CACHE";

/// The cache the user named: `--cache`, else `FLOW_CACHE`.
fn named(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(CACHE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// `--cache PATH`, else `FLOW_CACHE`, else the default cache in the user's
/// cache directory.
pub(super) fn resolve(explicit: Option<&Path>) -> Option<PathBuf> {
    named(explicit).or_else(crate::cache::default_path)
}

/// What a program is called in the cache: its absolute path, so the same
/// file run from any folder is one program.
pub(super) fn program_identity(program: &Path) -> Option<String> {
    if super::source::is_stdin(program) {
        return None;
    }
    std::fs::canonicalize(program)
        .ok()
        .map(|p| p.display().to_string())
}

/// The cache a run uses: none with `--no-cache`, and none for `--offline`,
/// whose placeholders cost nothing and are not worth a file. A cache named
/// with `--cache` that cannot be opened stops the run; the default one is
/// a convenience, so the run goes on without it after one warning.
pub(super) fn choice_for_run(
    program: &Path,
    args: &CacheArgs,
    offline: bool,
    term: &mut Terminal,
) -> Result<CacheChoice, Failure> {
    let explicit = named(args.path.as_deref()).is_some();
    if args.no_cache || (offline && !explicit) {
        return Ok(CacheChoice::None);
    }
    let Some(path) = resolve(args.path.as_deref()) else {
        term.diagnostic(
            &Unavailable {
                cause: CacheError::Open {
                    path: "the user's cache directory".into(),
                    reason: "this system has none (no home directory?)".into(),
                },
            },
            None,
        );
        return Ok(CacheChoice::None);
    };
    match CallCache::open(&path) {
        Ok(cache) => {
            let cache = match program_identity(program) {
                Some(id) => cache.for_program(id),
                None => cache,
            };
            Ok(CacheChoice::Open(Arc::new(cache)))
        }
        Err(e) if explicit => Err(Failure::run(e, None)),
        Err(cause) => {
            term.diagnostic(&Unavailable { cause }, None);
            Ok(CacheChoice::None)
        }
    }
}

/// Shows what closing the cache found; `true` when calls were lost (a
/// warning alone, such as a failed lookup, is not a failure).
pub(super) fn show_close(closed: Option<CacheClose>, term: &mut Terminal) -> bool {
    let Some(closed) = closed else { return false };
    let mut lost = false;
    for p in &closed.problems {
        lost |= !p.is_warning();
        term.diagnostic(p, None);
    }
    lost
}

pub fn run(action: CacheAction, term: &mut Terminal) -> Result<(), Failure> {
    let (file, explicit) = match &action {
        CacheAction::Stats { file, cache, .. } | CacheAction::Clear { file, cache, .. } => {
            (file.as_deref(), cache.path.as_deref())
        }
    };
    // The program whose entries to show or clear, by its identity.
    let program = match file {
        Some(f) => match program_identity(f) {
            Some(id) => Some(id),
            None => {
                return Err(Failure::run(
                    CacheCmdError::NoProgram {
                        path: f.display().to_string(),
                    },
                    None,
                ));
            }
        },
        None => None,
    };
    let path = resolve(explicit).ok_or_else(|| Failure::run(CacheCmdError::NoCacheDir, None))?;
    let shown = crate::cache::label(&path);
    if crate::cache::postgres_url(&path).is_none() && !path.exists() {
        // Opening would create it; reading an absent cache is just empty.
        return match action {
            CacheAction::Stats { json: true, .. } => {
                let doc = serde_json::json!({
                    "path": shown,
                    "entries": 0,
                    "bytes": 0,
                    "models": [],
                    "programs": [],
                    "unattributed": 0,
                });
                term.out(&format!("{doc}\n"));
                Ok(())
            }
            _ => {
                term.out(&format!("no cache at `{shown}`: nothing to do\n"));
                Ok(())
            }
        };
    }
    let cache = CallCache::open(&path).map_err(|e| Failure::run(e, None))?;
    let result = match action {
        CacheAction::Stats { json, .. } => cache.stats().map(|mut s| {
            if let Some(p) = &program {
                s.programs.retain(|e| &e.program == p);
            }
            if json {
                term.out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&s).unwrap_or_default()
                ));
            } else {
                term.out(&stats_text(&s));
            }
        }),
        CacheAction::Clear { .. } => match (&program, file) {
            (Some(p), Some(f)) => cache.clear_program(p).map(|n| {
                term.out(&format!(
                    "cleared {} made by `{}` from `{shown}`\n",
                    entries(n),
                    f.display(),
                ));
            }),
            _ => cache.clear().map(|n| {
                term.out(&format!("cleared {} from `{shown}`\n", entries(n)));
            }),
        },
    };
    let lost = show_close(Some(cache.close()), term);
    result.map_err(|e| Failure::run(e, None))?;
    if lost {
        return Err(Failure::quiet(exit::FAILURE));
    }
    Ok(())
}

fn entries(n: u64) -> String {
    if n == 1 {
        "1 entry".into()
    } else {
        format!("{n} entries")
    }
}

fn stats_text(s: &crate::cache::CacheStats) -> String {
    let mut out = format!(
        "{}: {}, {}\n",
        s.path,
        entries(s.entries),
        human_bytes(s.bytes)
    );
    if !s.programs.is_empty() || s.unattributed > 0 {
        out.push_str("by program:\n");
        for p in &s.programs {
            out.push_str(&format!(
                "  {}  {}, {} in, {} out tokens\n",
                p.program,
                entries(p.entries),
                p.input_tokens,
                p.output_tokens
            ));
        }
        if s.unattributed > 0 {
            out.push_str(&format!(
                "  (no recorded program)  {}\n",
                entries(s.unattributed)
            ));
        }
        out.push_str("by model:\n");
    }
    let width = s.models.iter().map(|m| m.model.len()).max().unwrap_or(0);
    for m in &s.models {
        out.push_str(&format!(
            "  {:width$}  {:9}  {:>8}  {} in, {} out tokens\n",
            m.model,
            m.provider,
            entries(m.entries),
            m.input_tokens,
            m.output_tokens,
        ));
    }
    out
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut x = n as f64;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    match (unit, UNITS.get(unit)) {
        (0, _) => format!("{n} bytes"),
        (_, Some(u)) => format!("{x:.1} {u}"),
        _ => format!("{n} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_18_the_default_cache_is_in_the_users_cache_directory() {
        let default = resolve(None);
        assert_eq!(default, crate::cache::default_path());
        if let (Some(d), Some(base)) = (default, dirs::cache_dir()) {
            assert!(d.starts_with(base), "{}", d.display());
        }
        assert_eq!(
            resolve(Some(Path::new("x.db"))),
            Some(PathBuf::from("x.db"))
        );
    }

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(4096), "4.0 KiB");
    }
}
