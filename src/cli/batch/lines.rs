//! The rows file read one line at a time, on a thread of its own, so a
//! batch of millions of rows holds only the rows it is running.
//!
//! Lines go through a bounded channel: when the batch's window is full the
//! channel fills, the reader blocks, and nothing more is read. A shard is a
//! contiguous slice of the file's physical lines (blank ones included), so
//! its bounds need the line count: one quick pass that only counts newlines,
//! made before the first row starts. Standard input cannot be read twice,
//! so it cannot be sharded.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use tokio::sync::mpsc;

use super::BatchError;
use crate::cli::args::Shard;

/// One non-blank line, still to be parsed against the program's inputs.
pub(super) struct RawLine {
    /// 1-based, as an editor shows it, whatever the shard.
    pub line: usize,
    /// The text, or the 1-based column of the first byte that is not UTF-8.
    pub text: Result<String, usize>,
}

/// What the reader sends: lines, then at most one error that ends them.
pub(super) type Lines = mpsc::Receiver<Result<RawLine, BatchError>>;

/// Where the rows come from, opened: errors about the path come before any
/// work, as they did when the whole file was read up front.
pub(super) struct Opened {
    reader: Box<dyn Read + Send>,
    label: String,
    /// Physical lines `[first, end)` (0-based) this process runs.
    range: (usize, usize),
    /// A regular file can be read to its end after a stop, to count the
    /// rows not run; standard input might never end.
    pub countable: bool,
    /// The rows the reader will send, when counted up front.
    pub rows: Option<usize>,
}

/// Opens the rows; with `total`, a regular file is counted first (one
/// pass, see `count`), so progress can show how many rows there are.
pub(super) fn open(path: &Path, shard: Option<Shard>, total: bool) -> Result<Opened, BatchError> {
    let label = path.display().to_string();
    let err = |e: std::io::Error| BatchError::Rows {
        path: label.clone(),
        reason: crate::text::io_reason(&e),
    };
    if path == Path::new("-") {
        if shard.is_some() {
            return Err(BatchError::ShardStdin);
        }
        return Ok(Opened {
            reader: Box::new(std::io::stdin()),
            label,
            range: (0, usize::MAX),
            countable: false,
            rows: None,
        });
    }
    let file = File::open(path).map_err(err)?;
    let countable = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    if shard.is_some() && !countable {
        return Err(BatchError::ShardStdin);
    }
    let count = |range| super::count::count(File::open(path)?, range);
    let (range, rows) = match (shard, total && countable) {
        (None, false) => ((0, usize::MAX), None),
        (None, true) => {
            let counted = count((0, usize::MAX)).map_err(err)?;
            ((0, usize::MAX), Some(counted.rows))
        }
        (Some(shard), want) => {
            // The bounds need the whole file's lines before its rows can
            // be counted in them: a second pass, only for a bar to show.
            let lines = count((0, 0)).map_err(err)?.lines;
            let range = slice(lines, shard);
            let rows = if want {
                Some(count(range).map_err(err)?.rows)
            } else {
                None
            };
            (range, rows)
        }
    };
    Ok(Opened {
        reader: Box::new(file),
        label,
        range,
        countable,
        rows,
    })
}

/// Shard `index` of `count` over `total` lines: `[index·total/count,
/// (index+1)·total/count)`, so the slices differ by at most one line and
/// together are every line once, in order.
pub(super) fn slice(total: usize, shard: Shard) -> (usize, usize) {
    let total = total as u128;
    let at = |i: u64| usize::try_from(total * u128::from(i) / u128::from(shard.count));
    (
        at(shard.index).unwrap_or(usize::MAX),
        at(shard.index + 1).unwrap_or(usize::MAX),
    )
}

/// Physical lines, as the reader numbers them: a final line without a
/// newline counts, a final newline does not start another.
#[cfg(test)]
fn count_lines(file: File) -> std::io::Result<usize> {
    super::count::count(file, (0, 0)).map(|c| c.lines)
}

#[cfg(test)]
pub(super) fn read_for_tests(
    text: &[u8],
    range: (usize, usize),
    tx: &mpsc::Sender<Result<RawLine, BatchError>>,
) {
    read(
        Box::new(std::io::Cursor::new(text.to_vec())),
        "t",
        range,
        tx,
    );
}

/// Starts the reader thread; `capacity` lines wait in the channel at most.
pub(super) fn spawn(opened: Opened, capacity: usize) -> Lines {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let Opened {
        reader,
        label,
        range,
        ..
    } = opened;
    let shown = label.clone();
    let spawned = std::thread::Builder::new()
        .name("flow-rows".into())
        .spawn(move || read(reader, &label, range, &tx));
    if let Err(e) = spawned {
        // No thread, no rows: say so as a read error rather than run none.
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Err(BatchError::Rows {
            path: shown,
            reason: crate::text::io_reason(&e),
        }));
        return rx;
    }
    rx
}

fn read(
    reader: Box<dyn Read + Send>,
    label: &str,
    (first, end): (usize, usize),
    tx: &mpsc::Sender<Result<RawLine, BatchError>>,
) {
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut buf = Vec::new();
    let mut index = 0usize;
    while index < end {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = tx.blocking_send(Err(BatchError::Rows {
                    path: label.to_string(),
                    reason: crate::text::io_reason(&e),
                }));
                return;
            }
        }
        let this = index;
        index += 1;
        if this < first {
            continue;
        }
        let mut raw = buf.as_slice();
        if this == 0 {
            raw = raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw);
        }
        raw = raw.strip_suffix(b"\n").unwrap_or(raw);
        raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let text = match std::str::from_utf8(raw) {
            Ok(t) if t.trim().is_empty() => continue,
            Ok(t) => Ok(t.to_string()),
            Err(e) => Err(e.valid_up_to() + 1),
        };
        let line = this + 1;
        // The batch stopped listening: it is done with the rows.
        if tx.blocking_send(Ok(RawLine { line, text })).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_contiguous_cover_every_line_once_and_differ_by_one_at_most() {
        for total in [0usize, 1, 2, 3, 7, 10, 1001] {
            for count in 1..=5u64 {
                let mut next = 0;
                for index in 0..count {
                    let (a, b) = slice(total, Shard { index, count });
                    assert_eq!(a, next, "{total} lines, shard {index}/{count}");
                    assert!(b - a <= total / count as usize + 1);
                    next = b;
                }
                assert_eq!(next, total);
            }
        }
    }

    fn lines_of(text: &[u8], range: (usize, usize)) -> Vec<(usize, Result<String, usize>)> {
        let (tx, mut rx) = mpsc::channel(1024);
        read(
            Box::new(std::io::Cursor::new(text.to_vec())),
            "t",
            range,
            &tx,
        );
        drop(tx);
        let mut got = Vec::new();
        while let Ok(Ok(l)) = rx.try_recv() {
            got.push((l.line, l.text));
        }
        got
    }

    #[test]
    fn lines_keep_their_true_numbers_in_any_slice() {
        let text = b"\xef\xbb\xbfa\r\n\nb\n\xffc\nd";
        assert_eq!(
            lines_of(text, (0, usize::MAX)),
            vec![
                (1, Ok("a".into())),
                (3, Ok("b".into())),
                (4, Err(1)),
                (5, Ok("d".into()))
            ]
        );
        assert_eq!(
            lines_of(text, (1, 3)),
            vec![(3, Ok("b".into()))],
            "the blank line 2 is in the slice but is no row"
        );
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("r.jsonl");
        for (body, want) in [(&b""[..], 0), (b"a", 1), (b"a\n", 1), (b"a\n\nb", 3)] {
            std::fs::write(&path, body).unwrap_or_else(|e| panic!("{e}"));
            let file = File::open(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(count_lines(file).ok(), Some(want), "{body:?}");
        }
    }
}
