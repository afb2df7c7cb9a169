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
