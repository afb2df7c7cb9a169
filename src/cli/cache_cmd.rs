//! `flow cache stats|clear`, and opening the cache for `flow run`.

use std::path::{Path, PathBuf};

use super::args::{CacheAction, CacheArgs};
use super::exit;
use super::terminal::{Failure, Terminal};
use crate::cache::{CacheClose, CallCache, DEFAULT_DIR, DEFAULT_FILE};
use crate::engine::CacheChoice;

/// `--cache PATH`, else `.flow/cache.db` beside the program (or here).
pub(super) fn resolve(program: Option<&Path>, explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    let dir = program
        .and_then(Path::parent)
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(DEFAULT_DIR).join(DEFAULT_FILE)
}

/// The cache a run uses: none with `--no-cache`, and none for `--offline`,
/// whose placeholders cost nothing and are not worth a file.
pub(super) fn choice_for_run(program: &Path, args: &CacheArgs, offline: bool) -> CacheChoice {
    if args.no_cache || (offline && args.path.is_none()) {
        return CacheChoice::None;
    }
    CacheChoice::Path(resolve(Some(program), args.path.as_deref()))
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
        CacheAction::Stats { file, cache, .. } | CacheAction::Clear { file, cache } => {
            (file.as_deref(), cache.path.as_deref())
        }
    };
    let path = resolve(file, explicit);
    if !path.exists() {
        // Opening would create it; reading an absent cache is just empty.
        return match action {
            CacheAction::Stats { json: true, .. } => {
                let doc = serde_json::json!({
                    "path": path.display().to_string(),
                    "entries": 0,
                    "bytes": 0,
                    "models": [],
                });
                term.out(&format!("{doc}\n"));
                Ok(())
            }
            _ => {
                term.out(&format!(
                    "no cache at `{}`: nothing to do\n",
                    path.display()
                ));
                Ok(())
            }
        };
    }
    let cache = CallCache::open(&path).map_err(|e| Failure::run(e, None))?;
    let result = match action {
        CacheAction::Stats { json, .. } => cache.stats().map(|s| {
            if json {
                term.out(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&s).unwrap_or_default()
                ));
            } else {
                term.out(&stats_text(&s));
            }
        }),
        CacheAction::Clear { .. } => cache.clear().map(|n| {
            term.out(&format!(
                "cleared {} from `{}`\n",
                entries(n),
                path.display()
            ));
        }),
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
    fn the_default_cache_sits_beside_the_program() {
        assert_eq!(
            resolve(Some(Path::new("examples/a.flow")), None),
            Path::new("examples/.flow/cache.db")
        );
        assert_eq!(
            resolve(Some(Path::new("a.flow")), None),
            Path::new("./.flow/cache.db")
        );
        assert_eq!(resolve(None, Some(Path::new("x.db"))), Path::new("x.db"));
    }

    #[test]
    fn sizes_read_like_a_person_wrote_them() {
        assert_eq!(human_bytes(12), "12 bytes");
        assert_eq!(human_bytes(4096), "4.0 KiB");
    }
}
