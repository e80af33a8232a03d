//! Exact prices: a price string's ordering key, and the checks a level's size must pass.
//!
//! A price is what Python's `Decimal(p)` reads as a positive finite number (the grammar is
//! in [`decimal`]: whitespace, underscores, exponents, non-ASCII digits). Its key is the
//! value in one normal form, the adjusted exponent and the significant digits without
//! trailing zeros, so two spellings of one value ("1.50", "1.5", "15e-1") have one key and
//! keys order as the values do, exactly, for any number of digits. The adjusted exponent and
//! the first 19 significant digits (`head`) make one integer (`rank`), the rest, rarely any,
//! sit in `tail`: comparing or hashing the usual price is comparing or hashing one integer
//! ([`Price::plain`]). Strings of ASCII digits and one dot with at most 19 digits, what
//! venues send, are read in one pass as one integer, without allocating; anything else goes
//! through [`decimal::parse`].

pub mod decimal;
pub(crate) mod unicode;

/// Digits `head` holds: 10^19 - 1 < 2^64.
const HEAD_DIGITS: u32 = 19;

/// The exact ordering key of a positive finite decimal (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Price {
    /// The exponent of the first significant digit (`1.5` -> 0, `0.015` -> -2), sign bit
    /// flipped, in the high 64 bits; the first 19 significant digits, left-aligned
    /// (`1.5` -> 1500000000000000000), in the low 64: one integer ordered as the pair.
    rank: u128,
    /// The significant digits after the first 19, without trailing zeros (values 0-9).
    tail: Box<[u8]>,
}

impl Ord for Price {
    /// Value order: the exponent and the first 19 digits, then (rarely reached) the rest.
    fn cmp(&self, other: &Price) -> std::cmp::Ordering {
        self.rank.cmp(&other.rank).then_with(|| {
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

impl std::hash::Hash for Price {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(self.rank);
        if !self.tail.is_empty() {
            state.write(&self.tail);
        }
    }
}

/// A fixed (deterministic) hasher for [`Price`] keys: the rank's halves multiplied and folded.
#[derive(Clone, Copy, Debug, Default)]
pub struct PriceHasher(u64);

const MIX: u64 = 0x9e37_79b9_7f4a_7c15;

impl PriceHasher {
    fn fold(&mut self, v: u64) {
        let m = u128::from(self.0 ^ v) * u128::from(MIX ^ self.0.rotate_left(23));
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

impl std::hash::Hasher for PriceHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.fold(u64::from_le_bytes(w) ^ c.len() as u64);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.fold((v >> 64) as u64);
        self.fold(v as u64);
    }
}

/// Builds [`PriceHasher`]s (no random state: a run is repeatable).
pub type PriceHash = std::hash::BuildHasherDefault<PriceHasher>;

impl Price {
    /// The key as one integer when it has no digits beyond the 19th (the usual price).
    pub fn plain(&self) -> Option<u128> {
        self.tail.is_empty().then_some(self.rank)
    }

    /// The key whose [`Price::plain`] is `rank`.
    pub(crate) fn from_plain(rank: u128) -> Price {
        Price {
            rank,
            tail: Box::default(),
        }
    }

    /// This key against the plain key `rank` (a key with more digits is past its rank's).
    pub(crate) fn cmp_plain(&self, rank: u128) -> std::cmp::Ordering {
        self.rank.cmp(&rank).then(if self.tail.is_empty() {
            std::cmp::Ordering::Equal
        } else {
            std::cmp::Ordering::Greater
        })
    }

    fn new(adj: i64, head: u64, tail: Box<[u8]>) -> Price {
        let adj = (adj as u64) ^ (1 << 63);
        Price {
            rank: (u128::from(adj) << 64) | u128::from(head),
            tail,
        }
    }

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
        Price::new(adj, head, sig[n..].into())
    }
}

enum Fast {
    Key(Price),
    NotAPrice,
    /// Not the plain form (or more than 19 significant digits): the full grammar decides.
    Other,
}

/// 10^i for i <= 19.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The decimal digits of `v` > 0.
fn digit_count(v: u64) -> u32 {
    let t = ((64 - v.leading_zeros()) * 1233) >> 12; // floor(log10) or one less
    t + u32::from(v >= POW10[t as usize])
}

/// One pass over ASCII digits and at most one dot: the usual price, at most 19 digits in
/// all (leading and trailing zeros too), is one integer read and scaled.
fn fast(b: &[u8]) -> Fast {
    let mut v = 0u64;
    let mut digits = 0u32;
    let mut dot = u32::MAX; // digits before the dot
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            if digits == HEAD_DIGITS {
                return fast_long(b);
            }
            v = v * 10 + u64::from(d);
            digits += 1;
        } else if c == b'.' && dot == u32::MAX {
            dot = digits;
        } else {
            return Fast::Other; // not the plain form (or a second dot): the full grammar decides
        }
    }
    if v == 0 {
        return if digits == 0 {
            Fast::Other // "", ".": refused by the full grammar
        } else {
            Fast::NotAPrice // zero
        };
    }
    let frac = if dot == u32::MAX { 0 } else { digits - dot };
    let n = digit_count(v); // significant digits, trailing zeros included
    Fast::Key(Price::new(
        i64::from(n) - 1 - i64::from(frac),
        v * POW10[(HEAD_DIGITS - n) as usize],
        Box::default(),
    ))
}

/// [`fast`] for more than 19 digits (leading or trailing zeros, or more digits than a key's
/// head holds: then the full grammar decides).
fn fast_long(b: &[u8]) -> Fast {
    let mut head = 0u64;
    let mut n = 0u32; // significant digits read into head
    let mut kept = (0u64, 0u32); // head and n at the last non-zero digit
    let mut lead = 0usize; // zeros before the first significant digit
    let mut digits = 0usize;
    let mut dot = usize::MAX; // digits before the dot
    for &c in b {
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            digits += 1;
            if n == 0 && d == 0 {
                lead += 1;
            } else if n == HEAD_DIGITS {
                if d != 0 {
                    return Fast::Other;
                }
            } else {
                head = head * 10 + u64::from(d);
                n += 1;
                if d != 0 {
                    kept = (head, n);
                }
            }
        } else if c == b'.' && dot == usize::MAX {
            dot = digits;
        } else {
            return Fast::Other; // not the plain form (or a second dot): the full grammar decides
        }
    }
    if n == 0 {
        return if digits == 0 {
            Fast::Other // "", ".": refused by the full grammar
        } else {
            Fast::NotAPrice // zero
        };
    }
    let int_len = if dot == usize::MAX { digits } else { dot };
    // both lengths are of one string: the difference fits
    let adj = int_len as i64 - 1 - lead as i64;
    Fast::Key(Price::new(
        adj,
        kept.0 * POW10[(HEAD_DIGITS - kept.1) as usize],
        Box::default(),
    ))
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

/// [`size_ok`] and [`is_zero`] in one pass: None for a size the book refuses, else whether
/// it removes the level.
pub fn size_zero(q: &str) -> Option<bool> {
    let (mut dots, mut zero) = (0u32, true);
    for &c in q.as_bytes() {
        match c {
            b'0' | b'.' => dots += u32::from(c == b'.'),
            b'1'..=b'9' => zero = false,
            _ => return None,
        }
    }
    (dots <= 1).then_some(zero)
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
        for q in [
            "", ".", "0", "0.000", "00", "0.01", "12.5", "1e5", "1.2.3", "-1", "²", "..0",
        ] {
            assert_eq!(size_zero(q), size_ok(q).then(|| is_zero(q)), "{q:?}");
        }
    }

    proptest::proptest! {
        /// The one-pass reading of plain strings gives the general reading's key.
        #[test]
        fn the_one_pass_key_is_the_general_key(s in "0{0,3}[0-9]{0,24}(\\.[0-9]{0,24}0{0,3})?") {
            let general = match decimal::parse(&s) {
                Some(decimal::Decimal::Finite(f)) if !f.neg && !f.coeff.is_empty() => {
                    Some(Price::from_digits(i128::from(f.exp), &f.coeff))
                }
                _ => None,
            };
            match fast(s.as_bytes()) {
                Fast::Key(k) => proptest::prop_assert_eq!(Some(k), general.clone()),
                Fast::NotAPrice => proptest::prop_assert_eq!(None, general.clone()),
                Fast::Other => proptest::prop_assert!(s.is_empty() || s == "." || s.len() > 19),
            }
            proptest::prop_assert_eq!(Price::parse(&s), general);
        }
    }
}
