//! The non-ASCII characters Python's `Decimal` and `int` read as digits and as whitespace.
//!
//! Generated from CPython 3.11's Unicode database (14.0.0): `unicodedata.decimal(c) == 0` for the
//! first digit of each run (every run is the ten digits 0-9 in order) and `str.isspace`.

/// The first code point (digit 0) of each run of ten decimal digits beyond ASCII, ascending.
const DIGIT_ZEROS: [u32; 65] = [
    0x00660, 0x006F0, 0x007C0, 0x00966, 0x009E6, 0x00A66, 0x00AE6, 0x00B66, 0x00BE6, 0x00C66,
    0x00CE6, 0x00D66, 0x00DE6, 0x00E50, 0x00ED0, 0x00F20, 0x01040, 0x01090, 0x017E0, 0x01810,
    0x01946, 0x019D0, 0x01A80, 0x01A90, 0x01B50, 0x01BB0, 0x01C40, 0x01C50, 0x0A620, 0x0A8D0,
    0x0A900, 0x0A9D0, 0x0A9F0, 0x0AA50, 0x0ABF0, 0x0FF10, 0x104A0, 0x10D30, 0x11066, 0x110F0,
    0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950,
    0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC,
    0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The whitespace beyond ASCII (`str.isspace`), ascending.
const SPACES: [u32; 19] = [
    0x0085, 0x00A0, 0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008,
    0x2009, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
];

/// The value of a decimal digit (Unicode category Nd, ASCII included), else None.
pub fn digit(c: char) -> Option<u8> {
    let c = c as u32;
    if c < 0x80 {
        return if (0x30..=0x39).contains(&c) {
            Some((c - 0x30) as u8)
        } else {
            None
        };
    }
    let i = DIGIT_ZEROS.partition_point(|&z| z <= c);
    let zero = *DIGIT_ZEROS.get(i.checked_sub(1)?)?;
    let d = c - zero;
    if d < 10 {
        Some(d as u8)
    } else {
        None
    }
}

/// Whitespace as Python's `str.isspace` (and so `str.strip`, `Decimal` and `int`) sees it.
pub fn is_space(c: char) -> bool {
    let c = c as u32;
    if c < 0x80 {
        return matches!(c, 0x09..=0x0D | 0x1C..=0x20);
    }
    SPACES.binary_search(&c).is_ok()
}
