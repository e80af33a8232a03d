//! The msgpack the journal's values are made of: typed reads of one element at a time,
//! and the writes that give msgspec's exact bytes.
//!
//! Reads never panic and never recurse: a damaged value is a `DecodeError`. Only what a
//! value holds is here (ints, strs, bins, nil, maps, arrays); skipping validates any
//! element as msgspec would decode it (strs are UTF-8), nested at most `MAX_DEPTH` deep.

use std::fmt;

/// How deep a skipped element may nest. A record's meta is a flat map; a damaged value
/// can look like a deep nest of one-byte arrays, which must cost no stack.
pub const MAX_DEPTH: usize = 64;

/// Why bytes are not the msgpack element that was expected (the reason's detail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input ended inside an element.
    Truncated,
    /// A byte that starts no msgpack element (0xc1).
    Malformed(usize),
    /// An element of another type than expected, at field `at` (`$[at]`).
    Expected {
        want: &'static str,
        got: &'static str,
        at: usize,
    },
    /// An array of a record with too few fields.
    TooShort(u64),
    /// A str that is not UTF-8.
    NotUtf8,
    /// An integer outside what a field can hold.
    OutOfRange(usize),
    /// Elements nested deeper than `MAX_DEPTH`.
    TooDeep,
    /// Bytes after the value's last element.
    Trailing(usize),
    /// A map key of another type than str (a record's meta has str keys).
    KeyNotStr(usize),
    /// A kind's str that names no kind (its Python repr).
    BadKind(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated => write!(f, "Input data was truncated"),
            DecodeError::Malformed(at) => {
                write!(
                    f,
                    "MessagePack data is malformed: invalid opcode '\\xc1' (byte {at})"
                )
            }
            DecodeError::Expected { want, got, at } => {
                write!(f, "Expected `{want}`, got `{got}` - at `$[{at}]`")
            }
            DecodeError::TooShort(n) => {
                write!(f, "Expected `array` of at least length 5, got {n}")
            }
            DecodeError::NotUtf8 => write!(f, "invalid UTF-8 in a str"),
            DecodeError::OutOfRange(at) => write!(f, "Integer value out of range - at `$[{at}]`"),
            DecodeError::TooDeep => write!(f, "nested deeper than {MAX_DEPTH}"),
            DecodeError::Trailing(at) => {
                write!(
                    f,
                    "MessagePack data is malformed: trailing characters (byte {at})"
                )
            }
            DecodeError::BadKind(repr) => write!(f, "Invalid enum value {repr} - at `$[3]`"),
            DecodeError::KeyNotStr(at) => {
                write!(f, "Expected `str`, got another key - at `key` in `$[{at}]`")
            }
        }
    }
}

/// What an element's first byte says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    Nil,
    Bool,
    Int,
    Float,
    Str(u32),
    Bin(u32),
    Array(u32),
    Map(u32),
    Ext(u32),
}

impl Head {
    /// msgspec's name of the type, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            Head::Nil => "null",
            Head::Bool => "bool",
            Head::Int => "int",
            Head::Float => "float",
            Head::Str(_) => "str",
            Head::Bin(_) => "bytes",
            Head::Array(_) => "array",
            Head::Map(_) => "object",
            Head::Ext(_) => "ext",
        }
    }
}

/// A cursor over msgpack bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Whether every byte was read.
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// The bytes from `start` to where the cursor is.
    pub fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or_default()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let out = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len8(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from(self.byte()?))
    }

    fn len16(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from(u16::from_be_bytes(self.be()?)))
    }

    fn len32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.be()?))
    }

    /// The next element's head, its length bytes read: the cursor is on its body (for an
    /// int or float, on the head byte still; `int`/`skip` read it).
    pub fn head(&mut self) -> Result<Head, DecodeError> {
        let at = self.pos;
        let b = self.byte()?;
        let head = match b {
            0x00..=0x7f | 0xe0..=0xff => Head::Int,
            0x80..=0x8f => Head::Map(u32::from(b & 0x0f)),
            0x90..=0x9f => Head::Array(u32::from(b & 0x0f)),
            0xa0..=0xbf => Head::Str(u32::from(b & 0x1f)),
            0xc0 => Head::Nil,
            0xc1 => return Err(DecodeError::Malformed(at)),
            0xc2 | 0xc3 => Head::Bool,
            0xc4 => Head::Bin(self.len8()?),
            0xc5 => Head::Bin(self.len16()?),
            0xc6 => Head::Bin(self.len32()?),
            0xc7 => Head::Ext(self.len8()?),
            0xc8 => Head::Ext(self.len16()?),
            0xc9 => Head::Ext(self.len32()?),
            0xca | 0xcb => Head::Float,
            0xcc..=0xd3 => Head::Int,
            0xd4 => Head::Ext(1),
            0xd5 => Head::Ext(2),
            0xd6 => Head::Ext(4),
            0xd7 => Head::Ext(8),
            0xd8 => Head::Ext(16),
            0xd9 => Head::Str(self.len8()?),
            0xda => Head::Str(self.len16()?),
            0xdb => Head::Str(self.len32()?),
            0xdc => Head::Array(self.len16()?),
            0xdd => Head::Array(self.len32()?),
            0xde => Head::Map(self.len16()?),
            0xdf => Head::Map(self.len32()?),
        };
        if matches!(head, Head::Int | Head::Float) {
            self.pos = at; // the value is read by `int` or skipped whole
        }
        Ok(head)
    }

    /// An int of any msgpack width (u64 and i64 both fit an i128), at field `at`.
    pub fn int(&mut self, at: usize) -> Result<i128, DecodeError> {
        let start = self.pos;
        let b = self.byte()?;
        Ok(match b {
            0x00..=0x7f => i128::from(b),
            0xe0..=0xff => i128::from(b as i8),
            0xcc => i128::from(self.byte()?),
            0xcd => i128::from(u16::from_be_bytes(self.be()?)),
            0xce => i128::from(u32::from_be_bytes(self.be()?)),
            0xcf => i128::from(u64::from_be_bytes(self.be()?)),
            0xd0 => i128::from(self.byte()? as i8),
            0xd1 => i128::from(i16::from_be_bytes(self.be()?)),
            0xd2 => i128::from(i32::from_be_bytes(self.be()?)),
            0xd3 => i128::from(i64::from_be_bytes(self.be()?)),
            _ => {
                self.pos = start;
                let got = self.head()?.name();
                return Err(DecodeError::Expected {
                    want: "int",
                    got,
                    at,
                });
            }
        })
    }

    /// A str's bytes (UTF-8 checked), at field `at`.
    pub fn str(&mut self, at: usize) -> Result<&'a str, DecodeError> {
        match self.head()? {
            Head::Str(n) => {
                std::str::from_utf8(self.take(n as usize)?).map_err(|_| DecodeError::NotUtf8)
            }
            other => Err(DecodeError::Expected {
                want: "str",
                got: other.name(),
                at,
            }),
        }
    }

    /// A bin's bytes, at field `at`.
    pub fn bin(&mut self, at: usize) -> Result<&'a [u8], DecodeError> {
        match self.head()? {
            Head::Bin(n) => self.take(n as usize),
            other => Err(DecodeError::Expected {
                want: "bytes",
                got: other.name(),
                at,
            }),
        }
    }

    /// A map's length; None for nil (what an optional map may be), at field `at`.
    pub fn map_or_nil(&mut self, at: usize) -> Result<Option<u32>, DecodeError> {
        match self.head()? {
            Head::Nil => Ok(None),
            Head::Map(n) => Ok(Some(n)),
            other => Err(DecodeError::Expected {
                want: "object | null",
                got: other.name(),
                at,
            }),
        }
    }

    /// An array's length, at field `at`.
    pub fn array(&mut self, at: usize) -> Result<u32, DecodeError> {
        match self.head()? {
            Head::Array(n) => Ok(n),
            other => Err(DecodeError::Expected {
                want: "array",
                got: other.name(),
                at,
            }),
        }
    }

    /// Step over one whole element, checking it is valid msgpack (strs UTF-8).
    pub fn skip(&mut self) -> Result<(), DecodeError> {
        match self.scalar()? {
            0 => Ok(()),
            nested => self.skip_nested(nested),
        }
    }

    /// Step over one element if it is a scalar (returns 0); for an array or a map, read
    /// its head and return how many elements it holds (a map's keys and values).
    fn scalar(&mut self) -> Result<u64, DecodeError> {
        Ok(match self.head()? {
            Head::Nil | Head::Bool => 0,
            Head::Int => {
                self.int(0)?;
                0
            }
            Head::Float => {
                let wide = self.byte()? == 0xcb;
                self.take(if wide { 8 } else { 4 })?;
                0
            }
            Head::Str(n) => {
                std::str::from_utf8(self.take(n as usize)?).map_err(|_| DecodeError::NotUtf8)?;
                0
            }
            Head::Bin(n) => {
                self.take(n as usize)?;
                0
            }
            Head::Ext(n) => {
                self.take(1usize + n as usize)?;
                0
            }
            Head::Array(n) => u64::from(n),
            Head::Map(n) => 2 * u64::from(n),
        })
    }

    /// The elements of a container whose head `scalar` read, iteratively: `pending[d]`
    /// counts the elements still due at depth `d`.
    fn skip_nested(&mut self, first: u64) -> Result<(), DecodeError> {
        let mut pending: [u64; MAX_DEPTH] = [0; MAX_DEPTH];
        let mut depth = 0usize;
        let mut nested = first;
        loop {
            if nested > 0 {
                // Each element takes a byte at least: more than are left is a truncation.
                if nested > self.buf.len().saturating_sub(self.pos) as u64 {
                    return Err(DecodeError::Truncated);
                }
                let slot = pending.get_mut(depth).ok_or(DecodeError::TooDeep)?;
                *slot = nested;
                depth += 1;
            }
            loop {
                let Some(top) = depth.checked_sub(1) else {
                    return Ok(());
                };
                match pending.get_mut(top) {
                    Some(0) => depth = top,
                    Some(left) => {
                        *left -= 1;
                        break;
                    }
                    None => return Err(DecodeError::TooDeep),
                }
            }
            nested = self.scalar()?;
        }
    }
}

/// Append `v` as msgspec writes an int: the shortest form, unsigned forms for v >= 0.
///
/// `v` must fit (`fits_msgpack`): msgspec refuses to encode any other int, and so do the
/// callers here; one outside would be written cut to 64 bits.
pub fn write_int(out: &mut Vec<u8>, v: i128) {
    if v >= 0 {
        if v < 0x80 {
            out.push(v as u8);
        } else if v <= 0xff {
            out.extend_from_slice(&[0xcc, v as u8]);
        } else if v <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(v as u16).to_be_bytes());
        } else if v <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(v as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(v as u64).to_be_bytes());
        }
    } else if v >= -32 {
        out.push(v as i8 as u8);
    } else if v >= -128 {
        out.extend_from_slice(&[0xd0, v as i8 as u8]);
    } else if v >= -0x8000 {
        out.push(0xd1);
        out.extend_from_slice(&(v as i16).to_be_bytes());
    } else if v >= -0x8000_0000 {
        out.push(0xd2);
        out.extend_from_slice(&(v as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&(v as i64).to_be_bytes());
    }
}

/// Whether msgpack (and msgspec) can hold `v`: within i64's minimum and u64's maximum.
pub fn fits_msgpack(v: i128) -> bool {
    (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&v)
}

/// Append a str head for `len` bytes, as msgspec writes it (fixstr, str8, str16, str32).
pub fn write_str_head(out: &mut Vec<u8>, len: usize) {
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Append a bin head for `len` bytes, as msgspec writes it (bin8, bin16, bin32).
pub fn write_bin_head(out: &mut Vec<u8>, len: usize) {
    if len <= 0xff {
        out.extend_from_slice(&[0xc4, len as u8]);
    } else if len <= 0xffff {
        out.push(0xc5);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xc6);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int_bytes(v: i128) -> Vec<u8> {
        let mut out = Vec::new();
        write_int(&mut out, v);
        out
    }

    #[test]
    fn ints_take_msgspecs_shortest_form() {
        assert_eq!(int_bytes(0), [0x00]);
        assert_eq!(int_bytes(127), [0x7f]);
        assert_eq!(int_bytes(128), [0xcc, 0x80]);
        assert_eq!(int_bytes(300), [0xcd, 0x01, 0x2c]);
        assert_eq!(int_bytes(70_000), [0xce, 0, 1, 0x11, 0x70]);
        assert_eq!(
            int_bytes(u64::MAX.into()),
            [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(int_bytes(-5), [0xfb]);
        assert_eq!(int_bytes(-32), [0xe0]);
        assert_eq!(int_bytes(-33), [0xd0, 0xdf]);
        assert_eq!(int_bytes(-129), [0xd1, 0xff, 0x7f]);
        assert_eq!(int_bytes(-40_000), [0xd2, 0xff, 0xff, 0x63, 0xc0]);
        assert_eq!(
            int_bytes(i64::MIN.into()),
            [0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn every_int_reads_back_from_any_width() {
        for v in [
            0i128,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            -1,
            -32,
            -33,
            -128,
            -129,
            1 << 40,
            -(1 << 40),
        ] {
            assert_eq!(Reader::new(&int_bytes(v)).int(0), Ok(v));
        }
        assert_eq!(Reader::new(&[0xcc, 0x05]).int(0), Ok(5)); // not the shortest form: still an int
        assert_eq!(
            Reader::new(&[0xcd, 0x01]).int(0),
            Err(DecodeError::Truncated)
        );
        assert_eq!(
            Reader::new(&[0xa1, b'x']).int(3),
            Err(DecodeError::Expected {
                want: "int",
                got: "str",
                at: 3
            })
        );
    }

    #[test]
    fn skip_checks_what_it_steps_over() {
        assert_eq!(
            Reader::new(&[0x92, 0x01, 0xa1, 0xff]).skip(),
            Err(DecodeError::NotUtf8)
        );
        assert_eq!(
            Reader::new(&[0x82, 0x01]).skip(),
            Err(DecodeError::Truncated)
        );
        assert_eq!(Reader::new(&[0xc1]).skip(), Err(DecodeError::Malformed(0)));
        let deep = vec![0x91u8; 1000];
        assert_eq!(Reader::new(&deep).skip(), Err(DecodeError::TooDeep));
        let mut r = Reader::new(&[0x81, 0xa1, b'a', 0xcb, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0]);
        assert_eq!(r.skip(), Ok(()));
        assert_eq!(r.pos(), 12);
    }
}
