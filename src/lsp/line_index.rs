//! Byte offsets ⇄ LSP positions.
//!
//! Every stage speaks in byte offsets; the protocol speaks in lines and
//! UTF-16 code units (what VS Code's strings are made of). A line holding
//! `é` or `🙂` would shift every column after it if bytes were sent as
//! columns, so all conversions go through here.

use lsp_types::Position;

/// The start of every line of one text, to convert in `O(log lines)` plus
/// the length of one line.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// Byte offset of each line's first byte; `starts[0] == 0`.
    starts: Vec<usize>,
    /// Whether the text is all ASCII, where a column is a byte count.
    ascii: bool,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr_newlines(text).map(|i| i + 1));
        LineIndex {
            starts,
            ascii: text.is_ascii(),
        }
    }

    /// The position of byte `offset`; an offset past the end or inside a
    /// character is moved back to the character's start.
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = if self.ascii {
            offset - start
        } else {
            text[start..offset].chars().map(char::len_utf16).sum()
        };
        Position::new(to_u32(line), to_u32(column))
    }

    /// The byte offset of `pos`; a line past the end gives the end of the
    /// text, a column past the line's end gives the line's end (before its
    /// newline), and a column inside a surrogate pair the character's start.
    pub fn offset(&self, text: &str, pos: Position) -> usize {
        let line = pos.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return text.len();
        };
        let end = self
            .starts
            .get(line + 1)
            .map(|&next| next - 1)
            .unwrap_or(text.len());
        let line_text = &text[start..end];
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let want = pos.character as usize;
        if self.ascii {
            return start + want.min(line_text.len());
        }
        let mut units = 0;
        for (i, c) in line_text.char_indices() {
            if units >= want || units + c.len_utf16() > want {
                return start + i;
            }
            units += c.len_utf16();
        }
        start + line_text.len()
    }

    /// The range of a byte span.
    pub fn range(&self, text: &str, span: crate::syntax::Span) -> lsp_types::Range {
        lsp_types::Range::new(
            self.position(text, span.start),
            self.position(text, span.end.max(span.start)),
        )
    }

    /// How many lines the text has (a final newline starts an empty one).
    #[cfg(test)]
    pub fn lines(&self) -> usize {
        self.starts.len()
    }
}

fn memchr_newlines(text: &str) -> impl Iterator<Item = usize> + '_ {
    text.bytes()
        .enumerate()
        .filter(|&(_, b)| b == b'\n')
        .map(|(i, _)| i)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Lines and columns past `u32::MAX` cannot be sent; such a file is not one
/// an editor would open, so saturate rather than fail.
fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) {
        let index = LineIndex::new(text);
        for (offset, _) in text.char_indices().chain([(text.len(), ' ')]) {
            let pos = index.position(text, offset);
            assert_eq!(index.offset(text, pos), offset, "{text:?} at {offset}");
        }
    }

    #[test]
    fn ascii_columns_are_bytes() {
        let text = "a = 1\nbb = 2\n";
        let index = LineIndex::new(text);
        assert_eq!(index.position(text, 7), Position::new(1, 1));
        assert_eq!(index.offset(text, Position::new(1, 1)), 7);
        assert_eq!(index.lines(), 3);
        roundtrip(text);
    }

    #[test]
    fn non_ascii_counts_utf16_units() {
        // `é` is 2 bytes and 1 unit; `🙂` is 4 bytes and 2 units.
        let text = "x = \"é🙂\" # ünï\ny = x\n";
        let index = LineIndex::new(text);
        let after_emoji = text.find("\" #").unwrap();
        assert_eq!(index.position(text, after_emoji), Position::new(0, 8));
        let y = text.find("y =").unwrap();
        assert_eq!(index.position(text, y), Position::new(1, 0));
        roundtrip(text);
    }

    #[test]
    fn odd_positions_are_clamped() {
        let text = "🙂\r\nab";
        let index = LineIndex::new(text);
        // Inside the surrogate pair: the character's start.
        assert_eq!(index.offset(text, Position::new(0, 1)), 0);
        // Past the line's end: before its `\r\n`.
        assert_eq!(index.offset(text, Position::new(0, 99)), 4);
        assert_eq!(index.offset(text, Position::new(9, 0)), text.len());
        // Inside a character: its start.
        assert_eq!(index.position(text, 2), Position::new(0, 0));
        assert_eq!(index.position(text, 999), Position::new(1, 2));
    }
}
