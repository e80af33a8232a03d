//! Decimal numbers as Python's `Decimal(str)` reads them, for the few places that need more
//! than a price key: sizes compared with a book ticker's, Upbit's totals summed, and the
//! texts of findings (`str(Decimal(s))`), which must read as they did in Python.
//!
//! The grammar is CPython 3.11's (`_decimal` over libmpdec, exact conversion in its widest
//! context): surrounding whitespace is stripped, underscores are dropped wherever they are,
//! non-ASCII decimal digits read as their value, `Inf`/`Infinity`/`NaN`/`sNaN` in any case
//! with a sign, and an exponent must keep the value within libmpdec's limits (an adjusted
//! exponent of at most 999999999999999999, an exponent of at least -1999999999999999997),
//! else Python refuses the string and so does [`parse`].

use std::borrow::Cow;
use std::cmp::Ordering;

use super::unicode::{digit, is_space};

/// The largest adjusted exponent libmpdec's widest context takes (MPD_MAX_EMAX).
const EMAX: i128 = 999_999_999_999_999_999;
/// The smallest exponent it takes (MPD_MIN_ETINY): below, a value is rounded and refused.
const ETINY: i128 = -1_999_999_999_999_999_997;
/// The widest exact sum [`Decimal::add`] makes, in digits: beyond it the sum is refused
/// ([`NumError::TooWide`]) instead of growing without bound on a damaged frame.
pub const SUM_WIDTH: usize = 4096;

/// A number `Decimal(str)` accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decimal {
    Finite(Finite),
    Infinite {
        neg: bool,
    },
    /// `payload`: the diagnostic digits, without leading zeros (Python keeps them).
    NaN {
        neg: bool,
        signaling: bool,
        payload: String,
    },
}

/// A finite decimal: `(-1)^neg * coeff * 10^exp`, as Python keeps it (trailing zeros kept).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finite {
    pub neg: bool,
    /// Digit values 0-9, most significant first, no leading zero; empty for zero.
    pub coeff: Vec<u8>,
    pub exp: i64,
}

/// Why an operation Python would raise on did not complete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumError {
    /// `Decimal(text)` refuses the string (`decimal.InvalidOperation`, ConversionSyntax).
    Syntax(String),
    /// A signaling NaN compared or added, or Infinity added to -Infinity (InvalidOperation).
    Invalid,
    /// A sum wider than [`SUM_WIDTH`] digits (Python rounded it to 28 digits).
    TooWide,
}

/// The bytes Python's `Decimal` parses a string as (its `numeric_as_ascii`): whitespace
/// stripped at both ends, underscores dropped, other non-ASCII whitespace a space (which the
/// grammar then refuses), non-ASCII decimal digits their ASCII digit. None: a character
/// that can be none of these (NUL included).
pub fn ascii_form(s: &str) -> Option<Cow<'_, [u8]>> {
    let b = s.as_bytes();
    if b.iter().all(|&c| c > b' ' && c < 0x7F && c != b'_') {
        return Some(Cow::Borrowed(b));
    }
    let mut out = Vec::with_capacity(b.len());
    for c in s.trim_matches(is_space).chars() {
        let u = c as u32;
        if c == '_' {
            continue;
        }
        if (1..=127).contains(&u) {
            out.push(u as u8);
        } else if is_space(c) {
            out.push(b' ');
        } else {
            out.push(b'0' + digit(c)?);
        }
    }
    Some(Cow::Owned(out))
}

fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// `Decimal(s)`, or None where Python raises `InvalidOperation`.
pub fn parse(s: &str) -> Option<Decimal> {
    let b = ascii_form(s)?;
    parse_ascii(&b)
}

fn parse_ascii(b: &[u8]) -> Option<Decimal> {
    let (neg, rest) = match b.first() {
        Some(b'+') => (false, &b[1..]),
        Some(b'-') => (true, &b[1..]),
        _ => (false, b),
    };
    if eq_ignore_case(rest, b"inf") || eq_ignore_case(rest, b"infinity") {
        return Some(Decimal::Infinite { neg });
    }
    for (word, signaling) in [(&b"snan"[..], true), (&b"nan"[..], false)] {
        if rest.len() >= word.len() && eq_ignore_case(&rest[..word.len()], word) {
            let digits = &rest[word.len()..];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let start = digits
                .iter()
                .position(|&c| c != b'0')
                .unwrap_or(digits.len());
            let payload = String::from_utf8_lossy(&digits[start..]).into_owned();
            return Some(Decimal::NaN {
                neg,
                signaling,
                payload,
            });
        }
    }
    let mut coeff = Vec::new();
    let mut digits = 0usize;
    let mut frac: i128 = 0;
    let mut dot = false;
    let mut i = 0;
    while let Some(&c) = rest.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                if dot {
                    frac += 1;
                }
                if !(coeff.is_empty() && c == b'0') {
                    coeff.push(c - b'0');
                }
            }
            b'.' if !dot => dot = true,
            b'e' | b'E' => break,
            _ => return None,
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    let mut exp: i128 = 0;
    if i < rest.len() {
        let e = &rest[i + 1..];
        let (eneg, edigits) = match e.first() {
            Some(b'+') => (false, &e[1..]),
            Some(b'-') => (true, &e[1..]),
            _ => (false, e),
        };
        if edigits.is_empty() || !edigits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        for &c in edigits {
            // saturates far beyond the limits: the value is refused either way
            exp = (exp * 10 + i128::from(c - b'0')).min(1_000_000_000_000_000_000_000);
        }
        if eneg {
            exp = -exp;
        }
    }
    let exp = exp - frac;
    let top = exp + coeff.len() as i128 - 1;
    let fits = if coeff.is_empty() {
        (ETINY..=EMAX).contains(&exp)
    } else {
        exp >= ETINY && top <= EMAX
    };
    if !fits {
        return None;
    }
    Some(Decimal::Finite(Finite {
        neg,
        coeff,
        exp: exp as i64,
    }))
}

/// `int(s)` for a string, as Python reads it (whitespace stripped, a sign, digits with single
/// underscores between them, non-ASCII decimal digits), saturated to the i128 range (an
/// order against any int64 stays exact); None where Python raises `ValueError`.
pub fn parse_int(s: &str) -> Option<i128> {
    let t = s.trim_matches(is_space);
    let mut chars = t.chars().peekable();
    let neg = match chars.peek() {
        Some('+') => {
            chars.next();
            false
        }
        Some('-') => {
            chars.next();
            true
        }
        _ => false,
    };
    let mut v: i128 = 0;
    let mut any = false;
    let mut after_underscore = false;
    for c in chars {
        if c == '_' {
            if !any || after_underscore {
                return None;
            }
            after_underscore = true;
            continue;
        }
        let d = digit(c)?;
        v = v.saturating_mul(10).saturating_add(i128::from(d));
        any = true;
        after_underscore = false;
    }
    if !any || after_underscore {
        return None;
    }
    Some(if neg { -v } else { v })
}

impl Finite {
    fn is_zero(&self) -> bool {
        self.coeff.is_empty()
    }

    /// The significant digits without trailing zeros and the adjusted exponent (the
    /// exponent of the first digit): one value, one form.
    fn normal(&self) -> (i128, &[u8]) {
        let end = self
            .coeff
            .iter()
            .rposition(|&d| d != 0)
            .map_or(0, |i| i + 1);
        (
            i128::from(self.exp) + self.coeff.len() as i128 - 1,
            &self.coeff[..end],
        )
    }

    /// Python's `str(Decimal)` (to-scientific-string) of this value.
    pub fn sci_string(&self) -> String {
        let digits: String = if self.coeff.is_empty() {
            "0".into()
        } else {
            self.coeff.iter().map(|&d| char::from(b'0' + d)).collect()
        };
        let n = digits.len() as i128;
        let exp = i128::from(self.exp);
        let left = exp + n;
        let dot = if exp <= 0 && left > -6 { left } else { 1 };
        let mut out = String::with_capacity(digits.len() + 8);
        if self.neg {
            out.push('-');
        }
        if dot <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-dot) as usize));
            out.push_str(&digits);
        } else if dot >= n {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (dot - n) as usize));
        } else {
            out.push_str(&digits[..dot as usize]);
            out.push('.');
            out.push_str(&digits[dot as usize..]);
        }
        if left != dot {
            out.push_str(&format!("E{:+}", left - dot));
        }
        out
    }

    /// Exact numeric order of two finite values.
    fn cmp_value(&self, other: &Finite) -> Ordering {
        let sign = |f: &Finite| {
            if f.is_zero() {
                0
            } else if f.neg {
                -1
            } else {
                1
            }
        };
        let (sa, sb) = (sign(self), sign(other));
        if sa != sb || sa == 0 {
            return sa.cmp(&sb);
        }
        let (ea, da) = self.normal();
        let (eb, db) = other.normal();
        let mag = ea.cmp(&eb).then_with(|| da.cmp(db));
        if sa < 0 {
            mag.reverse()
        } else {
            mag
        }
    }
}

impl Decimal {
    /// Python's `str(Decimal(s))`.
    pub fn sci_string(&self) -> String {
        match self {
            Decimal::Finite(f) => f.sci_string(),
            Decimal::Infinite { neg } => format!("{}Infinity", if *neg { "-" } else { "" }),
            Decimal::NaN {
                neg,
                signaling,
                payload,
            } => format!(
                "{}{}NaN{}",
                if *neg { "-" } else { "" },
                if *signaling { "s" } else { "" },
                payload
            ),
        }
    }

    /// Python's `self == other`: a quiet NaN equals nothing, a signaling one raises.
    pub fn py_eq(&self, other: &Decimal) -> Result<bool, NumError> {
        match (self, other) {
            (
                Decimal::NaN {
                    signaling: true, ..
                },
                _,
            )
            | (
                _,
                Decimal::NaN {
                    signaling: true, ..
                },
            ) => Err(NumError::Invalid),
            (Decimal::NaN { .. }, _) | (_, Decimal::NaN { .. }) => Ok(false),
            (Decimal::Infinite { neg: a }, Decimal::Infinite { neg: b }) => Ok(a == b),
            (Decimal::Finite(a), Decimal::Finite(b)) => Ok(a.cmp_value(b) == Ordering::Equal),
            _ => Ok(false),
        }
    }

    /// `self + other`, exact (Python rounds to its context's 28 digits: a sum that needs
    /// more is where the two differ). NaNs propagate as Python's do; a signaling NaN, or
    /// Infinity plus -Infinity, is [`NumError::Invalid`].
    pub fn add(&self, other: &Decimal) -> Result<Decimal, NumError> {
        use Decimal::*;
        match (self, other) {
            (
                NaN {
                    signaling: true, ..
                },
                _,
            )
            | (
                _,
                NaN {
                    signaling: true, ..
                },
            ) => Err(NumError::Invalid),
            (NaN { .. }, _) => Ok(self.clone()),
            (_, NaN { .. }) => Ok(other.clone()),
            (Infinite { neg: a }, Infinite { neg: b }) if a != b => Err(NumError::Invalid),
            (Infinite { .. }, _) => Ok(self.clone()),
            (_, Infinite { .. }) => Ok(other.clone()),
            (Finite(a), Finite(b)) => Ok(Finite(add_finite(a, b)?)),
        }
    }
}

/// Digits of `f` aligned to exponent `exp` (<= f.exp), least significant first.
fn aligned(f: &Finite, exp: i64, width: usize) -> Vec<u8> {
    let shift = (f.exp - exp) as usize;
    let mut v = vec![0u8; width];
    for (i, &d) in f.coeff.iter().rev().enumerate() {
        v[i + shift] = d;
    }
    v
}

fn add_finite(a: &Finite, b: &Finite) -> Result<Finite, NumError> {
    let exp = a.exp.min(b.exp);
    let span = |f: &Finite| (i128::from(f.exp) - i128::from(exp)) + f.coeff.len() as i128;
    let width = span(a).max(span(b)) + 1;
    if width > SUM_WIDTH as i128 {
        return Err(NumError::TooWide);
    }
    let width = width as usize;
    let (x, y) = (aligned(a, exp, width), aligned(b, exp, width));
    let (neg, mut digits) = if a.neg == b.neg {
        let mut out = vec![0u8; width];
        let mut carry = 0;
        for i in 0..width {
            let s = x[i] + y[i] + carry;
            out[i] = s % 10;
            carry = s / 10;
        }
        (a.neg, out)
    } else {
        // subtract the smaller magnitude from the larger; the sign is the larger's
        let (big, small, neg) = if x.iter().rev().cmp(y.iter().rev()) == Ordering::Less {
            (&y, &x, b.neg)
        } else {
            (&x, &y, a.neg)
        };
        let mut out = vec![0u8; width];
        let mut borrow = 0;
        for i in 0..width {
            let mut d = big[i] as i8 - small[i] as i8 - borrow;
            borrow = 0;
            if d < 0 {
                d += 10;
                borrow = 1;
            }
            out[i] = d as u8;
        }
        (neg, out)
    };
    while digits.last() == Some(&0) {
        digits.pop();
    }
    digits.reverse();
    // an exact zero is positive unless both operands were negative (Python, half-even)
    let neg = if digits.is_empty() {
        a.neg && b.neg
    } else {
        neg
    };
    Ok(Finite {
        neg,
        coeff: digits,
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        parse(x).map_or_else(|| "refused".into(), |d| d.sci_string())
    }

    #[test]
    fn reads_and_prints_as_python_does() {
        for (input, want) in [
            ("10.0", "10.0"),
            ("0.0000001", "1E-7"),
            ("1e1", "1E+1"),
            ("010", "10"),
            (" 1_0 ", "10"),
            ("_1", "1"),
            ("_ 1", "refused"),
            ("\u{661}\u{662}", "12"),
            ("1.e1", "1E+1"),
            (".e1", "refused"),
            ("1e", "refused"),
            ("-0", "-0"),
            ("+.5", "0.5"),
            ("In_f", "Infinity"),
            ("-nan", "-NaN"),
            ("sNaN012", "sNaN12"),
            ("nan-1", "refused"),
            ("1E-1999999999999999997", "1E-1999999999999999997"),
            ("1E-1999999999999999998", "refused"),
            ("0.1e1000000000000000000", "1E+999999999999999999"),
            ("0e1000000000000000000", "refused"),
            ("1e-0000000000000000000000001", "0.1"),
            ("1\u{a0}", "1"),
            ("1\0", "refused"),
        ] {
            assert_eq!(s(input), want, "{input:?}");
        }
    }

    #[test]
    fn sums_are_exact_and_zeros_signed_as_python_signs_them() {
        let add = |a: &str, b: &str| {
            parse(a)
                .unwrap()
                .add(&parse(b).unwrap())
                .map(|d| d.sci_string())
        };
        assert_eq!(add("1.50", "2"), Ok("3.50".into()));
        assert_eq!(add("0", "0.000"), Ok("0.000".into()));
        assert_eq!(add("0", "-0"), Ok("0".into()));
        assert_eq!(add("-0", "-0"), Ok("-0".into()));
        assert_eq!(add("1", "-1.5"), Ok("-0.5".into()));
        assert_eq!(add("Infinity", "-Infinity"), Err(NumError::Invalid));
        assert_eq!(add("NaN", "sNaN"), Err(NumError::Invalid));
        assert_eq!(add("1e-5000", "1"), Err(NumError::TooWide));
    }

    #[test]
    fn equality_is_by_value() {
        let eq = |a: &str, b: &str| parse(a).unwrap().py_eq(&parse(b).unwrap());
        assert_eq!(eq("1.50", "1.5"), Ok(true));
        assert_eq!(eq("0", "-0.00"), Ok(true));
        assert_eq!(eq("NaN", "NaN"), Ok(false));
        assert_eq!(eq("1", "sNaN"), Err(NumError::Invalid));
        assert_eq!(eq("-1", "1"), Ok(false));
    }

    #[test]
    fn ints_read_as_python_int_reads_them() {
        assert_eq!(parse_int(" 1_0 "), Some(10));
        assert_eq!(parse_int("-12"), Some(-12));
        assert_eq!(parse_int("\u{661}"), Some(1));
        for bad in ["1__0", "_1", "1_", "+ 1", "", "-", "0x1", "1.0"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
        assert_eq!(parse_int(&"9".repeat(60)), Some(i128::MAX));
    }
}
