//! What can go wrong with the cache file. None of these is a panic and none
//! is silent: a cache that cannot be opened stops the run before any call,
//! and calls that could not be saved are counted and reported at the end.

use miette::Diagnostic;

/// Why the cache could not be opened, read or written. Only
/// [`CacheError::Read`] is a warning: the run went on and made the calls again.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Diagnostic)]
pub enum CacheError {
    /// The file exists but is not a flow cache (another database, or damaged).
    #[error("the cache `{path}` is not a flow cache: {reason}")]
    #[diagnostic(
        code(flow::cache::corrupt),
        help(
            "move the file away or delete it to start a fresh cache, point `--cache` at another file, or run with `--no-cache`"
        )
    )]
    Corrupt {
        /// The cache file, as shown in messages.
        path: String,
        /// SQLite's complaint.
        reason: String,
    },

    /// The cache file may not be written.
    #[error("the cache `{path}` is read-only: no call could be saved to it")]
    #[diagnostic(
        code(flow::cache::read_only),
        help(
            "make the file writable (`chmod u+w`), point `--cache` at a file you may write, or run with `--no-cache`"
        )
    )]
    ReadOnly {
        /// The cache file.
        path: String,
    },

    /// Another process holds the file's lock longer than the busy timeout.
    #[error("the cache `{path}` is locked by another process")]
    #[diagnostic(
        code(flow::cache::locked),
        help(
            "wait for the other `flow` to finish, give this run its own file with `--cache PATH`, or run with `--no-cache`"
        )
    )]
    Locked {
        /// The cache file, as shown in messages.
        path: String,
    },

    /// The file or its folder could not be created or opened.
    #[error("cannot open the cache `{path}`: {reason}")]
    #[diagnostic(
        code(flow::cache::open),
        help(
            "check that the folder exists and is writable, choose another file with `--cache PATH`, or run with `--no-cache`"
        )
    )]
    Open {
        /// The cache file, as shown in messages.
        path: String,
        /// The system's or SQLite's complaint.
        reason: String,
    },

    /// A newer flow wrote the file in a format this one cannot read.
    #[error(
        "the cache `{path}` was written by a newer flow (format {found}, this flow reads {supported})"
    )]
    #[diagnostic(
        code(flow::cache::version),
        help("upgrade flow, or use another file with `--cache PATH`")
    )]
    Version {
        /// The cache file, as shown in messages.
        path: String,
        /// The file's format version.
        found: i64,
        /// The newest format this flow reads.
        supported: i64,
    },

    /// Completed calls could not be committed; a re-run will make them again.
    #[error("{lost} completed {calls} could not be saved to the cache `{path}`: {reason}", calls = if *lost == 1 { "call" } else { "calls" })]
    #[diagnostic(
        code(flow::cache::write),
        help(
            "the results are correct, but a re-run will make these calls again; check the disk space and that no other program holds the file"
        )
    )]
    Write {
        /// The cache file, as shown in messages.
        path: String,
        /// Calls that were not saved.
        lost: u64,
        /// The last write failure.
        reason: String,
    },

    /// A `postgres://` cache, and this build has no PostgreSQL client.
    #[error(
        "this flow was built without the `postgres` feature, so it cannot use the cache `{path}`"
    )]
    #[diagnostic(
        code(flow::cache::no_postgres),
        help(
            "rebuild with `cargo install --path . --features postgres`, or give `--cache` a file path"
        )
    )]
    NoPostgres {
        /// The URL, without its password.
        path: String,
    },

    /// A PostgreSQL cache could not be reached or set up.
    #[error("cannot use the cache database `{path}`: {reason}")]
    #[diagnostic(
        code(flow::cache::database),
        help(
            "check that the server is running and the URL's host, port, user, password and database name; flow creates its tables on first use"
        )
    )]
    Database {
        /// The URL, without its password.
        path: String,
        /// The server's or the connection's message.
        reason: String,
    },

    /// TLS to a PostgreSQL cache could not be set up or did not verify
    /// (the URL's `sslmode` and `sslrootcert`).
    #[error("cannot use the cache database `{path}` over TLS: {reason}")]
    #[diagnostic(code(flow::cache::tls), help("{help}"))]
    Tls {
        /// The URL, without its password.
        path: String,
        /// What failed.
        reason: String,
        /// What to do about it.
        help: String,
    },

    /// A lookup failed during the run; the call was made instead.
    #[error("the cache `{path}` could not be read during the run: {reason}")]
    #[diagnostic(
        code(flow::cache::read),
        severity(Warning),
        help(
            "the affected calls were made again, so the results are correct; if the file is damaged, delete it or run `flow cache clear`"
        )
    )]
    Read {
        /// The cache file, as shown in messages.
        path: String,
        /// The last read failure.
        reason: String,
    },
}

impl CacheError {
    /// Sorts a SQLite failure into what the user can do about it.
    pub(crate) fn from_sqlite(path: &str, e: &rusqlite::Error) -> CacheError {
        use rusqlite::ErrorCode as C;
        let path = path.to_string();
        match e.sqlite_error_code() {
            Some(C::DatabaseBusy | C::DatabaseLocked) => CacheError::Locked { path },
            Some(C::NotADatabase | C::DatabaseCorrupt) => CacheError::Corrupt {
                path,
                reason: reason(e),
            },
            _ => CacheError::Open {
                path,
                reason: reason(e),
            },
        }
    }

    /// Whether the results are intact despite it, so it is shown as a warning.
    pub fn is_warning(&self) -> bool {
        matches!(self, CacheError::Read { .. })
    }
}

/// SQLite's message, lower-cased at the start like the rest of flow's text.
pub(crate) fn reason(e: &rusqlite::Error) -> String {
    let text = match e {
        rusqlite::Error::SqliteFailure(err, Some(msg)) => format!("{msg} ({})", err.code_name()),
        other => other.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

trait CodeName {
    fn code_name(&self) -> &'static str;
}

impl CodeName for rusqlite::ffi::Error {
    fn code_name(&self) -> &'static str {
        use rusqlite::ErrorCode as C;
        match self.code {
            C::DatabaseBusy => "busy",
            C::DatabaseLocked => "locked",
            C::NotADatabase => "not a database",
            C::DatabaseCorrupt => "corrupt",
            C::ReadOnly => "read-only",
            C::DiskFull => "disk full",
            C::CannotOpen => "cannot open",
            C::SystemIoFailure => "i/o error",
            C::PermissionDenied => "permission denied",
            _ => "sqlite error",
        }
    }
}
