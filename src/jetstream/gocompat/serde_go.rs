//! serde helpers that make decoding behave like Go's `encoding/json` (null as zero value,
//! omitted zero values, raw text of a value for error messages).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Accepts JSON `null` for any field as Go does (the field keeps its zero value).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

pub fn is_false(v: &bool) -> bool {
    !*v
}

pub fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}

pub fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// The raw JSON of a value given for an enum, kept so a refusal can quote it like Go does.
pub struct RawText(pub String);

/// Reads any JSON value into `RawText` (strings re-quoted, containers abbreviated).
pub struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawText;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawText, E> {
        Ok(RawText(format!("\"{v}\"")))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawText, E> {
        Ok(RawText(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawText, E> {
        Ok(RawText(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawText, E> {
        Ok(RawText(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawText, E> {
        Ok(RawText(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawText, E> {
        Ok(RawText("null".to_owned()))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawText, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(RawText("[...]".to_owned()))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawText, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(RawText("{...}".to_owned()))
    }
}
