//! A large file parsed in chunks, half of them on a second thread.
//!
//! Parsing is most of what `flow run` spends on a large program before its
//! first call (a fan-out of 10,000 bindings: 0.2 s of pest and tree
//! building, one core). A file is cut at lines that start a binding
//! (`NAME =` in the first column) every [`CHUNK`] bytes or so; each thread
//! parses and builds its half of the chunks one after the other, and each
//! chunk's spans are moved by where it starts. Chunks rather than halves
//! keep pest's token queue small, its memory reused from chunk to chunk.
//!
//! A cut cannot change the tree. If it falls inside anything that spans
//! lines (a `"""` string, a section, a `for` body, brackets), the chunk
//! before it ends with it open and is rejected. If a chunk parses, every
//! construct in it is closed, and at the top level nothing continues a
//! value with `NAME =`: so a parse of the whole file ends a statement
//! there too, and parses the rest from there as the chunks after do.
//! Anything less than a clean parse of every chunk (a syntax error, a
//! mistake found while building) is thrown away and the whole file parsed
//! as before, so every diagnostic comes from one parse of the whole.

use super::parser::{self, Whole};
use crate::syntax::ast::Program;

/// Below this many bytes one thread is quicker than starting a second.
const MIN_SPLIT: usize = 32 * 1024;

/// The second half's thread recurses as deeply as this one may.
const STACK: usize = 64 << 20;

/// Chunks of about this many bytes are parsed one at a time. pest's token
/// queue grows with what it parses: a half of a 300 KB file grew one to
/// 21 MB, every page of it fresh, where a chunk's queue stays small and its
/// memory serves the next chunk.
const CHUNK: usize = 32 * 1024;

/// [`parser::parse_whole`], on two threads when the file is large.
pub fn parse_whole(source: &str) -> Whole {
    let two_cores = std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    if source.len() < MIN_SPLIT || !two_cores {
        return parser::parse_whole(source);
    }
    match in_chunks(source, &cuts(source)) {
        Some(program) => Whole::Built(program, Vec::new()),
        None => parser::parse_whole(source),
    }
}

/// Where to cut `source`: 0, a line starting a binding every [`CHUNK`]
/// bytes or so, and the end.
fn cuts(source: &str) -> Vec<usize> {
    let mut at = vec![0];
    let mut from = CHUNK;
    while from < source.len() {
        match cut(source, from) {
            Some(c) if c < source.len() => {
                at.push(c);
                from = c + CHUNK;
            }
            _ => break,
        }
    }
    at.push(source.len());
    at
}

/// The tree of `source` parsed as `source[..at]` and `source[at..]`, if
/// both parse and build without a mistake.
#[cfg(test)]
pub(super) fn in_halves(source: &str, at: usize) -> Option<Program> {
    in_chunks(source, &[0, at, source.len()])
}

/// The tree of `source` parsed chunk by chunk between `cuts` (the first
/// half of the chunks on this thread, the second on another), if every
/// chunk parses and builds without a mistake. A chunk that parses ends
/// with every construct closed, so the whole file's parse ends a statement
/// there too: by induction, the chunks' trees are the whole file's.
fn in_chunks(source: &str, cuts: &[usize]) -> Option<Program> {
    let chunks: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
    if chunks.len() < 2 {
        return None;
    }
    let (first, second) = chunks.split_at(chunks.len() / 2);
    let parse = |chunks: &[(usize, usize)]| -> Option<Vec<Program>> {
        let mut programs = Vec::with_capacity(chunks.len());
        for &(start, end) in chunks {
            let mut program = match parser::parse_whole(source.get(start..end)?) {
                Whole::Built(program, errors) if errors.is_empty() => program,
                _ => return None,
            };
            if start > 0 {
                crate::import::shift::program(&mut program, start);
            }
            programs.push(program);
        }
        Some(programs)
    };
    let (first, second) = std::thread::scope(|s| {
        let other = std::thread::Builder::new()
            .name("flow-parse".into())
            .stack_size(STACK)
            .spawn_scoped(s, || parse(second));
        let first = parse(first);
        let second = match other {
            Ok(handle) => handle.join().ok().flatten(),
            // No thread to be had: the second half here, after the first.
            Err(_) => parse(second),
        };
        (first, second)
    });
    // Each statement moved once, into a list of the right size.
    let programs: Vec<Program> = first?.into_iter().chain(second?).collect();
    let mut items = Vec::with_capacity(programs.iter().map(|p| p.items.len()).sum());
    for program in programs {
        items.extend(program.items);
    }
    Some(Program { items })
}

/// The start of the first line at or after `from` that begins, in its first
/// column, with a name that is not a keyword followed by `=` (not `==`).
pub(super) fn cut(source: &str, from: usize) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut i = from;
    loop {
        // The start of the next line.
        i += bytes.get(i..)?.iter().position(|&b| b == b'\n')? + 1;
        if binding_starts(source, i) {
            return Some(i);
        }
    }
}

fn binding_starts(source: &str, at: usize) -> bool {
    let bytes = source.as_bytes();
    let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    if !bytes.get(at).is_some_and(|&b| is_start(b)) {
        return false;
    }
    let mut end = at;
    while bytes.get(end).is_some_and(|&b| is_char(b)) {
        end += 1;
    }
    let word = source.get(at..end).unwrap_or("");
    if parser::KEYWORDS.contains(&word) || matches!(word, "section" | "type" | "test") {
        return false;
    }
    while matches!(bytes.get(end), Some(b' ' | b'\t')) {
        end += 1;
    }
    bytes.get(end) == Some(&b'=') && !matches!(bytes.get(end + 1), Some(b'=' | b'>'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(text: &str) -> Option<Program> {
        match parser::parse_whole(text) {
            Whole::Built(p, errors) if errors.is_empty() => Some(p),
            _ => None,
        }
    }

    /// Every example and every docs-like shape, cut at every line that
    /// could start a binding: wherever both halves parse, the tree is the
    /// tree of the whole file, spans and all.
    #[test]
    fn a_file_cut_anywhere_both_halves_parse_gives_the_whole_files_tree() {
        let mut texts: Vec<String> = std::fs::read_dir("examples")
            .unwrap_or_else(|e| panic!("examples: {e}"))
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "flow"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect();
        texts.push(
            "model m = mock(reply: \"ok\")\n\
             a = ask m \"\"\"\n\
             b = not a binding\n\
             \"\"\"\n\
             s = section <\n  x = ask m \"1\"\n  y = ask m \"2\"\n>\n\
             c = ask m \"q\" vote 3 by majority\n\
             d = (c ==\n  \"ok\")\n\
             e = [a,\n  b]\n\
             output o = [a, c, d, e]\n"
                .into(),
        );
        let mut cuts = 0;
        for text in &texts {
            let Some(expected) = whole(text) else {
                continue;
            };
            let mut from = 0;
            while let Some(at) = cut(text, from) {
                if let Some(halves) = in_halves(text, at) {
                    assert_eq!(halves, expected, "cut at {at} of:\n{text}");
                    cuts += 1;
                }
                from = at;
            }
        }
        assert!(cuts > 20, "only {cuts} cuts parsed");
    }

    #[test]
    fn a_cut_inside_a_string_or_a_section_is_refused() {
        let text = "a = \"\"\"\nb = 1\n\"\"\"\ns = section <\n  x = 1\n  y = 2\n>\n";
        let inside_string = text.find("b = 1").unwrap_or_default();
        assert_eq!(cut(text, 0), Some(inside_string));
        assert_eq!(in_halves(text, inside_string), None);
        let inside_section = text.find("  y").unwrap_or_default();
        // A member is indented, so no cut is offered there at all.
        assert_ne!(cut(text, inside_string), Some(inside_section));
    }

    #[test]
    fn a_large_file_parses_in_chunks_to_the_same_tree() {
        use std::fmt::Write as _;
        let mut text = String::from("model m = mock(reply: \"ok\")\n");
        for i in 0..8_000 {
            let _ = writeln!(text, "a{i} = ask m \"part {i}\"");
            if i % 1_000 == 0 {
                // A string across lines, so some chunks start inside nothing
                // and end after one.
                let _ = writeln!(text, "s{i} = \"\"\"\n  b{i} = not a binding\n\"\"\"");
            }
        }
        text.push_str("output o = [a0, a7999]\n");
        assert!(cuts(&text).len() > 5, "{:?}", cuts(&text));
        // Every chunk parsed: no fallback to the whole file hides a bad cut.
        let chunked = in_chunks(&text, &cuts(&text));
        assert!(chunked.is_some());
        assert_eq!(chunked, whole(&text));
        let Whole::Built(split, errors) = parse_whole(&text) else {
            panic!("the file does not parse");
        };
        assert!(errors.is_empty());
        assert_eq!(Some(split), whole(&text));
    }
}
