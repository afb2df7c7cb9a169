//! A program's text as miette reads it for snippets, with its line starts
//! found once.
//!
//! miette's own `SourceCode` for strings scans from the start of the text for
//! every label, so rendering N diagnostics of a large file costs N times the
//! file; here a label's line is a binary search and only the few lines shown
//! are scanned. Two more things miette's reader does not do: columns in the
//! `file:line:col` header count characters, as editors do, not bytes; and a
//! label on a very long line is shown in a window of that line, because
//! miette pads underlines with `{:width$}`, which panics past 65,535 columns.

use miette::{MietteError, MietteSpanContents, SourceCode, SourceSpan, SpanContents};

/// A line longer than this (in bytes) is shown as a window around the label.
const LONG_LINE: usize = 1_000;
/// Bytes shown on each side of a label on a long line.
const MARGIN: usize = 120;
/// The longest label drawn on a long line; the rest of it is not underlined.
const MAX_LABEL: usize = 400;

pub struct IndexedSource<'a> {
    name: &'a str,
    text: &'a str,
    /// Byte offset of the start of each line; the first is 0.
    line_starts: Vec<usize>,
    /// Bytes of text scanned for miette so far, so tests can check that
    /// rendering costs what it shows rather than the file's size.
    scanned: std::sync::atomic::AtomicUsize,
}

impl<'a> IndexedSource<'a> {
    pub fn new(name: &'a str, text: &'a str) -> IndexedSource<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        IndexedSource {
            name,
            text,
            line_starts,
            scanned: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    #[cfg(test)]
    pub fn scanned(&self) -> usize {
        self.scanned.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn len(&self) -> usize {
        self.text.len()
    }

    /// The 0-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= offset) - 1
    }

    /// Where line `line` ends, before its newline.
    fn line_end(&self, line: usize) -> usize {
        match self.line_starts.get(line + 1) {
            Some(&next) => next - 1,
            None => self.text.len(),
        }
    }

    /// The last line miette shows a label on: the line of its last byte (of
    /// its first, when empty), or the next one when that byte ends a line.
    fn last_line(&self, start: usize, len: usize) -> usize {
        let bytes = self.text.as_bytes();
        let last = start + len.max(1) - 1;
        let after = match (bytes.get(last), bytes.get(last + 1)) {
            (Some(b'\n'), _) => last + 1,
            (Some(b'\r'), Some(b'\n')) => last + 2,
            _ => last,
        };
        self.line_of(after.min(self.text.len()))
    }

    /// The 0-based column of `offset` in characters, as editors count:
    /// miette counts bytes. A byte-order mark is not a column, and the `\r`
    /// of a `\r\n` belongs to the line break.
    fn column(&self, line_start: usize, offset: usize) -> usize {
        self.text.get(line_start..offset).map_or(0, |s| {
            let s = if line_start == 0 {
                s.trim_start_matches('\u{feff}')
            } else {
                s
            };
            s.trim_end_matches('\r').chars().count()
        })
    }

    fn is_long(&self, line: usize) -> bool {
        self.line_end(line) - self.line_starts[line] > LONG_LINE
    }

    /// Shortens a label that starts or ends on a long line so that it fits
    /// in the window shown: it is kept on its first line and at most
    /// [`MAX_LABEL`] bytes, cut at a character boundary.
    pub fn fit_label(&self, offset: usize, len: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let first = self.line_of(offset);
        let last = self.line_of((offset + len).min(self.text.len()));
        if !self.is_long(first) && !self.is_long(last) {
            return (offset, len);
        }
        let end = (offset + len)
            .min(self.line_end(first))
            .min(offset + MAX_LABEL);
        (offset, floor_boundary(self.text, end).max(offset) - offset)
    }
}

impl SourceCode for IndexedSource<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let start = span.offset();
        let end = start + span.len();
        if end > self.text.len() {
            return Err(MietteError::OutOfBounds);
        }
        let first = self.line_of(start);
        let last = self.last_line(start, span.len());
        if self.is_long(first) || self.is_long(last) {
            return self.window(
                start,
                end,
                first,
                last,
                context_lines_before + context_lines_after,
            );
        }
        // Hand miette only the lines it will show, then shift what it read
        // back into the whole file's offsets and line numbers. A long line
        // next to the label would be printed whole: it is left out.
        let before = (1..=context_lines_before.min(first))
            .take_while(|&n| !self.is_long(first - n))
            .count();
        let after = (1..=context_lines_after)
            .take_while(|&n| last + n < self.line_starts.len() && !self.is_long(last + n))
            .count();
        let from_line = first - before;
        let base = self.line_starts[from_line];
        let until = match self.line_starts.get(last + after + 1) {
            Some(&next) => next,
            None => self.text.len(),
        };
        let window = &self.text[base..until];
        self.scanned
            .fetch_add(window.len(), std::sync::atomic::Ordering::Relaxed);
        let local = SourceSpan::new((start - base).into(), span.len());
        let read = window.read_span(&local, context_lines_before, context_lines_after)?;
        let data: &'b [u8] = &window.as_bytes()[read.span().offset()..][..read.span().len()];
        let line = read.line() + from_line;
        let column = if read.column() == 0 {
            0
        } else {
            self.column(
                self.line_starts[line.min(self.line_starts.len() - 1)],
                start,
            )
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            data,
            SourceSpan::new((read.span().offset() + base).into(), read.span().len()),
            line,
            column,
            // miette counts every line from the start of the text here, and
            // merges two labels' snippets when this reaches the second one;
            // counting the lines shown instead keeps labels far apart in
            // snippets of their own rather than printing everything between.
            read.line_count().saturating_sub(read.line()) + 1,
        )))
    }
}

impl IndexedSource<'_> {
    /// The part of a long line around `start..end`, without context lines.
    fn window<'b>(
        &'b self,
        start: usize,
        end: usize,
        first: usize,
        last: usize,
        context: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        if first != last || end - start > MAX_LABEL {
            // Only when miette tries to merge two labels' snippets: it then
            // draws them apart.
            return Err(MietteError::OutOfBounds);
        }
        let line_start = self.line_starts[first];
        let column = self.column(line_start, start);
        let (from, until) = if context == 0 {
            (start, end)
        } else {
            (
                ceil_boundary(self.text, start.saturating_sub(MARGIN).max(line_start)),
                floor_boundary(self.text, (end + MARGIN).min(self.line_end(first))),
            )
        };
        Ok(Box::new(MietteSpanContents::new_named(
            self.name.to_string(),
            &self.text.as_bytes()[from..until],
            SourceSpan::new(from.into(), until - from),
            first,
            if context == 0 { column } else { 0 },
            1,
        )))
    }
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i += 1;
    }
    i
}
