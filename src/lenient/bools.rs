//! [`Bools`]: a deserializer wrapper under which a `bool` also reads from `0` and `1` and from the
//! strings `"true"` and `"false"`. SQLite has no boolean type (a `BOOLEAN` column holds `0` or
//! `1`), so rows decoded with [`SqlResult::rows`](crate::SqlResult::rows) and
//! [`ResultStream::rows_stream`](crate::ResultStream::rows_stream) go through it. Everything else
//! is passed through untouched: only a field that asks for a `bool` is read leniently.
//!
//! The wrapper wraps every deserializer, visitor and access it hands out, so the leniency reaches
//! nested structs, sequences, maps, options and enums.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// A deserializer whose `bool`s are lenient.
pub(crate) struct Bools<D>(pub(crate) D);

/// A visitor whose nested deserializers are wrapped in [`Bools`].
struct Wrap<V>(V);

/// The visitor of a `bool` asked for under [`Bools`].
struct BoolVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for BoolVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean (true or false, 1 or 0, or one of the strings true and false)")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        self.0.visit_bool(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        match v {
            0 => self.0.visit_bool(false),
            1 => self.0.visit_bool(true),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        match v {
            0 => self.0.visit_bool(false),
            1 => self.0.visit_bool(true),
            _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        match v {
            "true" => self.0.visit_bool(true),
            "false" => self.0.visit_bool(false),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }
}

macro_rules! forward {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method(Wrap(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Bools<D> {
    type Error = D::Error;

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(BoolVisitor(visitor))
    }

    forward! {
        deserialize_any deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_option
        deserialize_unit deserialize_seq deserialize_map deserialize_identifier
        deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Wrap(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! pass {
    ($($method:ident: $ty:ty)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.0.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    pass! {
        visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
        visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
        visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char visit_str: &str
        visit_borrowed_str: &'de str visit_string: String visit_bytes: &[u8]
        visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        self.0.visit_some(Bools(d))
    }

    fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<V::Value, D2::Error> {
        self.0.visit_newtype_struct(Bools(d))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.0.visit_seq(Bools(seq))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(Bools(map))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.0.visit_enum(Bools(data))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Bools<S> {
    type Value = S::Value;

    fn deserialize<D2: Deserializer<'de>>(self, d: D2) -> Result<S::Value, D2::Error> {
        self.0.deserialize(Bools(d))
    }
}

impl<'de, A: de::SeqAccess<'de>> de::SeqAccess<'de> for Bools<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Bools(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::MapAccess<'de>> de::MapAccess<'de> for Bools<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // Keys are names, read as they are.
        self.0.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.0.next_value_seed(Bools(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: de::EnumAccess<'de>> de::EnumAccess<'de> for Bools<A> {
    type Error = A::Error;
    type Variant = Bools<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Bools<A::Variant>), A::Error> {
        self.0.variant_seed(seed).map(|(v, a)| (v, Bools(a)))
    }
}

impl<'de, A: de::VariantAccess<'de>> de::VariantAccess<'de> for Bools<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Bools(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Wrap(visitor))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::Bools;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Row {
        on: bool,
        maybe: Option<bool>,
        many: Vec<bool>,
        n: i64,
        s: String,
    }

    fn decode<T: serde::de::DeserializeOwned>(json: &str) -> serde_json::Result<T> {
        let mut de = serde_json::Deserializer::from_str(json);
        let v = T::deserialize(Bools(&mut de))?;
        de.end()?;
        Ok(v)
    }

    #[test]
    fn zero_one_and_strings_read_as_bools_and_nothing_else_changes() {
        let row: Row =
            decode(r#"{"on":1,"maybe":"false","many":[0,true,"true"],"n":1,"s":"1"}"#).unwrap();
        assert_eq!(
            row,
            Row {
                on: true,
                maybe: Some(false),
                many: vec![false, true, true],
                n: 1,
                s: "1".into()
            }
        );
        assert!(decode::<Row>(r#"{"on":2,"maybe":null,"many":[],"n":1,"s":""}"#).is_err());
        assert!(decode::<Row>(r#"{"on":"yes","maybe":null,"many":[],"n":1,"s":""}"#).is_err());
        // Not a bool field: a number stays a number, a bool is not one.
        assert!(decode::<Row>(r#"{"on":true,"maybe":null,"many":[],"n":true,"s":""}"#).is_err());
        assert_eq!(decode::<(bool, bool)>("[1, 0]").unwrap(), (true, false));
    }
}
