//! Quoting user text in messages and labels: replies, inputs and prompts can
//! be huge, so they are cut to a number of characters (never bytes, so no
//! cut can split a UTF-8 character).

/// The first `max` characters of `text`, and whether anything was cut off.
pub fn cut(text: &str, max: usize) -> (&str, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (&text[..at], true),
        None => (text, false),
    }
}

/// At most `max` characters of `text`, with `…` added when it was cut.
pub fn shorten(text: &str, max: usize) -> String {
    match cut(text, max) {
        (head, true) => format!("{head}…"),
        (all, false) => all.to_owned(),
    }
}

/// The most a program file, or a value read with `--input NAME=@PATH`, may
/// hold: far beyond any real one, and a bound on what a wrong path (a
/// device, a log, `/dev/zero`) can make flow hold in memory.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// `MAX_FILE_BYTES` as a message says it.
pub const MAX_FILE_SIZE: &str = "64 MiB";

/// Everything `reader` holds, but never more than [`MAX_FILE_BYTES`]:
/// `Ok(None)` when it holds more, found after reading one byte past the
/// bound, so an endless source costs the bound and no more.
pub fn read_bounded(reader: impl std::io::Read) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= MAX_FILE_BYTES).then_some(bytes))
}

/// [`read_bounded`] for a file; a regular file that is too large is refused
/// from its size, before reading any of it.
pub fn read_file_bounded(path: &std::path::Path) -> std::io::Result<Option<Vec<u8>>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::from(std::io::ErrorKind::IsADirectory));
    }
    if meta.is_file() && meta.len() > MAX_FILE_BYTES {
        return Ok(None);
    }
    read_bounded(file)
}

/// The OS message without Rust's `(os error N)` suffix, lowercased like ours.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a directory".to_string(),
        _ => e.to_string(),
    };
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_characters_not_bytes() {
        assert_eq!(cut("héllo", 2), ("hé", true));
        assert_eq!(cut("héllo", 5), ("héllo", false));
        assert_eq!(shorten("héllo wörld", 5), "héllo…");
        assert_eq!(shorten("héllo", 5), "héllo");
        assert_eq!(shorten("💥💥", 0), "…");
        assert_eq!(shorten("", 0), "");
    }
}
