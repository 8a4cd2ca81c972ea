//! Lenient deserializers for the number shapes the real service writes.
//!
//! The spec types pagination numbers and `ArrayTask.duration` as `number`, and go-swagger servers
//! write them as floats (`14.0`); a strict `u64` would reject a whole page for that.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Deserializer, de};

/// A JSON number as written: an unsigned or negative integer, or a float.
enum Num {
    U(u64),
    I(i64),
    F(f64),
}

/// Reads a number or `null` straight from the deserializer: no buffering, no trial and error (an
/// untagged enum would buffer every value and build an error for each variant it rules out).
struct NumVisitor;

impl<'de> de::Visitor<'de> for NumVisitor {
    type Value = Option<Num>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a number or null")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Num::U(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Num::I(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Num::F(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(NumVisitor)
    }
}

fn num<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Num>, D::Error> {
    d.deserialize_option(NumVisitor)
}

fn to_u64<E: de::Error>(n: Num) -> Result<u64, E> {
    match n {
        Num::U(u) => Ok(u),
        Num::I(i) => u64::try_from(i)
            .map_err(|_| E::custom(format!("expected a non-negative integer, found {i}"))),
        Num::F(f) if f.is_finite() && f >= 0.0 && f <= u64::MAX as f64 => Ok(f.round() as u64),
        Num::F(f) => Err(E::custom(format!(
            "expected a non-negative integer, found {f}"
        ))),
    }
}

fn to_i64<E: de::Error>(n: Num) -> Result<i64, E> {
    match n {
        Num::U(u) => i64::try_from(u).map_err(|_| E::custom(format!("integer {u} out of range"))),
        Num::I(i) => Ok(i),
        Num::F(f) if f.is_finite() && f.abs() <= i64::MAX as f64 => Ok(f.round() as i64),
        Num::F(f) => Err(E::custom(format!("expected an integer, found {f}"))),
    }
}

/// `Option<u64>` from an integer, a float, or `null`.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    num(d)?.map(to_u64).transpose()
}

/// `Option<i64>` from an integer, a float, or `null`.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    num(d)?.map(to_i64).transpose()
}

/// `Option<i32>` from an integer, a float, or `null`.
pub(crate) fn opt_i32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    match num(d)?.map(to_i64).transpose()? {
        None => Ok(None),
        Some(v) => i32::try_from(v)
            .map(Some)
            .map_err(|_| de::Error::custom(format!("integer {v} out of range for i32"))),
    }
}

/// A list or map from its JSON form or `null` (go-swagger writes `null` for a nil slice or map).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A list of `f32` from JSON numbers or `null`. A number beyond `f32`'s range is an error: cast, it
/// would become an infinity, which JSON cannot carry (it serializes as `null`), so the bound would be
/// silently lost.
pub(crate) fn f32_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f32>, D::Error> {
    null_default::<D, Vec<f64>>(d)?
        .into_iter()
        .map(|v| {
            let f = v as f32;
            if f.is_finite() {
                Ok(f)
            } else {
                Err(de::Error::custom(format!(
                    "{v} is out of range for a float32"
                )))
            }
        })
        .collect()
}

/// An RFC 3339 timestamp or `null`. The common shapes (`2021-01-01T10:00:00Z`,
/// `…T10:00:00.123456+02:00`) are read by hand, which is several times faster than chrono's general
/// parser; anything else goes to chrono's RFC 3339 parser, so what is accepted is unchanged.
pub(crate) fn opt_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<Utc>>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Option<DateTime<Utc>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 timestamp or null")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            if let Some(t) = fast_rfc3339(s.as_bytes()) {
                return Ok(Some(t));
            }
            DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|e| E::custom(format!("{s:?} is not an RFC 3339 timestamp: {e}")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(V)
        }
    }
    d.deserialize_option(V)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, or `None` for anything else (including what is
/// valid but unusual, which the caller hands to chrono).
fn fast_rfc3339(b: &[u8]) -> Option<DateTime<Utc>> {
    fn digits(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    }
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(&b[0..4])?).ok()?,
        digits(&b[5..7])?,
        digits(&b[8..10])?,
    )?;
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &b[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = digits(frac)? * 10u32.pow(9 - frac.len() as u32);
    }
    let offset_secs: i64 = match &b[i..] {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), oh1, oh2, b':', om1, om2] => {
            let oh = i64::from(digits(&[*oh1, *oh2])?);
            let om = i64::from(digits(&[*om1, *om2])?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if *sign == b'-' { -off } else { off }
        }
        _ => return None,
    };
    // Leap seconds (`:60`) are left to chrono.
    let time = NaiveTime::from_hms_nano_opt(h, m, sec, nanos)?;
    let local = date.and_time(time).and_utc();
    local.checked_sub_signed(chrono::TimeDelta::seconds(offset_secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_timestamp_path_agrees_with_chrono() {
        for s in [
            "2021-01-01T10:00:00Z",
            "2021-01-01T10:05:41+00:00",
            "2020-06-01T12:00:00.123Z",
            "2020-06-01T12:00:00.123456789-07:30",
            "0001-01-01T00:00:00Z",
            "2024-02-29T23:59:59.5+14:00",
        ] {
            let fast =
                fast_rfc3339(s.as_bytes()).unwrap_or_else(|| panic!("{s} took the slow path"));
            let slow = DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
            assert_eq!(fast, slow, "{s}");
        }
        // Unusual or invalid: left to chrono, which accepts or refuses it.
        for s in [
            "2021-01-01t10:00:00z",
            "2021-01-01 10:00:00Z",
            "2021-02-30T00:00:00Z",
            "2021-01-01T10:00:00",
            "2016-12-31T23:59:60Z",
            "2021-01-01T10:00:00.Z",
        ] {
            assert!(fast_rfc3339(s.as_bytes()).is_none(), "{s}");
        }
    }
}
