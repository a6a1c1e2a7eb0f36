//! When a polling actor runs its next round (the SIEM forwarders, the notification router): at once
//! after progress, after the poll interval when there was nothing to do, after a backoff that
//! doubles up to a ceiling while rounds fail. Invariant: the backoff starts over after any round
//! that did not fail.

use std::time::Duration;

#[derive(Debug, Clone)]
pub(crate) struct Pace {
    poll: Duration,
    first_backoff: Duration,
    max_backoff: Duration,
    backoff: Duration,
}

impl Pace {
    pub(crate) fn new(poll: Duration, first_backoff: Duration, max_backoff: Duration) -> Self {
        Pace { poll, first_backoff, max_backoff, backoff: first_backoff }
    }

    /// The wait before the next round (`None`: at once), after a round that `failed` or
    /// `progressed`.
    pub(crate) fn after(&mut self, failed: bool, progressed: bool) -> Option<Duration> {
        if failed {
            let wait = self.backoff;
            self.backoff = (self.backoff * 2).min(self.max_backoff);
            return Some(wait);
        }
        self.backoff = self.first_backoff;
        if progressed { None } else { Some(self.poll) }
    }

    /// The wait a failing round is about to get.
    pub(crate) fn backoff(&self) -> Duration {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_back_off_and_anything_else_starts_over() {
        let ms = Duration::from_millis;
        let mut pace = Pace::new(ms(250), ms(200), ms(700));
        assert_eq!(pace.after(true, false), Some(ms(200)));
        assert_eq!(pace.after(true, false), Some(ms(400)));
        assert_eq!(pace.after(true, false), Some(ms(700)));
        assert_eq!(pace.after(false, true), None);
        assert_eq!(pace.after(true, false), Some(ms(200)));
        assert_eq!(pace.after(false, false), Some(ms(250)));
    }
}
