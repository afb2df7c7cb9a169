//! Counting a rows file before it runs: its physical lines (for a shard's
//! bounds) and the rows among them (for the progress bar's total and ETA).
//!
//! One buffered pass that finds newlines with `memchr` and parses nothing,
//! in a fixed 64 KiB buffer however long the file or its lines. A row is a
//! line the reader does not skip as blank, decided as the reader decides
//! it: usually by the line's first byte (`{`), and only for a line that
//! starts with whitespace or a non-ASCII byte by looking further.

use std::io::Read;

/// What a pass found among the lines it counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Counted {
    /// Physical lines in the whole file: a final line without a newline
    /// counts, a final newline does not start another.
    pub lines: usize,
    /// Non-blank lines in the range asked for: the rows the reader sends.
    pub rows: usize,
}

/// Whether the line seen so far decides blank or not.
enum Line {
    /// Only ASCII whitespace so far (or nothing): blank unless more follows.
    Blank,
    /// A byte that is not whitespace: a row, whatever follows.
    Row,
    /// A non-ASCII byte after only whitespace: the bytes from it on, to be
    /// decoded and trimmed as the reader does. Only a line of Unicode
    /// spaces (or a byte-order mark) ever gets here.
    Unsure(Vec<u8>),
}

/// Counts `reader`'s lines, and its rows among physical lines
/// `[first, end)` (0-based), reading no further than it must.
pub(super) fn count(
    mut reader: impl Read,
    (first, end): (usize, usize),
) -> std::io::Result<Counted> {
    let mut buf = vec![0u8; 1 << 16];
    let mut counted = Counted::default();
    // The line being read: what it is so far, and whether it has a byte.
    let mut line = Line::Blank;
    let mut empty_so_far = true;
    loop {
        let n = match read_some(&mut reader, &mut buf)? {
            0 => break,
            n => n,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        let mut from = 0;
        for nl in memchr::memchr_iter(b'\n', chunk).chain(std::iter::once(n)) {
            let segment = chunk.get(from..nl).unwrap_or_default();
            let index = counted.lines;
            if (first..end).contains(&index) {
                feed(&mut line, segment, index == 0 && empty_so_far);
            }
            if !segment.is_empty() {
                empty_so_far = false;
            }
            if nl == n {
                break;
            }
            // The line ends here.
            if (first..end).contains(&index) && is_row(&line, index == 0) {
                counted.rows += 1;
            }
            counted.lines += 1;
            line = Line::Blank;
            empty_so_far = true;
            from = nl + 1;
            if counted.lines >= end {
                // Past the range: only the whole count is left, and it
                // needs nothing but newlines.
                counted.lines +=
                    memchr::memchr_iter(b'\n', chunk.get(from..).unwrap_or_default()).count();
                let ended = chunk.last() == Some(&b'\n');
                return finish_lines(reader, buf, counted, ended);
            }
        }
    }
    // A last line without a newline.
    if !empty_so_far {
        let index = counted.lines;
        if (first..end).contains(&index) && is_row(&line, index == 0) {
            counted.rows += 1;
        }
        counted.lines += 1;
    }
    Ok(counted)
}

/// The next bytes into `buf`, 0 at the end; a read interrupted by a
/// signal is tried again.
fn read_some(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// The rest of the file's newlines, once the range is counted.
fn finish_lines(
    mut reader: impl Read,
    mut buf: Vec<u8>,
    mut counted: Counted,
    mut ended: bool,
) -> std::io::Result<Counted> {
    loop {
        let n = match read_some(&mut reader, &mut buf)? {
            0 => break,
            n => n,
        };
        let chunk = buf.get(..n).unwrap_or_default();
        counted.lines += memchr::memchr_iter(b'\n', chunk).count();
        ended = chunk.last() == Some(&b'\n');
    }
    counted.lines += usize::from(!ended);
    Ok(counted)
}

/// Whitespace as `str::trim` has it, in ASCII (`\x0b` included).
fn ascii_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// Takes in the next bytes of a line; `line_start` when they are the first
/// bytes of the file, where a byte-order mark is not part of the row.
fn feed(line: &mut Line, bytes: &[u8], line_start: bool) {
    match line {
        Line::Row => {}
        Line::Unsure(kept) => kept.extend_from_slice(bytes),
        Line::Blank => match bytes.iter().position(|&b| !ascii_space(b)) {
            None => {}
            Some(i) if bytes.get(i).is_some_and(u8::is_ascii) => *line = Line::Row,
            Some(i) => {
                let mut kept = Vec::new();
                // Whitespace before a byte-order mark keeps it in the row.
                if i > 0 || !line_start {
                    kept.push(b' ');
                }
                kept.extend_from_slice(bytes.get(i..).unwrap_or_default());
                *line = Line::Unsure(kept);
            }
        },
    }
}

/// Whether a finished line is a row, as the reader decides: not blank once
/// decoded (a byte-order mark stripped from the file's first line) and
/// trimmed; a line that is not UTF-8 is a row (an error row).
fn is_row(line: &Line, first_line: bool) -> bool {
    match line {
        Line::Blank => false,
        Line::Row => true,
        Line::Unsure(kept) => {
            let mut text = kept.as_slice();
            if first_line {
                text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(text);
            }
            match std::str::from_utf8(text) {
                Ok(t) => !t.trim().is_empty(),
                Err(_) => true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads at most `step` bytes at a time, so lines straddle reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// What the reader sends for `text` in `range`, counted the slow way.
    fn by_reader(text: &[u8], range: (usize, usize)) -> Counted {
        let (tx, mut rx) = tokio::sync::mpsc::channel(100_000);
        super::super::lines::read_for_tests(text, range, &tx);
        drop(tx);
        let mut rows = 0;
        while let Ok(Ok(_)) = rx.try_recv() {
            rows += 1;
        }
        let lines = text.iter().filter(|&&b| b == b'\n').count()
            + usize::from(text.last().is_some_and(|&b| b != b'\n'));
        Counted { lines, rows }
    }

    #[test]
    fn rows_are_counted_as_the_reader_sends_them_in_any_range_and_any_reads() {
        let texts: Vec<&[u8]> = vec![
            b"",
            b"\n",
            b"a",
            b"a\n",
            b"a\n\nb",
            b"\xef\xbb\xbf{\"q\": 1}\n \t\r\n\xef\xbb\xbf\n{\"q\": 2}\r\n",
            b"\xef\xbb\xbf\n\xc2\xa0\xe3\x80\x80\n \xef\xbb\xbf\n\xff\n\x0b\n  x\n",
            "\u{feff} \n\u{2028}\n".as_bytes(),
        ];
        for text in texts {
            let lines = by_reader(text, (0, usize::MAX)).lines;
            for first in 0..=lines {
                for end in first..=lines + 1 {
                    let want = by_reader(text, (first, end));
                    for step in [1, 2, 3, 7, 1 << 16] {
                        let got = count(Trickle(text, step), (first, end))
                            .unwrap_or_else(|e| panic!("{e}"));
                        assert_eq!(got, want, "{text:?} lines {first}..{end}, reads of {step}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_long_file_is_counted_in_a_fixed_buffer() {
        let mut text = Vec::new();
        for i in 0..100_000 {
            if i % 10 == 3 {
                text.extend_from_slice(b"   \n");
            } else {
                text.extend_from_slice(format!("{{\"q\": \"row {i}\"}}\n").as_bytes());
            }
        }
        let got = count(text.as_slice(), (0, usize::MAX)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            Counted {
                lines: 100_000,
                rows: 90_000
            }
        );
        let got = count(text.as_slice(), (50_000, 75_000)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            got,
            Counted {
                lines: 100_000,
                rows: 22_500
            }
        );
    }
}
