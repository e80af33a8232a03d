//! Exact prices: a price string's ordering key, and the checks a level's size must pass.
//!
//! A price is what Python's `Decimal(p)` reads as a positive finite number (the grammar is
//! in [`decimal`]: whitespace, underscores, exponents, non-ASCII digits). Its key is the
//! value in one normal form, the adjusted exponent and the significant digits without
//! trailing zeros, so two spellings of one value ("1.50", "1.5", "15e-1") have one key and
//! keys order as the values do, exactly, for any number of digits. The first 19 significant
//! digits sit in an integer (`head`), the rest, rarely any, in `tail`: comparing the usual
//! price is comparing two integers. Strings of ASCII digits and one dot with at most 19
//! significant digits, what venues send, are read in one pass without allocating; anything
//! else goes through [`decimal::parse`].

pub mod decimal;
pub(crate) mod unicode;

/// Digits `head` holds: 10^19 - 1 < 2^64.
const HEAD_DIGITS: u32 = 19;

/// The exact ordering key of a positive finite decimal (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Price {
    /// The exponent of the first significant digit (`1.5` -> 0, `0.015` -> -2).
    adj: i64,
    /// The first 19 significant digits, left-aligned (`1.5` -> 1500000000000000000).
    head: u64,
    /// The significant digits after the first 19, without trailing zeros (values 0-9).
    tail: Box<[u8]>,
}

impl Ord for Price {
    /// Value order: the exponent, then the first 19 digits, then (rarely reached) the rest.
    fn cmp(&self, other: &Price) -> std::cmp::Ordering {
        (self.adj, self.head)
            .cmp(&(other.adj, other.head))
            .then_with(|| {
                if self.tail.is_empty() && other.tail.is_empty() {
                    std::cmp::Ordering::Equal
                } else {
                    self.tail.cmp(&other.tail)
                }
            })
    }
}

impl PartialOrd for Price {
    fn partial_cmp(&self, other: &Price) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Price {
    /// The key of `p`, or None when `Decimal(p)` is not a positive finite number.
    pub fn parse(p: &str) -> Option<Price> {
        match fast(p.as_bytes()) {
            Fast::Key(k) => Some(k),
            Fast::NotAPrice => None,
            Fast::Other => match decimal::parse(p)? {
                decimal::Decimal::Finite(f) if !f.neg && !f.coeff.is_empty() => {
                    Some(Price::from_digits(i128::from(f.exp), &f.coeff))
                }
                _ => None,
            },
        }
    }

    /// The key of `coeff * 10^exp` (digit values, no leading zero, at least one non-zero).
    fn from_digits(exp: i128, coeff: &[u8]) -> Price {
        let adj = (exp + coeff.len() as i128 - 1) as i64; // within libmpdec's limits: fits
        let end = coeff.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
        let sig = &coeff[..end];
        let n = sig.len().min(HEAD_DIGITS as usize);
        let mut head = 0u64;
        for &d in &sig[..n] {
            head = head * 10 + u64::from(d);
        }
        head *= 10u64.pow(HEAD_DIGITS - n as u32);
        Price {
            adj,
            head,
            tail: sig[n..].into(),
        }
    }
}

enum Fast {
    Key(Price),
    NotAPrice,
    /// Not the plain form (or more than 19 significant digits): the full grammar decides.
    Other,
}

/// One pass over ASCII digits and at most one dot.
fn fast(b: &[u8]) -> Fast {
    let int_len = b.iter().position(|&c| c == b'.').unwrap_or(b.len());
    let mut head = 0u64;
    let mut n = 0u32; // significant digits read
    let mut kept = (0u64, 0u32); // head and n at the last non-zero digit
    let mut first: Option<i64> = None; // place of the first significant digit
    let mut digits = 0usize;
    let mut place = int_len as i64;
    for (i, &c) in b.iter().enumerate() {
        if c == b'.' {
            if i != int_len {
                return Fast::Other; // a second dot: refused, by the full grammar
            }
            continue;
        }
        if !c.is_ascii_digit() {
            return Fast::Other;
        }
        digits += 1;
        place -= 1;
        let d = u64::from(c - b'0');
        if first.is_none() {
            if d == 0 {
                continue;
            }
            first = Some(place);
        }
        if n == HEAD_DIGITS {
            if d != 0 {
                return Fast::Other;
            }
            continue;
        }
        head = head * 10 + d;
        n += 1;
        if d != 0 {
            kept = (head, n);
        }
    }
    match first {
        None if digits == 0 => Fast::Other, // "", ".": refused by the full grammar
        None => Fast::NotAPrice,            // zero
        Some(adj) => Fast::Key(Price {
            adj,
            head: kept.0 * 10u64.pow(HEAD_DIGITS - kept.1),
            tail: Box::default(),
        }),
    }
}

/// A size string the book takes: ASCII digits with at most one dot ("0" removes the level).
pub fn size_ok(q: &str) -> bool {
    let mut dots = 0;
    for &c in q.as_bytes() {
        match c {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => return false,
        }
    }
    dots <= 1
}

/// A size string that means "remove the level" ("0", "0.000", "00", and "" or ".").
pub fn is_zero(q: &str) -> bool {
    q.bytes().all(|c| c == b'0' || c == b'.')
}

/// Python's `str(Decimal(s))` of a string it reads, else None.
pub fn decimal_str(s: &str) -> Option<String> {
    decimal::parse(s).map(|d| d.sci_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: &str) -> Option<Price> {
        Price::parse(p)
    }

    #[test]
    fn spellings_of_one_value_have_one_key() {
        assert_eq!(key("1.50"), key("1.5"));
        assert_eq!(key("0001.5"), key("15e-1"));
        assert_eq!(key("100"), key("1E+2"));
        assert_eq!(key(" 1.5 "), key("1.5"));
        assert_eq!(
            key("0.10000000000000000000001000"),
            key("0.10000000000000000000001")
        );
        assert_ne!(key("0.1"), key("0.10000000000000000000001"));
    }

    #[test]
    fn keys_order_as_values() {
        let order = [
            "1e-400",
            "0.0001",
            "0.099999999999999999999999",
            "0.1",
            "0.10000000000000000000001",
            "0.2",
            "9.99",
            "10",
            "10.000000000000000000000000000001",
            "61000.5",
            "1e30",
        ];
        for w in order.windows(2) {
            assert!(
                key(w[0]).unwrap() < key(w[1]).unwrap(),
                "{} < {}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn only_positive_finite_numbers_are_prices() {
        for bad in [
            "0", "0.000", "-1", "abc", "", ".", "NaN", "inf", "-0.5", "0x10", "1.2.3", "1e", "²",
        ] {
            assert_eq!(key(bad), None, "{bad:?}");
        }
        for good in ["1e-400", "+5", "5.", ".5", "1_000", "\u{661}"] {
            assert!(key(good).is_some(), "{good:?}");
        }
    }

    #[test]
    fn sizes() {
        assert!(size_ok("12.5") && size_ok("0") && size_ok(""));
        assert!(!size_ok("1e5") && !size_ok("1.2.3") && !size_ok("-1") && !size_ok("²"));
        assert!(is_zero("0.000") && is_zero("00") && !is_zero("0.01"));
    }
}
