//! Upbit's candle start (`2021-04-17T16:51:00`, UTC) as epoch ns, read as the Python
//! decoder reads it: `calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S"))`.
//!
//! `strptime` is lenient in ways a damaged frame can reach, and they are kept: one-digit
//! fields (`2021-4-7T1:2:3`), a day padded with a space, a lower-case `t`, seconds up to
//! 61. Its `\d` also takes non-ASCII digits; those are refused here.

use super::DecodeError;

/// A field of the format, with the alternatives of Python's regex for it, in its order.
#[derive(Clone, Copy)]
enum Tok {
    Lit(u8),
    Year,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

use Tok::*;

const FORMAT: [Tok; 11] = [
    Year,
    Lit(b'-'),
    Month,
    Lit(b'-'),
    Day,
    Lit(b'T'),
    Hour,
    Lit(b':'),
    Minute,
    Lit(b':'),
    Second,
];

fn d(b: Option<&u8>) -> bool {
    b.is_some_and(u8::is_ascii_digit)
}

fn within(b: Option<&u8>, lo: u8, hi: u8) -> bool {
    b.is_some_and(|&c| (lo..=hi).contains(&c))
}

/// The lengths the field's alternatives match at the start of `s`, in the regex's order.
fn alternatives(tok: Tok, s: &[u8]) -> Vec<usize> {
    let (a, b) = (s.first(), s.get(1));
    let mut out = Vec::with_capacity(3);
    let mut alt = |ok: bool, n: usize| {
        if ok {
            out.push(n)
        }
    };
    match tok {
        Lit(_) => {}
        Year => alt(
            s.get(..4).is_some_and(|y| y.iter().all(u8::is_ascii_digit)),
            4,
        ),
        Month => {
            alt(a == Some(&b'1') && within(b, b'0', b'2'), 2);
            alt(a == Some(&b'0') && within(b, b'1', b'9'), 2);
            alt(within(a, b'1', b'9'), 1);
        }
        Day => {
            alt(a == Some(&b'3') && within(b, b'0', b'1'), 2);
            alt(within(a, b'1', b'2') && d(b), 2);
            alt(a == Some(&b'0') && within(b, b'1', b'9'), 2);
            alt(within(a, b'1', b'9'), 1);
            alt(a == Some(&b' ') && within(b, b'1', b'9'), 2);
        }
        Hour => {
            alt(a == Some(&b'2') && within(b, b'0', b'3'), 2);
            alt(within(a, b'0', b'1') && d(b), 2);
            alt(d(a), 1);
        }
        Minute => {
            alt(within(a, b'0', b'5') && d(b), 2);
            alt(d(a), 1);
        }
        Second => {
            alt(a == Some(&b'6') && within(b, b'0', b'1'), 2);
            alt(within(a, b'0', b'5') && d(b), 2);
            alt(d(a), 1);
        }
    }
    out
}

/// The regex's first match from `pos` (backtracking as `re` does): where it ends.
fn matches(fmt: &[Tok], s: &[u8], pos: usize, vals: &mut Vec<i64>) -> Option<usize> {
    let Some((&tok, rest)) = fmt.split_first() else {
        return Some(pos);
    };
    let here = s.get(pos..)?;
    if let Lit(c) = tok {
        return match here.first() {
            Some(b) if b.eq_ignore_ascii_case(&c) => matches(rest, s, pos + 1, vals),
            _ => None,
        };
    }
    for n in alternatives(tok, here) {
        let v = here
            .iter()
            .take(n)
            .filter(|b| b.is_ascii_digit())
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0'));
        vals.push(v);
        if let Some(end) = matches(rest, s, pos + n, vals) {
            return Some(end);
        }
        vals.pop();
    }
    None
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn month_days(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2021-04-17T16:51:00` -> epoch ns; a start before 1970 or past i64 ns is an error, as
/// it is out of range for the Python decoder's `Kline.start_ns`.
pub fn utc_ns(text: &str) -> Result<i64, DecodeError> {
    let bad = |why: &str| DecodeError(format!("time {text:?}: {why}"));
    let cut = match text.char_indices().nth(19) {
        Some((i, _)) => &text[..i],
        None => text,
    };
    if !cut.is_ascii() {
        return Err(bad("not ASCII"));
    }
    let s = cut.as_bytes();
    let mut v = Vec::with_capacity(6);
    let end = matches(&FORMAT, s, 0, &mut v).ok_or_else(|| bad("does not match the format"))?;
    if end != s.len() {
        return Err(bad("unconverted data remains"));
    }
    let &[y, mo, day, h, mi, sec] = v.as_slice() else {
        return Err(bad("does not match the format"));
    };
    if y < 1 || day > month_days(y, mo) {
        return Err(bad("not a date"));
    }
    let secs = days_from_civil(y, mo, day) * 86_400 + h * 3600 + mi * 60 + sec;
    secs.checked_mul(1_000_000_000)
        .filter(|ns| *ns >= 0)
        .ok_or_else(|| bad("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_strptime_reads_it() {
        let s = 1_000_000_000;
        assert_eq!(utc_ns("2021-04-17T16:51:00"), Ok(1_618_678_260 * s));
        assert_eq!(utc_ns("2021-04-17T16:51:00.123Z"), Ok(1_618_678_260 * s));
        assert_eq!(utc_ns("2021-4-7T1:2:3"), Ok(1_617_757_323 * s));
        assert_eq!(utc_ns("2021-04- 7T01:02:03"), Ok(1_617_757_323 * s));
        assert_eq!(utc_ns("2021-04-17t16:51:61"), Ok(1_618_678_321 * s));
        assert_eq!(utc_ns("2021-04-17T16:51:0"), Ok(1_618_678_260 * s));
        for bad in [
            "2021-02-29T00:00:00",
            "0000-01-01T00:00:00",
            "1969-12-31T23:59:59",
            "2300-01-01T00:00:00",
            "2021-04-17T16:51:7x",
            "2021-04-17",
            "",
            "2021-04-17T16:51:\u{0663}",
        ] {
            assert!(utc_ns(bad).is_err(), "{bad}");
        }
    }
}
