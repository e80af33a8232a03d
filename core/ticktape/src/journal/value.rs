//! One stored value: a record's fields as msgpack, sealed with their checksum.
//!
//! ```text
//! value = [seq, ts_ns, stream, kind, payload, meta, check]   (msgpack array)
//! ```
//!
//! `payload` is a bin (the bytes as received), `kind` the kind's name (a str), `meta` a map
//! or nil, `check` a bin of 4 bytes (`c4 04` + 4): the CRC (`crc::crc`) of every byte
//! before it, little-endian, so the CRC of a whole value is 0. Values written before
//! checksums (segment format 1) are the first six elements alone (`0x96`); a value whose
//! array has 5 elements (no meta) or more than 7 still decodes, as msgspec's decoder of
//! the record type takes it (elements past the sixth are ignored, once checked valid).
//!
//! The bytes written are msgspec's (`recorder/journal/codec.py` encodes a batch with it):
//! the shortest int form, fixstr kinds, the shortest bin head, nil for no meta.

use std::fmt;

use super::msgpack::{
    fits_msgpack, write_bin_head, write_int, write_str_head, DecodeError, Head, Reader,
};
use crate::crc::crc;

/// The array head of a record's six fields: a value without checksum (format 1).
pub const FIELDS: u8 = 0x96;
/// The array head of a value with its checksum element (seven elements).
pub const SEALED: u8 = 0x97;
/// The checksum element's head: msgpack bin 8 of 4 bytes.
pub const CHECK_TAG: [u8; 2] = [0xc4, 0x04];
/// Bytes a checksum adds to a value.
pub const CHECK_SIZE: usize = CHECK_TAG.len() + 4;

/// Record kinds, in the order of their code (`recorder.journal.record.KINDS`).
pub const KINDS: [&str; 7] = ["frame", "rest", "sent", "open", "close", "error", "mark"];

/// A kind's code (its index in `KINDS`), or None for a name that is no kind.
pub fn kind_code(name: &[u8]) -> Option<u8> {
    KINDS
        .iter()
        .position(|k| k.as_bytes() == name)
        .map(|i| i as u8)
}

/// A decoded value, borrowing its bytes: nothing is copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub seq: i128,
    pub ts_ns: i128,
    pub stream: i128,
    /// Index in `KINDS`.
    pub kind: u8,
    pub payload: &'a [u8],
    /// The meta map's msgpack bytes; None when the value holds nil or no meta.
    pub meta: Option<&'a [u8]>,
    /// Whether the value carries a checksum (its head is `SEALED`).
    pub sealed: bool,
}

/// Why a stored value is not the record its key names: the reason of `CorruptValueError`.
///
/// `Display` gives the reason exactly as the Python codec always worded it (tests and
/// `recorder verify`'s output match on its start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corrupt {
    /// The checksum does not match: the value is damaged, whatever it decodes to.
    Checksum { len: usize },
    /// The bytes are no record's fields.
    Undecodable(DecodeError),
    /// The fields decode but for the kind, which is none of `KINDS` (its Python repr).
    UnknownKind(String),
    /// A value without checksum where every value must carry one (format 2 segment).
    NoChecksum,
    /// The value holds another seq than its key.
    WrongSeq { held: i128, key: u64 },
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corrupt::Checksum { len } => {
                write!(f, "damaged: checksum mismatch (a value of {len} bytes)")
            }
            Corrupt::Undecodable(e) => write!(f, "value does not decode: {e}"),
            Corrupt::UnknownKind(repr) => write!(f, "unknown kind {repr}"),
            Corrupt::NoChecksum => write!(
                f,
                "damaged: no checksum, in a segment written with checksums"
            ),
            Corrupt::WrongSeq { held, key } => write!(f, "value holds seq {held} under key {key}"),
        }
    }
}

/// Why fields cannot be encoded: an int msgpack cannot hold, or a kind that is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    IntOutOfRange(i128),
    UnknownKind(u8),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::IntOutOfRange(_) => {
                write!(f, "can't serialize ints < -2**63 or > 2**64 - 1")
            }
            EncodeError::UnknownKind(code) => write!(f, "no kind has code {code}"),
        }
    }
}

/// Append a record's six fields (`[seq, ts_ns, stream, kind, payload, meta]`) as msgspec
/// encodes them; `meta` is the map's msgpack bytes as msgspec made them (None: nil).
pub fn encode_fields(
    out: &mut Vec<u8>,
    seq: i128,
    ts_ns: i128,
    stream: i128,
    kind: u8,
    payload: &[u8],
    meta: Option<&[u8]>,
) -> Result<(), EncodeError> {
    for v in [seq, ts_ns, stream] {
        if !fits_msgpack(v) {
            return Err(EncodeError::IntOutOfRange(v));
        }
    }
    let name = KINDS
        .get(usize::from(kind))
        .ok_or(EncodeError::UnknownKind(kind))?;
    out.push(FIELDS);
    write_int(out, seq);
    write_int(out, ts_ns);
    write_int(out, stream);
    write_str_head(out, name.len());
    out.extend_from_slice(name.as_bytes());
    write_bin_head(out, payload.len());
    out.extend_from_slice(payload);
    match meta {
        Some(m) => out.extend_from_slice(m),
        None => out.push(0xc0),
    }
    Ok(())
}

/// Bytes of the stored value of `fields` (`sealed_len(n) = n + CHECK_SIZE`).
pub fn sealed_len(fields_len: usize) -> usize {
    fields_len + CHECK_SIZE
}

/// Write the stored value of a record's six fields into `out` (`sealed_len` bytes): the
/// head becomes `SEALED` and the checksum element follows. None when `fields` does not
/// start with `FIELDS` or `out` is not that long (nothing is written then).
pub fn seal_into(fields: &[u8], out: &mut [u8]) -> Option<()> {
    if fields.first() != Some(&FIELDS) || out.len() != sealed_len(fields.len()) {
        return None;
    }
    let n = fields.len();
    let (body, check) = out.split_at_mut(n + CHECK_TAG.len());
    body[..n].copy_from_slice(fields);
    body[0] = SEALED;
    body[n..].copy_from_slice(&CHECK_TAG);
    check.copy_from_slice(&crc(body).to_le_bytes());
    Some(())
}

/// The stored value of a record's six fields, as a new vector (see `seal_into`).
pub fn seal(fields: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0u8; sealed_len(fields.len())];
    seal_into(fields, &mut out)?;
    Some(out)
}

/// Whether a stored value carries a checksum (its head says seven elements).
pub fn has_checksum(value: &[u8]) -> bool {
    value.first() == Some(&SEALED)
}

/// Decode one stored value, checking its checksum (and, `require`, that it has one).
/// Nothing is checked against a key: `decode_under` does that.
pub fn decode_value(value: &[u8], require: bool) -> Result<RecordRef<'_>, Corrupt> {
    let sealed = has_checksum(value);
    if sealed && crc(value) != 0 {
        return Err(Corrupt::Checksum { len: value.len() });
    }
    let rec = decode_fields(value, sealed).map_err(|e| why_not(value, e))?;
    if require && !sealed {
        return Err(Corrupt::NoChecksum);
    }
    Ok(rec)
}

/// `decode_value` of the value stored under key `seq`: it must hold that seq.
pub fn decode_under(seq: u64, value: &[u8], require: bool) -> Result<RecordRef<'_>, Corrupt> {
    let rec = decode_value(value, require)?;
    if rec.seq != i128::from(seq) {
        return Err(Corrupt::WrongSeq {
            held: rec.seq,
            key: seq,
        });
    }
    Ok(rec)
}

/// The fields of a value, typed, in one pass; the checksum is not looked at.
fn decode_fields(value: &[u8], sealed: bool) -> Result<RecordRef<'_>, DecodeError> {
    let mut r = Reader::new(value);
    let rec = read_fields(&mut r, sealed)?;
    if !r.at_end() {
        return Err(DecodeError::Trailing(r.pos()));
    }
    Ok(rec)
}

/// One record's fields read from `r`, which is left after them (a batch holds many).
pub fn read_fields<'a>(r: &mut Reader<'a>, sealed: bool) -> Result<RecordRef<'a>, DecodeError> {
    let n = r.array(0)?;
    if n < 5 {
        return Err(DecodeError::TooShort(u64::from(n)));
    }
    let seq = r.int(0)?;
    let ts_ns = r.int(1)?;
    let stream = r.int(2)?;
    let kind = r.str(3)?;
    let kind = kind_code(kind.as_bytes()).ok_or_else(|| DecodeError::BadKind(py_str_repr(kind)))?;
    let payload = r.bin(4)?;
    let mut meta = None;
    if n > 5 {
        let start = r.pos();
        if let Some(pairs) = r.map_or_nil(5)? {
            for _ in 0..pairs {
                if !matches!(r.clone().head()?, Head::Str(_)) {
                    return Err(DecodeError::KeyNotStr(5));
                }
                r.str(5)?;
                r.skip()?;
            }
            meta = Some(r.since(start));
        }
        for _ in 6..n {
            r.skip()?;
        }
    }
    if !r.at_end() {
        return Err(DecodeError::Trailing(r.pos()));
    }
    Ok(RecordRef {
        seq,
        ts_ns,
        stream,
        kind,
        payload,
        meta,
        sealed,
    })
}

/// The reason a value is not a record, as precisely as it can be said: when the value is
/// valid msgpack, an array of four elements or more whose fourth is no kind, the kind is
/// named (as the Python codec always did); otherwise the decode error.
fn why_not(value: &[u8], err: DecodeError) -> Corrupt {
    let mut r = Reader::new(value);
    let mut all = r.clone();
    let whole = all.skip().is_ok() && all.at_end();
    if !whole {
        return Corrupt::Undecodable(err);
    }
    let Ok(n) = r.array(0) else {
        return Corrupt::Undecodable(err);
    };
    if n <= 3 {
        return Corrupt::Undecodable(err);
    }
    for _ in 0..3 {
        if r.skip().is_err() {
            return Corrupt::Undecodable(err);
        }
    }
    match python_repr(&mut r) {
        Some(repr) if repr.kind_name().is_none() => Corrupt::UnknownKind(repr.text),
        _ => Corrupt::Undecodable(err),
    }
}

/// The Python repr of a scalar element, where it is simple to give exactly.
struct Repr {
    text: String,
    kind: Option<u8>,
}

impl Repr {
    fn kind_name(&self) -> Option<u8> {
        self.kind
    }
}

fn python_repr(r: &mut Reader<'_>) -> Option<Repr> {
    let mut peek = r.clone();
    match peek.head().ok()? {
        Head::Str(_) => {
            let s = r.str(3).ok()?;
            Some(Repr {
                text: py_str_repr(s),
                kind: kind_code(s.as_bytes()),
            })
        }
        Head::Int => Some(Repr {
            text: r.int(3).ok()?.to_string(),
            kind: None,
        }),
        Head::Nil => Some(Repr {
            text: "None".into(),
            kind: None,
        }),
        Head::Bool => {
            let b = value_byte(r)?;
            Some(Repr {
                text: if b == 0xc3 { "True" } else { "False" }.into(),
                kind: None,
            })
        }
        Head::Bin(_) => Some(Repr {
            text: py_bytes_repr(r.bin(3).ok()?),
            kind: None,
        }),
        other => Some(Repr {
            text: format!("of msgpack type {}", other.name()),
            kind: None,
        }),
    }
}

fn value_byte(r: &mut Reader<'_>) -> Option<u8> {
    let start = r.pos();
    r.skip().ok()?;
    r.since(start).first().copied()
}

/// `repr(s)` as Python writes it for a str: quotes chosen as Python does, escapes for
/// control characters.
pub fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..=0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `repr(b)` as Python writes it for bytes (`b'...'`).
pub fn py_bytes_repr(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(quote as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push(quote as char);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(seq: i128, kind: u8, payload: &[u8], meta: Option<&[u8]>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_fields(&mut out, seq, 2, 3, kind, payload, meta).unwrap();
        out
    }

    #[test]
    fn the_stored_bytes_are_msgspecs_and_their_checksum() {
        // Pinned in tests/recorder/journal/test_codec.py too: on disk in every journal.
        assert_eq!(
            fields(1, 0, b"x", None),
            b"\x96\x01\x02\x03\xa5frame\xc4\x01x\xc0"
        );
        assert_eq!(
            seal(&fields(1, 0, b"x", None)).unwrap(),
            b"\x97\x01\x02\x03\xa5frame\xc4\x01x\xc0\xc4\x04\xfflJ\xf1"
        );
        assert_eq!(
            seal(&fields(1, 1, b"x", Some(b"\x81\xa3url\xa1u"))).unwrap(),
            b"\x97\x01\x02\x03\xa4rest\xc4\x01x\x81\xa3url\xa1u\xc4\x04\xa3\x1c\xce@"
        );
        let long = fields(1, 6, &[7u8; 300], None);
        assert_eq!(&long[..12], b"\x96\x01\x02\x03\xa4mark\xc5\x01\x2c");
        assert_eq!(seal(b"\x95\x01"), None);
        assert_eq!(
            encode_fields(&mut Vec::new(), 1 << 64, 0, 0, 0, b"", None),
            Err(EncodeError::IntOutOfRange(1 << 64))
        );
    }

    #[test]
    fn values_decode_sealed_or_not_and_under_their_key() {
        let f = fields(9, 3, b"abc", Some(b"\x80"));
        let v = seal(&f).unwrap();
        let rec = decode_under(9, &v, true).unwrap();
        assert_eq!(
            (rec.seq, rec.kind, rec.payload, rec.meta, rec.sealed),
            (9, 3, &b"abc"[..], Some(&b"\x80"[..]), true)
        );
        assert!(!decode_under(9, &f, false).unwrap().sealed);
        assert_eq!(decode_under(9, &f, true), Err(Corrupt::NoChecksum));
        assert_eq!(
            decode_under(8, &v, true),
            Err(Corrupt::WrongSeq { held: 9, key: 8 })
        );
        let five = b"\x95\x07\x01\x02\xa4mark\xc4\x01m";
        assert_eq!(decode_under(7, five, false).unwrap().meta, None);
    }

    #[test]
    fn a_bad_value_says_why_as_the_python_codec_did() {
        let v = seal(&fields(5, 0, b"{\"price\":\"100.5\"}", None)).unwrap();
        let mut bad = v.clone();
        bad[20] ^= 0xff;
        let why = decode_value(&bad, false).unwrap_err().to_string();
        assert_eq!(
            why,
            format!("damaged: checksum mismatch (a value of {} bytes)", v.len())
        );
        let opan = fields(3, 3, b"p", None)
            .iter()
            .map(|&b| if b == b'e' { b'a' } else { b })
            .collect::<Vec<_>>();
        assert_eq!(
            decode_value(&opan, false).unwrap_err().to_string(),
            "unknown kind 'opan'"
        );
        assert!(decode_value(b"\xc1", false)
            .unwrap_err()
            .to_string()
            .starts_with("value does not decode"));
        let cut = &fields(3, 3, b"p", None)[..8];
        assert!(decode_value(cut, false)
            .unwrap_err()
            .to_string()
            .starts_with("value does not decode"));
        let mut six = v.clone();
        six[0] = FIELDS; // says six elements: the checksum element is one too many
        assert!(decode_value(&six, true)
            .unwrap_err()
            .to_string()
            .starts_with("value does not decode"));
        assert_eq!(py_bytes_repr(b"\x00\x00'a"), "b\"\\x00\\x00'a\"");
        assert_eq!(py_str_repr("o'p"), "\"o'p\"");
    }
}
