//! Counting by the rules without evaluating them per record: the time conditions of a set of rules
//! cut each time field into a few intervals (`TimeCuts`); a backend tallies how many certificates
//! fall in each cell (one interval of every time field) per (status, paused, has_error), in one
//! cheap pass; `StatusCounts::from_tallies` applies `Condition::holds` once per cell, to a
//! representative of it.
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
    pub overdue_at: Vec<Timestamp>,
}

/// The time fields the rules compare, in the order a cell's index names their intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeField {
    NotAfter,
    RenewAt,
    OverdueAt,
}

impl TimeField {
    pub const ALL: [TimeField; 3] = [TimeField::NotAfter, TimeField::RenewAt, TimeField::OverdueAt];
}

impl TimeCuts {
    /// The cuts of every time comparison in `conditions`.
    pub fn of(conditions: &[Condition]) -> Self {
        let mut cuts = TimeCuts::default();
        for condition in conditions {
            cuts.collect(condition);
        }
        for field in [&mut cuts.not_after, &mut cuts.renew_at, &mut cuts.overdue_at] {
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
            Condition::OverdueAtAtOrBefore(t) => self.overdue_at.push(just_after(t)),
            Condition::Not(inner) => self.collect(inner),
            Condition::All(parts) | Condition::Any(parts) => parts.iter().for_each(|p| self.collect(p)),
            Condition::Always | Condition::StatusIn(_) | Condition::Paused | Condition::HasError => {}
        }
    }

    /// The cuts of the overview's figures at `rules.now`.
    pub fn of_counters(rules: &OverviewRules) -> Self {
        Self::of(&StatusCounter::ALL.map(|c| rules.counter(c)))
    }

    pub fn field(&self, field: TimeField) -> &[Timestamp] {
        match field {
            TimeField::NotAfter => &self.not_after,
            TimeField::RenewAt => &self.renew_at,
            TimeField::OverdueAt => &self.overdue_at,
        }
    }

    /// How many cells there are: the product of each field's interval count (its cuts plus one).
    pub fn cell_count(&self) -> usize {
        TimeField::ALL.iter().map(|f| self.field(*f).len() + 1).product()
    }

    /// The interval of every field that cell `index` stands for (`TimeField::ALL`'s order, the
    /// last field varying fastest). Interval `k` of a field is `cuts[k-1] <= value < cuts[k]`; the
    /// first has no lower bound, the last (`cuts.len()`) no upper bound and takes absent values.
    pub fn cell_intervals(&self, index: usize) -> [usize; 3] {
        let mut rest = index;
        let mut out = [0; 3];
        for (slot, field) in TimeField::ALL.iter().enumerate().rev() {
            let n = self.field(*field).len() + 1;
            out[slot] = rest % n;
            rest /= n;
        }
        out
    }

    /// The cell a certificate's facts fall in (what a backend computes per row).
    pub fn cell_of(&self, facts: &CertificateFacts) -> usize {
        let values = [facts.not_after, facts.renew_at, facts.overdue_at];
        TimeField::ALL.iter().zip(values).fold(0, |index, (field, value)| {
            let cuts = self.field(*field);
            let interval = value.map_or(cuts.len(), |v| cuts.iter().take_while(|c| **c <= v).count());
            index * (cuts.len() + 1) + interval
        })
    }
}

/// How many certificates with one (status, paused, has_error) lie in each cell of the cuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactTally {
    pub status: CertificateStatus,
    pub paused: bool,
    pub has_error: bool,
    /// `[cell]`, `TimeCuts::cell_count` entries.
    pub cells: Vec<usize>,
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
        let mut counts = StatusCounts::default();
        for tally in tallies {
            for (index, cell) in tally.cells.iter().enumerate() {
                if *cell == 0 {
                    continue;
                }
                let [i, j, k] = cuts.cell_intervals(index);
                let facts = CertificateFacts {
                    status: tally.status,
                    not_after: representative(&cuts.not_after, i),
                    renew_at: representative(&cuts.renew_at, j),
                    paused: tally.paused,
                    has_error: tally.has_error,
                    overdue_at: representative(&cuts.overdue_at, k),
                };
                for (counter, condition) in &conditions {
                    counts.add(*counter, if condition.holds(&facts) { *cell } else { 0 });
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
    /// per cell.
    fn tallies(cuts: &TimeCuts, facts: &[CertificateFacts]) -> Vec<FactTally> {
        let mut out: Vec<FactTally> = Vec::new();
        for f in facts {
            let key = (f.status, f.paused, f.has_error);
            let i = match out.iter().position(|t| (t.status, t.paused, t.has_error) == key) {
                Some(i) => i,
                None => {
                    out.push(FactTally {
                        status: f.status,
                        paused: f.paused,
                        has_error: f.has_error,
                        cells: vec![0; cuts.cell_count()],
                    });
                    out.len() - 1
                }
            };
            out[i].cells[cuts.cell_of(f)] += 1;
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
        assert_eq!(cuts.renew_at.len(), 1, "{cuts:?}");
        assert_eq!(cuts.overdue_at.len(), 1, "{cuts:?}");
        let mut times = vec![None];
        for cut in cuts.not_after.iter().chain(&cuts.renew_at).chain(&cuts.overdue_at) {
            for delta in [-1, 0, 1, DAY_MILLIS] {
                times.push(Some(Timestamp::from_unix_millis(cut.as_unix_millis() + delta)));
            }
        }
        times.sort();
        times.dedup();
        let mut facts = Vec::new();
        for status in [Requested, Issuing, Issued, Renewing, Failed, Revoked, Expired, Unmanaged] {
            for not_after in &times {
                for renew_at in &times {
                    for overdue_at in &times {
                        for (paused, has_error) in [(false, false), (true, false), (false, true), (true, true)] {
                            facts.push(CertificateFacts {
                                status,
                                not_after: *not_after,
                                renew_at: *renew_at,
                                paused,
                                has_error,
                                overdue_at: *overdue_at,
                            });
                        }
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
        for health in crate::model::CertificateHealth::PRECEDENCE {
            assert!(expected.health.get(health) > 0, "no certificate with health {health:?}");
        }
        assert_eq!(expected.health.0.iter().sum::<usize>(), expected.total, "every certificate has one health");
        assert_eq!(StatusCounts::from_tallies(&rules, &cuts, &tallies(&cuts, &facts)), expected);
    }
}
