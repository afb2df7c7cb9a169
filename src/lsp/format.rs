//! `textDocument/formatting`: `flow fmt`'s layout, one edit for the whole
//! document. A document that does not parse is left as it is (the
//! formatter never rewrites what it cannot read), as `flow fmt` leaves
//! such a file.

/// Whether there is a formatter to offer: always, since `flow fmt` is part
/// of the library.
pub fn available() -> bool {
    true
}

/// The formatted text, or `None` when it cannot be formatted (it does not
/// parse).
pub fn format(text: &str) -> Option<String> {
    crate::format::format(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_flow_fmt_does_and_leaves_broken_text_alone() {
        let messy = "model m = mock(reply: \"ok\")\noutput   answer=ask m \"hi\"\n";
        assert_eq!(
            format(messy).as_deref(),
            Some("model m = mock(reply: \"ok\")\noutput answer = ask m \"hi\"\n")
        );
        assert_eq!(format("output = = ="), None);
    }
}
