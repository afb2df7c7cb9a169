//! What a `judge` vote asks its judge model, and how its reply is read.
//!
//! The wording lives here, apart from the tally, so changing what the judge
//! is told never touches how votes are counted.

use crate::value::Value;

/// The help of an unparsable judge reply: flow wrote the judge's prompt, so
/// the user's levers are the criteria, the judge model and `retry`.
pub const JUDGE_UNPARSABLE_HELP: &str = "the judge was asked for the number of the best candidate; \
    say what \"best\" means with `vote N by judge MODEL criteria \"...\"`, use a judge model that \
    follows instructions (with `temperature: 0`), or raise its `retry`";

/// The prompt that asks a judge model to pick the best of `candidates`.
#[cfg_attr(not(test), allow(dead_code))] // only tests ask without a task
pub fn judge_prompt(candidates: &[Value]) -> String {
    judge_prompt_for(None, None, candidates)
}

/// `judge_prompt`, also telling the judge what the candidates were asked,
/// which lets it judge relevance and not just style, and the program's own
/// criteria (`judge MODEL criteria "..."`): what "best" means is the
/// program's to say, and it is the one part of this prompt the user writes.
pub fn judge_prompt_for(
    task: Option<&str>,
    criteria: Option<&str>,
    candidates: &[Value],
) -> String {
    let n = candidates.len();
    let mut prompt = String::new();
    match task {
        Some(task) => {
            prompt.push_str(&format!(
                "Several answers were given to the same task. Pick the best one.\n\nThe task:\n{}\n",
                task.trim()
            ));
        }
        None => {
            prompt.push_str("Several answers were given to the same task. Pick the best one.\n")
        }
    }
    if let Some(criteria) = criteria.map(str::trim).filter(|c| !c.is_empty()) {
        prompt.push_str(&format!("\nJudge them by this:\n{criteria}\n"));
    }
    for (i, c) in candidates.iter().enumerate() {
        prompt.push_str(&format!("\nCandidate {}:\n{}\n", i + 1, c.to_text().trim()));
    }
    prompt.push_str(&format!(
        "\nReply with the number of the best candidate only (a number from 1 to {n}), nothing else."
    ));
    prompt
}

/// The judge's choice (0-based index into the candidates) from its reply:
/// the first whole number in the reply that names a candidate (1-based).
pub fn parse_judge_choice(reply: &str, candidates: usize) -> Option<usize> {
    reply
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| !run.is_empty())
        .filter_map(|run| run.parse::<usize>().ok())
        .find(|&n| n >= 1 && n <= candidates)
        .map(|n| n - 1)
}

#[cfg(test)]
mod tests {
    use super::super::t;
    use super::*;

    #[test]
    fn judge_prompt_numbers_candidates_and_asks_for_a_number() {
        let p = judge_prompt(&[t("first answer"), t("second answer")]);
        assert!(p.contains("Candidate 1:\nfirst answer"));
        assert!(p.contains("Candidate 2:\nsecond answer"));
        assert!(p.contains("number of the best candidate only"));
        assert!(p.contains("from 1 to 2"));
        let p = judge_prompt_for(Some("Name a colour."), None, &[t("red")]);
        assert!(p.contains("The task:\nName a colour."));
        assert!(!p.contains("Judge them by"));
    }

    #[test]
    fn item_22_the_judge_is_told_the_programs_criteria() {
        let p = judge_prompt_for(
            Some("Name a colour."),
            Some("  prefer the rarest colour  "),
            &[t("red"), t("vermilion")],
        );
        let criteria = p.find("Judge them by this:\nprefer the rarest colour\n");
        let task = p.find("The task:");
        let first = p.find("Candidate 1:");
        assert!(task < criteria && criteria < first, "{p}");
        assert!(p.ends_with("nothing else."), "{p}");
    }

    #[test]
    fn judge_choice_is_the_first_number_in_range() {
        assert_eq!(parse_judge_choice("2", 3), Some(1));
        assert_eq!(parse_judge_choice("Candidate 3 is best.", 3), Some(2));
        assert_eq!(parse_judge_choice("Of 10 answers, 1 wins", 3), Some(0));
        assert_eq!(parse_judge_choice("0", 3), None);
        assert_eq!(parse_judge_choice("none of them", 3), None);
        assert_eq!(
            parse_judge_choice("99999999999999999999999 then 2", 3),
            Some(1)
        );
        assert_eq!(parse_judge_choice("1", 0), None);
    }
}
