//! The cache in PostgreSQL, for shards and servers on many machines: the
//! SQLite store's semantics (content-addressed, first writer of a key wins,
//! group commit, entries per program) over a database they all reach.
//!
//! The runtime asks the cache synchronously, so the store has a thread of
//! its own running a small tokio runtime with two connections: lookups are
//! spawned as tasks there and pipelined on one connection, and writes are
//! gathered for 20 ms and committed in one transaction on the other, so a
//! lookup never waits behind a commit. TLS is the URL's `sslmode`, read as
//! libpq reads it (`pg_tls`).

use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_postgres::{Client, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::backend::{CacheBackend, Log};
use super::handle::redact;
use super::key::CallKey;
use super::pg_tls::{self, Tls, TlsFailure};
use super::store::{CacheClose, CacheStats, CachedReply, ModelEntries, ProgramEntries};
use super::{CacheError, StoredBatch};
use crate::providers::Usage;

/// How long the writer gathers completed calls before committing them.
const GROUP: Duration = Duration::from_millis(20);
/// How long to wait for the server when opening.
const CONNECT: Duration = Duration::from_secs(10);

/// Created under an advisory lock, since `CREATE TABLE IF NOT EXISTS` from
/// four shards starting at once can still collide in PostgreSQL's catalog
/// (`pg_type_typname_nsp_index`).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS flow_calls (
    key           BYTEA PRIMARY KEY,
    model         TEXT NOT NULL,
    provider      TEXT NOT NULL,
    reply         TEXT NOT NULL,
    input_tokens  BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS flow_uses (
    key     BYTEA NOT NULL,
    program TEXT NOT NULL,
    PRIMARY KEY (key, program)
);
CREATE INDEX IF NOT EXISTS flow_uses_by_program ON flow_uses (program, key);
CREATE TABLE IF NOT EXISTS flow_batches (
    id           TEXT PRIMARY KEY,
    grp          TEXT NOT NULL,
    keys         TEXT[] NOT NULL,
    submitted_at BIGINT NOT NULL,
    ended        BOOLEAN NOT NULL DEFAULT FALSE
);
";
/// Any fixed number: the lock that serialises creating the tables.
const SCHEMA_LOCK: i64 = 0x666c_6f77_6361_6368;

type Reply<T> = SyncSender<Result<T, String>>;

enum Msg {
    Get(CallKey, Reply<Option<CachedReply>>),
    Put(CallKey, CachedReply),
    Used(CallKey),
    Flush(SyncSender<()>),
    Stats(Reply<CacheStats>),
    Clear(Option<String>, Reply<u64>),
    /// The provider batches not yet ended (`--batch-api`).
    Batches(Reply<Vec<StoredBatch>>),
    SaveBatch(StoredBatch, Reply<()>),
    EndBatch(String, Reply<()>),
    Close,
}

pub(crate) struct PgCache {
    label: String,
    tx: UnboundedSender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
    log: Arc<Mutex<Log>>,
    program: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for PgCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCache")
            .field("url", &self.label)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server's message, without anything from the URL.
fn why(e: &tokio_postgres::Error, secret: Option<&str>) -> String {
    let text = match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => db.message().to_string(),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    };
    let text = match secret.filter(|s| !s.is_empty()) {
        Some(s) => text.replace(s, "***"),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

struct Conn {
    reader: Arc<Client>,
    lookup: Statement,
    writer: Client,
}

/// Why the store could not open: the database's or the connection's
/// message, or a TLS failure, which has advice of its own.
enum OpenFailure {
    Database(String),
    Tls(TlsFailure),
}

impl From<String> for OpenFailure {
    fn from(reason: String) -> OpenFailure {
        OpenFailure::Database(reason)
    }
}

/// How to reach the server: the parsed URL and its TLS.
struct Target {
    config: tokio_postgres::Config,
    tls: Tls,
    connector: MakeRustlsConnect,
    /// The host TLS checks the certificate against, for messages.
    host: String,
}

async fn connect(target: &Target, secret: Option<&str>) -> Result<Conn, OpenFailure> {
    let one = || async {
        let (client, conn) = target
            .config
            .connect(target.connector.clone())
            .await
            .map_err(|e| match pg_tls::explain(&e, &target.host, &target.tls) {
                Some(tls) => OpenFailure::Tls(tls),
                None => OpenFailure::Database(why(&e, secret)),
            })?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok::<Client, OpenFailure>(client)
    };
    let writer = one().await?;
    writer
        // One simple query is one transaction, and a transaction-scoped
        // lock is released at its commit, once the tables are visible: a
        // session lock released inside it would let the next shard in
        // before they are.
        .batch_execute(&format!(
            "SELECT pg_advisory_xact_lock({SCHEMA_LOCK}); {SCHEMA}"
        ))
        .await
        .map_err(|e| why(&e, secret))?;
    let reader = one().await?;
    let lookup = reader
        .prepare(
            "SELECT model, provider, reply, input_tokens, output_tokens FROM flow_calls WHERE key = $1",
        )
        .await
        .map_err(|e| why(&e, secret))?;
    Ok(Conn {
        reader: Arc::new(reader),
        lookup,
        writer,
    })
}

impl PgCache {
    pub(crate) fn open(url: &str) -> Result<PgCache, CacheError> {
        let label = redact(url);
        let open_err = |reason: String| CacheError::Database {
            path: label.clone(),
            reason,
        };
        let tls_err = |f: TlsFailure| CacheError::Tls {
            path: label.clone(),
            reason: f.reason,
            help: f.help,
        };
        let (bare, tls) = pg_tls::split(url).map_err(tls_err)?;
        let mut config: tokio_postgres::Config = bare
            .parse()
            .map_err(|e: tokio_postgres::Error| open_err(why(&e, None)))?;
        config.connect_timeout(CONNECT);
        config.application_name("flow");
        config.ssl_mode(tls.ssl_mode());
        let connector = tls.connector().map_err(tls_err)?;
        let host = config
            .get_hosts()
            .iter()
            .find_map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let secret = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let target = Target {
            config,
            tls,
            connector,
            host,
        };
        let (tx, rx) = unbounded_channel();
        let (ready_tx, ready) = sync_channel::<Result<(), OpenFailure>>(1);
        let log = Arc::new(Mutex::new(Log::default()));
        let program: Arc<Mutex<Option<String>>> = Arc::default();
        let thread = {
            let (log, program) = (log.clone(), program.clone());
            std::thread::Builder::new()
                .name("flow-cache-postgres".into())
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = ready_tx.send(Err(OpenFailure::Database(format!(
                                "cannot start its runtime: {e}"
                            ))));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        match connect(&target, secret.as_deref()).await {
                            Ok(conn) => {
                                let _ = ready_tx.send(Ok(()));
                                serve(conn, rx, log, program, secret).await;
                            }
                            Err(e) => {
                                let _ = ready_tx.send(Err(e));
                            }
                        }
                    });
                })
                .map_err(|e| open_err(format!("cannot start the cache thread: {e}")))?
        };
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(OpenFailure::Database(reason))) => {
                let _ = thread.join();
                return Err(open_err(reason));
            }
            Ok(Err(OpenFailure::Tls(f))) => {
                let _ = thread.join();
                return Err(tls_err(f));
            }
            Err(_) => {
                let _ = thread.join();
                return Err(open_err("the cache thread stopped".into()));
            }
        }
        Ok(PgCache {
            label,
            tx,
            thread: Mutex::new(Some(thread)),
            log,
            program,
        })
    }

    /// Sends `msg` and waits for its answer; `None` when the store is closed.
    fn ask<T>(&self, msg: impl FnOnce(Reply<T>) -> Msg) -> Option<Result<T, String>> {
        let (tx, rx) = sync_channel(1);
        self.tx.send(msg(tx)).ok()?;
        rx.recv().ok()
    }

    fn failed(&self, reason: String) -> CacheError {
        CacheError::Database {
            path: self.label.clone(),
            reason,
        }
    }

    fn closed(&self) -> CacheError {
        self.failed("the cache was already closed".into())
    }
}

impl CacheBackend for PgCache {
    fn get(&self, key: &CallKey) -> Option<CachedReply> {
        match self.ask(|r| Msg::Get(*key, r)) {
            Some(Ok(Some(hit))) => {
                if lock(&self.program).is_some() {
                    let _ = self.tx.send(Msg::Used(*key));
                }
                Some(hit)
            }
            Some(Ok(None)) | None => None,
            Some(Err(why)) => {
                lock(&self.log).read_error.get_or_insert(why);
                None
            }
        }
    }

    fn put(&self, key: CallKey, reply: CachedReply) {
        if self.tx.send(Msg::Put(key, reply)).is_err() {
            let mut log = lock(&self.log);
            log.lost += 1;
            log.write_error
                .get_or_insert_with(|| "the cache was already closed".into());
        }
    }

    fn set_program(&self, program: String) {
        *lock(&self.program) = Some(program);
    }

    fn flush(&self) {
        let (ack, done) = sync_channel(1);
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv();
        }
    }

    fn close(&self) -> CacheClose {
        let _ = self.tx.send(Msg::Close);
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
        lock(&self.log).report(&self.label)
    }

    fn stats(&self) -> Result<CacheStats, CacheError> {
        match self.ask(Msg::Stats) {
            Some(Ok(mut s)) => {
                s.path = self.label.clone();
                Ok(s)
            }
            Some(Err(e)) => Err(self.failed(e)),
            None => Err(self.closed()),
        }
    }

    fn clear(&self) -> Result<u64, CacheError> {
        match self.ask(|r| Msg::Clear(None, r)) {
            Some(r) => r.map_err(|e| self.failed(e)),
            None => Err(self.closed()),
        }
    }

    fn clear_program(&self, program: &str) -> Result<u64, CacheError> {
        match self.ask(|r| Msg::Clear(Some(program.to_string()), r)) {
            Some(r) => r.map_err(|e| self.failed(e)),
            None => Err(self.closed()),
        }
    }

    fn pending_batches(&self) -> Result<Vec<StoredBatch>, CacheError> {
        match self.ask(Msg::Batches) {
            Some(r) => r.map_err(|e| self.failed(e)),
            None => Err(self.closed()),
        }
    }

    fn save_batch(&self, batch: &StoredBatch) -> Result<(), CacheError> {
        match self.ask(|r| Msg::SaveBatch(batch.clone(), r)) {
            Some(r) => r.map_err(|e| self.failed(e)),
            None => Err(self.closed()),
        }
    }

    fn end_batch(&self, id: &str) -> Result<(), CacheError> {
        match self.ask(|r| Msg::EndBatch(id.to_string(), r)) {
            Some(r) => r.map_err(|e| self.failed(e)),
            None => Err(self.closed()),
        }
    }
}

impl Drop for PgCache {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Close);
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

/// The store's thread: answers lookups as tasks, gathers writes, commits.
async fn serve(
    conn: Conn,
    mut rx: UnboundedReceiver<Msg>,
    log: Arc<Mutex<Log>>,
    program: Arc<Mutex<Option<String>>>,
    secret: Option<String>,
) {
    let secret = secret.as_deref();
    let mut items: Vec<(CallKey, CachedReply)> = Vec::new();
    let mut hits: Vec<CallKey> = Vec::new();
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        let msg = match due {
            Some(at) => tokio::select! {
                m = rx.recv() => m,
                () = tokio::time::sleep_until(at) => {
                    commit(&conn.writer, &mut items, &mut hits, &log, &program, secret).await;
                    due = None;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(msg) = msg else { break };
        match msg {
            Msg::Get(key, reply) => {
                let (reader, lookup) = (conn.reader.clone(), conn.lookup.clone());
                let secret = secret.map(str::to_string);
                tokio::spawn(async move {
                    let found = reader
                        .query_opt(&lookup, &[&&key.0[..]])
                        .await
                        .map_err(|e| why(&e, secret.as_deref()))
                        .map(|row| {
                            row.map(|r| CachedReply {
                                model: r.get(0),
                                provider: r.get(1),
                                text: r.get(2),
                                usage: Usage {
                                    input_tokens: r.get::<_, i64>(3).max(0) as u64,
                                    output_tokens: r.get::<_, i64>(4).max(0) as u64,
                                },
                            })
                        });
                    let _ = reply.send(found);
                });
            }
            Msg::Put(key, reply) => {
                items.push((key, reply));
                due.get_or_insert_with(|| tokio::time::Instant::now() + GROUP);
            }
            Msg::Used(key) => {
                hits.push(key);
                due.get_or_insert_with(|| tokio::time::Instant::now() + GROUP);
            }
            Msg::Flush(ack) => {
                commit(&conn.writer, &mut items, &mut hits, &log, &program, secret).await;
                due = None;
                let _ = ack.send(());
            }
            Msg::Stats(reply) => {
                commit(&conn.writer, &mut items, &mut hits, &log, &program, secret).await;
                due = None;
                let _ = reply.send(stats(&conn.writer).await.map_err(|e| why(&e, secret)));
            }
            Msg::Clear(which, reply) => {
                commit(&conn.writer, &mut items, &mut hits, &log, &program, secret).await;
                due = None;
                let _ = reply.send(
                    clear(&conn.writer, which.as_deref())
                        .await
                        .map_err(|e| why(&e, secret)),
                );
            }
            Msg::Batches(reply) => {
                let _ = reply.send(pending(&conn.writer).await.map_err(|e| why(&e, secret)));
            }
            Msg::SaveBatch(batch, reply) => {
                let _ = reply.send(
                    save_batch(&conn.writer, &batch)
                        .await
                        .map_err(|e| why(&e, secret)),
                );
            }
            Msg::EndBatch(id, reply) => {
                // The batch's replies are committed before it is marked
                // ended: a crash in between must leave it to be picked up.
                commit(&conn.writer, &mut items, &mut hits, &log, &program, secret).await;
                due = None;
                let _ = reply.send(
                    conn.writer
                        .execute("UPDATE flow_batches SET ended = TRUE WHERE id = $1", &[&id])
                        .await
                        .map(|_| ())
                        .map_err(|e| why(&e, secret)),
                );
            }
            Msg::Close => break,
        }
    }
    commit(&conn.writer, &mut items, &mut hits, &log, &program, secret).await;
}

async fn commit(
    client: &Client,
    items: &mut Vec<(CallKey, CachedReply)>,
    hits: &mut Vec<CallKey>,
    log: &Mutex<Log>,
    program: &Mutex<Option<String>>,
    secret: Option<&str>,
) {
    let program = lock(program).clone();
    if !items.is_empty() {
        let batch = std::mem::take(items);
        let n = batch.len() as u64;
        match write_batch(client, &batch, program.as_deref()).await {
            Ok(()) => lock(log).written += n,
            Err(e) => {
                let mut log = lock(log);
                log.lost += n;
                log.write_error.get_or_insert_with(|| why(&e, secret));
            }
        }
    }
    let used = std::mem::take(hits);
    if let (false, Some(program)) = (used.is_empty(), &program) {
        let keys: Vec<&[u8]> = used.iter().map(|k| &k.0[..]).collect();
        // Only bookkeeping: a failure loses no call.
        let _ = client
            .execute(
                "INSERT INTO flow_uses (key, program) SELECT k, $2 FROM UNNEST($1::bytea[]) AS k
                 ON CONFLICT DO NOTHING",
                &[&keys, program],
            )
            .await;
    }
}

/// One statement per table for the whole group: the first writer of a key
/// keeps it (`ON CONFLICT DO NOTHING`), as in SQLite.
async fn write_batch(
    client: &Client,
    batch: &[(CallKey, CachedReply)],
    program: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut sorted: Vec<&(CallKey, CachedReply)> = batch.iter().collect();
    // Keys in order, and once each: one statement cannot insert a key twice.
    sorted.sort_by_key(|(k, _)| k.0);
    sorted.dedup_by_key(|(k, _)| k.0);
    let keys: Vec<&[u8]> = sorted.iter().map(|(k, _)| &k.0[..]).collect();
    let models: Vec<&str> = sorted.iter().map(|(_, r)| r.model.as_str()).collect();
    let providers: Vec<&str> = sorted.iter().map(|(_, r)| r.provider.as_str()).collect();
    let texts: Vec<&str> = sorted.iter().map(|(_, r)| r.text.as_str()).collect();
    let tokens = |f: fn(&Usage) -> u64| -> Vec<i64> {
        sorted
            .iter()
            .map(|(_, r)| i64::try_from(f(&r.usage)).unwrap_or(i64::MAX))
            .collect()
    };
    let (input, output) = (tokens(|u| u.input_tokens), tokens(|u| u.output_tokens));
    client.batch_execute("BEGIN").await?;
    let inserted = async {
        client
            .execute(
                "INSERT INTO flow_calls (key, model, provider, reply, input_tokens, output_tokens, created_at)
                 SELECT k, m, p, r, i, o, $7 FROM UNNEST($1::bytea[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
                 AS t(k, m, p, r, i, o)
                 ON CONFLICT (key) DO NOTHING",
                &[&keys, &models, &providers, &texts, &input, &output, &now],
            )
            .await?;
        if let Some(program) = program {
            client
                .execute(
                    "INSERT INTO flow_uses (key, program) SELECT k, $2 FROM UNNEST($1::bytea[]) AS k
                     ON CONFLICT DO NOTHING",
                    &[&keys, &program],
                )
                .await?;
        }
        Ok::<(), tokio_postgres::Error>(())
    }
    .await;
    match inserted {
        Ok(()) => client.batch_execute("COMMIT").await,
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// Batches submitted and not marked ended, oldest first, as SQLite's
/// `batches` table gives them.
async fn pending(client: &Client) -> Result<Vec<StoredBatch>, tokio_postgres::Error> {
    Ok(client
        .query(
            "SELECT id, grp, keys FROM flow_batches WHERE NOT ended ORDER BY submitted_at, id",
            &[],
        )
        .await?
        .iter()
        .map(|r| StoredBatch {
            id: r.get(0),
            group: r.get(1),
            keys: r.get(2),
        })
        .collect())
}

/// Records a batch just submitted; the same id again replaces it, as
/// SQLite's `INSERT OR REPLACE` does.
async fn save_batch(client: &Client, batch: &StoredBatch) -> Result<(), tokio_postgres::Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    client
        .execute(
            "INSERT INTO flow_batches (id, grp, keys, submitted_at, ended) VALUES ($1, $2, $3, $4, FALSE)
             ON CONFLICT (id) DO UPDATE SET grp = EXCLUDED.grp, keys = EXCLUDED.keys,
                 submitted_at = EXCLUDED.submitted_at, ended = FALSE",
            &[&batch.id, &batch.group, &batch.keys, &now],
        )
        .await
        .map(|_| ())
}

async fn stats(client: &Client) -> Result<CacheStats, tokio_postgres::Error> {
    let n = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
    let models = client
        .query(
            "SELECT model, provider, count(*), sum(input_tokens)::bigint, sum(output_tokens)::bigint,
                    min(created_at), max(created_at)
             FROM flow_calls GROUP BY model, provider ORDER BY model, provider",
            &[],
        )
        .await?
        .iter()
        .map(|r| ModelEntries {
            model: r.get(0),
            provider: r.get(1),
            entries: n(r.get(2)),
            input_tokens: n(r.get(3)),
            output_tokens: n(r.get(4)),
            oldest: r.get::<_, Option<i64>>(5).unwrap_or(0),
            newest: r.get::<_, Option<i64>>(6).unwrap_or(0),
        })
        .collect::<Vec<_>>();
    let programs = client
        .query(
            "SELECT u.program, count(*), sum(c.input_tokens)::bigint, sum(c.output_tokens)::bigint
             FROM flow_uses u JOIN flow_calls c ON c.key = u.key
             GROUP BY u.program ORDER BY u.program",
            &[],
        )
        .await?
        .iter()
        .map(|r| ProgramEntries {
            program: r.get(0),
            entries: n(r.get(1)),
            input_tokens: n(r.get(2)),
            output_tokens: n(r.get(3)),
        })
        .collect::<Vec<_>>();
    let unattributed: i64 = client
        .query_one(
            "SELECT count(*) FROM flow_calls c WHERE NOT EXISTS (SELECT 1 FROM flow_uses u WHERE u.key = c.key)",
            &[],
        )
        .await?
        .get(0);
    let bytes: i64 = client
        .query_one(
            "SELECT (pg_total_relation_size('flow_calls') + pg_total_relation_size('flow_uses'))::bigint",
            &[],
        )
        .await?
        .get(0);
    Ok(CacheStats {
        path: String::new(),
        entries: models.iter().map(|m| m.entries).sum(),
        bytes: bytes.max(0) as u64,
        models,
        programs,
        unattributed: unattributed.max(0) as u64,
    })
}

async fn clear(client: &Client, program: Option<&str>) -> Result<u64, tokio_postgres::Error> {
    client.batch_execute("BEGIN").await?;
    let done = async {
        let n = match program {
            None => {
                client.execute("DELETE FROM flow_uses", &[]).await?;
                client.execute("DELETE FROM flow_calls", &[]).await?
            }
            Some(p) => {
                let n = client
                    .execute(
                        "DELETE FROM flow_calls WHERE key IN (SELECT key FROM flow_uses WHERE program = $1)
                         AND NOT EXISTS (SELECT 1 FROM flow_uses o WHERE o.key = flow_calls.key AND o.program != $1)",
                        &[&p],
                    )
                    .await?;
                client
                    .execute("DELETE FROM flow_uses WHERE program = $1", &[&p])
                    .await?;
                n
            }
        };
        Ok::<u64, tokio_postgres::Error>(n)
    }
    .await;
    match done {
        Ok(n) => client.batch_execute("COMMIT").await.map(|()| n),
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}
