//! Small typed pieces of JSON decoding every venue module shares.

use std::borrow::Cow;

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::scan::Cursor;
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

    /// A required JSON integer that fits an i64 (`-0` is 0, as msgspec reads it).
    pub fn int(&self, name: &str) -> Result<i64, DecodeError> {
        super::number::int(self, name)
    }

    /// An integer, or `default` when absent (present and `null` is an error).
    pub fn int_or(&self, name: &str, default: i64) -> Result<i64, DecodeError> {
        super::number::int_or(self, name, default)
    }

    /// An optional integer: absent or `null` is None.
    pub fn opt_int(&self, name: &str) -> Result<Option<i64>, DecodeError> {
        super::number::opt_int(self, name)
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
        let text = self.text(name)?;
        if let Some(levels) = plain_levels(text) {
            return Ok(levels);
        }
        let v: Vec<Lv<'a>> = serde_json::from_str(text).map_err(|e| wrong(name, e))?;
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

/// The levels of an array of `["price", "size"]` pairs written plainly (no escapes), read
/// by `scan::Cursor` at the speed of a byte scan; None for any other text, which serde
/// then reads (the same levels, or the reason they are not). The depth frames are mostly
/// this array.
fn plain_levels(s: &str) -> Option<Vec<Level<'_>>> {
    let mut c = Cursor::new(s);
    let levels = c.levels(s.len() / 24)?;
    c.at_end().then_some(levels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_serde(text: &str) -> Option<Vec<(String, String)>> {
        let v: Vec<Lv<'_>> = serde_json::from_str(text).ok()?;
        Some(
            v.into_iter()
                .map(|Lv(p, q)| (p.into_owned(), q.into_owned()))
                .collect(),
        )
    }

    fn by_scan(text: &str) -> Option<Vec<(String, String)>> {
        plain_levels(text).map(|v| {
            v.into_iter()
                .map(|l| (l.price.into_owned(), l.size.into_owned()))
                .collect()
        })
    }

    #[test]
    fn plain_arrays_are_scanned_and_the_rest_left_to_serde() {
        let ok = r#" [ ["1.5" , "2"],["3","0.000"] ] "#;
        assert_eq!(by_scan(ok), by_serde(ok));
        assert_eq!(by_scan("[]"), Some(vec![]));
        for other in [
            r#"[["1\u0035","2"]]"#,
            r#"[["1","2","3"]]"#,
            r#"[["1",2]]"#,
            "[",
            r#"[["1","2"],]"#,
            "[] x",
        ] {
            assert_eq!(by_scan(other), None, "{other}");
        }
    }

    proptest! {
        // Whatever the text, the scan never disagrees with serde: it reads the same levels or
        // leaves the text to serde.
        #[test]
        fn the_scan_agrees_with_serde(text in r#"[\[\]",0-9. \\a-z]{0,40}"#) {
            if let Some(got) = by_scan(&text) {
                prop_assert_eq!(Some(got), by_serde(&text));
            }
        }
    }
}
