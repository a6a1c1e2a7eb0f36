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
        let mut buf = [0u8; 40];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        // The length is where the cursor stopped: `format_into`'s count leaves out the fraction.
        match self.to_offset_date_time().format_into(&mut cursor, &Rfc3339) {
            Ok(_) => {
                let len = cursor.position() as usize;
                f(std::str::from_utf8(&buf[..len]).unwrap_or_default())
            }
            Err(_) => f(&self.to_rfc3339()),
        }
    }
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

    #[test]
    fn arithmetic_saturates_and_orders() {
        let at = Timestamp::from_unix_millis(1_000);
        assert_eq!(at.saturating_add(Duration::from_secs(2)).as_unix_millis(), 3_000);
        assert_eq!(at.duration_since(at.saturating_add(Duration::from_secs(1))), Duration::ZERO);
        assert!(at < at.saturating_add(Duration::from_millis(1)));
    }
}
