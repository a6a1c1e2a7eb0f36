//! UTC instants with millisecond precision: what the store keeps (integer columns that index and sort),
//! and RFC 3339 text on the wire. Millisecond precision means a value survives a store round trip exactly.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const UNIX_EPOCH: Timestamp = Timestamp(0);

    pub fn now() -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Timestamp((nanos / 1_000_000) as i64)
    }

    pub const fn from_unix_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    pub const fn as_unix_millis(self) -> i64 {
        self.0
    }

    pub fn saturating_add(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_add(duration_millis(duration)))
    }

    pub fn saturating_sub(self, duration: Duration) -> Self {
        Timestamp(self.0.saturating_sub(duration_millis(duration)))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    pub fn to_offset_date_time(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn from_offset_date_time(at: OffsetDateTime) -> Self {
        Timestamp((at.unix_timestamp_nanos() / 1_000_000) as i64)
    }

    pub fn to_rfc3339(self) -> String {
        self.with_rfc3339(str::to_owned)
    }

    /// The `time` crate's RFC 3339 text: the reference `format_rfc3339` agrees with, and the text
    /// of an instant outside the years it writes.
    fn to_rfc3339_by_time(self) -> String {
        self.to_offset_date_time().format(&Rfc3339).unwrap_or_else(|_| self.0.to_string())
    }
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Timestamp {
    /// Hands `f` the RFC 3339 text formatted on the stack: a page of records writes hundreds of
    /// timestamps, each once a String of its own.
    fn with_rfc3339<R>(self, f: impl FnOnce(&str) -> R) -> R {
        let mut buf = [0u8; RFC3339_MAX];
        match format_rfc3339(self.0, &mut buf) {
            Some(len) => f(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
            None => f(&self.to_rfc3339_by_time()),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the longest text `format_rfc3339` writes.
const RFC3339_MAX: usize = 24;
const DAY_MILLIS: i64 = 86_400_000;

/// Writes the RFC 3339 text of `millis` (since the epoch, UTC) as the `time` crate writes it (a
/// fraction only for a part second, without trailing zeros; `Z`) and returns its length; `None`
/// outside the years 0000-9999. Formatting through `time` (a date from its own calendar, then a
/// generic writer) was a tenth of the CPU of a page of 50 certificates (issue 16, item 6).
fn format_rfc3339(millis: i64, buf: &mut [u8; RFC3339_MAX]) -> Option<usize> {
    let (year, month, day) = civil_from_days(millis.div_euclid(DAY_MILLIS));
    if !(0..=9_999).contains(&year) {
        return None;
    }
    let in_day = millis.rem_euclid(DAY_MILLIS);
    let (seconds, fraction) = (in_day / 1_000, in_day % 1_000);
    let mut put = |at: usize, value: i64, width: usize| {
        let mut value = value;
        for slot in buf[at..at + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, year, 4);
    put(5, month, 2);
    put(8, day, 2);
    put(11, seconds / 3_600, 2);
    put(14, seconds / 60 % 60, 2);
    put(17, seconds % 60, 2);
    let mut len = 19;
    if fraction != 0 {
        put(20, fraction, 3);
        buf[19] = b'.';
        len = 23;
        while buf[len - 1] == b'0' {
            len -= 1;
        }
    }
    for (at, sign) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (len, b'Z')] {
        buf[at] = sign;
    }
    Some(len + 1)
}

/// The proleptic Gregorian (year, month, day) of a day count from 1970-01-01, counted in 400-year
/// eras that start on March 1st so the leap day ends each year.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_rfc3339(|text| f.write_str(text))
    }
}

impl std::fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.with_rfc3339(|text| write!(f, "Timestamp({text})"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.with_rfc3339(|text| serializer.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(Rfc3339Text)
    }
}

/// Reads the text where the format lends it, without copying it into a String first.
struct Rfc3339Text;

impl serde::de::Visitor<'_> for Rfc3339Text {
    type Value = Timestamp;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Timestamp::from_offset_date_time)
            .map_err(|e| E::custom(format!("invalid RFC 3339 timestamp {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Timestamps survive JSON exactly and keep UTC.
    #[test]
    fn rfc3339_round_trip_is_exact() {
        let at = Timestamp::from_unix_millis(1_764_000_000_123);
        let json = serde_json::to_string(&at).unwrap();
        assert_eq!(json, "\"2025-11-24T16:00:00.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), at);
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
    }

    /// The text written on the stack is the text `to_rfc3339` gives, for whole seconds, every
    /// millisecond digit count, the epoch and before it; and it reads back from any serde format.
    #[test]
    fn serialized_text_is_the_rfc3339_text() {
        for millis in
            [0, 1, 10, 100, 999, 1_000, 1_764_000_000_000, 1_764_000_000_120, -1, -86_400_001, 253_402_300_799_999]
        {
            let at = Timestamp::from_unix_millis(millis);
            let json = serde_json::to_string(&at).unwrap();
            assert_eq!(json, format!("\"{}\"", at.to_rfc3339()));
            assert_eq!(at.to_string(), at.to_rfc3339());
            assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), at);
            assert_eq!(serde_json::from_value::<Timestamp>(serde_json::Value::String(at.to_rfc3339())).unwrap(), at);
        }
        let refused = serde_json::from_str::<Timestamp>("12").unwrap_err().to_string();
        assert!(refused.contains("an RFC 3339 timestamp"), "{refused}");
    }

    /// The text written here is the `time` crate's, at every edge (the years' ends, leap days,
    /// before the epoch, each fraction length) and at 200,000 instants spread over the years it
    /// writes; outside them both give the `time` crate's answer.
    #[test]
    fn formatted_text_is_the_time_crates() {
        let (first, last) = (-62_167_219_200_000_i64, 253_402_300_799_999_i64);
        let mut instants = vec![first, last, first - 1, last + 1, 0, -1, 951_782_400_000, 4_107_542_400_000];
        instants.extend([1_709_164_800_000, 1_709_251_199_999, -2_203_891_200_001, 1, 10, 100, 110, 999]);
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            instants.push(first + (seed % (last - first + 1) as u64) as i64);
        }
        for millis in instants {
            let at = Timestamp::from_unix_millis(millis);
            assert_eq!(at.to_rfc3339(), at.to_rfc3339_by_time(), "{millis}");
        }
        assert_eq!(Timestamp::from_unix_millis(951_782_400_000).to_rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp::from_unix_millis(first).to_rfc3339(), "0000-01-01T00:00:00Z");
        assert_eq!(Timestamp::from_unix_millis(last).to_rfc3339(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn arithmetic_saturates_and_orders() {
        let at = Timestamp::from_unix_millis(1_000);
        assert_eq!(at.saturating_add(Duration::from_secs(2)).as_unix_millis(), 3_000);
        assert_eq!(at.duration_since(at.saturating_add(Duration::from_secs(1))), Duration::ZERO);
        assert!(at < at.saturating_add(Duration::from_millis(1)));
    }
}
