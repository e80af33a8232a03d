//! Properties of the journal codec: what it encodes decodes back, and no damaged value,
//! key or batch makes it panic: each is a `Corrupt` (or `BatchError`) instead.

use proptest::prelude::*;
use ticktape::crc::crc;
use ticktape::journal::chunk::{check_values, decode_checked, encode_key, split_batch};
use ticktape::journal::value::{decode_under, decode_value, encode_fields, seal, Corrupt, KINDS};

fn int() -> impl Strategy<Value = i128> {
    prop_oneof![
        -40i128..300,
        any::<u64>().prop_map(i128::from),
        any::<i64>().prop_map(i128::from),
        Just(0xffff),
        Just(0x10000),
        Just(0xffff_ffff),
        Just(0x1_0000_0000),
        Just(-0x8001),
    ]
}

fn meta() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(vec![0x80])),
        Just(Some(b"\x82\xa3url\xa1u\xa6status\xcc\xc8".to_vec())),
        Just(Some(
            b"\x81\xa7wall_ns\xcf\x17\x9a\x6c\x2c\x64\x3e\x00\x00".to_vec()
        )),
    ]
}

prop_compose! {
    fn record()(seq in any::<u64>(), ts in int(), stream in int(), kind in 0u8..7,
                payload in prop::collection::vec(any::<u8>(), 0..400), meta in meta())
                -> (u64, i128, i128, u8, Vec<u8>, Option<Vec<u8>>) {
        (seq, ts, stream, kind, payload, meta)
    }
}

fn fields_of(r: &(u64, i128, i128, u8, Vec<u8>, Option<Vec<u8>>)) -> Vec<u8> {
    let mut out = Vec::new();
    encode_fields(
        &mut out,
        i128::from(r.0),
        r.1,
        r.2,
        r.3,
        &r.4,
        r.5.as_deref(),
    )
    .unwrap();
    out
}

proptest! {
    #[test]
    fn a_sealed_record_decodes_back_to_its_fields(r in record()) {
        let fields = fields_of(&r);
        let value = seal(&fields).unwrap();
        prop_assert_eq!(crc(&value), 0);
        for (v, sealed) in [(&value, true), (&fields, false)] {
            let rec = decode_under(r.0, v, false).unwrap();
            prop_assert_eq!((rec.seq, rec.ts_ns, rec.stream, rec.kind), (i128::from(r.0), r.1, r.2, r.3));
            prop_assert_eq!(rec.payload, &r.4[..]);
            prop_assert_eq!(rec.meta, r.5.as_deref());
            prop_assert_eq!(rec.sealed, sealed);
        }
        prop_assert_eq!(KINDS.len(), 7);
    }

    #[test]
    fn any_damage_to_a_sealed_value_is_caught(r in record(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let mut value = seal(&fields_of(&r)).unwrap();
        let i = at.index(value.len());
        value[i] ^= flip;
        // A damaged head no longer says "sealed": then it must not decode as a whole record.
        prop_assert!(decode_value(&value, true).is_err());
        if i > 0 {
            prop_assert_eq!(decode_value(&value, false), Err(Corrupt::Checksum { len: value.len() }));
        }
    }

    #[test]
    fn cut_values_fail_and_never_panic(r in record(), cut in any::<prop::sample::Index>()) {
        let fields = fields_of(&r);
        let value = seal(&fields).unwrap();
        let n = cut.index(value.len());
        prop_assert!(decode_value(&value[..n], false).is_err());
        let m = cut.index(fields.len());
        prop_assert!(decode_value(&fields[..m], false).is_err());
        prop_assert!(check_values(&[&value[..n]], true).is_none());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), seq in any::<u64>()) {
        let _ = decode_value(&bytes, false);
        let _ = decode_under(seq, &bytes, true);
        let _ = split_batch(&bytes, seq, 3);
        let _ = check_values(&[&bytes], false);
        let key = encode_key(seq);
        let _ = decode_checked(seq, &[&key, &bytes[..bytes.len().min(8)]], &[&bytes, &bytes], false);
        // The same bytes behind a fields head: the typed paths past the head run too.
        let mut head = vec![0x96u8];
        head.extend_from_slice(&bytes);
        let _ = decode_value(&head, false);
    }

    #[test]
    fn a_batch_splits_and_seals_to_the_stored_values(recs in prop::collection::vec(record(), 1..20), first in 1u64..1 << 40) {
        let mut blob = vec![0xdc, 0, recs.len() as u8];
        let mut want = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            let mut r = r.clone();
            r.0 = first + i as u64;
            let f = fields_of(&r);
            blob.extend_from_slice(&f);
            want.push(f);
        }
        let got = split_batch(&blob, first, recs.len() as u64).unwrap();
        prop_assert_eq!(got, want.iter().map(Vec::as_slice).collect::<Vec<_>>());
        for cut in [1, blob.len() / 2, blob.len() - 1] {
            prop_assert!(split_batch(&blob[..cut], first, recs.len() as u64).is_err());
        }
    }
}
