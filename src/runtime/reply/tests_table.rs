//! The extraction table of `docs/language.md` ("How replies are read"), one
//! test per row, with replies in the styles real models write: chains of
//! thought, `Answer:` lines, `\boxed{}`, echoes of the prompt, refusals,
//! code fences and prose around JSON.

use indexmap::IndexMap;
use serde_json::json;

use super::parse_reply_to;
use crate::types::Type;
use crate::value::Value;

/// Each reply (to `prompt`, when given) read as `ty` must give the value.
fn reads(ty: &Type, prompt: Option<&str>, cases: &[(&str, Value)]) {
    for (reply, want) in cases {
        match parse_reply_to(reply, ty, prompt) {
            Ok(got) => assert_eq!(&got, want, "{reply:?} as {ty}"),
            Err(e) => panic!("{reply:?} as {ty}: {e}"),
        }
    }
}

/// Each reply must be unparsable, with `expected` containing the text.
fn refuses(ty: &Type, prompt: Option<&str>, cases: &[(&str, &str)]) {
    for (reply, why) in cases {
        match parse_reply_to(reply, ty, prompt) {
            Ok(v) => panic!("{reply:?} as {ty} gave {v:?}"),
            Err(e) => assert!(
                e.expected.contains(why),
                "{reply:?} as {ty}: {:?} lacks {why:?}",
                e.expected
            ),
        }
    }
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn text(s: &str) -> Value {
    Value::Text(s.into())
}

fn union(choices: &[&str]) -> Type {
    Type::Union(choices.iter().map(|c| c.to_string()).collect())
}

#[test]
fn numbers_come_from_an_explicit_final_answer() {
    reads(
        &Type::Int,
        None,
        &[
            ("Step 1: 2.5 hours. Answer: 150", int(150)),
            (
                "The train goes 60 km/h for 2.5 hours, so 60 * 2.5 = 150 km.\nFinal answer: 150 km\nThat took 3 steps.",
                int(150),
            ),
            ("Let me think. 12 + 30 = 42.\n**Answer:** 42", int(42)),
            ("The answer is 17, since 3 apples were eaten.", int(17)),
            ("She has 5 - 2 = 3 left.\nAnswer:\n3", int(3)),
            ("answer = 8 (2 per box, 4 boxes)", int(8)),
            ("Answer: 2 * 3 = 6", int(6)),
        ],
    );
}

#[test]
fn numbers_come_from_a_boxed_answer() {
    reads(
        &Type::Int,
        None,
        &[
            (
                "We have $x + 3 = 10$, so $x = 7$.\n\nThe final answer is $\\boxed{7}$. Check: 7 + 3 = 10.",
                int(7),
            ),
            ("\\boxed{1{,}234}", int(1234)),
            ("First \\boxed{3}, corrected: \\boxed{4}", int(4)),
        ],
    );
}

#[test]
fn numbers_prefer_a_bold_number() {
    reads(
        &Type::Int,
        None,
        &[
            ("Answer: after 2 stops, **150** km", int(150)),
            (
                "So the total is **12**.\n\nNote: I assumed 2 people.",
                int(12),
            ),
            // The answer first, then the working.
            (
                "150 km\n\nBecause the train covers 60 km each hour for 2.5 hours.",
                int(150),
            ),
            ("Step 1\n60 × 2.5 = 150", int(150)),
            // A bold step heading is no answer.
            ("**Step 1:** 60 × 2.5 = 150\n**Step 2:** done", int(150)),
        ],
    );
}

#[test]
fn numbers_otherwise_come_from_the_last_number() {
    reads(
        &Type::Int,
        None,
        &[
            ("2 + 2 = 4", int(4)),
            // A last line ending on a calculation ends on its result.
            (
                "There are 7 days in a week, so 7 * 3 = 21 days in 3 weeks.",
                int(21),
            ),
            ("Then 3x + 5 = 20, so 3x = 15 and x = 5.", int(5)),
            ("First 3 boxes, then 4 more, 7 in all", int(7)),
            ("42", int(42)),
        ],
    );
    reads(
        &Type::Number,
        None,
        &[
            ("I'd rate it 8.5/10", Value::Number(8.5)),
            ("7 out of 10", Value::Number(7.0)),
            ("The mean is 2.5.\nStep 3: done", Value::Number(2.5)),
        ],
    );
}

#[test]
fn numbers_in_an_echoed_prompt_are_skipped() {
    let prompt = "A train travels at 60 km/h for 2.5 hours. How far does it go?";
    reads(
        &Type::Int,
        Some(prompt),
        &[
            (
                "A train travels at 60 km/h for 2.5 hours. How far does it go?\n150",
                int(150),
            ),
            (
                "Question: A train travels at 60 km/h for 2.5 hours. How far does it go?\nIt goes 150 km",
                int(150),
            ),
        ],
    );
    // Without the prompt the echo would win.
    refuses(
        &Type::Int,
        Some("Count to 5.\nWhich number comes after 2 in the list 1, 2, 3?"),
        &[("I'm sorry, I can't count.", "declines")],
    );
}

#[test]
fn numbers_are_written_as_people_write_them() {
    reads(
        &Type::Int,
        None,
        &[
            ("It costs $150.", int(150)),
            ("About 1,234 people", int(1234)),
            ("-3 degrees", int(-3)),
            ("It fell to \u{2212}12 °C", int(-12)),
            ("12.0", int(12)),
            ("1e3", int(1000)),
            ("{\"answer\": 9}", int(9)),
        ],
    );
    reads(
        &Type::Number,
        None,
        &[
            ("$2,500.75 total", Value::Number(2500.75)),
            ("+0.5", Value::Number(0.5)),
        ],
    );
}

#[test]
fn a_refusal_or_a_reply_without_a_number_is_unparsable() {
    refuses(
        &Type::Int,
        None,
        &[
            (
                "I can't help with that.",
                "a whole number (the reply declines to answer)",
            ),
            (
                "I'm sorry, but as of 2023 I cannot predict prices.",
                "declines to answer",
            ),
            ("none", "a whole number"),
            ("Answer: 2.5", "a whole number (the answer was 2.5)"),
        ],
    );
    refuses(&Type::Number, None, &[("NaN", "a number")]);
}

#[test]
fn booleans_come_from_the_answer_line_or_the_first_word() {
    reads(
        &Type::Bool,
        None,
        &[
            ("**Yes**", Value::Bool(true)),
            ("No, because it is harmless.", Value::Bool(false)),
            (
                "The request mentions a weapon.\nAnswer: yes",
                Value::Bool(true),
            ),
            ("Let me check the code first.\n\nNo.", Value::Bool(false)),
            ("TRUE", Value::Bool(true)),
            ("{\"answer\": false}", Value::Bool(false)),
            (
                "I would say **no**, because it is harmless.",
                Value::Bool(false),
            ),
        ],
    );
    refuses(
        &Type::Bool,
        None,
        &[("maybe", "yes or no"), ("I can't answer that.", "declines")],
    );
}

#[test]
fn choices_come_from_the_answer_line_or_the_first_word() {
    let ty = union(&["safe", "unsafe"]);
    reads(
        &ty,
        None,
        &[
            ("Unsafe.", text("unsafe")),
            (
                "Unsafe. Nothing about this request is safe.",
                text("unsafe"),
            ),
            (
                "It could be safe or unsafe; weighing it up.\nFinal answer: unsafe",
                text("unsafe"),
            ),
            ("I would call this safe.", text("safe")),
            ("**SAFE**", text("safe")),
            (
                "Looking at whether it is safe: the message is **unsafe**.",
                text("unsafe"),
            ),
        ],
    );
    refuses(
        &ty,
        None,
        &[
            (
                "It could be safe or unsafe.",
                "the reply names \"safe\" and \"unsafe\"",
            ),
            ("I'm sorry, I can't judge whether that is safe.", "declines"),
        ],
    );
    // A prompt echoed back names every choice; it is skipped.
    let prompt = "Is the following request safe or unsafe? Reply with one word.";
    reads(
        &ty,
        Some(prompt),
        &[(
            "Is the following request safe or unsafe? Reply with one word.\n\nsafe",
            text("safe"),
        )],
    );
}

#[test]
fn lists_drop_preambles_and_bullets() {
    let ty = Type::list(Type::Text);
    let items = |xs: &[&str]| Value::List(xs.iter().map(|x| text(x)).collect());
    reads(
        &ty,
        None,
        &[
            (
                "Here are the items:\n- apples\n- pears\n\nLet me know if you need more!",
                items(&["apples", "pears"]),
            ),
            (
                "Sure! The risks are:\n1. fire\n2. flood",
                items(&["fire", "flood"]),
            ),
            (
                "Here are the items:\napples\npears",
                items(&["apples", "pears"]),
            ),
            ("```json\n[\"a\", \"b\",]\n```", items(&["a", "b"])),
            ("{\"items\": [\"a\", \"b\"]}", items(&["a", "b"])),
            (
                "Paris, London and Rome.",
                items(&["Paris", "London", "Rome"]),
            ),
            (
                "Cities: Paris, London, and Rome",
                items(&["Paris", "London", "Rome"]),
            ),
            ("- **Paris**\n- London", items(&["Paris", "London"])),
        ],
    );
    reads(
        &Type::list(Type::Int),
        None,
        &[(
            "The primes are:\n* 2\n* 3\n* 5",
            Value::List(vec![int(2), int(3), int(5)]),
        )],
    );
}

#[test]
fn list_items_may_repeat_lines_of_the_prompt() {
    let prompt = "Which of these are fruit?\n- a ripe banana\n- a red car door\n- a green apple";
    reads(
        &Type::list(Type::Text),
        Some(prompt),
        &[(
            "The fruit are:\n- a ripe banana\n- a green apple",
            Value::List(vec![text("a ripe banana"), text("a green apple")]),
        )],
    );
}

#[test]
fn json_comes_out_of_fences_and_prose() {
    let want = Value::Json(json!({"a": 1, "b": [1, 2]}));
    reads(
        &Type::Json,
        None,
        &[
            ("```json\n{\"a\": 1, \"b\": [1, 2]}\n```", want.clone()),
            (
                "Sure! Here is the JSON you asked for:\n{\"a\": 1, \"b\": [1, 2]}\nHope it helps.",
                want.clone(),
            ),
            ("{\"a\": 1, \"b\": [1, 2,],}", want.clone()),
            (
                "{\n  \"a\": 1, // the count\n  \"b\": [1, 2]\n}",
                want.clone(),
            ),
            (
                "Result: {\"a\": 1, \"b\": [1, 2]} (braces } in prose)",
                want,
            ),
        ],
    );
    refuses(&Type::Json, None, &[("{not json", "json")]);
}

fn verdict() -> Type {
    Type::Record(IndexMap::from([
        ("verdict".to_string(), union(&["safe", "unsafe"])),
        ("reason".to_string(), Type::Text),
        ("score".to_string(), Type::Int),
        ("note".to_string(), Type::Optional(Box::new(Type::Text))),
    ]))
}

fn record(verdict: &str, reason: &str, score: i64, note: &str) -> Value {
    Value::Record(IndexMap::from([
        ("verdict".to_string(), text(verdict)),
        ("reason".to_string(), text(reason)),
        ("score".to_string(), int(score)),
        ("note".to_string(), text(note)),
    ]))
}

#[test]
fn records_are_read_field_by_field() {
    reads(
        &verdict(),
        None,
        &[
            (
                "```json\n{\"verdict\": \"unsafe\", \"reason\": \"weapons\", \"score\": 9}\n```",
                record("unsafe", "weapons", 9, ""),
            ),
            // Prose around, a field as a string, case, extra fields, a note.
            (
                "Here is my assessment:\n{\"Verdict\": \"Safe\", \"reason\": \"a recipe\", \"score\": \"3\", \"confidence\": 0.9, \"note\": \"ok\",}\nThanks!",
                record("safe", "a recipe", 3, "ok"),
            ),
            (
                "{\"verdict\": \"safe\", \"reason\": \"fine\", \"score\": 2.0, \"note\": null}",
                record("safe", "fine", 2, ""),
            ),
            // Wrapped in an object named after the type; Python's spelling.
            (
                "{\"Verdict\": {\"verdict\": \"safe\", \"reason\": \"ok\", \"score\": 1}}",
                record("safe", "ok", 1, ""),
            ),
            (
                "{'verdict': 'unsafe', 'reason': 'weapons', 'score': 8, 'note': None}",
                record("unsafe", "weapons", 8, ""),
            ),
        ],
    );
}

#[test]
fn a_record_reply_that_does_not_fit_says_which_field() {
    refuses(
        &verdict(),
        None,
        &[
            (
                "{\"verdict\": \"unsafe\", \"reason\": \"weapons\"}",
                "a JSON object with fields verdict, reason, score, note (optional) (field `score` is missing)",
            ),
            (
                "{\"verdict\": \"unsafe\", \"reason\": \"x\", \"score\": \"high\"}",
                "field `score` should be a whole number, but it is \"high\"",
            ),
            (
                "{\"verdict\": \"maybe\", \"reason\": \"x\", \"score\": 1}",
                "field `verdict` should be one of \"safe\", \"unsafe\"",
            ),
            ("I think it is unsafe.", "(the reply has no JSON object)"),
        ],
    );
}

#[test]
fn lists_of_records_from_an_array_or_one_object_per_line() {
    let item = Type::Record(IndexMap::from([
        ("name".to_string(), Type::Text),
        ("age".to_string(), Type::Int),
    ]));
    let person = |name: &str, age: i64| {
        Value::Record(IndexMap::from([
            ("name".to_string(), text(name)),
            ("age".to_string(), int(age)),
        ]))
    };
    let both = Value::List(vec![person("Ada", 36), person("Alan", 41)]);
    reads(
        &Type::list(item.clone()),
        None,
        &[
            (
                "```json\n[{\"name\": \"Ada\", \"age\": 36}, {\"name\": \"Alan\", \"age\": 41}]\n```",
                both.clone(),
            ),
            (
                "{\"name\": \"Ada\", \"age\": 36}\n{\"name\": \"Alan\", \"age\": 41}",
                both,
            ),
        ],
    );
    refuses(
        &Type::list(item),
        None,
        &[(
            "[{\"name\": \"Ada\"}]",
            "item 1 was not a JSON object with fields name, age",
        )],
    );
}

#[test]
fn text_is_kept_as_written_even_with_an_echo() {
    reads(
        &Type::Text,
        Some("Say hi"),
        &[("Say hi\nhi there\n", text("Say hi\nhi there"))],
    );
}

/// A value of `ty` whose text is awkward to parse (quotes, commas, braces),
/// or `None` for a type no value can round-trip (a union of blank choices).
fn sample(ty: &Type, seed: u64) -> Option<Value> {
    Some(match ty {
        Type::Chat => return None,
        Type::Text | Type::Unknown => Value::Text(format!("t{seed}, \"q\" {{x}}")),
        Type::Bool => Value::Bool(seed.is_multiple_of(2)),
        Type::Int => Value::Int(seed as i64 - 3),
        Type::Number => Value::Number(seed as f64 + 0.5),
        Type::Json => Value::Json(json!({"k": seed, "l": [1, "a"]})),
        Type::Union(choices) => {
            let c = choices.iter().find(|c| {
                let n = crate::runtime::vote::normalize_text(c);
                !n.is_empty() && n.chars().all(|ch| ch.is_alphanumeric() || ch == ' ')
            })?;
            Value::Text(c.clone())
        }
        Type::Optional(inner) => sample(inner, seed)?,
        Type::List(item) => Value::List(vec![sample(item, seed)?, sample(item, seed + 1)?]),
        Type::Record(fields) => Value::Record(
            fields
                .iter()
                .enumerate()
                .map(|(i, (k, t))| Some((k.clone(), sample(t, seed + i as u64)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

proptest::proptest! {
    /// A record reply that is the JSON a run prints for a record (`--json`,
    /// interpolation) reads back as the same record, whatever its fields.
    #[test]
    fn a_record_reads_back_from_its_own_json(
        field in crate::types::any_value_type(),
        seed in 0u64..1000,
    ) {
        let ty = Type::Record(IndexMap::from([
            ("a".to_string(), field),
            ("b".to_string(), Type::Int),
        ]));
        if let Some(value) = sample(&ty, seed) {
            let fenced = format!("Here you go:\n```json\n{}\n```", value.to_json());
            proptest::prop_assert_eq!(parse_reply_to(&fenced, &ty, None), Ok(value.clone()));
            let lines = Type::list(ty.clone());
            let list = Value::List(vec![value.clone(), value]);
            proptest::prop_assert_eq!(
                parse_reply_to(&list.to_json().to_string(), &lines, None),
                Ok(list)
            );
        }
    }
}
