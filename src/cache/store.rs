//! The SQLite file behind the cache: one table of completed calls, read by
//! the run's tasks and written by one writer thread.
//!
//! Reads happen inline: a primary-key lookup takes microseconds, and in WAL
//! mode readers never wait for writers. Writes go through a channel to a
//! thread that commits the calls completed within 20 ms of each other in one
//! transaction, so the run never waits for the disk, and a killed process
//! loses at most the calls of the last 20 ms. `synchronous = NORMAL` is durable against a killed process
//! (only a power cut can lose the last commits).

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use super::backend::Log;
use super::error::{CacheError, reason};
use super::key::CallKey;
use crate::providers::Usage;

/// The schema this flow writes, in SQLite's `user_version`. Format 2 adds
/// `uses`: which program made each entry, so one program's entries can be
/// cleared from a cache that many programs share. A format-1 file is
/// migrated in place when opened; its old entries belong to no program.
const FORMAT: i64 = 2;
/// Above this size a cache is only checked for truncation at open, not
/// read through, so opening a large cache stays fast.
const FULL_CHECK_BYTES: u64 = 32 << 20;
/// How long to wait for another process's write to finish.
pub(crate) const BUSY: Duration = Duration::from_secs(10);
/// How long the writer gathers completed calls before committing them: the
/// most a SIGKILL can lose.
const GROUP: Duration = Duration::from_millis(20);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS calls (
    key           BLOB PRIMARY KEY,
    model         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    reply         TEXT NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Which program made which entry: a program is its file's absolute path.
/// An entry two programs made has two rows.
const USES: &str = "
CREATE TABLE IF NOT EXISTS uses (
    key     BLOB NOT NULL,
    program TEXT NOT NULL,
    PRIMARY KEY (key, program)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS uses_by_program ON uses (program, key);
";

/// One completed call as stored: the raw reply, so a hit is parsed exactly
/// as a fresh reply would be.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedReply {
    /// The declared model name of the call that stored it.
    pub model: String,
    pub provider: String,
    pub text: String,
    pub usage: Usage,
}

/// What `flow cache stats` shows.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CacheStats {
    /// The cache file, as shown in messages.
    pub path: String,
    /// Calls stored.
    pub entries: u64,
    /// The database and its write-ahead log, in bytes.
    pub bytes: u64,
    /// Entries per model, one row per (model, provider).
    pub models: Vec<ModelEntries>,
    /// Entries per program that made them (an entry two programs made
    /// counts for both).
    pub programs: Vec<ProgramEntries>,
    /// Entries no recorded program made (written by an older flow).
    pub unattributed: u64,
}

/// What one program's runs put in the cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProgramEntries {
    /// The program's absolute path.
    pub program: String,
    /// Entries it made or used.
    pub entries: u64,
    /// Input tokens those entries cost when they were made.
    pub input_tokens: u64,
    /// Output tokens those entries cost when they were made.
    pub output_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
/// The stored calls of one model.
pub struct ModelEntries {
    /// The declared model name of the calls.
    pub model: String,
    /// The provider that answered them.
    pub provider: String,
    /// Calls stored.
    pub entries: u64,
    /// Tokens a fresh run of these calls would pay for again.
    pub input_tokens: u64,
    /// Tokens of their replies.
    pub output_tokens: u64,
    /// Unix seconds of the oldest and newest entry.
    pub oldest: i64,
    /// Unix seconds of the newest entry.
    pub newest: i64,
}

/// How long a reader keeps one read transaction (one snapshot) open. Taking
/// and releasing SQLite's locks for every lookup costs more than the lookup;
/// a short window keeps that cost off the hot path while others' writes
/// still become visible, and checkpoints proceed, within the window.
const SNAPSHOT: Duration = Duration::from_millis(100);

/// A reading connection and the read transaction it may hold.
struct Reader {
    conn: Connection,
    since: Option<std::time::Instant>,
}

impl Reader {
    fn new(conn: Connection) -> Reader {
        // Pages through memory-mapped I/O: no read() call per page.
        let _ = conn.execute_batch("PRAGMA mmap_size = 268435456");
        Reader { conn, since: None }
    }

    fn lookup(&mut self, key: &CallKey) -> rusqlite::Result<Option<CachedReply>> {
        if self.since.is_some_and(|t| t.elapsed() >= SNAPSHOT) {
            self.end();
        }
        if self.since.is_none() {
            self.conn.execute_batch("BEGIN")?;
            self.since = Some(std::time::Instant::now());
        }
        let found = lookup(&self.conn, key);
        if found.is_err() {
            self.end();
        }
        found
    }

    fn end(&mut self) {
        if self.since.take().is_some() {
            let _ = self.conn.execute_batch("COMMIT");
        }
    }
}

/// What happened to the cache during a run, told when it is closed.
#[derive(Debug, Default)]
pub struct CacheClose {
    /// Calls committed by this process.
    pub written: u64,
    /// Calls lost and lookups that failed; empty when all went well.
    pub problems: Vec<CacheError>,
}

/// Completed calls waiting for the writer. A put is a push under a lock;
/// the writer is woken only by the first put after a commit, by a flush, or
/// by close, so calls completing by the thousand cost no wake-up each.
#[derive(Default)]
struct Queue {
    items: Vec<(CallKey, CachedReply)>,
    /// Entries this program was answered from: recorded as its own too, so
    /// clearing another program that made them leaves them in place.
    hits: Vec<CallKey>,
    /// Answered once everything queued before them is committed.
    flushes: Vec<SyncSender<()>>,
    closed: bool,
}

type Shared = Arc<(Mutex<Queue>, Condvar)>;

/// The call cache in one file, shared by every run that holds it: lookups
/// read SQLite directly, completed calls go to a writer thread. Close it to
/// learn what could not be saved.
pub struct SqliteCache {
    path: PathBuf,
    /// The path as shown in messages.
    label: String,
    busy: Duration,
    readers: Mutex<Vec<Reader>>,
    queue: Shared,
    writer: Mutex<Option<JoinHandle<()>>>,
    log: Arc<Mutex<Log>>,
    /// The program whose calls this handle saves, recorded with each entry.
    program: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for SqliteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteCache")
            .field("path", &self.label)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data
    // (connections, counters) is still sound.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteCache {
    /// Opens (creating if needed) the cache at `path`, and its folder.
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<SqliteCache, CacheError> {
        SqliteCache::open_with_timeout(path, BUSY)
    }

    /// [`SqliteCache::open`] waiting at most `busy` for another process's lock.
    pub fn open_with_timeout(path: &Path, busy: Duration) -> Result<SqliteCache, CacheError> {
        let label = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return Err(CacheError::Open {
                path: label,
                reason: format!("cannot create the folder `{}`: {e}", dir.display()),
            });
        }
        let writer = init_with_retry(path, &label, busy)?;
        let reader = connect(path, &label, busy)?;
        let log = Arc::new(Mutex::new(Log::default()));
        let queue: Shared = Arc::default();
        let program: Arc<Mutex<Option<String>>> = Arc::default();
        let handle = {
            let log = log.clone();
            let queue = queue.clone();
            let program = program.clone();
            std::thread::Builder::new()
                .name("flow-cache-writer".into())
                .spawn(move || write_loop(writer, queue, log, program))
                .map_err(|e| CacheError::Open {
                    path: label.clone(),
                    reason: format!("cannot start the writer thread: {e}"),
                })?
        };
        Ok(SqliteCache {
            path: path.to_path_buf(),
            label,
            busy,
            readers: Mutex::new(vec![Reader::new(reader)]),
            queue,
            writer: Mutex::new(Some(handle)),
            log,
            program,
        })
    }

    /// Records `program` (its absolute path) as the maker of every entry
    /// this handle saves from now on.
    pub fn set_program(&self, program: String) {
        *lock(&self.program) = Some(program);
    }

    /// The stored reply for `key`. A failed lookup is recorded (reported on
    /// close) and answers `None`, so the call is simply made again.
    pub(crate) fn get(&self, key: &CallKey) -> Option<CachedReply> {
        let mut reader = match lock(&self.readers).pop() {
            Some(r) => r,
            None => match connect(&self.path, &self.label, self.busy) {
                Ok(c) => Reader::new(c),
                Err(e) => {
                    self.read_failed(e.to_string());
                    return None;
                }
            },
        };
        let found = reader.lookup(key);
        lock(&self.readers).push(reader);
        match found {
            Ok(Some(hit)) => {
                self.used(*key);
                Some(hit)
            }
            Ok(None) => None,
            Err(e) => {
                self.read_failed(reason(&e));
                None
            }
        }
    }

    /// Queues the record that this handle's program used `key`.
    fn used(&self, key: CallKey) {
        if lock(&self.program).is_none() {
            return;
        }
        let (queue, wake) = &*self.queue;
        let mut q = lock(queue);
        if !q.closed {
            q.hits.push(key);
            if q.hits.len() == 1 && q.items.is_empty() {
                wake.notify_one();
            }
        }
    }

    fn read_failed(&self, why: String) {
        let mut log = lock(&self.log);
        log.read_error.get_or_insert(why);
    }

    /// Queues a completed call for the writer; returns at once.
    pub(crate) fn put(&self, key: CallKey, reply: CachedReply) {
        let sent = {
            let (queue, wake) = &*self.queue;
            let mut q = lock(queue);
            if q.closed {
                false
            } else {
                q.items.push((key, reply));
                if q.items.len() == 1 {
                    wake.notify_one();
                }
                true
            }
        };
        if !sent {
            let mut log = lock(&self.log);
            log.lost += 1;
            log.write_error
                .get_or_insert_with(|| "the cache was already closed".into());
        }
    }

    /// Blocks until every call queued so far is committed (or has failed).
    pub fn flush(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        let sent = {
            let (queue, wake) = &*self.queue;
            let mut q = lock(queue);
            if !q.closed {
                q.flushes.push(ack);
                wake.notify_one();
            }
            !q.closed
        };
        if sent {
            // Fails only if the writer is gone, and then nothing is pending.
            let _ = done.recv();
        }
        // Lookups after a flush see everything flushed.
        lock(&self.readers).iter_mut().for_each(Reader::end);
    }

    /// Commits what is queued, stops the writer, and tells what was lost.
    /// Later `put`s are counted as lost.
    pub fn close(&self) -> CacheClose {
        // Release the readers' snapshots so other processes can checkpoint.
        lock(&self.readers).iter_mut().for_each(Reader::end);
        self.stop_writer();
        lock(&self.log).report(&self.label)
    }

    /// Lets the writer commit what is queued, then waits for it to end.
    fn stop_writer(&self) {
        {
            let (queue, wake) = &*self.queue;
            lock(queue).closed = true;
            wake.notify_one();
        }
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }

    /// Entries, size and per-model counts, as `flow cache stats` shows them.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        let conn = connect(&self.path, &self.label, self.busy)?;
        let err = |e: rusqlite::Error| CacheError::from_sqlite(&self.label, &e);
        let mut st = conn
            .prepare(
                "SELECT model, provider, count(*), sum(input_tokens), sum(output_tokens),
                        min(created_at), max(created_at)
                 FROM calls GROUP BY model, provider ORDER BY model, provider",
            )
            .map_err(err)?;
        let models = st
            .query_map([], |r| {
                Ok(ModelEntries {
                    model: r.get(0)?,
                    provider: r.get(1)?,
                    entries: r.get::<_, i64>(2)?.max(0) as u64,
                    input_tokens: r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
                    output_tokens: r.get::<_, Option<i64>>(4)?.unwrap_or(0).max(0) as u64,
                    oldest: r.get::<_, Option<i64>>(5)?.unwrap_or(0),
                    newest: r.get::<_, Option<i64>>(6)?.unwrap_or(0),
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(err)?;
        let mut st = conn
            .prepare(
                "SELECT u.program, count(*), sum(c.input_tokens), sum(c.output_tokens)
                 FROM uses u JOIN calls c ON c.key = u.key
                 GROUP BY u.program ORDER BY u.program",
            )
            .map_err(err)?;
        let programs = st
            .query_map([], |r| {
                Ok(ProgramEntries {
                    program: r.get(0)?,
                    entries: r.get::<_, i64>(1)?.max(0) as u64,
                    input_tokens: r.get::<_, Option<i64>>(2)?.unwrap_or(0).max(0) as u64,
                    output_tokens: r.get::<_, Option<i64>>(3)?.unwrap_or(0).max(0) as u64,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(err)?;
        let unattributed: i64 = conn
            .query_row(
                "SELECT count(*) FROM calls c WHERE NOT EXISTS (SELECT 1 FROM uses u WHERE u.key = c.key)",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        let bytes = [self.path.clone(), wal_path(&self.path)]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        Ok(CacheStats {
            path: self.label.clone(),
            entries: models.iter().map(|m| m.entries).sum(),
            bytes,
            models,
            programs,
            unattributed: unattributed.max(0) as u64,
        })
    }

    /// Deletes every entry; returns how many there were.
    pub fn clear(&self) -> Result<u64, CacheError> {
        self.flush();
        let conn = connect(&self.path, &self.label, self.busy)?;
        let err = |e: rusqlite::Error| CacheError::from_sqlite(&self.label, &e);
        let n = conn
            .execute_batch("BEGIN IMMEDIATE; DELETE FROM uses;")
            .and_then(|()| conn.execute("DELETE FROM calls", []))
            .and_then(|n| conn.execute_batch("COMMIT").map(|()| n))
            .map_err(err)?;
        compact(&conn);
        Ok(n as u64)
    }

    /// Deletes the entries `program` made and no other program did; returns
    /// how many. Entries another program made too stay, for that program.
    pub fn clear_program(&self, program: &str) -> Result<u64, CacheError> {
        self.flush();
        let conn = connect(&self.path, &self.label, self.busy)?;
        let err = |e: rusqlite::Error| CacheError::from_sqlite(&self.label, &e);
        let n = conn
            .execute_batch("BEGIN IMMEDIATE")
            .and_then(|()| {
                conn.execute(
                    "DELETE FROM calls WHERE key IN (SELECT key FROM uses WHERE program = ?1)
                     AND NOT EXISTS (SELECT 1 FROM uses o WHERE o.key = calls.key AND o.program != ?1)",
                    [program],
                )
            })
            .and_then(|n| {
                conn.execute("DELETE FROM uses WHERE program = ?1", [program])
                    .map(|_| n)
            })
            .and_then(|n| conn.execute_batch("COMMIT").map(|()| n))
            .map_err(err)?;
        compact(&conn);
        Ok(n as u64)
    }
}

fn compact(conn: &Connection) {
    {
        // Give the space back when nobody else has the file open; when
        // someone does, the pages are reused later, which is just as correct.
        let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = conn.execute_batch("VACUUM");
    }
}

impl Drop for SqliteCache {
    fn drop(&mut self) {
        // Never lose queued calls because a caller forgot `close`.
        self.stop_writer();
    }
}

fn wal_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push("-wal");
    PathBuf::from(s)
}

fn connect(path: &Path, label: &str, busy: Duration) -> Result<Connection, CacheError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| CacheError::from_sqlite(label, &e))?;
    conn.busy_timeout(busy)
        .map_err(|e| CacheError::from_sqlite(label, &e))?;
    Ok(conn)
}

/// Opens the writing connection and initialises the file. Two processes
/// creating the same cache at once can see `SQLITE_BUSY` from the switch to
/// WAL mode without SQLite's busy handler being consulted, so a locked
/// result is retried here until `busy` has passed.
fn init_with_retry(path: &Path, label: &str, busy: Duration) -> Result<Connection, CacheError> {
    let deadline = std::time::Instant::now() + busy;
    loop {
        let attempt = connect(path, label, busy).and_then(|c| init(&c, label).map(|()| c));
        match attempt {
            Err(CacheError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// WAL mode, the schema and the format check, once per open.
fn init(conn: &Connection, label: &str) -> Result<(), CacheError> {
    let err = |e: rusqlite::Error| CacheError::from_sqlite(label, &e);
    // SQLite opens a file it may not write read-only without a word, and
    // only the first save would fail: say so now.
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err(CacheError::ReadOnly {
            path: label.to_string(),
        });
    }
    // The first statement reads the header: a file that is not SQLite fails here.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(CacheError::Open {
            path: label.to_string(),
            reason: format!("the file cannot use write-ahead logging (journal mode `{mode}`)"),
        });
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL")
        .map_err(err)?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    if version > FORMAT {
        return Err(CacheError::Version {
            path: label.to_string(),
            found: version,
            supported: FORMAT,
        });
    }
    check_intact(conn, label)?;
    if version == 1 {
        // Format 1 had no `uses`; its entries stay, made by no known program.
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {USES} PRAGMA user_version = {FORMAT}; COMMIT;"
        ))
        .map_err(err)?;
    }
    if version == 0 {
        // Another database that happens to have tables is not ours.
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT IN ('calls', 'uses')",
                [],
                |r| r.get(0),
            )
            .map_err(err)?;
        if tables > 0 {
            return Err(CacheError::Corrupt {
                path: label.to_string(),
                reason: "it is a SQLite database of something else".into(),
            });
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA} {USES} PRAGMA user_version = {FORMAT}; COMMIT;"
        ))
        .map_err(err)?;
    }
    // The table must have the columns this flow reads.
    conn.prepare(
        "SELECT key, model, provider, reply, input_tokens, output_tokens, created_at FROM calls LIMIT 0",
    )
    .and_then(|_| conn.prepare("SELECT key, program FROM uses LIMIT 0"))
    .map_err(|e| CacheError::Corrupt {
        path: label.to_string(),
        reason: reason(&e),
    })?;
    Ok(())
}

/// A truncated or damaged file is found here, before any call, rather than
/// by every lookup missing and every save failing during the run. A file
/// shorter than the pages its header counts was cut off; a small cache is
/// also read through (`PRAGMA quick_check`).
fn check_intact(conn: &Connection, label: &str) -> Result<(), CacheError> {
    let corrupt = |reason: String| CacheError::Corrupt {
        path: label.to_string(),
        reason,
    };
    let err = |e: rusqlite::Error| CacheError::from_sqlite(label, &e);
    let pages: i64 = conn
        .query_row("PRAGMA page_count", [], |r| r.get(0))
        .map_err(err)?;
    let page_size: i64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .map_err(err)?;
    let bytes = pages.max(0) as u64 * page_size.max(0) as u64;
    if bytes > FULL_CHECK_BYTES {
        return Ok(());
    }
    let verdict: String = conn
        .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))
        .map_err(|e| match CacheError::from_sqlite(label, &e) {
            CacheError::Open { reason, .. } => corrupt(reason),
            other => other,
        })?;
    if verdict.eq_ignore_ascii_case("ok") {
        Ok(())
    } else {
        Err(corrupt(format!(
            "the file is damaged or was cut short ({})",
            crate::text::shorten(&verdict, 120)
        )))
    }
}

fn lookup(conn: &Connection, key: &CallKey) -> rusqlite::Result<Option<CachedReply>> {
    let mut st = conn.prepare_cached(
        "SELECT model, provider, reply, input_tokens, output_tokens FROM calls WHERE key = ?1",
    )?;
    st.query_row([&key.0[..]], |r| {
        Ok(CachedReply {
            model: r.get(0)?,
            provider: r.get(1)?,
            text: r.get(2)?,
            usage: Usage {
                input_tokens: r.get::<_, i64>(3)?.max(0) as u64,
                output_tokens: r.get::<_, i64>(4)?.max(0) as u64,
            },
        })
    })
    .optional()
}

fn write_loop(
    mut conn: Connection,
    queue: Shared,
    log: Arc<Mutex<Log>>,
    program: Arc<Mutex<Option<String>>>,
) {
    let (queue, wake) = &*queue;
    loop {
        let (mut batch, mut hits, acks) = {
            let mut q = lock(queue);
            while q.items.is_empty() && q.hits.is_empty() && q.flushes.is_empty() && !q.closed {
                q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            if q.items.is_empty() && q.hits.is_empty() && q.flushes.is_empty() && q.closed {
                break;
            }
            // Gather what else completes within `GROUP`, so a stream of
            // calls shares a few commits instead of rewriting the same pages
            // once per call; a flush or close commits at once.
            if q.flushes.is_empty() && !q.closed {
                q = wake
                    .wait_timeout_while(q, GROUP, |q| q.flushes.is_empty() && !q.closed)
                    .map(|(q, _)| q)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            (
                std::mem::take(&mut q.items),
                std::mem::take(&mut q.hits),
                std::mem::take(&mut q.flushes),
            )
        };
        if !batch.is_empty() {
            // Keys in order: neighbouring inserts touch the same pages.
            batch.sort_unstable_by_key(|(k, _)| k.0);
            let n = batch.len() as u64;
            let program = lock(&program).clone();
            let result = write_batch(&mut conn, &batch, program.as_deref());
            let mut log = lock(&log);
            match result {
                Ok(()) => log.written += n,
                Err(e) => {
                    log.lost += n;
                    log.write_error.get_or_insert_with(|| reason(&e));
                }
            }
        }
        if !hits.is_empty()
            && let Some(program) = lock(&program).clone()
        {
            hits.sort_unstable_by_key(|k| k.0);
            // Only bookkeeping: a failure loses no call, so it is not counted.
            let _ = write_uses(&mut conn, &hits, &program);
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

fn write_uses(conn: &mut Connection, keys: &[CallKey], program: &str) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO uses (key, program) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        )?;
        for key in keys {
            st.execute(params![&key.0[..], program])?;
        }
    }
    tx.commit()
}

fn write_batch(
    conn: &mut Connection,
    batch: &[(CallKey, CachedReply)],
    program: Option<&str>,
) -> rusqlite::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO calls (key, model, provider, reply, input_tokens, output_tokens, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (key) DO NOTHING",
        )?;
        for (key, r) in batch {
            st.execute(params![
                &key.0[..],
                r.model,
                r.provider,
                r.text,
                i64::try_from(r.usage.input_tokens).unwrap_or(i64::MAX),
                i64::try_from(r.usage.output_tokens).unwrap_or(i64::MAX),
                now
            ])?;
        }
        if let Some(program) = program {
            let mut st = tx.prepare_cached(
                "INSERT INTO uses (key, program) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            for (key, _) in batch {
                st.execute(params![&key.0[..], program])?;
            }
        }
    }
    tx.commit()
}

/// Provider batches submitted and not yet ended (`flow run --batch-api`),
/// so a run stopped while one was running picks it up instead of paying for
/// its requests twice.
const BATCHES: &str = "
CREATE TABLE IF NOT EXISTS batches (
    id           TEXT PRIMARY KEY,
    grp          TEXT NOT NULL,
    keys         TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    ended        INTEGER NOT NULL DEFAULT 0
);
";

impl SqliteCache {
    fn batches_conn(&self) -> Result<Connection, CacheError> {
        let conn = connect(&self.path, &self.label, self.busy)?;
        conn.execute_batch(BATCHES)
            .map_err(|e| CacheError::from_sqlite(&self.label, &e))?;
        Ok(conn)
    }

    /// Batches submitted and not marked ended, oldest first.
    pub(crate) fn pending_batches(&self) -> Result<Vec<super::StoredBatch>, CacheError> {
        let conn = self.batches_conn()?;
        let err = |e: rusqlite::Error| CacheError::from_sqlite(&self.label, &e);
        let mut st = conn
            .prepare("SELECT id, grp, keys FROM batches WHERE ended = 0 ORDER BY submitted_at, id")
            .map_err(err)?;
        let rows = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, group, keys) = row.map_err(err)?;
            out.push(super::StoredBatch {
                id,
                group,
                keys: keys
                    .split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_string)
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Records a batch just submitted.
    pub(crate) fn save_batch(&self, batch: &super::StoredBatch) -> Result<(), CacheError> {
        let conn = self.batches_conn()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        conn.execute(
            "INSERT OR REPLACE INTO batches (id, grp, keys, submitted_at, ended) VALUES (?1, ?2, ?3, ?4, 0)",
            rusqlite::params![batch.id, batch.group, batch.keys.join(","), now],
        )
        .map_err(|e| CacheError::from_sqlite(&self.label, &e))?;
        Ok(())
    }

    /// Marks a batch ended: its results are in the cache (or failed). The
    /// replies queued before are committed first, so a crash in between
    /// leaves the batch to be picked up rather than its replies lost.
    pub(crate) fn end_batch(&self, id: &str) -> Result<(), CacheError> {
        self.flush();
        let conn = self.batches_conn()?;
        conn.execute("UPDATE batches SET ended = 1 WHERE id = ?1", [id])
            .map_err(|e| CacheError::from_sqlite(&self.label, &e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> CachedReply {
        CachedReply {
            model: "m".into(),
            provider: "mock".into(),
            text: text.into(),
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
            },
        }
    }

    #[test]
    fn a_put_is_read_back_after_flush_and_after_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("cache.db");
        let key = CallKey([7; 32]);
        {
            let cache = SqliteCache::open(&path).expect("open");
            assert_eq!(cache.get(&key), None);
            cache.put(key, reply("yes"));
            cache.flush();
            assert_eq!(cache.get(&key), Some(reply("yes")));
            let closed = cache.close();
            assert_eq!(closed.written, 1);
            assert!(closed.problems.is_empty());
        }
        let cache = SqliteCache::open(&path).expect("reopen");
        assert_eq!(cache.get(&key).map(|r| r.text), Some("yes".into()));
        let stats = cache.stats().expect("stats");
        assert_eq!(stats.entries, 1);
        assert_eq!(stats.models.first().map(|m| m.input_tokens), Some(3));
        assert_eq!(cache.clear().expect("clear"), 1);
        assert_eq!(cache.get(&key), None);
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_a_corrupt_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.db");
        std::fs::write(&path, vec![0x5a; 8192]).expect("write");
        match SqliteCache::open(&path) {
            Err(CacheError::Corrupt { .. }) => {}
            other => panic!("expected a corrupt-cache error, got {other:?}"),
        }
    }

    #[test]
    fn another_programs_database_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("other.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("CREATE TABLE users (id INTEGER)")
            .expect("create");
        drop(conn);
        assert!(matches!(
            SqliteCache::open(&path),
            Err(CacheError::Corrupt { .. })
        ));
    }

    #[test]
    fn item_20_a_format_1_cache_is_migrated_and_keeps_its_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.db");
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch(&format!("{SCHEMA} PRAGMA user_version = 1;"))
            .expect("format 1");
        conn.execute(
            "INSERT INTO calls VALUES (?1, 'm', 'mock', 'old', 1, 1, 0)",
            [&[9u8; 32][..]],
        )
        .expect("an old entry");
        drop(conn);
        let cache = SqliteCache::open(&path).expect("migrates");
        cache.set_program("/p/a.flow".into());
        assert_eq!(
            cache.get(&CallKey([9; 32])).map(|r| r.text),
            Some("old".into())
        );
        cache.put(CallKey([1; 32]), reply("new"));
        cache.flush();
        let stats = cache.stats().expect("stats");
        assert_eq!(stats.entries, 2);
        // The old entry was used by a.flow, so now it is a.flow's too.
        assert_eq!(stats.programs.first().map(|p| p.entries), Some(2));
        assert_eq!(stats.unattributed, 0);
        assert_eq!(cache.clear_program("/p/a.flow").expect("clear"), 2);
        let version: i64 = Connection::open(&path)
            .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
            .expect("version");
        assert_eq!(version, FORMAT);
    }

    #[test]
    fn a_newer_format_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.db");
        drop(SqliteCache::open(&path).expect("open"));
        let conn = Connection::open(&path).expect("open");
        conn.execute_batch("PRAGMA user_version = 99")
            .expect("bump");
        drop(conn);
        assert!(matches!(
            SqliteCache::open(&path),
            Err(CacheError::Version { found: 99, .. })
        ));
    }

    #[test]
    fn a_lock_held_too_long_is_a_locked_error_and_writes_are_counted_as_lost() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.db");
        let cache = SqliteCache::open_with_timeout(&path, Duration::from_millis(50)).expect("open");
        let other = Connection::open(&path).expect("open");
        other
            .execute_batch("BEGIN EXCLUSIVE")
            .expect("take the write lock");
        cache.put(CallKey([1; 32]), reply("a"));
        let closed = cache.close();
        assert!(
            matches!(
                closed.problems.as_slice(),
                [CacheError::Write { lost: 1, .. }]
            ),
            "{:?}",
            closed.problems
        );
        other.execute_batch("ROLLBACK").expect("release");
    }

    #[test]
    fn two_handles_on_one_file_see_each_others_writes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cache.db");
        let a = SqliteCache::open(&path).expect("open a");
        let b = SqliteCache::open(&path).expect("open b");
        for i in 0..50u8 {
            a.put(CallKey([i; 32]), reply("from a"));
            b.put(CallKey([i.wrapping_add(100); 32]), reply("from b"));
        }
        a.flush();
        b.flush();
        assert_eq!(
            a.get(&CallKey([101; 32])).map(|r| r.text),
            Some("from b".into())
        );
        assert_eq!(
            b.get(&CallKey([1; 32])).map(|r| r.text),
            Some("from a".into())
        );
        assert!(a.close().problems.is_empty());
        assert!(b.close().problems.is_empty());
    }
}
