//! A byte cursor over JSON text, for a decoder's single typed pass over its usual frames.
//!
//! Each read takes only the plainest spelling of its token (a string without escapes or
//! control characters, an integer of at most 18 digits, `true`/`false`, levels of two such
//! strings) and returns None for anything else, leaving the frame to the decoder's general
//! path (serde), which reads it or says why not. So a fast path built on it cannot change
//! an event or an error: where it answers, the general path gives the same answer.

use std::borrow::Cow;

use crate::event::Level;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The bytes of `w` (little-endian) that end a plain string: `"`, `\\` or a control
/// character, flagged by their high bit. A byte above the first one flagged may be flagged
/// wrongly (a borrow carries up), the first one never is: only its position is used.
#[inline(always)]
fn stops(w: u64) -> u64 {
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)
}

/// A position in JSON text; every read skips the whitespace before its token.
pub struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(s: &'a str) -> Self {
        Cursor { s, i: 0 }
    }

    #[inline]
    fn ws(&mut self) {
        let b = self.s.as_bytes();
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = b.get(self.i) {
            self.i += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.as_bytes().get(self.i).copied()
    }

    /// Consumes `c` (after whitespace) if it is next.
    #[inline]
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `lit` if the text continues with exactly it (no whitespace skipped).
    #[inline]
    pub fn lit(&mut self, lit: &str) -> bool {
        let b = self.s.as_bytes();
        if b.get(self.i..self.i + lit.len()) == Some(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    /// True when only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }

    /// A JSON string needing no unescaping: its text (between the quotes).
    #[inline]
    pub fn string(&mut self) -> Option<&'a str> {
        if !self.eat(b'"') {
            return None;
        }
        let start = self.i;
        let end = self.plain_end(start)?;
        self.i = end + 1;
        self.s.get(start..end)
    }

    /// The index of the quote closing a string whose text starts at `i`; None where an
    /// escape, a control character or the end of the text comes first.
    #[inline(always)]
    fn plain_end(&self, mut i: usize) -> Option<usize> {
        let b = self.s.as_bytes();
        // Eight bytes at a time while they are plain (the usual price fits one word).
        while let Some(word) = b.get(i..i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(word);
            let stop = stops(u64::from_le_bytes(w));
            if stop != 0 {
                i += (stop.trailing_zeros() / 8) as usize;
                return (b[i] == b'"').then_some(i);
            }
            i += 8;
        }
        loop {
            match *b.get(i)? {
                b'"' => return Some(i),
                b'\\' | 0..=0x1f => return None,
                _ => i += 1,
            }
        }
    }

    /// A level written tightly, `["price","size"]`: its two strings; None (nothing read)
    /// for any other text.
    #[inline(always)]
    fn tight_level(&mut self) -> Option<(&'a str, &'a str)> {
        let b = self.s.as_bytes();
        let i = self.i;
        if b.get(i..i + 2) != Some(b"[\"") {
            return None;
        }
        let p = self.plain_end(i + 2)?;
        if b.get(p..p + 3) != Some(b"\",\"") {
            return None;
        }
        let q = self.plain_end(p + 3)?;
        if b.get(q..q + 2) != Some(b"\"]") {
            return None;
        }
        self.i = q + 2;
        Some((self.s.get(i + 2..p)?, self.s.get(p + 3..q)?))
    }

    /// A JSON integer of at most 18 digits (so it fits an i64); `-0` is 0. A number with a
    /// fraction or an exponent, or a longer one, is None.
    #[inline]
    pub fn int(&mut self) -> Option<i64> {
        self.ws();
        let b = self.s.as_bytes();
        let mut i = self.i;
        let neg = b.get(i) == Some(&b'-');
        if neg {
            i += 1;
        }
        let start = i;
        let mut v: i64 = 0;
        while let Some(&d @ b'0'..=b'9') = b.get(i) {
            if i - start == 18 {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
            i += 1;
        }
        let n = i - start;
        if n == 0 || (n > 1 && b[start] == b'0') || matches!(b.get(i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.i = i;
        Some(if neg { -v } else { v })
    }

    /// `true` or `false`.
    #[inline]
    pub fn boolean(&mut self) -> Option<bool> {
        self.ws();
        if self.lit("true") {
            Some(true)
        } else if self.lit("false") {
            Some(false)
        } else {
            None
        }
    }

    /// `null`.
    pub fn null(&mut self) -> bool {
        self.ws();
        self.lit("null")
    }

    /// Skips a scalar: a plain string, an integer, `true`, `false` or `null` (for a field
    /// the decoder does not read); None for anything else.
    pub fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b't' | b'f' => self.boolean().map(drop),
            b'n' => self.null().then_some(()),
            _ => self.int().map(drop),
        }
    }

    /// An array of `["price", "size"]` pairs of plain strings, as borrowed levels; `cap` is
    /// the capacity the output starts with.
    pub fn levels(&mut self, cap: usize) -> Option<Vec<Level<'a>>> {
        if !self.eat(b'[') {
            return None;
        }
        let mut out = Vec::with_capacity(cap);
        if self.eat(b']') {
            return Some(out);
        }
        loop {
            let (price, size) = match self.tight_level() {
                Some(level) => level,
                None => {
                    if !self.eat(b'[') {
                        return None;
                    }
                    let price = self.string()?;
                    if !self.eat(b',') {
                        return None;
                    }
                    let size = self.string()?;
                    if !self.eat(b']') {
                        return None;
                    }
                    (price, size)
                }
            };
            out.push(Level::new(Cow::Borrowed(price), Cow::Borrowed(size)));
            let next = match self.s.as_bytes().get(self.i) {
                Some(&c @ (b',' | b']')) => c,
                _ => self.peek()?,
            };
            match next {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// The bytes not read yet.
    pub fn rest_len(&self) -> usize {
        self.s.len().saturating_sub(self.i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tokens_in_their_plainest_spelling_only() {
        let mut c = Cursor::new(r#" "ab" , -0 123 true null"#);
        assert_eq!(c.string(), Some("ab"));
        assert!(c.eat(b','));
        assert_eq!(c.int(), Some(0));
        assert_eq!(c.int(), Some(123));
        assert_eq!(c.boolean(), Some(true));
        assert!(c.null());
        assert!(c.at_end());
        for bad in [
            r#""a\"b""#,
            "\"a\tb\"",
            "01",
            "1.5",
            "1e3",
            "-",
            "1234567890123456789",
        ] {
            let mut c = Cursor::new(bad);
            assert!(
                c.string().is_none() && Cursor::new(bad).int().is_none(),
                "{bad}"
            );
        }
        assert_eq!(
            Cursor::new("123456789012345678").int(),
            Some(123456789012345678)
        );
    }

    proptest! {
        // The word scan stops where the byte scan does.
        #[test]
        fn strings_end_where_the_bytes_say(body in proptest::collection::vec(any::<u8>(), 0..24)) {
            let Ok(body) = std::str::from_utf8(&body) else { return Ok(()) };
            let text = format!("\"{body}\"");
            let want = body
                .bytes()
                .position(|c| c == b'"' || c == b'\\' || c < 0x20)
                .map_or(Some(body), |at| (body.as_bytes()[at] == b'"').then(|| &body[..at]));
            prop_assert_eq!(Cursor::new(&text).string(), want);
        }

        // An integer read is the one serde reads from the same token, when serde takes it.
        #[test]
        fn ints_agree_with_serde(text in "-?[0-9]{1,20}[.eE0-9]{0,2}") {
            if let Some(v) = Cursor::new(&text).int() {
                let end = text.find(['.', 'e', 'E']).unwrap_or(text.len());
                prop_assert_eq!(Some(v), text[..end].parse::<i64>().ok());
                prop_assert_eq!(end, text.len());
            }
        }

        // Levels read are the ones serde reads, when the scan takes the text.
        #[test]
        fn levels_agree_with_serde(text in r#"[\[\]",0-9. \\a-z]{0,40}"#) {
            let mut c = Cursor::new(&text);
            if let Some(got) = c.levels(0) {
                if c.at_end() {
                    let want: Vec<(String, String)> = serde_json::from_str(&text).unwrap();
                    let got: Vec<(String, String)> = got
                        .into_iter()
                        .map(|l| (l.price.into_owned(), l.size.into_owned()))
                        .collect();
                    prop_assert_eq!(got, want);
                }
            }
        }
    }
}
