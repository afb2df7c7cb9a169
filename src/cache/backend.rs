//! What a cache store does, whichever database holds it: the runtime and
//! `flow cache` see only this, so SQLite (one machine) and PostgreSQL (many)
//! answer alike — content-addressed entries, the first writer of a key wins,
//! writes committed in groups off the run's path, entries per program.

use super::CacheError;
use super::key::CallKey;
use super::store::{CacheClose, CacheStats, CachedReply};

/// What a store's writer and readers ran into, for [`CacheBackend::close`].
#[derive(Default)]
pub(crate) struct Log {
    pub written: u64,
    pub lost: u64,
    pub write_error: Option<String>,
    pub read_error: Option<String>,
}

impl Log {
    /// The store's closing report: what was written and what went wrong,
    /// `label` being the store as messages name it.
    pub fn report(&self, label: &str) -> CacheClose {
        let mut problems = Vec::new();
        if self.lost > 0 {
            problems.push(CacheError::Write {
                path: label.to_string(),
                lost: self.lost,
                reason: self.write_error.clone().unwrap_or_else(|| "unknown".into()),
            });
        }
        if let Some(why) = &self.read_error {
            problems.push(CacheError::Read {
                path: label.to_string(),
                reason: why.clone(),
            });
        }
        CacheClose {
            written: self.written,
            problems,
        }
    }
}

pub(crate) trait CacheBackend: Send + Sync + std::fmt::Debug {
    /// The stored reply for `key`; a failed lookup is recorded for
    /// [`CacheBackend::close`] and answers `None`, so the call is made again.
    fn get(&self, key: &CallKey) -> Option<CachedReply>;
    /// Queues a completed call; returns at once. A key stored before keeps
    /// its first reply.
    fn put(&self, key: CallKey, reply: CachedReply);
    /// Records `program` as the maker of every entry saved from now on.
    fn set_program(&self, program: String);
    /// Blocks until everything queued so far is committed (or failed).
    fn flush(&self);
    /// Commits what is queued, stops writing, tells what was lost.
    fn close(&self) -> CacheClose;
    fn stats(&self) -> Result<CacheStats, CacheError>;
    /// Deletes every entry; returns how many there were.
    fn clear(&self) -> Result<u64, CacheError>;
    /// Deletes the entries only `program` made; returns how many.
    fn clear_program(&self, program: &str) -> Result<u64, CacheError>;
    /// Provider batches submitted and not yet ended (`--batch-api`), so a
    /// re-run polls them instead of paying for their requests twice. Every
    /// store keeps them: a store that forgot them would make a re-run
    /// submit again.
    fn pending_batches(&self) -> Result<Vec<super::StoredBatch>, CacheError>;
    /// Records a submitted batch, for [`CacheBackend::pending_batches`].
    fn save_batch(&self, batch: &super::StoredBatch) -> Result<(), CacheError>;
    /// Marks a batch ended, once the replies queued before it are committed.
    fn end_batch(&self, id: &str) -> Result<(), CacheError>;
}

impl CacheBackend for super::store::SqliteCache {
    fn get(&self, key: &CallKey) -> Option<CachedReply> {
        super::store::SqliteCache::get(self, key)
    }
    fn put(&self, key: CallKey, reply: CachedReply) {
        super::store::SqliteCache::put(self, key, reply)
    }
    fn set_program(&self, program: String) {
        super::store::SqliteCache::set_program(self, program)
    }
    fn flush(&self) {
        super::store::SqliteCache::flush(self)
    }
    fn close(&self) -> CacheClose {
        super::store::SqliteCache::close(self)
    }
    fn stats(&self) -> Result<CacheStats, CacheError> {
        super::store::SqliteCache::stats(self)
    }
    fn clear(&self) -> Result<u64, CacheError> {
        super::store::SqliteCache::clear(self)
    }
    fn clear_program(&self, program: &str) -> Result<u64, CacheError> {
        super::store::SqliteCache::clear_program(self, program)
    }
    fn pending_batches(&self) -> Result<Vec<super::StoredBatch>, CacheError> {
        super::store::SqliteCache::pending_batches(self)
    }
    fn save_batch(&self, batch: &super::StoredBatch) -> Result<(), CacheError> {
        super::store::SqliteCache::save_batch(self, batch)
    }
    fn end_batch(&self, id: &str) -> Result<(), CacheError> {
        super::store::SqliteCache::end_batch(self, id)
    }
}
