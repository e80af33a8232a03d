//! Numbers as the Python decoders read them, from their raw text.
//!
//! Upbit sends prices and sizes as bare JSON numbers, some in exponent form (`6E-8`); the
//! Python decoder reads them as `Decimal | int` (msgspec) and writes `format(x, "f")` or
//! `str(x)`. `plain` does that exactly, without a float in between. OKX and Bybit send
//! times and ids as strings the Python decoder reads with `int()` and `str.isdigit()`:
//! `py_int` (`msgspec::py_int` as an i64) and `digit_id` are those rules.

use std::borrow::Cow;

use super::json::{self, Slot};
use super::msgspec::{int_text, is_py_space};
use super::DecodeError;
use crate::event::Str;

/// The longest plain form written: `1E+400` is 401 digits as Python writes it, a
/// `1E+999999999` of a damaged frame is refused rather than a gigabyte of zeros.
pub const MAX_DIGITS: i64 = 4096;

/// A decimal read apart: sign, integer digits, fraction digits, exponent.
struct Parts<'a> {
    neg: bool,
    int: &'a str,
    frac: &'a str,
    exp: i64,
}

fn digits(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_digit).count()
}

/// `[+-] (digits [. [digits]] | . digits) [(e|E) [+-] digits]`: the grammar of a JSON
/// number and of Python's `Decimal(str)` for finite ASCII values (no `_`, NaN, Infinity).
fn parse(s: &str) -> Option<Parts<'_>> {
    let (neg, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let n = digits(s);
    let (int, mut rest) = s.split_at(n);
    let mut frac = "";
    if let Some(r) = rest.strip_prefix('.') {
        let m = digits(r);
        (frac, rest) = r.split_at(m);
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if let Some(r) = rest.strip_prefix(['e', 'E']) {
        let (eneg, r) = match r.as_bytes().first() {
            Some(b'-') => (true, &r[1..]),
            Some(b'+') => (false, &r[1..]),
            _ => (false, r),
        };
        let m = digits(r);
        if m == 0 || m != r.len() {
            return None;
        }
        for b in r.bytes() {
            // Saturates far past MAX_DIGITS: such an exponent is refused below anyway.
            exp = (exp * 10 + i64::from(b - b'0')).min(1 << 40);
        }
        if eneg {
            exp = -exp;
        }
    } else if !rest.is_empty() {
        return None;
    }
    Some(Parts {
        neg,
        int,
        frac,
        exp,
    })
}

/// `format(Decimal(text), "f")`: the coefficient's digits placed by the exponent.
fn fixed(p: &Parts<'_>) -> Result<String, DecodeError> {
    let all = format!("{}{}", p.int, p.frac);
    let coef = match all.trim_start_matches('0') {
        "" => "0",
        c => c,
    };
    let mut exp = p.exp - p.frac.len() as i64;
    if coef == "0" && exp > 0 {
        exp = 0; // a zero with a positive exponent is written 0
    }
    let len = coef.len() as i64;
    let dot = exp + len;
    if !(-MAX_DIGITS..=MAX_DIGITS).contains(&dot) {
        return Err(DecodeError(format!(
            "number with exponent {} is too long to write",
            p.exp
        )));
    }
    let mut out = String::with_capacity(coef.len() + dot.unsigned_abs() as usize + 3);
    if p.neg {
        out.push('-');
    }
    if dot <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-dot) as usize));
        out.push_str(coef);
    } else if dot >= len {
        out.push_str(coef);
        out.extend(std::iter::repeat_n('0', (dot - len) as usize));
    } else {
        let (i, f) = coef.split_at(dot as usize);
        out.push_str(i);
        out.push('.');
        out.push_str(f);
    }
    Ok(out)
}

/// A value read as msgspec's `Decimal | int` and written as `state.decode.common.dec_str`
/// does: an integer as `str(int)`, a decimal (a JSON number with a fraction or exponent,
/// or a string) as `format(Decimal(x), "f")`. A JSON decimal without exponent is already
/// its plain form and is borrowed as sent.
pub fn plain<'a>(slot: &Slot<'a>, name: &str) -> Result<Str<'a>, DecodeError> {
    let raw = slot.raw(name)?;
    let not_number = || DecodeError(format!("`{name}` is not a number"));
    match raw.as_bytes().first() {
        Some(b'"') => {
            let s = json::string(raw, name)?;
            let p = parse(s.trim_matches(is_py_space)).ok_or_else(not_number)?;
            Ok(Cow::Owned(fixed(&p)?))
        }
        Some(b'-' | b'0'..=b'9') => {
            if !raw.contains(['.', 'e', 'E']) {
                // an int: str(int("-0")) is "0", every other JSON integer is as sent
                return Ok(if raw == "-0" {
                    Cow::Borrowed("0")
                } else {
                    Cow::Borrowed(raw)
                });
            }
            if !raw.contains(['e', 'E']) {
                return Ok(Cow::Borrowed(raw));
            }
            let p = parse(raw).ok_or_else(not_number)?;
            Ok(Cow::Owned(fixed(&p)?))
        }
        _ => Err(not_number()),
    }
}

/// `plain` of an optional field: absent or `null` is None.
pub fn opt_plain<'a>(slot: &Slot<'a>, name: &str) -> Result<Option<Str<'a>>, DecodeError> {
    match slot.0.map(|r| r.get()) {
        None | Some("null") => Ok(None),
        Some(_) => plain(slot, name).map(Some),
    }
}

/// A required `int` field as an i64 (`msgspec::int_text`, then its value). `-0` is 0, as
/// msgspec reads it (serde reads it as a float); an integer too large for an i64 is an
/// error, as it is out of range in Python once it is a time or an id.
pub fn int(slot: &Slot<'_>, name: &str) -> Result<i64, DecodeError> {
    let raw = int_text(*slot, name)?;
    raw.parse()
        .map_err(|_| DecodeError(format!("`{name}` = {raw} is out of range")))
}

/// An `int` field with a default for when it is absent (present and `null` is an error).
pub fn int_or(slot: &Slot<'_>, name: &str, default: i64) -> Result<i64, DecodeError> {
    if slot.is_present() {
        int(slot, name)
    } else {
        Ok(default)
    }
}

/// An `int | None` field: absent or `null` is None.
pub fn opt_int(slot: &Slot<'_>, name: &str) -> Result<Option<i64>, DecodeError> {
    match slot.0.map(|r| r.get()) {
        None | Some("null") => Ok(None),
        Some(_) => int(slot, name).map(Some),
    }
}

/// An `int` field msgspec reads whatever its size: present, it must be a JSON integer;
/// its value is returned where it fits an i64 (None where it does not, or is absent).
/// For fields Python reads and does not keep (Upbit's trade `timestamp`, Bybit's `seq`).
pub fn any_int(slot: &Slot<'_>, name: &str) -> Result<Option<i64>, DecodeError> {
    if !slot.is_present() {
        return Ok(None);
    }
    Ok(int_text(*slot, name)?.parse().ok())
}

/// Python's `int(text)` of a decimal string (OKX's `"ts"`), as an i64: `msgspec::py_int`'s
/// rules, and an integer that does not fit is an error, as it is out of range once it is
/// a time.
pub fn py_int(text: &str, name: &str) -> Result<i64, DecodeError> {
    super::msgspec::py_int(text, name)?
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| DecodeError(format!("`{name}` = {text:?} is out of range")))
}

/// A trade id's ordinal: `int(id) if id.isdigit() else None`. An id of digits that does
/// not fit an i64 is an error (Python's ordinal would be out of range); an id of
/// non-ASCII digits is an error too, where Python would read some of them.
pub fn digit_id(id: &str) -> Result<Option<i64>, DecodeError> {
    if id.is_empty() || !id.chars().all(char::is_numeric) {
        return Ok(None);
    }
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError(format!("trade id {id:?} has non-ASCII digits")));
    }
    id.parse()
        .map(Some)
        .map_err(|_| DecodeError(format!("trade id {id} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::value::RawValue;

    fn p(raw: &str) -> Result<String, DecodeError> {
        let r: &RawValue = serde_json::from_str(raw).unwrap();
        plain(&Slot(Some(r)), "x").map(|c| c.into_owned())
    }

    #[test]
    fn numbers_are_written_as_python_formats_their_decimal() {
        for (raw, want) in [
            ("1", "1"),
            ("-0", "0"),
            ("1.0", "1.0"),
            ("6E-8", "0.00000006"),
            ("1e3", "1000"),
            ("1.5e2", "150"),
            ("-0.0", "-0.0"),
            ("0E-8", "0.00000000"),
            ("0e5", "0"),
            ("-0e5", "-0"),
            ("123.456e-2", "1.23456"),
            ("1.0e-0", "1.0"),
            ("0.00000113", "0.00000113"),
            ("99999999999999999999999", "99999999999999999999999"),
            ("\"1.5\"", "1.5"),
            ("\" 1.5 \"", "1.5"),
            ("\"+1\"", "1"),
            ("\".5\"", "0.5"),
            ("\"5.\"", "5"),
            ("\"-0\"", "-0"),
            ("\"007\"", "7"),
            ("\"1e5\"", "100000"),
        ] {
            assert_eq!(p(raw).unwrap(), want, "{raw}");
        }
        assert_eq!(p("1E+400").unwrap().len(), 401);
    }

    #[test]
    fn what_decimal_refuses_or_the_core_will_not_write_is_an_error() {
        for raw in [
            "\"abc\"",
            "\"nan\"",
            "\"1_000\"",
            "\"  \"",
            "true",
            "null",
            "[1]",
            "1e99999",
            "\"0x10\"",
            "\"1e\"",
            "\".\"",
        ] {
            assert!(p(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn python_int_and_isdigit() {
        assert_eq!(py_int(" 12 ", "ts"), Ok(12));
        assert_eq!(py_int("-0", "ts"), Ok(0));
        assert_eq!(py_int("\u{a0}1_2", "ts"), Ok(12));
        assert!(py_int("1.5", "ts").is_err() && py_int("", "ts").is_err());
        assert!(py_int("99999999999999999999", "ts").is_err());
        assert_eq!(digit_id("7849"), Ok(Some(7849)));
        assert_eq!(digit_id("a9-1"), Ok(None));
        assert_eq!(digit_id(""), Ok(None));
        assert!(digit_id("99999999999999999999").is_err());
        assert!(digit_id("\u{0663}").is_err());
    }
}
