//! Many values at once: a reader's chunk, compaction's checked run, the committer's batch.
//!
//! One call per chunk or batch, so a caller in Python crosses into Rust once per 4096
//! values (a read) or per group commit (a write), never once per value.

use super::msgpack::{DecodeError, Reader};
use super::value::{
    decode_under, decode_value, has_checksum, py_bytes_repr, Corrupt, RecordRef, FIELDS,
};
use crate::crc::crc;

/// How many of `values` carry no checksum, or None when one is damaged (its checksum does
/// not match, it is empty, or `require` and it carries none). None says only that something
/// failed: `decode_value` says which value, and why.
pub fn check_values(values: &[&[u8]], require: bool) -> Option<usize> {
    let mut unchecked = 0;
    for v in values {
        if has_checksum(v) {
            if crc(v) != 0 {
                return None;
            }
        } else if require || v.is_empty() {
            return None;
        } else {
            unchecked += 1;
        }
    }
    Some(unchecked)
}

/// How many of `values` carry a checksum.
pub fn count_checked(values: &[&[u8]]) -> usize {
    values.iter().filter(|v| has_checksum(v)).count()
}

/// Every value checked and decoded; the index and reason of the first that is not a record.
/// Nothing is checked against keys (`decode_checked` does).
pub fn decode_values<'a>(
    values: &[&'a [u8]],
    require: bool,
) -> Result<Vec<RecordRef<'a>>, (usize, Corrupt)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| decode_value(v, require).map_err(|e| (i, e)))
        .collect()
}

/// Why a run of stored (key, value) pairs is not the records `first_seq`, +1, ...: the seq
/// to name and the whole reason (`CorruptValueError(seq, reason)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPair {
    pub seq: u64,
    pub reason: String,
}

/// Stored (key, value) pairs checked and decoded: every key the next u64 seq from
/// `first_seq`, every value whole (checksum; one where `require`d), decodable and holding
/// its key's seq. The first bad pair is named, with the reasons the Python codec gave.
pub fn decode_checked<'a>(
    first_seq: u64,
    keys: &[&[u8]],
    values: &[&'a [u8]],
    require: bool,
) -> Result<Vec<RecordRef<'a>>, BadPair> {
    if keys.len() != values.len() {
        return Err(BadPair {
            seq: first_seq,
            reason: format!("{} keys for {} values", keys.len(), values.len()),
        });
    }
    let mut out = Vec::with_capacity(values.len());
    for (i, (key, value)) in keys.iter().zip(values).enumerate() {
        let seq = first_seq.wrapping_add(i as u64);
        let Ok(k) = <[u8; 8]>::try_from(*key) else {
            let reason = format!(
                "key {} where seq {seq} was expected (not a u64)",
                py_bytes_repr(key)
            );
            return Err(BadPair { seq, reason });
        };
        let k = u64::from_be_bytes(k);
        if k != seq {
            return Err(BadPair {
                seq,
                reason: format!("seq {k} where {seq} was expected"),
            });
        }
        match decode_under(seq, value, require) {
            Ok(rec) => out.push(rec),
            Err(e) => {
                return Err(BadPair {
                    seq,
                    reason: format!("seq {seq}: {e}"),
                })
            }
        }
    }
    Ok(out)
}

/// Why a committer's batch cannot be stored as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The batch is not a msgpack array of records' fields.
    Undecodable { index: usize, err: DecodeError },
    /// An element is not six fields (`FIELDS`).
    NotFields { index: usize },
    /// The batch holds another number of records than announced.
    Count { held: u64, announced: u64 },
    /// An element holds another seq than its place in the batch gives it.
    Seq {
        index: usize,
        held: i128,
        expected: u64,
    },
}

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BatchError::Undecodable { index, err } => {
                write!(f, "batch element {index} does not decode: {err}")
            }
            BatchError::NotFields { index } => {
                write!(f, "batch element {index} is not a record's six fields")
            }
            BatchError::Count { held, announced } => {
                write!(f, "batch of {held} records announced as {announced}")
            }
            BatchError::Seq {
                index,
                held,
                expected,
            } => {
                write!(
                    f,
                    "batch element {index} holds seq {held} where {expected} was expected"
                )
            }
        }
    }
}

/// The elements of a batch (a msgpack array whose elements are records' six fields, as
/// msgspec encodes a list of records), each checked to decode as a record (typed, one
/// pass) and to hold seq `first_seq + index`, as the slices of `blob` they are.
pub fn split_batch(blob: &[u8], first_seq: u64, count: u64) -> Result<Vec<&[u8]>, BatchError> {
    let mut r = Reader::new(blob);
    let held = r
        .array(0)
        .map_err(|err| BatchError::Undecodable { index: 0, err })?;
    if u64::from(held) != count {
        return Err(BatchError::Count {
            held: held.into(),
            announced: count,
        });
    }
    let mut out = Vec::with_capacity(held as usize);
    for index in 0..held as usize {
        let start = r.pos();
        r.skip()
            .map_err(|err| BatchError::Undecodable { index, err })?;
        let fields = r.since(start);
        if fields.first() != Some(&FIELDS) {
            return Err(BatchError::NotFields { index });
        }
        let rec = decode_value(fields, false).map_err(|e| match e {
            Corrupt::Undecodable(err) => BatchError::Undecodable { index, err },
            _ => BatchError::NotFields { index },
        })?;
        let expected = first_seq.wrapping_add(index as u64);
        if rec.seq != i128::from(expected) {
            return Err(BatchError::Seq {
                index,
                held: rec.seq,
                expected,
            });
        }
        out.push(fields);
    }
    if !r.at_end() {
        return Err(BatchError::Undecodable {
            index: held as usize,
            err: DecodeError::Trailing(r.pos()),
        });
    }
    Ok(out)
}

/// The key of `seq`: a big-endian u64, so LMDB's byte
/// order is seq order.
pub fn encode_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::value::{encode_fields, seal};
    use super::*;

    fn fields(seq: i128) -> Vec<u8> {
        let mut out = Vec::new();
        encode_fields(
            &mut out,
            seq,
            1_700_000_000_000_000_000 + seq,
            1,
            (seq % 7) as u8,
            b"payload",
            None,
        )
        .unwrap();
        out
    }

    #[test]
    fn a_batch_splits_into_its_records_fields() {
        let recs: Vec<Vec<u8>> = (5..25).map(fields).collect();
        let mut blob = vec![0xdc, 0, 20];
        for f in &recs {
            blob.extend_from_slice(f);
        }
        let got = split_batch(&blob, 5, 20).unwrap();
        assert_eq!(got, recs.iter().map(Vec::as_slice).collect::<Vec<_>>());
        assert_eq!(
            split_batch(&blob, 6, 20),
            Err(BatchError::Seq {
                index: 0,
                held: 5,
                expected: 6
            })
        );
        assert_eq!(
            split_batch(&blob, 5, 21),
            Err(BatchError::Count {
                held: 20,
                announced: 21
            })
        );
        assert!(split_batch(&blob[..blob.len() - 1], 5, 20).is_err());
    }

    #[test]
    fn a_checked_run_names_the_first_bad_pair() {
        let values: Vec<Vec<u8>> = (1..40).map(|s| seal(&fields(s)).unwrap()).collect();
        let keys: Vec<[u8; 8]> = (1..40).map(encode_key).collect();
        let k: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        let v: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        assert_eq!(decode_checked(1, &k, &v, true).unwrap().len(), 39);
        assert_eq!(
            decode_checked(2, &k, &v, true).unwrap_err().reason,
            "seq 1 where 2 was expected"
        );
        let mut short = k.clone();
        short[5] = &[0u8; 7];
        let bad = decode_checked(1, &short, &v, true).unwrap_err();
        assert_eq!(
            (bad.seq, bad.reason.as_str()),
            (
                6,
                "key b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00' where seq 6 was expected (not a u64)"
            )
        );
        let mut swapped = v.clone();
        swapped[9] = v[12];
        assert_eq!(
            decode_checked(1, &k, &swapped, true).unwrap_err().reason,
            "seq 10: value holds seq 13 under key 10"
        );
        assert_eq!(
            decode_checked(1, &k[1..], &v, true).unwrap_err().reason,
            "38 keys for 39 values"
        );
        assert_eq!(check_values(&v, true), Some(0));
        assert_eq!(count_checked(&v), 39);
    }
}
