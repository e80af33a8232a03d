//! The JSON shapes msgspec insists on where serde would bend.
//!
//! A derived serde struct also reads a JSON array, field by field in order; a msgspec
//! `Struct` takes only an object. So a frame or a nested value the Python decoder reads as
//! a `Struct` goes through `object`, and one it reads untyped (`json_any`, for control
//! frames) through `untyped`, which fails where msgspec does on a float out of range.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::DecodeError;

/// A struct read from JSON text that must be an object.
pub fn object<'a, T: Deserialize<'a>>(text: &'a str, name: &str) -> Result<T, DecodeError> {
    if !text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        return Err(DecodeError(format!("`{name}` is not an object")));
    }
    Ok(serde_json::from_str(text)?)
}

/// A JSON array of objects, each read as a struct.
pub fn objects<'a, T: Deserialize<'a>>(text: &'a str, name: &str) -> Result<Vec<T>, DecodeError> {
    let items: Vec<&'a RawValue> =
        serde_json::from_str(text).map_err(|e| DecodeError(format!("`{name}`: {e}")))?;
    items.into_iter().map(|r| object(r.get(), name)).collect()
}

/// A whole frame read untyped (msgspec's `json_any`), for the keys of a control frame
/// (a key repeated holds its last value, as in Python).
pub fn untyped(payload: &[u8]) -> Result<serde_json::Value, DecodeError> {
    Ok(serde_json::from_slice(payload)?)
}
