//! Lenient deserializers for the number shapes the real service writes.
//!
//! The spec types pagination numbers and `ArrayTask.duration` as `number`, and go-swagger servers
//! write them as floats (`14.0`); a strict `u64` would reject a whole page for that.

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
