//! Phemex's scaled integers (`priceEp` = price x 10^scale) as exact decimal strings,
//! character for character what `state.decode.common.scaled` prints:
//! `format(Decimal(value).scaleb(-scale), "f")`.
//!
//! That is the integer's digits with the point moved `scale` places left (`0.00000000`
//! for 0 at scale 8, `-0.0005` for -5 at scale 4), except past 28 significant digits:
//! `scaleb` rounds to the default context's precision (28, half to even), so a longer
//! integer loses its tail digits to zeros. No real price has 28 digits, but a damaged
//! frame may, and the two decoders must still print the same.

/// The default `decimal` context's precision.
const PRECISION: usize = 28;

/// `text` (a JSON integer: `-?digits`) scaled down by 10^`scale`.
pub fn scaled(text: &str, scale: u32) -> String {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let digits = digits.trim_start_matches('0');
    let mut coeff: Vec<u8> = if digits.is_empty() {
        vec![b'0']
    } else {
        digits.bytes().collect()
    };
    let mut exp = -i64::from(scale);
    if coeff.len() > PRECISION {
        let dropped = coeff.split_off(PRECISION);
        exp += dropped.len() as i64;
        if rounds_up(&coeff, &dropped) && increment(&mut coeff) {
            coeff.truncate(PRECISION); // 99..9 became 100..0: one zero more is exponent
            exp += 1;
        }
    }
    let zero = coeff == b"0";
    let mut out = String::with_capacity(coeff.len() + 12);
    if neg && !zero {
        out.push('-');
    }
    let push = |out: &mut String, d: &[u8]| out.extend(d.iter().map(|&b| char::from(b)));
    let point = coeff.len() as i64 + exp; // digits before the point
    if exp >= 0 {
        push(&mut out, &coeff);
        out.extend(std::iter::repeat_n('0', exp as usize));
    } else if point > 0 {
        let (int, frac) = coeff.split_at(coeff.len().min(point as usize));
        push(&mut out, int);
        out.push('.');
        push(&mut out, frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        push(&mut out, &coeff);
    }
    out
}

/// Half to even: the first dropped digit decides, a tie goes to the even digit.
fn rounds_up(kept: &[u8], dropped: &[u8]) -> bool {
    match dropped.split_first() {
        Some((&d, _)) if d > b'5' => true,
        Some((&b'5', rest)) => {
            // b'0' is even, so an ASCII digit's byte has the digit's parity
            rest.iter().any(|&d| d != b'0') || kept.last().is_some_and(|&d| d % 2 == 1)
        }
        _ => false,
    }
}

/// Adds one to a decimal digit string; true when it carried out (a digit more).
fn increment(coeff: &mut Vec<u8>) -> bool {
    for d in coeff.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            return false;
        }
    }
    coeff.insert(0, b'1');
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn prints_what_python_prints() {
        // from format(Decimal(v).scaleb(-s), "f") in Python 3.11
        for (v, s, want) in [
            ("0", 8, "0.00000000"),
            ("-5", 4, "-0.0005"),
            ("12345", 0, "12345"),
            ("329915000", 4, "32991.5000"),
            ("0", 0, "0"),
            (
                "1000000000000000000000000000000",
                0,
                "1000000000000000000000000000000",
            ),
            (
                "1000000000000000000000000000001",
                4,
                "100000000000000000000000000.0",
            ),
            (
                "1234567890123456789012345678951",
                0,
                "1234567890123456789012345679000",
            ),
            (
                "1234567890123456789012345678950",
                0,
                "1234567890123456789012345679000",
            ),
            (
                "-1234567890123456789012345678951",
                8,
                "-12345678901234567890123.45679",
            ),
            (
                "12345678901234567890123456789012345",
                30,
                "12345.67890123456789012345679",
            ),
            ("5", 40, "0.0000000000000000000000000000000000000005"),
            (
                "9999999999999999999999999999",
                0,
                "9999999999999999999999999999",
            ),
            (
                "10000000000000000000000000005",
                0,
                "10000000000000000000000000000",
            ),
            (
                "99999999999999999999999999995",
                0,
                "100000000000000000000000000000",
            ),
            (
                "10000000000000000000000000015",
                0,
                "10000000000000000000000000020",
            ),
        ] {
            assert_eq!(scaled(v, s), want, "{v} {s}");
        }
    }

    proptest! {
        // Up to 28 digits nothing rounds: the digits are the integer's, the point moved.
        #[test]
        fn short_integers_keep_every_digit(v in any::<i64>(), s in 0u32..20) {
            let got = scaled(&v.to_string(), s);
            let digits: String = got.chars().filter(char::is_ascii_digit).collect();
            let abs = v.unsigned_abs().to_string();
            prop_assert_eq!(digits.trim_start_matches('0'), abs.trim_start_matches('0'));
            prop_assert_eq!(got.starts_with('-'), v < 0);
            prop_assert_eq!(got.split('.').nth(1).map_or(0, str::len), s as usize);
        }

        #[test]
        fn never_panics(t in "-?[0-9]{0,80}", s in 0u32..64) {
            let _ = scaled(&t, s);
        }
    }
}
