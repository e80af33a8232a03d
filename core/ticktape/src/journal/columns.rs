//! A chunk of records as columns: what a reader hands out where no `Record` objects are
//! needed (verify, counting, a raw table). Plain arrays and one payload buffer with
//! offsets, the layout Arrow's binary arrays use.

use super::chunk::{decode_checked, BadPair};
use super::value::{decode_under, RecordRef};

/// The records of a chunk, column by column.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Columns {
    pub seq: Vec<i64>,
    pub ts_ns: Vec<i64>,
    pub stream: Vec<i64>,
    /// Each record's kind code (index in `value::KINDS`).
    pub kind: Vec<u8>,
    /// Record i's payload is `payloads[payload_offsets[i]..payload_offsets[i + 1]]`.
    pub payload_offsets: Vec<i64>,
    pub payloads: Vec<u8>,
    /// Record i's meta map (msgpack) is `metas[meta_offsets[i]..meta_offsets[i + 1]]`,
    /// empty when it has none.
    pub meta_offsets: Vec<i64>,
    pub metas: Vec<u8>,
    /// How many of the values carried a checksum.
    pub checked: usize,
}

impl Columns {
    fn with_capacity(n: usize) -> Self {
        let mut c = Columns {
            seq: Vec::with_capacity(n),
            ts_ns: Vec::with_capacity(n),
            stream: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            payload_offsets: Vec::with_capacity(n + 1),
            meta_offsets: Vec::with_capacity(n + 1),
            ..Columns::default()
        };
        c.payload_offsets.push(0);
        c.meta_offsets.push(0);
        c
    }

    /// Add one record; the reason when an int does not fit its column (an i64).
    fn push(&mut self, rec: &RecordRef<'_>) -> Result<(), String> {
        let col = |v: i128, what: &str| {
            i64::try_from(v).map_err(|_| format!("{what} {v} does not fit an int64 column"))
        };
        self.seq.push(col(rec.seq, "seq")?);
        self.ts_ns.push(col(rec.ts_ns, "ts_ns")?);
        self.stream.push(col(rec.stream, "stream")?);
        self.kind.push(rec.kind);
        self.payloads.extend_from_slice(rec.payload);
        self.payload_offsets.push(self.payloads.len() as i64);
        if let Some(m) = rec.meta {
            self.metas.extend_from_slice(m);
        }
        self.meta_offsets.push(self.metas.len() as i64);
        self.checked += usize::from(rec.sealed);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seq.is_empty()
    }

    /// Whether the times never go backwards within the chunk.
    pub fn ts_sorted(&self) -> bool {
        self.ts_ns.windows(2).all(|w| w[0] <= w[1])
    }

    /// The distinct stream ids, ascending.
    pub fn streams(&self) -> Vec<i64> {
        let mut s = self.stream.clone();
        s.sort_unstable();
        s.dedup();
        s
    }

    /// Each record's key (big-endian u64 seq) followed by its payload, all joined: what
    /// `recorder verify`'s payload digest hashes.
    pub fn keyed_payloads(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payloads.len() + 8 * self.len());
        for (i, seq) in self.seq.iter().enumerate() {
            out.extend_from_slice(&(*seq as u64).to_be_bytes());
            let lo = self.payload_offsets.get(i).copied().unwrap_or(0) as usize;
            let hi = self.payload_offsets.get(i + 1).copied().unwrap_or(0) as usize;
            out.extend_from_slice(self.payloads.get(lo..hi).unwrap_or_default());
        }
        out
    }
}

/// Columns of stored (key, value) pairs, checked as `chunk::decode_checked` checks them.
pub fn columns_checked(
    first_seq: u64,
    keys: &[&[u8]],
    values: &[&[u8]],
    require: bool,
) -> Result<Columns, BadPair> {
    let recs = decode_checked(first_seq, keys, values, require)?;
    let mut c = Columns::with_capacity(recs.len());
    for (i, rec) in recs.iter().enumerate() {
        let seq = first_seq.wrapping_add(i as u64);
        c.push(rec).map_err(|why| BadPair {
            seq,
            reason: format!("seq {seq}: {why}"),
        })?;
    }
    Ok(c)
}

/// Columns of the values stored under keys `first_seq`, +1, ... (a cursor walk that took
/// no keys: each value's seq is checked against the key it must have had). The reason of
/// a bad value is the value's alone (`Corrupt`), as a reader names it with its segment.
pub fn columns_from(first_seq: u64, values: &[&[u8]], require: bool) -> Result<Columns, BadPair> {
    let mut c = Columns::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let seq = first_seq.wrapping_add(i as u64);
        let bad = |reason: String| BadPair { seq, reason };
        let rec = decode_under(seq, v, require).map_err(|e| bad(e.to_string()))?;
        c.push(&rec).map_err(bad)?;
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::super::chunk::encode_key;
    use super::super::value::{encode_fields, seal};
    use super::*;

    #[test]
    fn a_chunk_becomes_columns_and_its_digest_input() {
        let values: Vec<Vec<u8>> = (1..=3)
            .map(|s| {
                let mut f = Vec::new();
                let meta: Option<&[u8]> = if s == 2 { Some(b"\x80") } else { None };
                encode_fields(&mut f, s, 10 * s, 1 + s % 2, 0, b"ab", meta).unwrap();
                seal(&f).unwrap()
            })
            .collect();
        let v: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let keys: Vec<[u8; 8]> = (1..=3).map(encode_key).collect();
        let k: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        let c = columns_checked(1, &k, &v, true).unwrap();
        assert_eq!(c, columns_from(1, &v, true).unwrap());
        assert_eq!(
            (c.seq.as_slice(), c.ts_ns.as_slice(), c.checked),
            (&[1, 2, 3][..], &[10, 20, 30][..], 3)
        );
        assert_eq!(
            (c.payload_offsets.as_slice(), c.meta_offsets.as_slice()),
            (&[0, 2, 4, 6][..], &[0, 0, 1, 1][..])
        );
        assert_eq!(c.streams(), [1, 2]);
        assert!(c.ts_sorted());
        assert_eq!(&c.keyed_payloads()[..10], b"\0\0\0\0\0\0\0\x01ab");
        assert_eq!(
            columns_from(2, &v, true).unwrap_err().reason,
            "value holds seq 1 under key 2"
        );
    }
}
