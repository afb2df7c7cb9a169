//! `CallCache`: the cache a run holds, in whichever store its location
//! names — a file path for SQLite, a `postgres://` URL for PostgreSQL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::CacheError;
use super::backend::CacheBackend;
use super::key::CallKey;
use super::store::{BUSY, CacheClose, CacheStats, CachedReply, SqliteCache};

/// The call cache, shared by every run that holds it. Close it to learn
/// what could not be saved.
#[derive(Debug)]
pub struct CallCache {
    location: PathBuf,
    store: Box<dyn CacheBackend>,
}

/// The URL when `location` names a PostgreSQL database.
pub fn postgres_url(location: &Path) -> Option<&str> {
    let text = location.to_str()?;
    (text.starts_with("postgres://") || text.starts_with("postgresql://")).then_some(text)
}

/// `location` as messages show it: a URL's password never appears.
pub fn label(location: &Path) -> String {
    match postgres_url(location) {
        Some(url) => redact(url),
        None => location.display().to_string(),
    }
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:***@host/db?password=***`.
pub(crate) fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_string(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

impl CallCache {
    /// Opens (creating if needed) the cache at `location`: a SQLite file
    /// and its folder, or a PostgreSQL database's tables.
    pub fn open(location: &Path) -> Result<CallCache, CacheError> {
        CallCache::open_with_timeout(location, BUSY)
    }

    /// [`CallCache::open`] waiting at most `busy` for another process's lock.
    pub fn open_with_timeout(location: &Path, busy: Duration) -> Result<CallCache, CacheError> {
        let store: Box<dyn CacheBackend> = match postgres_url(location) {
            Some(url) => open_postgres(url)?,
            None => Box::new(SqliteCache::open_with_timeout(location, busy)?),
        };
        Ok(CallCache {
            location: location.to_path_buf(),
            store,
        })
    }

    /// Records `program` (its absolute path) as the maker of every entry
    /// this handle saves from now on.
    pub fn for_program(self, program: impl Into<String>) -> CallCache {
        self.store.set_program(program.into());
        self
    }

    /// The file or URL it was opened at (show it with [`label`]).
    pub fn path(&self) -> &Path {
        &self.location
    }

    pub(crate) fn get(&self, key: &CallKey) -> Option<CachedReply> {
        self.store.get(key)
    }

    pub(crate) fn put(&self, key: CallKey, reply: CachedReply) {
        self.store.put(key, reply);
    }

    /// Blocks until every call queued so far is committed (or has failed).
    pub fn flush(&self) {
        self.store.flush();
    }

    /// Commits what is queued, stops the writer, and tells what was lost.
    pub fn close(&self) -> CacheClose {
        self.store.close()
    }

    /// Provider batches submitted and not yet ended (`--batch-api`).
    pub fn pending_batches(&self) -> Result<Vec<super::StoredBatch>, CacheError> {
        self.store.pending_batches()
    }

    /// Records a submitted batch, so a re-run can pick it up.
    pub fn save_batch(&self, batch: &super::StoredBatch) -> Result<(), CacheError> {
        self.store.save_batch(batch)
    }

    /// Marks a batch ended.
    pub fn end_batch(&self, id: &str) -> Result<(), CacheError> {
        self.store.end_batch(id)
    }

    pub(crate) fn put_raw(&self, key: &str, reply: CachedReply) -> bool {
        match CallKey::from_hex(key) {
            Some(k) => {
                self.store.put(k, reply);
                true
            }
            None => false,
        }
    }

    /// Entries, size and per-model counts, as `flow cache stats` shows them.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        self.store.stats()
    }

    /// Deletes every entry; returns how many there were.
    pub fn clear(&self) -> Result<u64, CacheError> {
        self.store.clear()
    }

    /// Deletes the entries `program` made and no other program did.
    pub fn clear_program(&self, program: &str) -> Result<u64, CacheError> {
        self.store.clear_program(program)
    }
}

#[cfg(feature = "postgres")]
fn open_postgres(url: &str) -> Result<Box<dyn CacheBackend>, CacheError> {
    Ok(Box::new(super::postgres::PgCache::open(url)?))
}

#[cfg(not(feature = "postgres"))]
fn open_postgres(url: &str) -> Result<Box<dyn CacheBackend>, CacheError> {
    Err(CacheError::NoPostgres { path: redact(url) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_urls_password_is_never_shown() {
        for (url, want) in [
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgresql://u@h/db", "postgresql://u@h/db"),
            (
                "postgres://h/db?user=u&password=pw&x=1",
                "postgres://h/db?user=u&password=***&x=1",
            ),
            ("postgres://u:p@ss:w@h", "postgres://u:***@h"),
        ] {
            assert_eq!(redact(url), want);
        }
        assert_eq!(label(Path::new("/tmp/c.db")), "/tmp/c.db");
    }
}
