//! Properties over arbitrary input: the book never panics, whatever a venue or a damaged
//! journal sends; a side's order is the exact order of the values; price keys agree with the
//! general decimal reading.

use proptest::prelude::*;

use ticktape::book::{Book, OwnedDelta, OwnedLevel, Snapshot, Stamp, Ticker};
use ticktape::levels::Side;
use ticktape::price::decimal::{self, Decimal};
use ticktape::price::Price;
use ticktape::sync::{Ids, RULES};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,6}(\\.[0-9]{0,6})?",
        "[-+]?[0-9._]{0,12}([eE][-+]?[0-9]{0,20})?",
        "(?i)[+-]?(nan|snan|inf|infinity)[0-9]{0,3}",
        ".{0,8}",
        Just("1e-1999999999999999997".to_owned()),
        Just("9e999999999999999999".to_owned()),
    ]
}

fn id() -> impl Strategy<Value = Option<i64>> {
    prop_oneof![
        Just(None),
        (-3i64..300).prop_map(Some),
        Just(Some(i64::MAX)),
        Just(Some(i64::MIN))
    ]
}

fn level() -> impl Strategy<Value = OwnedLevel> {
    (
        text(),
        text(),
        proptest::option::of(prop_oneof!["[0-9]{1,3}", text()]),
    )
        .prop_map(|(price, size, id)| OwnedLevel { price, size, id })
}

#[derive(Debug, Clone)]
enum Ev {
    Delta(OwnedDelta),
    Snap(
        Vec<OwnedLevel>,
        Vec<OwnedLevel>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<(String, String)>,
    ),
    Tick(Option<i64>, [String; 4]),
}

fn event() -> impl Strategy<Value = Ev> {
    let levels = || proptest::collection::vec(level(), 0..6);
    prop_oneof![
        (levels(), levels(), id(), id(), id(), id()).prop_map(
            |(bids, asks, first, last, prev, checksum)| Ev::Delta(OwnedDelta {
                venue: "v".into(),
                symbol: "s".into(),
                norm: "n".into(),
                stamp: Stamp::default(),
                bids,
                asks,
                ids: Ids { first, last, prev },
                checksum,
            })
        ),
        (
            levels(),
            levels(),
            id(),
            proptest::option::of(1i64..50),
            id(),
            proptest::option::of((text(), text()))
        )
            .prop_map(|(b, a, u, depth, c, t)| Ev::Snap(b, a, u, depth, c, t)),
        (id(), [text(), text(), text(), text()]).prop_map(|(u, s)| Ev::Tick(u, s)),
    ]
}

proptest! {
    #[test]
    fn the_book_never_panics(rule in 0usize..RULES.len() + 1, sync_only: bool, events in proptest::collection::vec(event(), 0..40)) {
        let rule = RULES.get(rule).map(|r| r.1).unwrap_or_default();
        let mut book = Book::new(rule, sync_only);
        let mut found = Vec::new();
        for ev in &events {
            let _ = match ev {
                Ev::Delta(d) => book.apply_delta(d, &mut found),
                Ev::Snap(bids, asks, update_id, depth, checksum, totals) => {
                    let s = Snapshot {
                        stamp: Stamp::default(),
                        bids,
                        asks,
                        update_id: *update_id,
                        depth: *depth,
                        checksum: *checksum,
                        totals: totals.as_ref().map(|(a, b)| (a.as_str(), b.as_str())),
                    };
                    book.apply_snapshot(&s, &mut found)
                }
                Ev::Tick(u, [bp, bs, ap, asz]) => {
                    let t = Ticker { seq: 1, bid_px: bp.as_str(), bid_sz: bs.as_str(), ask_px: ap.as_str(), ask_sz: asz.as_str(), update_id: *u };
                    book.apply_ticker(&t, &mut found)
                }
            };
            let _ = book.okx_checksum();
            prop_assert!(book.buffer().len() <= ticktape::sync::BUFFER_LIMIT);
            prop_assert!(book.tickers().len() <= ticktape::sync::PENDING_TICKERS);
            prop_assert!(book.keeps_levels() || (book.bids().is_empty() && book.asks().is_empty()));
        }
    }

    #[test]
    fn price_keys_never_panic_and_agree_with_the_decimal(s in text()) {
        let general = match decimal::parse(&s) {
            Some(Decimal::Finite(f)) => !f.neg && !f.coeff.is_empty(),
            _ => false,
        };
        prop_assert_eq!(Price::parse(&s).is_some(), general);
        let _ = decimal::parse_int(&s);
    }

    /// Prices m * 10^-k (m < 10^15, k <= 20): exact order by cross-multiplying in u128.
    #[test]
    fn a_side_orders_levels_as_their_exact_values(
        levels in proptest::collection::vec((1u64..1_000_000_000_000_000, 0u32..=20, any::<bool>(), 0u8..3), 1..60),
        desc: bool,
    ) {
        let spell = |m: u64, k: u32, pad: u8| {
            let digits = format!("{m:0>width$}", width = k as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - k as usize);
            let s = if k == 0 { int.to_owned() } else { format!("{int}.{frac}") };
            s + &"0".repeat(if k > 0 { pad as usize } else { 0 })
        };
        let value = |m: u64, k: u32| u128::from(m) * 10u128.pow(20 - k);
        let mut side = Side::new(desc);
        let mut truth: Vec<(u128, String, String)> = Vec::new();
        for (i, &(m, k, zero, pad)) in levels.iter().enumerate() {
            let (p, q) = (spell(m, k, pad), if zero { "0".to_owned() } else { format!("{}", i + 1) });
            prop_assert_eq!(side.apply([(p.as_str(), q.as_str())]), 0);
            truth.retain(|t| t.0 != value(m, k));
            if !zero {
                truth.push((value(m, k), p, q));
            }
        }
        truth.sort_by(|a, b| if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
        let got: Vec<(String, String)> = side.iter().map(|l| (l.price.to_string(), l.size.to_string())).collect();
        let want: Vec<(String, String)> = truth.into_iter().map(|t| (t.1, t.2)).collect();
        prop_assert_eq!(got, want);
    }
}

proptest! {
    /// Keys past 19 significant digits (kept apart from the plain ones) mixed with plain keys
    /// of the same leading digits, respelled, removed and set again: one level per value, the
    /// newest spelling, the exact order (values m * 10^-k, m < 10^24, k <= 4, as u128).
    #[test]
    fn long_and_plain_keys_share_one_order(
        ops in proptest::collection::vec(
            (
                prop_oneof![
                    1u128..40,
                    (0u128..40).prop_map(|d| 10u128.pow(21) + d),
                    (0u128..40).prop_map(|d| 10u128.pow(23) - d),
                    (0u128..40).prop_map(|d| 10u128.pow(18) * 12 + d * 10u128.pow(14)),
                ],
                0u32..=4,
                0u8..3,
                0u8..4,
            ),
            1..120,
        ),
        desc: bool,
    ) {
        let spell = |m: u128, k: u32, pad: u8| {
            let digits = format!("{m:0>width$}", width = k as usize + 1);
            let (int, frac) = digits.split_at(digits.len() - k as usize);
            let s = if k == 0 { int.to_owned() } else { format!("{int}.{frac}") };
            s + &"0".repeat(if k > 0 { pad as usize } else { 0 })
        };
        let value = |m: u128, k: u32| m * 10u128.pow(4 - k);
        let mut side = Side::new(desc);
        let mut truth: Vec<(u128, String, String)> = Vec::new();
        for (i, &(m, k, pad, size)) in ops.iter().enumerate() {
            let p = spell(m, k, pad);
            let q = if size == 0 { "0".to_owned() } else { format!("{}.{}", i + 1, size) };
            prop_assert_eq!(side.apply([(p.as_str(), q.as_str())]), 0);
            truth.retain(|t| t.0 != value(m, k));
            if size != 0 {
                truth.push((value(m, k), p, q));
            }
        }
        truth.sort_by(|a, b| if desc { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
        let got: Vec<(String, String)> = side.iter().map(|l| (l.price.to_string(), l.size.to_string())).collect();
        let want: Vec<(String, String)> = truth.into_iter().map(|t| (t.1, t.2)).collect();
        prop_assert_eq!(side.len(), want.len());
        prop_assert_eq!(side.best().map(|(_, l)| (l.price.to_string(), l.size.to_string())), want.first().cloned());
        prop_assert_eq!(got, want);
    }
}
