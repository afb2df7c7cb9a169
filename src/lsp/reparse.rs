//! Parsing after an edit: only the statements the edit touched.
//!
//! Parsing is most of what a keystroke costs in a large file (at 10,000
//! bindings, two thirds of the compile). When the previous text parsed
//! without an error, the statements wholly before and wholly after the
//! changed bytes are the same statements: those before keep their trees,
//! those after keep theirs moved by the change in length
//! (`import::shift`), and only the stretch between the last untouched
//! statement before the edit and the first untouched one after it is
//! parsed again, on its own.
//!
//! This gives the tree a parse of the whole text gives, as long as that
//! stretch parses cleanly on its own: it is cut at statement boundaries of
//! a clean parse, outside any string or comment, and what is on either side
//! is a complete statement that nothing at the stretch's edges can continue
//! (a statement starts with its own word, and no statement can be continued
//! by one). Anything else — a syntax error in the stretch, a byte-order mark
//! in the middle of a file — returns `None`, and the caller parses the
//! whole text, with recovery, as before. A test holds this to a parse of
//! the whole for edits at every byte of the examples.

use crate::syntax::ast::{Item, Program};

/// The statements of `new`, given the statements `old` parsed into without
/// an error; `None` when the whole of `new` must be parsed instead.
pub fn reparse(old: &str, mut items: Vec<Item>, new: &str) -> Option<Program> {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let most = a.len().min(b.len()) - prefix;
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take(most)
        .take_while(|(x, y)| x == y)
        .count();
    if prefix == a.len() && a.len() == b.len() {
        return Some(Program { items });
    }
    // The changed bytes are `old[prefix..old_end]`; a statement touching
    // them, even only at an end (typing right after `x = a`), is parsed
    // again.
    let old_end = a.len() - suffix;
    let first = items.partition_point(|i| i.span().end < prefix);
    let after = items.partition_point(|i| i.span().start <= old_end);
    let from = match first.checked_sub(1) {
        Some(k) => items[k].span().end,
        None => 0,
    };
    let to_old = items.get(after).map_or(a.len(), |i| i.span().start);
    let to = (to_old + b.len()).checked_sub(a.len())?;
    let stretch = new.get(from..to)?;
    // Only the start of a file may carry a byte-order mark.
    if from > 0 && stretch.contains('\u{FEFF}') {
        return None;
    }
    let parsed = crate::syntax::parse(stretch).ok()?;
    let mut middle = parsed.items;
    crate::import::shift::items(&mut middle, isize::try_from(from).ok()?);
    let mut tail = items.split_off(after);
    let delta = isize::try_from(b.len()).ok()? - isize::try_from(a.len()).ok()?;
    crate::import::shift::items(&mut tail, delta);
    items.truncate(first);
    items.extend(middle);
    items.extend(tail);
    Some(Program { items })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Option<Vec<Item>> {
        crate::syntax::parse(text).ok().map(|p| p.items)
    }

    /// Replaces `old[at..at + len]` by `with`, reparses, and holds the
    /// result to a parse of the whole new text whenever the new text
    /// parses (and to `None`, a whole parse, when it does not).
    fn holds(old: &str, at: usize, len: usize, with: &str) -> bool {
        holds_with(
            old,
            &parse(old).expect("the old text parses"),
            at,
            len,
            with,
        )
    }

    fn holds_with(old: &str, items: &[Item], at: usize, len: usize, with: &str) -> bool {
        if !old.is_char_boundary(at) || !old.is_char_boundary(at + len) {
            return false;
        }
        let mut new = old.to_string();
        new.replace_range(at..at + len, with);
        let items = items.to_vec();
        let got = reparse(old, items, &new).map(|p| p.items);
        match (parse(&new), got) {
            (Some(whole), Some(got)) => {
                assert_eq!(got, whole, "edit at {at}..{}: {with:?}\n{new}", at + len);
                true
            }
            (None, got) => {
                assert!(got.is_none(), "a text that fails parsed: {new}");
                false
            }
            (Some(_), None) => false,
        }
    }

    const TEXT: &str = "# Spans after an edit\nmodel m = mock(reply: \"yes\")\ninput q: text = \"hello\"\n\nx = ask m \"Step: {q}\"   # why\ny = \"{x} then 1\"\nsection <\n  a = ask m \"é {y}\" vote 3 by majority\n  b = ask m \"🙂\"\n>\noutput r = if a then b else y\n";

    #[test]
    fn an_edit_inside_a_statement_gives_the_whole_parse() {
        let at = TEXT.find("then 1").unwrap() + 5;
        assert!(holds(TEXT, at, 1, "2"));
        assert!(holds(TEXT, at, 1, "123"));
        assert!(holds(TEXT, at, 1, ""));
        // A new statement typed between two.
        let gap = TEXT.find("\ny =").unwrap() + 1;
        assert!(holds(TEXT, gap, 0, "z = 1\n"));
        // A statement deleted, the one after it moved back.
        let y = TEXT.find("y = ").unwrap();
        let end = TEXT[y..].find('\n').unwrap() + 1;
        assert!(holds(TEXT, y, end, ""));
    }

    #[test]
    fn broken_and_joined_statements_parse_whole() {
        // `x = ask m "...` unterminated: the stretch fails, the whole is parsed.
        let q = TEXT.find("Step").unwrap() - 1;
        assert!(!holds(TEXT, q, 1, ""));
        // Two statements joined onto one line.
        let nl = TEXT.find("\ny =").unwrap();
        holds(TEXT, nl, 1, " ");
        // A byte-order mark typed in the middle.
        let mut new = TEXT.to_string();
        new.insert(nl + 1, '\u{FEFF}');
        assert!(reparse(TEXT, parse(TEXT).unwrap(), &new).is_none());
    }

    /// Edits near statement boundaries are the ones that could go wrong:
    /// a one-byte deletion and a few insertions at every byte of the text
    /// above, more at every 5th byte, and two at every 127th byte of every
    /// example (debug builds parse slowly, a few ms a parse). Wherever the
    /// result parses, the statements are the whole parse's.
    #[test]
    fn edits_across_the_examples_give_the_whole_parse() {
        let mut reparsed = 0;
        let items = parse(TEXT).unwrap();
        for at in 0..TEXT.len() {
            reparsed += holds_with(TEXT, &items, at, 1, "") as usize;
            for s in ["x", "\n", "\""] {
                reparsed += holds_with(TEXT, &items, at, 0, s) as usize;
            }
            if at % 5 == 0 {
                for s in ["#", "\nz = y\n", ">", "vote 3 by majority"] {
                    reparsed += holds_with(TEXT, &items, at, 0, s) as usize;
                }
            }
        }
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "flow"))
            .collect();
        files.sort();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            let Some(items) = parse(&text) else { continue };
            for at in (0..text.len()).step_by(127) {
                reparsed += holds_with(&text, &items, at, 1, "") as usize;
                reparsed += holds_with(&text, &items, at, 0, "= 1\n") as usize;
            }
        }
        assert!(reparsed > 500, "only {reparsed} edits were reparsed");
    }
}
