//! Each strategy's result, and its rule for when that result can no longer
//! change: the reasoning that lets a vote cancel its remaining samples.

use std::collections::HashMap;

use super::{Outcome, Tally, VoteError, quote};
use crate::graph::Strategy;
use crate::internal::InternalError;
use crate::value::Value;

impl Tally {
    /// The most frequent value, ties to the one seen first in sample order.
    ///
    /// Decided when no completion of the missing samples can change the
    /// winner or its first spelling. The adversary's best move against the
    /// leader is to give every missing sample to one rival: that maximises the
    /// rival's count and minimises its first index at once.
    pub(super) fn majority(&self) -> Outcome {
        struct Group {
            count: usize,
            first: usize,
        }
        let mut groups: HashMap<&str, Group> = HashMap::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if let Some((_, key)) = slot {
                groups
                    .entry(key.as_str())
                    .and_modify(|g| g.count += 1)
                    .or_insert(Group { count: 1, first: i });
            }
        }
        let Some((leader_key, leader)) = groups
            .iter()
            .max_by(|a, b| a.1.count.cmp(&b.1.count).then(b.1.first.cmp(&a.1.first)))
        else {
            return Outcome::Pending;
        };
        let remaining = self.remaining();
        let winner = || self.value_at(leader.first);
        if remaining == 0 {
            return Outcome::Decided(Ok(winner()));
        }
        // If every missing sample abstained, the vote would lack a quorum.
        if self.answered() < self.quorum() {
            return Outcome::Pending;
        }
        // The lowest missing index: a rival given it wins ties against the
        // leader if it comes before the leader's first sample. (A missing
        // sample could also abstain, which helps no rival.)
        let first_missing = self.first_missing();
        if first_missing < leader.first {
            // A missing earlier sample could respell the winner, unless the
            // value has a single spelling.
            let single_spelling = matches!(
                self.slots.get(leader.first),
                Some(Some((Value::Bool(_) | Value::Int(_), _)))
            );
            if !single_spelling {
                return Outcome::Pending;
            }
        }
        let safe_against = |count: usize, first: usize| {
            let rival_first = first.min(first_missing);
            if rival_first < leader.first {
                leader.count > count + remaining
            } else {
                leader.count >= count + remaining
            }
        };
        // A value not seen yet: count 0, first index among the missing ones.
        let mut safe = safe_against(0, usize::MAX);
        for (key, g) in &groups {
            if key != leader_key {
                safe = safe && safe_against(g.count, g.first);
            }
        }
        if safe {
            Outcome::Decided(Ok(winner()))
        } else {
            Outcome::Pending
        }
    }

    /// The shared value, or the disagreement between sample 0 and the first
    /// sample that differs from it. That pair is fixed once sample 0 and an
    /// unbroken run of samples after it are in and the run contains a
    /// difference, so only then is a disagreement decided.
    /// Abstaining samples are skipped: the pair is the first answer and the
    /// first answer after it that differs.
    pub(super) fn unanimous(&self) -> Outcome {
        let mut first: Option<(usize, &Value, &String)> = None;
        for (i, slot) in self.slots.iter().enumerate() {
            let abstained = self.abstentions.get(i).is_some_and(Option::is_some);
            match (slot, first) {
                (None, _) if abstained => {}
                (None, _) => return Outcome::Pending,
                (Some((v, k)), None) => first = Some((i, v, k)),
                (Some((v, k)), Some((i0, v0, k0))) if k != k0 => {
                    return Outcome::Decided(Err(VoteError::Disagreement {
                        first: (i0, quote(v0)),
                        second: (i, quote(v)),
                    }));
                }
                (Some(_), Some(_)) => {}
            }
        }
        match first {
            Some((_, v0, _)) => Outcome::Decided(Ok(v0.clone())),
            // Every sample abstained: `evaluate` reports the quorum.
            None => Outcome::Pending,
        }
    }

    pub(super) fn at_least(&self, k: usize) -> Outcome {
        let mut trues = 0;
        for slot in self.slots.iter().flatten() {
            match &slot.0 {
                Value::Bool(true) => trues += 1,
                Value::Bool(false) => {}
                other => {
                    return Outcome::Decided(Err(VoteError::Internal(InternalError::new(
                        format!(
                            "`at_least` counts yes/no samples, but a sample was {:?}",
                            quote(other)
                        ),
                    ))));
                }
            }
        }
        if trues >= k {
            Outcome::Decided(Ok(Value::Bool(true)))
        } else if trues + self.abstained + self.remaining() < k {
            // Out of reach even had every abstaining sample said yes.
            Outcome::Decided(Ok(Value::Bool(false)))
        } else if self.remaining() == 0 {
            self.too_few(format!(
                "`at_least {k}` had {trues} yes, and the abstaining samples could have made it {k}"
            ))
        } else {
            Outcome::Pending
        }
    }

    /// `mean` or `median`, always a `number` (the type the checker gives
    /// both); ints are summed exactly so large ones cannot overflow.
    pub(super) fn average(&self) -> Result<Value, VoteError> {
        let values: Vec<&Value> = self.slots.iter().flatten().map(|(v, _)| v).collect();
        let mut ints = Vec::with_capacity(values.len());
        let mut all_ints = true;
        let mut floats = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            match v {
                Value::Int(n) => {
                    ints.push(*n);
                    floats.push(*n as f64);
                }
                Value::Number(x) => {
                    all_ints = false;
                    floats.push(*x);
                }
                other => {
                    return Err(VoteError::Internal(InternalError::new(format!(
                        "`{}` needs numbers, but sample {i} was {:?}",
                        self.strategy,
                        quote(other)
                    ))));
                }
            }
        }
        let n = values.len();
        if n == 0 {
            return Err(VoteError::Internal(InternalError::new(format!(
                "a `{}` vote has no samples",
                self.strategy
            ))));
        }
        if matches!(self.strategy, Strategy::Mean) {
            return Ok(Value::Number(if all_ints {
                let sum: i128 = ints.iter().map(|&x| i128::from(x)).sum();
                sum as f64 / n as f64
            } else {
                floats.iter().sum::<f64>() / n as f64
            }));
        }
        let mid = n / 2;
        if all_ints {
            ints.sort_unstable();
            match (ints.get(mid.wrapping_sub(1)), ints.get(mid)) {
                (Some(&a), Some(&b)) if n.is_multiple_of(2) => {
                    Ok(Value::Number((i128::from(a) + i128::from(b)) as f64 / 2.0))
                }
                // `number`, as the checker types every median, even of ints.
                (_, Some(&m)) => Ok(Value::Number(m as f64)),
                _ => Err(empty_bug()),
            }
        } else {
            floats.sort_unstable_by(f64::total_cmp);
            match (floats.get(mid.wrapping_sub(1)), floats.get(mid)) {
                (Some(&a), Some(&b)) if n.is_multiple_of(2) => Ok(Value::Number(a / 2.0 + b / 2.0)),
                (_, Some(&m)) => Ok(Value::Number(m)),
                _ => Err(empty_bug()),
            }
        }
    }

    pub(super) fn judge(&self) -> Outcome {
        if self.remaining() > 0 {
            return Outcome::Pending;
        }
        let mut seen = std::collections::HashSet::new();
        let candidates: Vec<Value> = self
            .slots
            .iter()
            .flatten()
            .filter(|(_, key)| seen.insert(key.as_str()))
            .map(|(v, _)| v.clone())
            .collect();
        match <[Value; 1]>::try_from(candidates) {
            Ok([only]) => Outcome::Decided(Ok(only)),
            Err(candidates) => Outcome::NeedsJudge(candidates),
        }
    }
}

fn empty_bug() -> VoteError {
    VoteError::Internal(InternalError::new("a vote ended with no samples"))
}

#[cfg(test)]
mod tests {
    use super::super::key::vote_key;
    use super::super::{feed as run, feed_abstaining, in_order, t};
    use super::*;
    use proptest::prelude::{
        Just, ProptestConfig, any, prop, prop_assert_eq, prop_oneof, proptest,
    };
    use proptest::strategy::Strategy as _;

    #[test]
    fn majority_picks_the_most_frequent() {
        let v = [t("a"), t("b"), t("b"), t("c"), t("b")];
        let (out, _) = in_order(Strategy::Majority, &v);
        assert_eq!(out, Outcome::Decided(Ok(t("b"))));
    }

    #[test]
    fn majority_tie_goes_to_first_in_sample_order_whatever_the_arrival() {
        let v = [t("x"), t("y"), t("y"), t("x")];
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [1, 2, 3, 0], [2, 1, 0, 3]] {
            let (out, _) = run(Strategy::Majority, &v, &order);
            assert_eq!(out, Outcome::Decided(Ok(t("x"))), "order {order:?}");
        }
    }

    #[test]
    fn majority_returns_the_first_spelling() {
        let v = [t(" YES"), t("yes"), t("Yes."), t("yes ")];
        let (out, _) = in_order(Strategy::Majority, &v);
        // " YES", "yes", "yes " share a key; "Yes." does not.
        assert_eq!(out, Outcome::Decided(Ok(t(" YES"))));
    }

    #[test]
    fn majority_waits_for_earlier_samples_that_could_respell_the_winner() {
        let v = [t("Blue"), t("blue"), t("blue"), t("blue"), t("red")];
        // Samples 1..3 are a strict majority, but sample 0 may spell it differently.
        let mut tally = Tally::new(Strategy::Majority, 5);
        assert_eq!(tally.record(1, v[1].clone()), Outcome::Pending);
        assert_eq!(tally.record(2, v[2].clone()), Outcome::Pending);
        assert_eq!(tally.record(3, v[3].clone()), Outcome::Pending);
        assert_eq!(
            tally.record(0, v[0].clone()),
            Outcome::Decided(Ok(t("Blue")))
        );
    }

    #[test]
    fn majority_of_bools_decides_without_earlier_samples() {
        // A bool has one spelling, so three trues of five decide at once.
        let v = [
            Value::Bool(false),
            Value::Bool(true),
            Value::Bool(true),
            Value::Bool(true),
            Value::Bool(false),
        ];
        let (out, used) = run(Strategy::Majority, &v, &[3, 2, 1, 0, 4]);
        assert_eq!(out, Outcome::Decided(Ok(Value::Bool(true))));
        assert_eq!(used, 3);
    }

    #[test]
    fn majority_decides_on_strict_majority_in_order() {
        let v = [t("a"), t("a"), t("a"), t("b"), t("b")];
        let (out, used) = in_order(Strategy::Majority, &v);
        assert_eq!(out, Outcome::Decided(Ok(t("a"))));
        assert_eq!(used, 3);
    }

    #[test]
    fn majority_even_count_decides_at_half_when_the_leader_wins_ties() {
        // 2 of 4 for the first value: the rest can at best tie, and ties go to it.
        let v = [t("a"), t("a"), t("b"), t("b")];
        let (out, used) = in_order(Strategy::Majority, &v);
        assert_eq!(out, Outcome::Decided(Ok(t("a"))));
        assert_eq!(used, 2);
    }

    #[test]
    fn majority_leader_that_loses_ties_needs_more() {
        // Sample 0 is "b"; "a" has 2 of 4 but a tie with "b" would go to "b".
        let v = [t("b"), t("a"), t("a"), t("b")];
        let (out, used) = in_order(Strategy::Majority, &v);
        assert_eq!(out, Outcome::Decided(Ok(t("b"))));
        assert_eq!(used, 4);
    }

    #[test]
    fn majority_plurality_decides_when_no_rival_can_catch_up() {
        // 7 samples: a a b c a ... a has 3, b 1, c 1 with 2 left: b can reach 3
        // and b comes after a, so a still wins ties. Decided after 5.
        let v = [t("a"), t("a"), t("b"), t("c"), t("a"), t("b"), t("b")];
        let (out, used) = in_order(Strategy::Majority, &v);
        assert_eq!(out, Outcome::Decided(Ok(t("a"))));
        assert_eq!(used, 5);
    }

    #[test]
    fn unanimous_returns_the_shared_value() {
        let v = [t("Yes"), t("yes "), t("YES")];
        let (out, _) = in_order(Strategy::Unanimous, &v);
        assert_eq!(out, Outcome::Decided(Ok(t("Yes"))));
    }

    #[test]
    fn unanimous_reports_sample_zero_and_the_first_that_differs() {
        let v = [t("a"), t("a"), t("b"), t("c")];
        let expected = Outcome::Decided(Err(VoteError::Disagreement {
            first: (0, "a".into()),
            second: (2, "b".into()),
        }));
        for order in [[0, 1, 2, 3], [3, 2, 1, 0], [3, 0, 2, 1], [1, 3, 2, 0]] {
            let (out, _) = run(Strategy::Unanimous, &v, &order);
            assert_eq!(out, expected, "order {order:?}");
        }
    }

    #[test]
    fn unanimous_decides_a_disagreement_early() {
        let v = [t("a"), t("b"), t("a"), t("a"), t("a")];
        let (out, used) = in_order(Strategy::Unanimous, &v);
        assert!(matches!(
            out,
            Outcome::Decided(Err(VoteError::Disagreement { .. }))
        ));
        assert_eq!(used, 2);
        // Arriving 3, 1 first is not enough: sample 0 might be "b" and then
        // the reported pair would be (0, 2).
        let mut tally = Tally::new(Strategy::Unanimous, 5);
        assert_eq!(tally.record(3, t("a")), Outcome::Pending);
        assert_eq!(tally.record(1, t("b")), Outcome::Pending);
        assert_eq!(
            tally.record(0, t("a")),
            Outcome::Decided(Err(VoteError::Disagreement {
                first: (0, "a".into()),
                second: (1, "b".into()),
            }))
        );
    }

    #[test]
    fn at_least_decides_true_as_soon_as_k_trues_arrive() {
        let b = Value::Bool;
        let v = [b(true), b(false), b(true), b(true), b(false), b(false)];
        let (out, used) = run(Strategy::AtLeast(3), &v, &[0, 2, 3, 1, 4, 5]);
        assert_eq!(out, Outcome::Decided(Ok(b(true))));
        assert_eq!(used, 3);
    }

    #[test]
    fn at_least_decides_false_when_k_is_out_of_reach() {
        let b = Value::Bool;
        let v = [b(false), b(false), b(true), b(true), b(true)];
        // K = 4 of 5: two falses make it unreachable.
        let (out, used) = in_order(Strategy::AtLeast(4), &v);
        assert_eq!(out, Outcome::Decided(Ok(b(false))));
        assert_eq!(used, 2);
    }

    #[test]
    fn at_least_zero_is_immediately_true_and_more_than_total_is_false() {
        let (out, used) = in_order(Strategy::AtLeast(0), &vec![Value::Bool(false); 3]);
        assert_eq!(out, Outcome::Decided(Ok(Value::Bool(true))));
        assert_eq!(used, 1);
        let (out, used) = in_order(Strategy::AtLeast(4), &vec![Value::Bool(true); 3]);
        assert_eq!(out, Outcome::Decided(Ok(Value::Bool(false))));
        assert_eq!(used, 1);
    }

    #[test]
    fn at_least_rejects_non_bool_samples() {
        let (out, _) = in_order(Strategy::AtLeast(1), &[t("maybe")]);
        assert!(matches!(out, Outcome::Decided(Err(VoteError::Internal(_)))));
    }

    #[test]
    fn mean_of_ints_is_a_number_and_never_early() {
        let v = [Value::Int(1), Value::Int(2), Value::Int(4)];
        let (out, used) = in_order(Strategy::Mean, &v);
        assert_eq!(out, Outcome::Decided(Ok(Value::Number(7.0 / 3.0))));
        assert_eq!(used, 3);
    }

    #[test]
    fn mean_does_not_overflow_on_large_ints() {
        let v = [Value::Int(i64::MAX), Value::Int(i64::MAX)];
        let (out, _) = in_order(Strategy::Mean, &v);
        assert_eq!(out, Outcome::Decided(Ok(Value::Number(i64::MAX as f64))));
    }

    #[test]
    fn median_odd_and_even() {
        let ints = [Value::Int(9), Value::Int(1), Value::Int(5)];
        assert_eq!(
            in_order(Strategy::Median, &ints).0,
            Outcome::Decided(Ok(Value::Number(5.0)))
        );
        let ints = [Value::Int(9), Value::Int(1), Value::Int(5), Value::Int(2)];
        assert_eq!(
            in_order(Strategy::Median, &ints).0,
            Outcome::Decided(Ok(Value::Number(3.5)))
        );
        let nums = [Value::Number(0.5), Value::Int(3), Value::Number(1.5)];
        assert_eq!(
            in_order(Strategy::Median, &nums).0,
            Outcome::Decided(Ok(Value::Number(1.5)))
        );
    }

    #[test]
    fn mean_and_median_survive_nan_and_reject_text() {
        let v = [
            Value::Number(f64::NAN),
            Value::Number(1.0),
            Value::Number(2.0),
        ];
        assert!(matches!(
            in_order(Strategy::Median, &v).0,
            Outcome::Decided(Ok(Value::Number(_)))
        ));
        assert!(matches!(
            in_order(Strategy::Mean, &v).0,
            Outcome::Decided(Ok(Value::Number(x))) if x.is_nan()
        ));
        let (out, _) = in_order(Strategy::Mean, &[Value::Int(1), t("two")]);
        assert_eq!(
            out,
            Outcome::Decided(Err(VoteError::Internal(InternalError::new(
                "`mean` needs numbers, but sample 1 was \"two\""
            ))))
        );
    }

    #[test]
    fn judge_asks_about_deduplicated_candidates_in_sample_order() {
        let v = [t("B"), t("a"), t(" b "), t("c"), t("A")];
        let (out, used) = run(Strategy::Judge("j".into()), &v, &[4, 3, 2, 1, 0]);
        assert_eq!(used, 5);
        assert_eq!(out, Outcome::NeedsJudge(vec![t("B"), t("a"), t("c")]));
    }

    #[test]
    fn judge_with_one_distinct_candidate_needs_no_judge() {
        let v = [t("Same"), t("same")];
        let (out, _) = in_order(Strategy::Judge("j".into()), &v);
        assert_eq!(out, Outcome::Decided(Ok(t("Same"))));
    }

    // ---- reference semantics, computed plainly in sample order ----

    fn reference(strategy: &Strategy, values: &[Value]) -> Outcome {
        let keys: Vec<String> = values.iter().map(vote_key).collect();
        match strategy {
            Strategy::Majority => {
                let mut best: Option<(usize, usize)> = None; // (count, first index)
                for (i, k) in keys.iter().enumerate() {
                    if keys[..i].contains(k) {
                        continue;
                    }
                    let count = keys.iter().filter(|x| *x == k).count();
                    if best.is_none_or(|(c, _)| count > c) {
                        best = Some((count, i));
                    }
                }
                match best {
                    Some((_, i)) => Outcome::Decided(Ok(values[i].clone())),
                    None => Outcome::Pending,
                }
            }
            Strategy::Unanimous => match keys.iter().position(|k| *k != keys[0]) {
                None => Outcome::Decided(Ok(values[0].clone())),
                Some(j) => Outcome::Decided(Err(VoteError::Disagreement {
                    first: (0, values[0].to_text()),
                    second: (j, values[j].to_text()),
                })),
            },
            Strategy::AtLeast(k) => {
                let trues = values.iter().filter(|v| **v == Value::Bool(true)).count();
                Outcome::Decided(Ok(Value::Bool(trues >= *k as usize)))
            }
            Strategy::Judge(_) => {
                let mut out = Vec::new();
                for (i, k) in keys.iter().enumerate() {
                    if !keys[..i].contains(k) {
                        out.push(values[i].clone());
                    }
                }
                if out.len() == 1 {
                    Outcome::Decided(Ok(out.remove(0)))
                } else {
                    Outcome::NeedsJudge(out)
                }
            }
            Strategy::Mean | Strategy::Median => unreachable!("not generated"),
        }
    }

    fn text_value() -> impl proptest::strategy::Strategy<Value = Value> {
        // Few distinct answers in several spellings, so ties and respellings are common.
        prop::sample::select(vec!["a", "A", " a", "b", "B ", "c"]).prop_map(t)
    }

    fn case() -> impl proptest::strategy::Strategy<Value = (Strategy, Vec<Value>, Vec<usize>)> {
        (1usize..9)
            .prop_flat_map(|n| {
                let strategy = prop_oneof![
                    Just(Strategy::Majority),
                    Just(Strategy::Unanimous),
                    Just(Strategy::Judge("j".into())),
                    (0..=n as u32 + 1).prop_map(Strategy::AtLeast),
                ];
                (strategy, Just(n))
            })
            .prop_flat_map(|(strategy, n)| {
                let values = match strategy {
                    Strategy::AtLeast(_) => {
                        prop::collection::vec(any::<bool>().prop_map(Value::Bool), n).boxed()
                    }
                    _ => prop_oneof![
                        prop::collection::vec(text_value(), n),
                        prop::collection::vec(any::<bool>().prop_map(Value::Bool), n),
                        prop::collection::vec((0i64..3).prop_map(Value::Int), n),
                    ]
                    .boxed(),
                };
                let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
                (Just(strategy), values, order)
            })
    }

    /// Every way to fill the missing slots from `alphabet`.
    fn completions(known: &[Option<Value>], alphabet: &[Value]) -> Vec<Vec<Value>> {
        let mut out = vec![Vec::new()];
        for slot in known {
            let choices: Vec<Value> = match slot {
                Some(v) => vec![v.clone()],
                None => alphabet.to_vec(),
            };
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    choices.iter().map(move |c| {
                        let mut next = prefix.clone();
                        next.push(c.clone());
                        next
                    })
                })
                .collect();
        }
        out
    }

    /// Values, an alphabet that can stand for any sample (every key in two
    /// spellings where spelling exists, plus a value never generated), and
    /// the strategy.
    fn exact_case()
    -> impl proptest::strategy::Strategy<Value = (Strategy, Vec<Value>, Vec<Value>, Vec<usize>)>
    {
        (1usize..=5)
            .prop_flat_map(|n| {
                let texts: Vec<Value> = ["a", "A", "b", "B", "c", "C"].into_iter().map(t).collect();
                let mut text_alphabet = texts.clone();
                text_alphabet.push(t("fresh"));
                let ints: Vec<Value> = (0..3).map(Value::Int).collect();
                let mut int_alphabet = ints.clone();
                int_alphabet.push(Value::Int(99));
                let bools = vec![Value::Bool(false), Value::Bool(true)];
                let strategy = prop_oneof![
                    Just(Strategy::Majority),
                    Just(Strategy::Unanimous),
                    Just(Strategy::Judge("j".into())),
                ];
                let general = (
                    strategy,
                    prop_oneof![
                        Just((texts, text_alphabet)),
                        Just((ints, int_alphabet)),
                        Just((bools.clone(), bools.clone())),
                    ],
                );
                let at_least = (
                    (0..=n as u32 + 1).prop_map(Strategy::AtLeast),
                    Just((bools.clone(), bools)),
                );
                (prop_oneof![general, at_least], Just(n))
            })
            .prop_flat_map(|((strategy, (domain, alphabet)), n)| {
                let values = prop::collection::vec(prop::sample::select(domain), n);
                let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
                (Just(strategy), values, Just(alphabet), order)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn early_result_equals_waiting_for_all(case in case()) {
            let (strategy, values, order) = case;
            let (early, _) = run(strategy.clone(), &values, &order);
            // Waiting for all: feed every sample, take the final outcome.
            let mut tally = Tally::new(strategy.clone(), values.len());
            let mut last = Outcome::Pending;
            for (i, v) in values.iter().enumerate() {
                last = tally.record(i, v.clone());
            }
            prop_assert_eq!(&early, &last);
            prop_assert_eq!(&early, &reference(&strategy, &values));
        }

        #[test]
        fn decides_exactly_when_the_outcome_is_determined(case in exact_case()) {
            let (strategy, values, alphabet, order) = case;
            let mut tally = Tally::new(strategy.clone(), values.len());
            let mut known: Vec<Option<Value>> = vec![None; values.len()];
            for &i in &order {
                known[i] = Some(values[i].clone());
                let outcome = tally.record(i, values[i].clone());
                let mut possible = completions(&known, &alphabet)
                    .into_iter()
                    .map(|full| reference(&strategy, &full));
                let first = possible.next();
                let determined = possible.all(|o| Some(&o) == first.as_ref());
                // A judge vote is only ever settled with every sample in (its
                // candidates could be known earlier over a tiny domain like
                // bool, but the judge is asked about the whole set anyway).
                let lazy_judge = matches!(strategy, Strategy::Judge(_)) && outcome == Outcome::Pending;
                if determined && !lazy_judge {
                    prop_assert_eq!(Some(&outcome), first.as_ref(), "known {:?}", known);
                } else {
                    prop_assert_eq!(&outcome, &Outcome::Pending, "known {:?}", known);
                }
            }
        }

        #[test]
        fn mean_and_median_ignore_arrival_order(
            values in prop::collection::vec(-1000i64..1000, 1..9),
            seed in any::<u64>(),
        ) {
            let values: Vec<Value> = values.into_iter().map(Value::Int).collect();
            let mut order: Vec<usize> = (0..values.len()).collect();
            // A cheap deterministic shuffle from the seed.
            let len = order.len();
            for i in 0..len {
                let j = (seed.wrapping_mul(i as u64 + 7) % len as u64) as usize;
                order.swap(i, j);
            }
            for strategy in [Strategy::Mean, Strategy::Median] {
                prop_assert_eq!(
                    run(strategy.clone(), &values, &order).0,
                    in_order(strategy, &values).0
                );
            }
        }
    }

    // ---- abstaining samples ----

    /// The rule for votes with abstentions, computed plainly over the final
    /// samples (`None` abstained, with cause `cause {i}`).
    fn reference_abstaining(strategy: &Strategy, samples: &[Option<Value>]) -> Outcome {
        let n = samples.len();
        let answered: Vec<(usize, &Value)> = samples
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|v| (i, v)))
            .collect();
        let abstained = n - answered.len();
        let too_few = |why: String| {
            Outcome::Decided(Err(VoteError::TooFewAnswers {
                answered: answered.len(),
                abstained,
                samples: n,
                why,
                cause: samples
                    .iter()
                    .position(Option::is_none)
                    .map(|i| format!("cause {i}"))
                    .unwrap_or_default(),
            }))
        };
        if let Strategy::AtLeast(k) = strategy {
            let k = *k as usize;
            let trues = answered
                .iter()
                .filter(|(_, v)| **v == Value::Bool(true))
                .count();
            return if trues >= k {
                Outcome::Decided(Ok(Value::Bool(true)))
            } else if trues + abstained < k {
                Outcome::Decided(Ok(Value::Bool(false)))
            } else {
                too_few(format!(
                    "`at_least {k}` had {trues} yes, and the abstaining samples could have made it {k}"
                ))
            };
        }
        let keys: Vec<String> = answered.iter().map(|(_, v)| vote_key(v)).collect();
        if let (Strategy::Unanimous, Some(k0)) = (strategy, keys.first())
            && let Some(j) = keys.iter().position(|k| k != k0)
        {
            let (i0, v0) = answered[0];
            let (ij, vj) = answered[j];
            return Outcome::Decided(Err(VoteError::Disagreement {
                first: (i0, v0.to_text()),
                second: (ij, vj.to_text()),
            }));
        }
        if answered.len() < n.div_ceil(2) {
            return too_few(format!(
                "a `{strategy}` vote needs at least {} answers",
                n.div_ceil(2)
            ));
        }
        let values: Vec<Value> = answered.iter().map(|(_, v)| (*v).clone()).collect();
        match strategy {
            Strategy::Mean | Strategy::Median => {
                // Order-free and already tested; over the answers only.
                let mut tally = Tally::new(strategy.clone(), values.len());
                let mut last = Outcome::Pending;
                for (i, v) in values.iter().enumerate() {
                    last = tally.record(i, v.clone());
                }
                last
            }
            _ => reference(strategy, &values),
        }
    }

    /// Every way `n` samples can come out over `alphabet` or abstain.
    fn patterns(n: usize, alphabet: &[Value]) -> Vec<Vec<Option<Value>>> {
        let symbols: Vec<Option<Value>> = std::iter::once(None)
            .chain(alphabet.iter().cloned().map(Some))
            .collect();
        let mut out = vec![Vec::new()];
        for _ in 0..n {
            out = out
                .into_iter()
                .flat_map(|prefix| {
                    symbols.iter().map(move |s| {
                        let mut next = prefix.clone();
                        next.push(s.clone());
                        next
                    })
                })
                .collect();
        }
        out
    }

    /// Every order of `0..n`.
    fn orders(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for rest in orders(n - 1) {
            for at in 0..=rest.len() {
                let mut o = rest.clone();
                o.insert(at, n - 1);
                out.push(o);
            }
        }
        out
    }

    /// The strategies with the values each is given.
    fn strategies_and_alphabets(n: usize) -> Vec<(Strategy, Vec<Value>)> {
        let texts = vec![t("a"), t("A"), t("b")];
        let bools = vec![Value::Bool(false), Value::Bool(true)];
        let ints = vec![Value::Int(1), Value::Int(2)];
        let mut out = vec![
            (Strategy::Majority, texts.clone()),
            (Strategy::Majority, bools.clone()),
            (Strategy::Unanimous, texts.clone()),
            (Strategy::Judge("j".into()), texts),
            (Strategy::Mean, ints.clone()),
            (Strategy::Median, ints),
        ];
        for k in 0..=n as u32 + 1 {
            out.push((Strategy::AtLeast(k), bools.clone()));
        }
        out
    }

    /// Every arrival order up to 4 samples; for 5, a dozen that put each
    /// sample first and last (all 120 would cost the suite seconds of CPU
    /// the timing tests beside it need; the proptest shuffles the rest).
    fn some_orders(n: usize) -> Vec<Vec<usize>> {
        if n <= 4 {
            return orders(n);
        }
        let mut out: Vec<Vec<usize>> = (0..n)
            .flat_map(|r| {
                let up: Vec<usize> = (0..n).map(|i| (i + r) % n).collect();
                let down: Vec<usize> = up.iter().rev().copied().collect();
                [up, down]
            })
            .collect();
        out.push(vec![0, 2, 4, 1, 3]);
        out.push(vec![4, 1, 3, 0, 2]);
        out
    }

    /// For every N up to 5, every strategy and every pattern of answers and
    /// abstentions, in every arrival order (up to 4; see `some_orders`): what
    /// the tally decides (however early) is what the rule says once every
    /// sample is in. Since every completion of every prefix is among the
    /// patterns, no early decision is ever overturned by a later abstention.
    #[test]
    fn early_decisions_with_abstentions_equal_waiting_for_all_brute_force() {
        let mut checked = 0usize;
        for n in 1..=5 {
            let orders = some_orders(n);
            for (strategy, alphabet) in strategies_and_alphabets(n) {
                for samples in patterns(n, &alphabet) {
                    let expected = reference_abstaining(&strategy, &samples);
                    for order in &orders {
                        let (early, _) = feed_abstaining(strategy.clone(), &samples, order);
                        assert_eq!(early, expected, "{strategy} {samples:?} arriving {order:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 90_000, "{checked}");
    }

    /// And it decides no later than it must: a success (or `at_least`'s no)
    /// that every completion of the samples so far agrees on is reported at
    /// once. (A vote that fails for want of answers waits for every sample,
    /// so its counts are final; `mean`, `median` and `judge` always wait.)
    #[test]
    fn a_determined_result_is_decided_at_once_with_abstentions() {
        for n in 1..=4 {
            for (strategy, alphabet) in strategies_and_alphabets(n) {
                if matches!(
                    strategy,
                    Strategy::Mean | Strategy::Median | Strategy::Judge(_)
                ) {
                    continue;
                }
                // Every answer in two spellings where text has them (the
                // tally rightly waits for a sample that could respell the
                // winner), and one more that no sample gave.
                let mut extended = alphabet.clone();
                if matches!(alphabet[0], Value::Text(_)) {
                    extended.push(t("B"));
                    extended.push(t("fresh"));
                }
                let all = patterns(n, &extended);
                for samples in patterns(n, &alphabet) {
                    for order in [(0..n).collect::<Vec<_>>(), (0..n).rev().collect()] {
                        let mut tally = Tally::new(strategy.clone(), n);
                        let mut known: Vec<bool> = vec![false; n];
                        for &i in &order {
                            known[i] = true;
                            let outcome = match &samples[i] {
                                Some(v) => tally.record(i, v.clone()),
                                None => tally.abstain(i, format!("cause {i}")),
                            };
                            if outcome != Outcome::Pending {
                                break;
                            }
                            let mut possible = all
                                .iter()
                                .filter(|full| (0..n).all(|j| !known[j] || full[j] == samples[j]))
                                .map(|full| reference_abstaining(&strategy, full));
                            let first = possible.next();
                            let determined = possible.all(|o| Some(&o) == first.as_ref());
                            let fails = matches!(
                                first,
                                Some(Outcome::Decided(Err(VoteError::TooFewAnswers { .. })))
                            );
                            assert!(
                                !determined || fails,
                                "{strategy} {samples:?} arriving {order:?}: pending with \
                                 {known:?} known, though every completion gives {first:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    fn abstaining_case()
    -> impl proptest::strategy::Strategy<Value = (Strategy, Vec<Option<Value>>, Vec<usize>)> {
        (1usize..12)
            .prop_flat_map(|n| {
                let strategy = prop_oneof![
                    Just(Strategy::Majority),
                    Just(Strategy::Unanimous),
                    Just(Strategy::Judge("j".into())),
                    Just(Strategy::Mean),
                    Just(Strategy::Median),
                    (0..=n as u32 + 1).prop_map(Strategy::AtLeast),
                ];
                (strategy, Just(n))
            })
            .prop_flat_map(|(strategy, n)| {
                let value = match strategy {
                    Strategy::AtLeast(_) => any::<bool>().prop_map(Value::Bool).boxed(),
                    Strategy::Mean | Strategy::Median => (0i64..4).prop_map(Value::Int).boxed(),
                    _ => prop_oneof![
                        text_value(),
                        any::<bool>().prop_map(Value::Bool),
                        (0i64..3).prop_map(Value::Int),
                    ]
                    .boxed(),
                };
                // About one sample in four abstains.
                let sample = prop_oneof![1 => Just(None), 3 => value.prop_map(Some)];
                let samples = prop::collection::vec(sample, n);
                let order = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
                (Just(strategy), samples, order)
            })
    }

    #[test]
    fn an_abstention_is_only_a_cause_in_the_error() {
        // Majority of 5 with 2 abstained: three answers are a quorum.
        let v = [Some(t("a")), None, Some(t("b")), None, Some(t("a"))];
        let (out, used) = feed_abstaining(Strategy::Majority, &v, &[0, 1, 2, 3, 4]);
        assert_eq!(out, Outcome::Decided(Ok(t("a"))));
        assert_eq!(used, 5);
        // Three abstained: two answers of five are too few, and the error
        // says so with the first cause in sample order, whatever the arrival.
        let v = [Some(t("a")), None, Some(t("a")), None, None];
        let (out, _) = feed_abstaining(Strategy::Majority, &v, &[4, 3, 2, 1, 0]);
        assert_eq!(
            out,
            Outcome::Decided(Err(VoteError::TooFewAnswers {
                answered: 2,
                abstained: 3,
                samples: 5,
                why: "a `majority` vote needs at least 3 answers".into(),
                cause: "cause 1".into(),
            }))
        );
        if let Outcome::Decided(Err(e)) = out {
            assert_eq!(
                e.to_string(),
                "2 of 5 samples answered and 3 abstained; a `majority` vote needs at least 3 answers"
            );
        }
    }

    #[test]
    fn a_majority_waits_while_abstentions_could_break_its_quorum() {
        // Two "a" of five, the rest missing: if all three abstained there
        // would be no quorum, so "a" is not yet the answer.
        let mut tally = Tally::new(Strategy::Majority, 5);
        assert_eq!(tally.record(0, t("a")), Outcome::Pending);
        assert_eq!(tally.record(1, t("a")), Outcome::Pending);
        assert_eq!(tally.record(2, t("a")), Outcome::Decided(Ok(t("a"))));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn early_result_with_abstentions_equals_waiting_for_all(case in abstaining_case()) {
            let (strategy, samples, order) = case;
            let (early, _) = feed_abstaining(strategy.clone(), &samples, &order);
            let in_sample_order: Vec<usize> = (0..samples.len()).collect();
            let mut all = Tally::new(strategy.clone(), samples.len());
            let mut last = Outcome::Pending;
            for &i in &in_sample_order {
                last = match &samples[i] {
                    Some(v) => all.record(i, v.clone()),
                    None => all.abstain(i, format!("cause {i}")),
                };
            }
            prop_assert_eq!(&early, &last);
            prop_assert_eq!(&early, &reference_abstaining(&strategy, &samples));
        }
    }
}
