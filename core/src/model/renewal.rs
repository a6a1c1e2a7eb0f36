//! When a certificate renews, from its lifetime: the CA's ARI window first; otherwise
//! `renew_before_days` (or `_hours`) before expiry, or by default at two thirds of the lifetime (at half of it
//! for certificates of ten days or less, like Let's Encrypt's six-day `shortlived`). Pure.
//! Invariants: a renewal never opens earlier than half-way through the lifetime from a policy (a
//! longer lead is clamped, and the certificate says so), and never sooner than
//! `min_renewal_age` after the certificate was issued — so no setting and no CA answer can make a
//! certificate renew in a loop.

use std::time::Duration;

use super::Certificate;
use crate::Timestamp;

/// Certificates of this lifetime or less renew at half of it by default.
pub const SHORT_LIVED: Duration = Duration::from_secs(10 * 86_400);
/// The longest minimum age (for certificates of four hours or more).
const MAX_MIN_AGE: Duration = Duration::from_secs(3_600);

/// A renewal lead as the policy states it: in days, or in hours (for short-lived certificates,
/// where whole days are too coarse). A certificate holds at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenewBefore {
    Days(u32),
    Hours(u32),
}

impl RenewBefore {
    pub fn duration(self) -> Duration {
        self.unit() * self.amount()
    }

    /// One day or one hour.
    pub fn unit(self) -> Duration {
        match self {
            RenewBefore::Days(_) => Duration::from_secs(86_400),
            RenewBefore::Hours(_) => Duration::from_secs(3_600),
        }
    }

    /// The field that states it, as the API names it.
    pub fn field(self) -> &'static str {
        match self {
            RenewBefore::Days(_) => "renew_before_days",
            RenewBefore::Hours(_) => "renew_before_hours",
        }
    }

    pub fn amount(self) -> u32 {
        match self {
            RenewBefore::Days(n) | RenewBefore::Hours(n) => n,
        }
    }

    /// The largest amount allowed for a certificate of `lifetime`: one unit less than the whole
    /// units it lives (at least 1), so the window always opens after the certificate starts.
    pub fn max_amount(self, lifetime: Duration) -> u32 {
        u32::try_from(lifetime.as_secs() / self.unit().as_secs()).unwrap_or(u32::MAX).saturating_sub(1).max(1)
    }
}

/// How long before expiry the policy renews, and whether the asked lead had to be clamped.
pub fn renew_before(lifetime: Duration, asked: Option<RenewBefore>) -> (Duration, bool) {
    let half = lifetime / 2;
    match asked.map(RenewBefore::duration) {
        Some(asked) if asked > half => (half, true),
        Some(asked) => (asked, false),
        None if lifetime <= SHORT_LIVED => (half, false),
        None => (lifetime / 3, false),
    }
}

/// A scheduled renewal never starts sooner than this after issuance: a quarter of the lifetime, at
/// most an hour.
pub fn min_renewal_age(lifetime: Duration) -> Duration {
    (lifetime / 4).min(MAX_MIN_AGE)
}

impl Certificate {
    /// The renewal lead the certificate's policy states, if any.
    pub fn renew_before_policy(&self) -> Option<RenewBefore> {
        self.renew_before_days.map(RenewBefore::Days).or(self.renew_before_hours.map(RenewBefore::Hours))
    }

    fn lifetime(&self) -> Option<Duration> {
        match (self.not_before, self.not_after) {
            (Some(from), Some(until)) if until > from => Some(until.duration_since(from)),
            _ => None,
        }
    }

    /// The start of the renewal window for the current validity, if the certificate has one: the
    /// CA's ARI window (a point spread inside it) wins over the policy; never before the minimum
    /// age after issuance.
    pub fn renewal_window_start(&self) -> Option<Timestamp> {
        let lifetime = self.lifetime()?;
        let not_after = self.not_after?;
        let start = match self.ari_window {
            Some((start, end)) => {
                // RFC 9773 §4.2: pick a point in the window, spread so certificates do not renew together.
                let span = end.duration_since(start);
                let spread =
                    u64::from(u32::from_be_bytes(*self.id.as_uuid().as_bytes().last_chunk::<4>().unwrap_or(&[0; 4])));
                start.saturating_add(span.mul_f64(spread as f64 / f64::from(u32::MAX)))
            }
            None => not_after.saturating_sub(renew_before(lifetime, self.renew_before_policy()).0),
        };
        Some(start.max(self.issued_or_valid_from()?.saturating_add(min_renewal_age(lifetime))))
    }

    /// When the current certificate was recorded as issued (before `issued_at` was kept: its
    /// `not_before`).
    pub fn issued_or_valid_from(&self) -> Option<Timestamp> {
        self.issued_at.or(self.not_before)
    }

    /// Whether a scheduled renewal at `now` comes too soon after issuance (`min_renewal_age`).
    pub fn too_young_to_renew(&self, now: Timestamp) -> bool {
        match (self.lifetime(), self.issued_or_valid_from()) {
            (Some(lifetime), Some(issued)) => now < issued.saturating_add(min_renewal_age(lifetime)),
            _ => false,
        }
    }

    /// Set when the policy's lead (`renew_before_days` or `_hours`) is longer than half the current
    /// lifetime and was clamped: what the certificate does instead, for the operator.
    pub fn renewal_warning(&self) -> Option<String> {
        let lifetime = self.lifetime()?;
        let asked = self.renew_before_policy()?;
        let (before, clamped) = renew_before(lifetime, Some(asked));
        clamped.then(|| {
            format!(
                "{} = {} is longer than half of this certificate's lifetime ({}); it renews {} before expiry instead",
                asked.field(),
                asked.amount(),
                span(lifetime),
                span(before)
            )
        })
    }
}

/// A duration as people read it: `6 days`, `36 hours`, `90 seconds`.
pub fn span(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s >= 2 * 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s >= 2 * 3_600 => format!("{} hours", s / 3_600),
        s if s >= 2 * 60 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AcmeAccountId, ProjectId};
    use crate::model::KeyType;

    const DAY: Duration = Duration::from_secs(86_400);
    const T0: Timestamp = Timestamp::from_unix_millis(1_800_000_000_000);

    fn issued(lifetime: Duration, renew_before_days: Option<u32>) -> Certificate {
        let mut c = Certificate::new(
            ProjectId::new(),
            "a.test",
            vec!["a.test".into()],
            KeyType::EcdsaP256,
            AcmeAccountId::new(),
            T0,
        );
        c.renew_before_days = renew_before_days;
        c.not_before = Some(T0);
        c.not_after = Some(T0.saturating_add(lifetime));
        c.issued_at = Some(T0);
        c
    }

    #[test]
    fn the_default_renews_at_two_thirds_or_at_half_for_short_lived() {
        assert_eq!(issued(DAY * 90, None).renewal_window_start(), Some(T0.saturating_add(DAY * 60)));
        assert_eq!(issued(DAY * 6, None).renewal_window_start(), Some(T0.saturating_add(DAY * 3)));
        assert_eq!(issued(DAY * 10, None).renewal_window_start(), Some(T0.saturating_add(DAY * 5)));
        assert_eq!(issued(DAY * 90, Some(30)).renewal_window_start(), Some(T0.saturating_add(DAY * 60)));
    }

    /// The measured hot loop: 30 days before expiry on a certificate that lives less than that.
    #[test]
    fn a_policy_longer_than_the_lifetime_is_clamped_to_half_and_says_so() {
        let six_days = issued(DAY * 6, Some(30));
        assert_eq!(six_days.renewal_window_start(), Some(T0.saturating_add(DAY * 3)));
        let warning = six_days.renewal_warning().unwrap();
        assert!(
            warning.contains("renew_before_days = 30") && warning.contains("6 days") && warning.contains("3 days"),
            "{warning}"
        );
        let one_minute = issued(Duration::from_secs(60), Some(30));
        assert_eq!(one_minute.renewal_window_start(), Some(T0.saturating_add(Duration::from_secs(30))));
        assert!(issued(DAY * 90, Some(45)).renewal_warning().is_none(), "half is allowed");
        assert!(issued(DAY * 90, Some(46)).renewal_warning().is_some());
    }

    /// Six-day certificates want a lead in hours: 36 hours renews at four and a half days; hours
    /// beyond half the lifetime are clamped like days, and the warning names the field.
    #[test]
    fn a_lead_in_hours_renews_that_many_hours_before_expiry() {
        let mut c = issued(DAY * 6, None);
        c.renew_before_hours = Some(36);
        assert_eq!(c.renew_before_policy(), Some(RenewBefore::Hours(36)));
        assert_eq!(c.renewal_window_start(), Some(T0.saturating_add(DAY * 6 - Duration::from_secs(36 * 3_600))));
        assert!(c.renewal_warning().is_none());
        c.renew_before_hours = Some(100);
        assert_eq!(c.renewal_window_start(), Some(T0.saturating_add(DAY * 3)));
        let warning = c.renewal_warning().unwrap();
        assert!(warning.starts_with("renew_before_hours = 100 is longer"), "{warning}");
        assert_eq!(RenewBefore::Hours(1).max_amount(DAY * 6), 143);
        assert_eq!(RenewBefore::Days(1).max_amount(DAY * 90), 89);
        assert_eq!(RenewBefore::Days(1).max_amount(Duration::from_secs(60)), 1);
    }

    #[test]
    fn an_ari_window_in_the_past_waits_for_the_minimum_age() {
        let mut c = issued(DAY * 90, None);
        c.ari_window = Some((T0.saturating_sub(DAY), T0.saturating_sub(DAY)));
        assert_eq!(c.renewal_window_start(), Some(T0.saturating_add(Duration::from_secs(3_600))));
        assert!(c.too_young_to_renew(T0.saturating_add(Duration::from_secs(3_599))));
        assert!(!c.too_young_to_renew(T0.saturating_add(Duration::from_secs(3_600))));
        let short = issued(Duration::from_secs(60), None);
        assert!(short.too_young_to_renew(T0.saturating_add(Duration::from_secs(14))));
        assert!(!short.too_young_to_renew(T0.saturating_add(Duration::from_secs(15))));
        assert_eq!(min_renewal_age(DAY * 6), Duration::from_secs(3_600));
    }
}
