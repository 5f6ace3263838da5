//! `Duration` as whole milliseconds in config files (`period = 60000`), for
//! `#[serde(with = "votechain_core::millis")]`.

use serde::{Deserialize, Deserializer, Serializer};
use std::time::Duration;

pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    Ok(Duration::from_millis(u64::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct T {
        #[serde(with = "super")]
        d: Duration,
    }

    #[test]
    fn whole_milliseconds_round_trip() {
        let t: T = serde_json::from_str(r#"{"d":1500}"#).unwrap();
        assert_eq!(t.d, Duration::from_millis(1500));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"d":1500}"#);
        assert!(serde_json::from_str::<T>(r#"{"d":-1}"#).is_err());
    }
}
