//! When two samples are the same answer: the canonical keys votes compare.

use crate::value::Value;

/// Text as votes compare it: in Unicode compatibility form (NFKC), case
/// folded, then NFKC again (case folding can undo it), trimmed, with runs
/// of white space collapsed to one space — so `"Yes "`, `"YES"`, the
/// full-width `"Ｙｅｓ"` and `"café"` in either of its two encodings are
/// each one answer.
pub fn normalize_text(s: &str) -> String {
    let nfkc = icu_normalizer::ComposingNormalizer::new_nfkc();
    let folded = icu_casemap::CaseMapper::new()
        .fold_string(&nfkc.normalize(s))
        .into_owned();
    nfkc.normalize(&folded)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The canonical form two samples must share to count as the same answer.
/// Each kind of value has its own prefix and every part is self-delimiting,
/// so different values never share a key.
pub(super) fn vote_key(value: &Value) -> String {
    let mut out = String::new();
    write_key(value, &mut out);
    out
}

fn write_key(value: &Value, out: &mut String) {
    match value {
        Value::Text(s) => {
            out.push('s');
            out.push_str(&json_string(&normalize_text(s)));
        }
        Value::Bool(b) => out.push_str(if *b { "b1" } else { "b0" }),
        Value::Int(n) => {
            out.push('i');
            out.push_str(&n.to_string());
        }
        Value::Number(x) => {
            out.push('n');
            if x.is_nan() {
                out.push_str("nan");
            } else if *x == 0.0 {
                // -0 and 0 are the same answer.
                out.push('0');
            } else {
                out.push_str(&format!("{x:?}"));
            }
        }
        Value::Json(j) => {
            out.push('j');
            write_json_key(j, out);
        }
        Value::List(items) => {
            out.push('[');
            for item in items {
                write_key(item, out);
                out.push(',');
            }
            out.push(']');
        }
        Value::Chat(chat) => {
            out.push('c');
            write_json_key(&crate::chat::to_json(chat), out);
        }
        Value::Placeholder(p) => {
            out.push('p');
            out.push_str(&json_string(&p.path));
        }
        Value::Record(fields) => {
            out.push('{');
            for (name, v) in fields {
                out.push_str(&json_string(name));
                out.push(':');
                write_key(v, out);
                out.push(',');
            }
            out.push('}');
        }
    }
}

/// Json compares structurally with object keys sorted, whatever order the
/// model wrote them in.
fn write_json_key(j: &serde_json::Value, out: &mut String) {
    match j {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (k, v) in entries {
                out.push_str(&json_string(k));
                out.push(':');
                write_json_key(v, out);
                out.push(',');
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for v in items {
                write_json_key(v, out);
                out.push(',');
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn unicode_spellings_of_one_answer_share_a_key() {
        use super::normalize_text as n;
        assert_eq!(n("Ｙｅｓ"), n("yes"));
        assert_eq!(n("  YES \t"), "yes");
        // Composed é and e + combining acute.
        assert_eq!(n("caf\u{e9}"), n("cafe\u{301}"));
        // Full case folding, not just lower-casing: ß folds to ss.
        assert_eq!(n("STRASSE"), n("straße"));
        assert_ne!(n("yes"), n("no"));
    }

    use super::super::t;
    use super::*;

    #[test]
    fn normalize_trims_lowercases_and_collapses() {
        assert_eq!(normalize_text("  Hello \n\t World  "), "hello world");
        assert_eq!(normalize_text(""), "");
        assert_eq!(normalize_text("YES"), "yes");
    }

    #[test]
    fn keys_distinguish_kinds_and_sort_json_objects() {
        assert_ne!(vote_key(&t("1")), vote_key(&Value::Int(1)));
        assert_ne!(vote_key(&Value::Int(1)), vote_key(&Value::Number(1.0)));
        assert_eq!(
            vote_key(&Value::Json(serde_json::json!({"a": 1, "b": [1, 2]}))),
            vote_key(&Value::Json(serde_json::json!({"b": [1, 2], "a": 1})))
        );
        assert_ne!(
            vote_key(&Value::List(vec![t("a,b")])),
            vote_key(&Value::List(vec![t("a"), t("b")]))
        );
        assert_eq!(
            vote_key(&Value::Number(0.0)),
            vote_key(&Value::Number(-0.0))
        );
    }
}
