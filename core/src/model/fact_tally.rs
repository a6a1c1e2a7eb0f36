//! Counting by the rules without evaluating them per record: the time conditions of a set of rules
//! cut each time field into a few intervals (`TimeCuts`); a backend tallies how many certificates
//! fall below each cut, per (status, paused, has_error), in one cheap pass; `StatusCounts::from_tallies`
//! turns the tallies into cells of certificates the rules cannot tell apart and applies
//! `Condition::holds` once per cell, to a representative of it.
//! Invariant: two certificates in one cell satisfy exactly the same conditions, so the counts equal
//! applying the rules record by record (the conformance suite checks it on every backend that tallies).

use crate::model::{CertificateFacts, CertificateStatus, Condition, OverviewRules, StatusCounter, StatusCounts};
use crate::timestamp::Timestamp;

/// The instants the time conditions compare a field with, as exclusive upper bounds (`field < cut`;
/// times are whole milliseconds, so `field <= t` is `field < t + 1 ms`), ascending, without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimeCuts {
    pub not_after: Vec<Timestamp>,
    pub renew_at: Vec<Timestamp>,
}

impl TimeCuts {
    /// The cuts of every time comparison in `conditions`.
    pub fn of(conditions: &[Condition]) -> Self {
        let mut cuts = TimeCuts::default();
        for condition in conditions {
            cuts.collect(condition);
        }
        for field in [&mut cuts.not_after, &mut cuts.renew_at] {
            field.sort();
            field.dedup();
        }
        cuts
    }

    fn collect(&mut self, condition: &Condition) {
        let just_after = |t: &Timestamp| Timestamp::from_unix_millis(t.as_unix_millis().saturating_add(1));
        match condition {
            Condition::NotAfterAtOrBefore(t) => self.not_after.push(just_after(t)),
            Condition::NotAfterIn(from, until) => self.not_after.extend([*from, *until]),
            Condition::RenewAtAtOrBefore(t) => self.renew_at.push(just_after(t)),
            Condition::RenewAtBefore(t) => self.renew_at.push(*t),
            Condition::Not(inner) => self.collect(inner),
            Condition::All(parts) | Condition::Any(parts) => parts.iter().for_each(|p| self.collect(p)),
            Condition::Always | Condition::StatusIn(_) | Condition::Paused | Condition::HasError => {}
        }
    }

    /// The cuts of the overview's figures at `rules.now`.
    pub fn of_counters(rules: &OverviewRules) -> Self {
        Self::of(&StatusCounter::ALL.map(|c| rules.counter(c)))
    }
}

/// How many certificates with one (status, paused, has_error) lie below each cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactTally {
    pub status: CertificateStatus,
    pub paused: bool,
    pub has_error: bool,
    pub count: usize,
    /// `[i]`: with `not_after < cuts.not_after[i]`.
    pub below_not_after: Vec<usize>,
    /// `[j]`: with `renew_at < cuts.renew_at[j]`.
    pub below_renew_at: Vec<usize>,
    /// `[i][j]`: both at once.
    pub below_both: Vec<Vec<usize>>,
}

impl FactTally {
    /// How many lie below not-after cut `i` and renew-at cut `j` (`None`: no bound on that field).
    fn below(&self, i: Option<usize>, j: Option<usize>) -> usize {
        let at = |v: &[usize], k: usize| v.get(k).copied().unwrap_or_default();
        match (i, j) {
            (None, None) => self.count,
            (Some(i), None) => at(&self.below_not_after, i),
            (None, Some(j)) => at(&self.below_renew_at, j),
            (Some(i), Some(j)) => self.below_both.get(i).map_or(0, |row| at(row, j)),
        }
    }
}

/// Interval `k` of a field cut by `cuts` (interval `cuts.len()` is "at or after the last cut, or
/// absent", which no condition tells apart) and a value inside it.
fn representative(cuts: &[Timestamp], k: usize) -> Option<Timestamp> {
    match k {
        0 => cuts.first().map(|c| Timestamp::from_unix_millis(c.as_unix_millis() - 1)),
        k if k < cuts.len() => Some(cuts[k - 1]),
        _ => None,
    }
}

impl StatusCounts {
    /// The figures from a backend's tallies, taken with `cuts` (`TimeCuts::of_counters(rules)`).
    pub fn from_tallies(rules: &OverviewRules, cuts: &TimeCuts, tallies: &[FactTally]) -> StatusCounts {
        let conditions = StatusCounter::ALL.map(|c| (c, rules.counter(c)));
        let (n_cuts, r_cuts) = (cuts.not_after.len(), cuts.renew_at.len());
        let mut counts = StatusCounts::default();
        for tally in tallies {
            // F(i, j): how many lie below not-after cut i and renew-at cut j (the index one past
            // the last cut: no bound); a cell is their inclusion-exclusion.
            let f = |i: usize, j: usize| tally.below((i < n_cuts).then_some(i), (j < r_cuts).then_some(j));
            for i in 0..=n_cuts {
                for j in 0..=r_cuts {
                    let up = f(i, j) + (if i > 0 && j > 0 { f(i - 1, j - 1) } else { 0 });
                    let down = (if i > 0 { f(i - 1, j) } else { 0 }) + (if j > 0 { f(i, j - 1) } else { 0 });
                    let cell = up.saturating_sub(down);
                    if cell == 0 {
                        continue;
                    }
                    let facts = CertificateFacts {
                        status: tally.status,
                        not_after: representative(&cuts.not_after, i),
                        renew_at: representative(&cuts.renew_at, j),
                        paused: tally.paused,
                        has_error: tally.has_error,
                    };
                    for (counter, condition) in &conditions {
                        counts.add(*counter, if condition.holds(&facts) { cell } else { 0 });
                    }
                }
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DAY_MILLIS;

    /// Tallies of `facts` as a backend makes them: grouped by (status, paused, has_error), counted
    /// below each cut.
    fn tallies(cuts: &TimeCuts, facts: &[CertificateFacts]) -> Vec<FactTally> {
        let below = |v: Option<Timestamp>, cut: Timestamp| v.is_some_and(|v| v < cut);
        let mut out: Vec<FactTally> = Vec::new();
        for f in facts {
            let i =
                match out.iter().position(|t| (t.status, t.paused, t.has_error) == (f.status, f.paused, f.has_error)) {
                    Some(i) => i,
                    None => {
                        out.push(FactTally {
                            status: f.status,
                            paused: f.paused,
                            has_error: f.has_error,
                            count: 0,
                            below_not_after: vec![0; cuts.not_after.len()],
                            below_renew_at: vec![0; cuts.renew_at.len()],
                            below_both: vec![vec![0; cuts.renew_at.len()]; cuts.not_after.len()],
                        });
                        out.len() - 1
                    }
                };
            let t = &mut out[i];
            t.count += 1;
            for (a, na) in cuts.not_after.iter().enumerate() {
                t.below_not_after[a] += usize::from(below(f.not_after, *na));
                for (b, ra) in cuts.renew_at.iter().enumerate() {
                    t.below_both[a][b] += usize::from(below(f.not_after, *na) && below(f.renew_at, *ra));
                }
            }
            for (b, ra) in cuts.renew_at.iter().enumerate() {
                t.below_renew_at[b] += usize::from(below(f.renew_at, *ra));
            }
        }
        out
    }

    /// Counting by cells equals applying each rule to each certificate, on every status, paused and
    /// error flag, and times at, just before and just after every instant the rules compare with.
    #[test]
    fn cells_count_like_the_rules_record_by_record() {
        use CertificateStatus::*;
        let now = Timestamp::from_unix_millis(1_800_000_000_000);
        let rules = OverviewRules::at(now);
        let cuts = TimeCuts::of_counters(&rules);
        assert_eq!(cuts.not_after.len(), 1, "{cuts:?}");
        assert_eq!(cuts.renew_at.len(), 2, "{cuts:?}");
        let mut times = vec![None];
        for cut in cuts.not_after.iter().chain(&cuts.renew_at) {
            for delta in [-1, 0, 1, DAY_MILLIS] {
                times.push(Some(Timestamp::from_unix_millis(cut.as_unix_millis() + delta)));
            }
        }
        let mut facts = Vec::new();
        for status in [Requested, Issuing, Issued, Renewing, Failed, Revoked, Expired] {
            for not_after in &times {
                for renew_at in &times {
                    for (paused, has_error) in [(false, false), (true, false), (false, true), (true, true)] {
                        facts.push(CertificateFacts {
                            status,
                            not_after: *not_after,
                            renew_at: *renew_at,
                            paused,
                            has_error,
                        });
                    }
                }
            }
        }
        let mut expected = StatusCounts::default();
        for f in &facts {
            for counter in StatusCounter::ALL {
                expected.add(counter, usize::from(rules.counter(counter).holds(f)));
            }
        }
        assert!(expected.overdue > 0 && expected.expired > 0 && expected.in_window > expected.overdue);
        assert_eq!(StatusCounts::from_tallies(&rules, &cuts, &tallies(&cuts, &facts)), expected);
    }
}
