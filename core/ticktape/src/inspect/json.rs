//! A strict JSON reader over bytes, for the few fields a frame inspection reads.
//!
//! Why not a JSON library: an inspection reads two or three fields of a venue's reply, and
//! must refuse exactly the documents the decoder it replaced (msgspec, strict) refused,
//! without building a tree. So the whole document is checked in one pass: fields the
//! caller asks for are decoded into their type, every other value is checked and skipped.
//! What msgspec accepts, this accepts too: unknown keys are skipped whatever their bytes,
//! strings that are skipped are not checked for UTF-8 (their escapes are), decoded strings
//! are, integers have any number of digits. Nesting is walked with a counter, not recursion,
//! so no input can exhaust the stack. Nothing panics: every failure is `Invalid`.

use std::borrow::Cow;

/// The bytes are not a JSON document of the expected shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid;

pub type Parsed<T> = Result<T, Invalid>;

/// A cursor over one JSON document.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.buf.get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.buf.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> Parsed<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    fn literal(&mut self, word: &[u8]) -> Parsed<()> {
        let end = self.pos.checked_add(word.len()).ok_or(Invalid)?;
        if self.buf.get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Only whitespace is left: the document is complete.
    pub fn end(&mut self) -> Parsed<()> {
        if self.peek().is_none() {
            Ok(())
        } else {
            Err(Invalid)
        }
    }

    /// Consumes a `null` if one comes next; true when it did.
    pub fn null(&mut self) -> Parsed<bool> {
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Ok(true);
        }
        Ok(false)
    }

    /// A `true` or `false`.
    pub fn boolean(&mut self) -> Parsed<bool> {
        match self.peek() {
            Some(b't') => self.literal(b"true").map(|()| true),
            Some(b'f') => self.literal(b"false").map(|()| false),
            _ => Err(Invalid),
        }
    }

    /// An integer (no fraction, no exponent), as its decimal text; `-0` reads as `0`.
    ///
    /// Text, not a machine integer: a venue may send any number of digits, and the
    /// replaced decoder kept them all.
    pub fn integer(&mut self) -> Parsed<&'a str> {
        self.ws();
        let start = self.pos;
        let (int_end, is_int) = self.number_end(start)?;
        if !is_int {
            return Err(Invalid);
        }
        self.pos = int_end;
        let text = std::str::from_utf8(self.buf.get(start..int_end).ok_or(Invalid)?)
            .map_err(|_| Invalid)?;
        Ok(if text == "-0" { "0" } else { text })
    }

    /// Where the number starting at `start` ends, and whether it is an integer.
    fn number_end(&self, start: usize) -> Parsed<(usize, bool)> {
        let b = self.buf;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(b'0'..=b'9') = b.get(i) {
                    i += 1;
                }
            }
            _ => return Err(Invalid),
        }
        let mut is_int = true;
        if b.get(i) == Some(&b'.') {
            is_int = false;
            i += 1;
            i = digits(b, i)?;
        }
        if let Some(b'e' | b'E') = b.get(i) {
            is_int = false;
            i += 1;
            if let Some(b'+' | b'-') = b.get(i) {
                i += 1;
            }
            i = digits(b, i)?;
        }
        Ok((i, is_int))
    }

    /// A string, unescaped; its bytes must be UTF-8.
    pub fn string(&mut self) -> Parsed<Cow<'a, str>> {
        match self.raw_string()? {
            Cow::Borrowed(s) => std::str::from_utf8(s)
                .map(Cow::Borrowed)
                .map_err(|_| Invalid),
            Cow::Owned(v) => String::from_utf8(v).map(Cow::Owned).map_err(|_| Invalid),
        }
    }

    /// A string, unescaped, as bytes (not checked for UTF-8: keys and skipped strings).
    pub fn raw_string(&mut self) -> Parsed<Cow<'a, [u8]>> {
        self.eat(b'"')?;
        let b = self.buf;
        let start = self.pos;
        let mut i = start;
        loop {
            match b.get(i) {
                None => return Err(Invalid),
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(b.get(start..i).ok_or(Invalid)?));
                }
                Some(b'\\') => break,
                Some(&c) if c < 0x20 => return Err(Invalid),
                Some(_) => i += 1,
            }
        }
        // Escapes: copy from here on.
        let mut out: Vec<u8> = b.get(start..i).ok_or(Invalid)?.to_vec();
        loop {
            match b.get(i) {
                None => return Err(Invalid),
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    let esc = *b.get(i + 1).ok_or(Invalid)?;
                    i += 2;
                    let plain = match esc {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            let (c, next) = unicode_escape(b, i)?;
                            i = next;
                            let mut tmp = [0u8; 4];
                            out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                            continue;
                        }
                        _ => return Err(Invalid),
                    };
                    out.push(plain);
                }
                Some(&c) if c < 0x20 => return Err(Invalid),
                Some(&c) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
    }

    /// Walks an object: `field(reader, key)` is called at each value and must consume it.
    pub fn object<F>(&mut self, mut field: F) -> Parsed<()>
    where
        F: FnMut(&mut Self, &[u8]) -> Parsed<()>,
    {
        self.eat(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let key = self.raw_string()?;
            self.eat(b':')?;
            field(self, &key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// Walks an array: `item(reader)` is called at each element and must consume it.
    pub fn array<F>(&mut self, mut item: F) -> Parsed<()>
    where
        F: FnMut(&mut Self) -> Parsed<()>,
    {
        self.eat(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(Invalid),
            }
        }
    }

    /// Checks and skips one value of any type and returns its bytes as they came (what
    /// msgspec's `Raw` holds: the value alone, no whitespace around it).
    pub fn raw(&mut self) -> Parsed<&'a [u8]> {
        self.ws();
        let start = self.pos;
        self.skip()?;
        self.buf.get(start..self.pos).ok_or(Invalid)
    }

    /// Checks and skips one value of any type, nested to any depth, without recursion.
    pub fn skip(&mut self) -> Parsed<()> {
        // The open containers, innermost last: true for an object.
        let mut open: Vec<bool> = Vec::new();
        loop {
            // A value.
            match self.peek().ok_or(Invalid)? {
                b'{' => {
                    self.pos += 1;
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                    } else {
                        open.push(true);
                        self.raw_string()?;
                        self.eat(b':')?;
                        continue;
                    }
                }
                b'[' => {
                    self.pos += 1;
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                    } else {
                        open.push(false);
                        continue;
                    }
                }
                b'"' => {
                    self.raw_string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => {
                    let start = self.pos;
                    self.pos = self.number_end(start)?.0;
                }
            }
            // After a value: close what ends here, or move to the next element.
            loop {
                let Some(&is_obj) = open.last() else {
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.pos += 1;
                        if is_obj {
                            self.raw_string()?;
                            self.eat(b':')?;
                        }
                        break;
                    }
                    Some(b'}') if is_obj => {
                        self.pos += 1;
                        open.pop();
                    }
                    Some(b']') if !is_obj => {
                        self.pos += 1;
                        open.pop();
                    }
                    _ => return Err(Invalid),
                }
            }
        }
    }
}

/// Index after one or more ASCII digits from `i`.
fn digits(b: &[u8], mut i: usize) -> Parsed<usize> {
    let start = i;
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    if i == start {
        Err(Invalid)
    } else {
        Ok(i)
    }
}

fn hex4(b: &[u8], i: usize) -> Parsed<u32> {
    let s = b.get(i..i.checked_add(4).ok_or(Invalid)?).ok_or(Invalid)?;
    let mut v = 0u32;
    for &c in s {
        let d = (c as char).to_digit(16).ok_or(Invalid)?;
        v = v * 16 + d;
    }
    Ok(v)
}

/// The character of a `\uXXXX` escape whose hex digits start at `i` (a surrogate pair
/// takes a second escape); a lone surrogate is invalid, as it was for the replaced decoder.
fn unicode_escape(b: &[u8], i: usize) -> Parsed<(char, usize)> {
    let hi = hex4(b, i)?;
    let next = i + 4;
    if (0xD800..0xDC00).contains(&hi) {
        if b.get(next..next + 2) != Some(b"\\u") {
            return Err(Invalid);
        }
        let lo = hex4(b, next + 2)?;
        if !(0xDC00..0xE000).contains(&lo) {
            return Err(Invalid);
        }
        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
        return Ok((char::from_u32(c).ok_or(Invalid)?, next + 6));
    }
    Ok((char::from_u32(hi).ok_or(Invalid)?, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn skips(doc: &[u8]) -> bool {
        let mut r = Reader::new(doc);
        r.skip().and_then(|()| r.end()).is_ok()
    }

    #[test]
    fn skips_valid_documents() {
        for doc in [
            &b"1"[..],
            b"-0.5e+3",
            b" [1, {\"a\": [true, false, null]}, \"x\\u00e9\\n\"] ",
            b"{}",
            b"[]",
            b"{\"a\":{}}",
            b"\"\xff\"",
        ] {
            assert!(skips(doc), "{:?}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn refuses_what_strict_json_refuses() {
        for doc in [
            &b""[..],
            b"01",
            b"1.",
            b"1e",
            b"-",
            b"[1,]",
            b"{\"a\":1,}",
            b"{1:2}",
            b"[1 2]",
            b"tru",
            b"NaN",
            b"\"\x01\"",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud800\"",
            b"\"\\ud800\\u0041\"",
            b"\"\\udc00\"",
            b"[1]]",
            b"{\"a\" 1}",
        ] {
            assert!(!skips(doc), "{:?}", String::from_utf8_lossy(doc));
        }
    }

    #[test]
    fn deep_nesting_is_walked_not_recursed() {
        let doc = [vec![b'['; 1_000_000], vec![b']'; 1_000_000]].concat();
        assert!(skips(&doc));
        assert!(!skips(&doc[..doc.len() - 1]));
    }

    #[test]
    fn strings_and_integers() {
        let mut r = Reader::new(b"\"a\\\"\\ud83d\\ude00\"");
        assert_eq!(r.string().unwrap(), "a\"\u{1F600}");
        let mut r = Reader::new(b"\"\xff\"");
        assert_eq!(r.string(), Err(Invalid));
        let mut r = Reader::new(b" -0");
        assert_eq!(r.integer(), Ok("0"));
        let mut r = Reader::new(b"123456789012345678901234567890");
        assert_eq!(r.integer(), Ok("123456789012345678901234567890"));
        assert_eq!(Reader::new(b"1.0").integer(), Err(Invalid));
        assert_eq!(Reader::new(b"1e2").integer(), Err(Invalid));
    }

    proptest! {
        #[test]
        fn never_panics(doc in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = skips(&doc);
            let _ = Reader::new(&doc).string();
            let _ = Reader::new(&doc).integer();
        }

        #[test]
        fn never_panics_on_json_alphabet(doc in "[\\[\\]{}\",:0-9a-z\\\\ .eE+-]{0,120}") {
            let _ = skips(doc.as_bytes());
        }
    }
}
