//! Serde helpers for Tencent's JSON: nullable fields and numbers that sometimes arrive as
//! strings.

use serde::{Deserialize, Deserializer};

/// Deserializes `null` (as well as a missing field, with `#[serde(default)]`) as `T::default()`.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Accepts a JSON string or number (or null) and keeps it as a string.
pub(crate) fn string_or_number<'de, D>(d: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        S(String),
        U(u64),
        I(i64),
        F(f64),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => String::new(),
        Some(Either::S(s)) => s,
        Some(Either::U(n)) => n.to_string(),
        Some(Either::I(n)) => n.to_string(),
        Some(Either::F(n)) => n.to_string(),
    })
}

/// Accepts a JSON number or a numeric string (or null → 0).
pub(crate) fn number_or_string<'de, D>(d: D) -> Result<u64, D::Error>
where
    D: Deserializer<'de>,
{
    let s = string_or_number(d)?;
    if s.is_empty() {
        return Ok(0);
    }
    s.parse().map_err(serde::de::Error::custom)
}
