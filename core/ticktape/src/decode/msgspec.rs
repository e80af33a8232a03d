//! Reading a frame as the Python decoders' msgspec schemas read it, for the ports of Gate,
//! KuCoin and Phemex, whose schemas accept more than serde's derived structs would:
//!
//! - a key sent twice is read as its last value, each value of the field's type (a
//!   derived struct refuses the frame);
//! - an `int` field takes a JSON integer of any size: only where the event carries it as
//!   an id or time does `state.bounds` refuse what does not fit an i64, so elsewhere (a
//!   size, a sequence only printed) the port keeps the integer's text;
//! - a `str` field with a default (`channel: str = ""`) is absent or a string, never `null`;
//! - some fields are strings the decoder hands to Python's `int()`, which strips spaces
//!   and takes a sign and `_` between digits (`py_int`).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::json::Slot;
use super::DecodeError;
use crate::event::{Side, Str};

/// A JSON object's members in order, each value left raw; `get` reads a key's last value.
pub struct Obj<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// An object key, borrowed from the frame unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Obj<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Obj<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Obj<'a>, M::Error> {
                let mut members = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some((Key(k), v)) = m.next_entry::<Key<'a>, &'a RawValue>()? {
                    members.push((k, v));
                }
                Ok(Obj(members))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

impl<'a> Obj<'a> {
    /// The object a JSON text holds (anything else is a decode error).
    pub fn parse(text: &'a str) -> Result<Obj<'a>, DecodeError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The last value sent under `name`, unread: what a `msgspec.Raw` field holds.
    pub fn get(&self, name: &str) -> Slot<'a> {
        Slot(
            self.0
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| *v),
        )
    }

    /// A field read by `f`: msgspec reads every value sent under a repeated key (each must
    /// be of the field's type) and keeps the last; an absent field is `f` of an empty slot.
    pub fn read<T>(
        &self,
        name: &str,
        f: impl Fn(Slot<'a>) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let mut last = None;
        for (k, v) in &self.0 {
            if k == name {
                last = Some(f(Slot(Some(*v)))?);
            }
        }
        match last {
            Some(t) => Ok(t),
            None => f(Slot(None)),
        }
    }

    /// A required `str`.
    pub fn string(&self, name: &str) -> Result<Str<'a>, DecodeError> {
        self.read(name, |s| s.string(name))
    }

    /// A `str` with a default: absent is `default`, present must be a string.
    pub fn str_or(&self, name: &str, default: &'a str) -> Result<Str<'a>, DecodeError> {
        self.read(name, |s| match s.0 {
            None => Ok(Cow::Borrowed(default)),
            Some(_) => s.string(name),
        })
    }

    /// A `str | None`: absent or `null` is None.
    pub fn opt_string(&self, name: &str) -> Result<Option<Str<'a>>, DecodeError> {
        self.read(name, |s| s.opt_string(name))
    }

    /// A `bool | None`: absent or `null` is None.
    pub fn opt_boolean(&self, name: &str) -> Result<Option<bool>, DecodeError> {
        self.read(name, |s| s.opt_boolean(name))
    }

    /// A required `int` of any size, as its text.
    pub fn int(&self, name: &str) -> Result<&'a str, DecodeError> {
        self.read(name, |s| int_text(s, name))
    }

    /// An `int` of any size with a default (`int = 0`): absent is `default`.
    pub fn int_or(&self, name: &str, default: &'a str) -> Result<&'a str, DecodeError> {
        self.read(name, |s| match s.0 {
            None => Ok(default),
            Some(_) => int_text(s, name),
        })
    }

    /// An `int | None` of any size: absent or `null` is None.
    pub fn opt_int(&self, name: &str) -> Result<Option<&'a str>, DecodeError> {
        self.read(name, |s| match s.0.map(RawValue::get) {
            None | Some("null") => Ok(None),
            Some(_) => int_text(s, name).map(Some),
        })
    }

    /// An `int` time the event carries, times `unit`, in ns (`state.bounds`: 0 to i64::MAX).
    pub fn ns(&self, name: &str, unit: i128) -> Result<i64, DecodeError> {
        ns(small(self.int(name)?), unit, name)
    }

    /// An `int` id the event carries (an i64, as `state.bounds` requires).
    pub fn id(&self, name: &str) -> Result<i64, DecodeError> {
        id(small(self.int(name)?), name)
    }
}

/// A frame's text: a venue's text frame is UTF-8 by the WebSocket protocol.
pub fn utf8(payload: &[u8]) -> Result<&str, DecodeError> {
    std::str::from_utf8(payload).map_err(|e| DecodeError(format!("not UTF-8: {e}")))
}

/// The longest integer msgspec reads, sign included (Python's `int_max_str_digits`).
const MAX_INT_TEXT: usize = 4300;

/// A JSON integer of any size, as its text (`-0` as `0`, as Python prints it).
pub fn int_text<'a>(s: Slot<'a>, name: &str) -> Result<&'a str, DecodeError> {
    let t = s.raw(name)?;
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError(format!(
            "`{name}`: expected an integer, got {t:.40}"
        )));
    }
    if t.len() > MAX_INT_TEXT {
        return Err(DecodeError(format!("`{name}`: {} digits", t.len())));
    }
    Ok(if digits == "0" { digits } else { t })
}

/// An integer of any size as an i128 when it is small enough to matter: None for one of
/// more than 38 digits, which no field's range holds.
pub fn small(text: &str) -> Option<i128> {
    text.parse().ok()
}

/// `value * unit` when it fits `lo..=hi` (ranges of `state.bounds`), else a decode error.
pub fn scaled_in(
    value: Option<i128>,
    unit: i128,
    lo: i64,
    hi: i64,
    field: &str,
) -> Result<i64, DecodeError> {
    value
        .and_then(|v| v.checked_mul(unit))
        .and_then(|v| i64::try_from(v).ok())
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| DecodeError(format!("{field} is out of range")))
}

/// A time in ns (`exch_ts_ns`, `start_ns`): `value * unit`, from 0 to i64::MAX.
pub fn ns(value: Option<i128>, unit: i128, field: &str) -> Result<i64, DecodeError> {
    scaled_in(value, unit, 0, i64::MAX, field)
}

/// An id the event carries (an i64, as `state.bounds` requires).
pub fn id(value: Option<i128>, field: &str) -> Result<i64, DecodeError> {
    scaled_in(value, 1, i64::MIN, i64::MAX, field)
}

/// Python's whitespace for `int()` and `Decimal()` (`str.isspace`: Unicode's, plus the ASCII separators).
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// Python's `int(text)` of a decimal string: spaces around, a sign, digits with single
/// underscores between them. Err where Python raises; Ok(None) for a number too large for
/// any field. Digits other than ASCII (`int("١")` is 1 in Python) are refused.
pub fn py_int(text: &str, field: &str) -> Result<Option<i128>, DecodeError> {
    let bad = || {
        DecodeError(format!(
            "invalid literal for int() in `{field}`: {text:.40?}"
        ))
    };
    let t = text.trim_matches(is_py_space);
    let (neg, body) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let b = body.as_bytes();
    let ok_digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    if !ok_digit(0) || !b.last().is_some_and(u8::is_ascii_digit) {
        return Err(bad());
    }
    let mut v: Option<i128> = Some(0);
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            if !ok_digit(i + 1) {
                return Err(bad()); // "1__2", "1_" (a leading one is caught above)
            }
        } else if c.is_ascii_digit() {
            v = v
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(i128::from(c - b'0')));
        } else {
            return Err(bad());
        }
    }
    Ok(v.map(|v| if neg { -v } else { v }))
}

/// A trade's taker side as the venue spells it. Python passes the string on unchecked;
/// the core's `Side` has no room for another word, so one is a decode error here.
pub fn side(s: &str) -> Result<Side, DecodeError> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        "" => Ok(Side::Unknown),
        _ => Err(DecodeError(format!("unknown taker side {s:.20?}"))),
    }
}

/// The part of `s` after the last `sep` (None without one), borrowed where `s` is.
pub fn after_last<'a>(s: &Str<'a>, sep: char) -> Option<Str<'a>> {
    match s {
        Cow::Borrowed(b) => b.rsplit_once(sep).map(|(_, t)| Cow::Borrowed(t)),
        Cow::Owned(o) => o.rsplit_once(sep).map(|(_, t)| Cow::Owned(t.to_owned())),
    }
}

/// `s.partition(sep)` as Python spells it: (before the first `sep`, after it), the whole
/// string and "" without one.
pub fn partition<'a>(s: &Str<'a>, sep: char) -> (Str<'a>, Str<'a>) {
    match s {
        Cow::Borrowed(b) => match b.split_once(sep) {
            Some((h, t)) => (Cow::Borrowed(h), Cow::Borrowed(t)),
            None => (Cow::Borrowed(b), Cow::Borrowed("")),
        },
        Cow::Owned(o) => match o.split_once(sep) {
            Some((h, t)) => (Cow::Owned(h.to_owned()), Cow::Owned(t.to_owned())),
            None => (Cow::Owned(o.clone()), Cow::Borrowed("")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_read_as_its_last_value() {
        let o = Obj::parse(r#"{"a":1,"b":"x","a":2,"c":"y","c":3}"#).unwrap();
        assert_eq!(o.int("a").unwrap(), "2");
        assert!(
            o.int("c").is_err(),
            "each value must be of the field's type"
        );
        assert_eq!(o.get("c").raw("c").unwrap(), "3");
        assert!(!o.get("d").is_present());
        assert!(Obj::parse("[1]").is_err());
        assert!(Obj::parse(r#"{"a":1} x"#).is_err());
    }

    #[test]
    fn integers_keep_their_text_whatever_their_size() {
        let o =
            Obj::parse(r#"{"a":-0,"b":123456789012345678901234567890,"c":1.0,"d":null}"#).unwrap();
        assert_eq!(o.int("a").unwrap(), "0");
        assert_eq!(o.int("b").unwrap(), "123456789012345678901234567890");
        assert!(o.int("c").is_err());
        assert!(o.int("d").is_err());
        assert_eq!(o.opt_int("d").unwrap(), None);
        assert_eq!(o.int_or("e", "0").unwrap(), "0");
        let long = format!(r#"{{"a":-{}}}"#, "9".repeat(4299));
        assert!(Obj::parse(&long).unwrap().int("a").is_ok());
        let longer = format!(r#"{{"a":-{}}}"#, "9".repeat(4300));
        assert!(Obj::parse(&longer).unwrap().int("a").is_err());
    }

    #[test]
    fn py_int_reads_what_python_int_reads() {
        for (t, v) in [
            ("12", 12),
            (" +1_2\t", 12),
            ("-007", -7),
            ("\u{a0}3\u{2003}", 3),
        ] {
            assert_eq!(py_int(t, "f").unwrap(), Some(v), "{t:?}");
        }
        for t in ["", " ", "_1", "1_", "1__2", "1.5", "+", "1 2", "0x1", "١"] {
            assert!(py_int(t, "f").is_err(), "{t:?}");
        }
        assert_eq!(py_int(&"9".repeat(60), "f").unwrap(), None);
    }

    #[test]
    fn times_and_ids_are_bounded_as_state_bounds_bounds_them() {
        assert_eq!(ns(Some(2), 1_000_000, "t").unwrap(), 2_000_000);
        assert!(ns(Some(-1), 1, "t").is_err());
        assert!(ns(Some(i128::from(i64::MAX) + 1), 1, "t").is_err());
        assert!(ns(None, 1, "t").is_err());
        assert_eq!(id(Some(-5), "u").unwrap(), -5);
    }
}
