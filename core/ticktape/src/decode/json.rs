//! Small typed pieces of JSON decoding every venue module shares.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::DecodeError;
use crate::event::{Level, Str};

/// A field's raw JSON text, present even when it is `null` (serde's `Option` would turn a
/// `null` into "absent": a venue's `"T": null` must fail as it did, not read as missing).
#[derive(Default, Clone, Copy)]
pub struct Slot<'a>(pub Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Slot<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a RawValue>::deserialize(d).map(|r| Slot(Some(r)))
    }
}

/// A price level: exactly two strings (a third element, a number or a missing size fails).
#[derive(Deserialize)]
struct Lv<'a>(#[serde(borrow)] Cow<'a, str>, #[serde(borrow)] Cow<'a, str>);

fn missing(name: &str) -> DecodeError {
    DecodeError(format!("Object missing required field `{name}`"))
}

fn wrong(name: &str, e: serde_json::Error) -> DecodeError {
    DecodeError(format!("Invalid value for `{name}`: {e}"))
}

impl<'a> Slot<'a> {
    pub fn is_present(&self) -> bool {
        self.0.is_some()
    }

    fn text(&self, name: &str) -> Result<&'a str, DecodeError> {
        self.0.map(RawValue::get).ok_or_else(|| missing(name))
    }

    /// A required JSON string.
    pub fn string(&self, name: &str) -> Result<Str<'a>, DecodeError> {
        string(self.text(name)?, name)
    }

    /// An optional string: absent or `null` is None.
    pub fn opt_string(&self, name: &str) -> Result<Option<Str<'a>>, DecodeError> {
        match self.0.map(RawValue::get) {
            None | Some("null") => Ok(None),
            Some(t) => string(t, name).map(Some),
        }
    }

    /// A required JSON integer that fits an i64.
    pub fn int(&self, name: &str) -> Result<i64, DecodeError> {
        serde_json::from_str(self.text(name)?).map_err(|e| wrong(name, e))
    }

    /// An integer, or `default` when absent (present and `null` is an error).
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, DecodeError> {
        if self.0.is_none() {
            return Ok(default);
        }
        self.int(name)
    }

    /// An optional integer: absent or `null` is None.
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, DecodeError> {
        match self.0.map(RawValue::get) {
            None | Some("null") => Ok(None),
            Some(t) => serde_json::from_str(t)
                .map(Some)
                .map_err(|e| wrong(name, e)),
        }
    }

    /// A required JSON boolean.
    pub fn boolean(&self, name: &str) -> Result<bool, DecodeError> {
        serde_json::from_str(self.text(name)?).map_err(|e| wrong(name, e))
    }

    /// An optional boolean: absent or `null` is None.
    pub fn opt_boolean(&self, name: &str) -> Result<Option<bool>, DecodeError> {
        match self.0.map(RawValue::get) {
            None | Some("null") => Ok(None),
            Some(t) => serde_json::from_str(t)
                .map(Some)
                .map_err(|e| wrong(name, e)),
        }
    }

    /// Levels: an array of `[price, size]` string pairs.
    pub fn levels(&self, name: &str) -> Result<Vec<Level<'a>>, DecodeError> {
        let v: Vec<Lv<'a>> = serde_json::from_str(self.text(name)?).map_err(|e| wrong(name, e))?;
        Ok(v.into_iter().map(|Lv(p, q)| Level::new(p, q)).collect())
    }

    /// The raw JSON of a nested object.
    pub fn raw(&self, name: &str) -> Result<&'a str, DecodeError> {
        self.text(name)
    }
}

/// A JSON string, borrowed unless it holds escapes.
pub fn string<'a>(text: &'a str, name: &str) -> Result<Str<'a>, DecodeError> {
    match serde_json::from_str::<&'a str>(text) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text)
            .map(Cow::Owned)
            .map_err(|e| wrong(name, e)),
    }
}
