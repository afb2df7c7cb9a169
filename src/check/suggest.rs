//! "Did you mean?" for every kind of unknown name.

/// The candidate closest to `name`, if it is close enough to be a likely typo.
///
/// Closeness is Jaro-Winkler similarity (good at transpositions and shared
/// prefixes, which is what typos look like) with a Levenshtein fallback for
/// very short names, where Jaro-Winkler is noisy.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut best: Option<(f64, &str)> = None;
    let lower_name = name.to_lowercase();
    for candidate in candidates {
        if candidate == name || candidate.is_empty() {
            continue;
        }
        let score = similarity(&lower_name, candidate);
        if score < 0.8 {
            continue;
        }
        // Strictly greater keeps the first of equal candidates, so the
        // suggestion is stable in source order.
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c.to_string())
}

/// `lower_a` is already in lower case: it is the same for every candidate.
fn similarity(lower_a: &str, b: &str) -> f64 {
    let lower_b: std::borrow::Cow<str> = if b.chars().any(char::is_uppercase) {
        b.to_lowercase().into()
    } else {
        b.into()
    };
    let lower_b = lower_b.as_ref();
    if lower_a == lower_b {
        return 1.0;
    }
    let jw = strsim::jaro_winkler(lower_a, lower_b);
    let edits = strsim::levenshtein(lower_a, lower_b);
    let longest = lower_a.chars().count().max(lower_b.chars().count());
    // One edit in a short word (`tmp` for `temp`) is a typo even when
    // Jaro-Winkler says otherwise.
    if edits == 1 || (edits == 2 && longest >= 6) {
        return jw.max(0.85);
    }
    jw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos() {
        let names = ["temperature", "max_tokens", "top_p"];
        assert_eq!(
            did_you_mean("temprature", names),
            Some("temperature".to_string())
        );
        assert_eq!(did_you_mean("max_token", names), Some("max_tokens".into()));
        assert_eq!(did_you_mean("topp", names), Some("top_p".into()));
    }

    #[test]
    fn ignores_unrelated_names() {
        assert_eq!(did_you_mean("banana", ["temperature", "rpm"]), None);
        assert_eq!(did_you_mean("x", ["query", "answer"]), None);
    }

    #[test]
    fn short_names() {
        assert_eq!(
            did_you_mean("qurey", ["query", "reply"]),
            Some("query".into())
        );
        assert_eq!(
            did_you_mean("opnai", ["openai", "anthropic", "mock"]),
            Some("openai".into())
        );
        assert_eq!(
            did_you_mean("mok", ["openai", "anthropic", "mock"]),
            Some("mock".into())
        );
    }

    #[test]
    fn never_suggests_itself() {
        assert_eq!(did_you_mean("a", ["a"]), None);
    }
}
