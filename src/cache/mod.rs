//! The call cache: every completed LLM call, content-addressed, in SQLite
//! (one machine) or PostgreSQL (`--cache postgres://...`, many machines).
//!
//! Calls cost money and time, so a run that dies at 90% must not pay for the
//! first 90% again, and editing one prompt must only re-run what depends on
//! it. Both follow from one rule: a call whose provider, model, reply-shaping
//! options, system prompt, rendered prompt, `as` type and sample index are
//! the same as one already completed is answered from the cache (`key`).
//!
//! The store (`store`) writes each completed call from a dedicated writer
//! thread that commits every 20 ms while calls complete, so a run never
//! waits on the disk and a process killed with SIGKILL loses only the calls
//! completed in the last 20 ms. WAL mode and a busy timeout let several `flow`
//! processes share one cache file.

pub(crate) mod backend;
pub(crate) mod error;
mod handle;
pub(crate) mod key;
#[cfg(all(test, feature = "postgres"))]
pub(crate) mod pg_cluster;
#[cfg(feature = "postgres")]
mod pg_tls;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod store;
#[cfg(test)]
mod tests;

pub use error::CacheError;
pub use handle::{CallCache, label, postgres_url};
pub(crate) use key::CallKey;
pub(crate) use store::CachedReply;
pub use store::{CacheClose, CacheStats, ModelEntries, ProgramEntries};

/// A provider batch submitted by `flow run --batch-api`, as the cache keeps
/// it until it ends: which requests (by cache key) it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// The provider's id for it.
    pub id: String,
    /// The provider endpoint it went to (`BatchApi::group`).
    pub group: String,
    /// Its requests' custom ids: their cache keys.
    pub keys: Vec<String>,
}

/// The cache's folder inside the user's cache directory (`$XDG_CACHE_HOME`
/// or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
/// Windows), unless `--cache` says otherwise: nothing is written beside the
/// program, so a read-only project folder runs as well as any.
pub const DEFAULT_DIR: &str = "flow";
/// The cache's file name inside [`DEFAULT_DIR`].
pub const DEFAULT_FILE: &str = "cache.db";

/// The default cache file, or `None` when the platform has no cache
/// directory (no home directory, say).
pub fn default_path() -> Option<std::path::PathBuf> {
    dirs::cache_dir().map(|d| d.join(DEFAULT_DIR).join(DEFAULT_FILE))
}
