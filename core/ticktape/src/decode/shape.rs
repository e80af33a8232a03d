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

/// Every `\u` escape of a frame names a character: msgspec refuses a lone surrogate
/// (`"\ud800"`) anywhere in a frame, even in a field it skips, where serde reads over it.
pub fn escapes(text: &str) -> Result<(), DecodeError> {
    if !text.contains("\\u") {
        return Ok(());
    }
    let b = text.as_bytes();
    let unit = |at: usize| -> Option<u32> {
        let hex = b.get(at..at + 4)?;
        u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let lone = || DecodeError("a lone surrogate in a \\u escape".to_owned());
    let mut i = 0;
    while let Some(off) = b.get(i..).and_then(|r| r.iter().position(|&c| c == b'\\')) {
        i += off;
        if b.get(i + 1) != Some(&b'u') {
            i += 2; // \" \\ \n ...: one escaped character
            continue;
        }
        match unit(i + 2) {
            Some(0xD800..=0xDBFF) => {
                let low = (b.get(i + 6..i + 8) == Some(b"\\u")).then(|| unit(i + 8));
                if !matches!(low, Some(Some(0xDC00..=0xDFFF))) {
                    return Err(lone());
                }
                i += 12;
            }
            Some(0xDC00..=0xDFFF) => return Err(lone()),
            _ => i += 6, // a character, or not hex: serde refuses the latter
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::escapes;

    #[test]
    fn a_lone_surrogate_is_refused_and_a_pair_is_not() {
        assert!(escapes(r#"{"a":"\ud83d\ude00","b":"\\ud800","c":"\u00e9"}"#).is_ok());
        for bad in [
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud800x""#,
        ] {
            assert!(escapes(bad).is_err(), "{bad}");
        }
    }
}
