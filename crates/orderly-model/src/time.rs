//! Milliseconds since the Unix epoch, UTC. All logic reads time as a `Timestamp`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    /// Parses RFC 3339 with a zone, e.g. `2026-11-22T10:00:00.250Z`.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|d| Timestamp(d.timestamp_millis()))
    }
    /// The time plus `ms` milliseconds (saturating).
    pub const fn plus_ms(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }
    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub const fn since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
    /// The date in words for a person, in UTC: `4 Dec 2026`.
    pub fn date_words(self) -> String {
        match chrono::DateTime::from_timestamp_millis(self.0) {
            Some(d) => d.format("%-d %b %Y").to_string(),
            None => format!("@{}ms", self.0),
        }
    }

    /// RFC 3339 in UTC with milliseconds: `2026-11-22T10:00:00.250Z`.
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp_millis(self.0) {
            Some(d) => d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            None => format!("@{}ms", self.0),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .description(Some("RFC 3339 time in UTC with milliseconds"))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339_with_millis() {
        let t = Timestamp::parse_rfc3339("2026-11-22T10:00:00.250Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:00:00.250Z");
        let z = Timestamp::parse_rfc3339("2026-11-22T11:00:00.250+01:00").unwrap();
        assert_eq!(t, z);
    }

    #[test]
    fn rejects_times_without_zone() {
        assert!(Timestamp::parse_rfc3339("2026-11-22T10:00:00").is_none());
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
    }
}
