//! Each venue's rule driven through the book: what applies, what is stale, what is a Gap
//! (with expected/got), how each kind of venue re-syncs, and the findings in their order.

use ticktape::book::{
    Book, Finding, FoldError, GapReason, Mode, OwnedDelta, OwnedLevel, Snapshot, Stamp, Ticker,
};
use ticktape::sync::{rule_of, Ids, BUFFER_LIMIT};

type Lv = (&'static str, &'static str);

fn delta(
    first: Option<i64>,
    last: Option<i64>,
    prev: Option<i64>,
    bids: &[Lv],
    seq: i64,
) -> OwnedDelta {
    let lv = |l: &[Lv]| {
        l.iter()
            .map(|(p, q)| OwnedLevel {
                price: (*p).into(),
                size: (*q).into(),
                id: None,
            })
            .collect()
    };
    OwnedDelta {
        venue: "v".into(),
        symbol: "S".into(),
        norm: "S-T".into(),
        stamp: Stamp {
            exch_ts_ns: 0,
            recv_ts_ns: seq,
            seq,
        },
        bids: lv(bids),
        asks: Vec::new(),
        ids: Ids { first, last, prev },
        checksum: None,
    }
}

fn snap<'a>(update_id: Option<i64>, bids: &'a [Lv], asks: &'a [Lv], seq: i64) -> Snapshot<'a, Lv> {
    Snapshot {
        stamp: Stamp {
            exch_ts_ns: 0,
            recv_ts_ns: seq,
            seq,
        },
        bids,
        asks,
        update_id,
        depth: None,
        checksum: None,
        totals: None,
    }
}

/// The (expected, got, reason) of the Gaps found.
fn gaps(found: &[Finding]) -> Vec<(Option<i128>, Option<i128>, GapReason)> {
    found
        .iter()
        .filter_map(|f| {
            if let Finding::Gap(g) = f {
                Some((g.expected, g.got, g.reason))
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn binance_futures_brackets_the_snapshot_then_chains_pu() {
    let mut b = Book::new(rule_of("binance-usdm"), false);
    let mut f = Vec::new();
    b.apply_delta(
        &delta(Some(95), Some(100), Some(90), &[("9", "1")], 1),
        &mut f,
    )
    .unwrap();
    b.apply_delta(
        &delta(Some(101), Some(104), Some(100), &[("10", "2")], 2),
        &mut f,
    )
    .unwrap();
    assert_eq!((b.buffer().len(), b.needs_snapshot()), (2, true));
    b.apply_snapshot(
        &snap(Some(102), &[("10", "5"), ("8", "1")], &[("11", "1")], 3),
        &mut f,
    )
    .unwrap();
    assert!(f.is_empty() && b.position().valid && !b.position().pending);
    assert_eq!(b.position().last_id, Some(104));
    assert_eq!(
        b.bids()
            .iter()
            .map(|l| (l.price.as_str(), l.size.as_str()))
            .collect::<Vec<_>>(),
        [("10", "2"), ("8", "1")]
    );
    b.apply_delta(&delta(Some(110), Some(111), Some(109), &[], 4), &mut f)
        .unwrap();
    assert_eq!(gaps(&f), [(Some(104), Some(109), GapReason::Sequence)]);
    assert!(!b.position().valid && b.bids().is_empty() && b.buffer().len() == 1);
    f.clear();
    b.apply_snapshot(&snap(Some(105), &[], &[], 5), &mut f)
        .unwrap(); // older than the buffer
    assert_eq!(gaps(&f), [(Some(105), Some(110), GapReason::StaleSnapshot)]);
    assert_eq!(b.counts().gaps, 2);
}

#[test]
fn a_diff_beside_partial_pictures_takes_the_book_and_syncs_by_its_own_snapshot() {
    // Binance spot `depth20` and `depth` of one symbol, the picture first: the diffs are
    // buffered for the REST snapshot, as if no picture had come (no Gap, no resync).
    let mut b = Book::new(rule_of("binance-spot"), false);
    let mut f = Vec::new();
    let picture = |id, bids, seq| Snapshot {
        depth: Some(20),
        ..snap(Some(id), bids, &[], seq)
    };
    b.apply_snapshot(&picture(105, &[("10", "1"), ("7", "1")], 1), &mut f)
        .unwrap();
    assert_eq!(
        (b.position().mode, b.position().valid),
        (Mode::Partial, true)
    );
    for (i, (first, last)) in [(104, 106), (107, 109)].into_iter().enumerate() {
        let bids: &[Lv] = &[("9", if i == 0 { "3" } else { "4" })];
        b.apply_delta(
            &delta(Some(first), Some(last), None, bids, 2 + i as i64),
            &mut f,
        )
        .unwrap();
    }
    assert_eq!(b.position().mode, Mode::Diff);
    assert!(!b.position().valid && b.position().last_id.is_none() && b.bids().is_empty());
    assert_eq!((b.buffer().len(), b.needs_snapshot()), (2, true));
    b.apply_snapshot(&picture(109, &[("1", "1")], 4), &mut f)
        .unwrap(); // a later picture: ignored
    assert_eq!((b.buffer().len(), b.bids().len()), (2, 0));
    b.apply_snapshot(&snap(Some(107), &[("10", "1"), ("9", "3")], &[], 5), &mut f)
        .unwrap();
    b.apply_delta(&delta(Some(110), Some(112), None, &[("8", "1")], 6), &mut f)
        .unwrap();
    assert!(f.is_empty() && b.counts().gaps == 0 && b.position().valid);
    assert_eq!(b.position().last_id, Some(112));
    assert_eq!(
        b.bids()
            .iter()
            .map(|l| (l.price.as_str(), l.size.as_str()))
            .collect::<Vec<_>>(),
        [("10", "1"), ("9", "4"), ("8", "1")]
    );
}

#[test]
fn ranges_drop_old_updates_and_a_missing_range_is_a_gap() {
    for rule in ["binance-spot", "gate", "kucoin"] {
        let mut b = Book::new(rule_of(rule), false);
        let mut f = Vec::new();
        b.apply_snapshot(&snap(Some(10), &[("10", "1")], &[], 1), &mut f)
            .unwrap();
        let mut d = delta(Some(5), Some(10), None, &[], 2);
        b.apply_delta(&d, &mut f).unwrap();
        assert_eq!(b.counts().stale, 1, "{rule}");
        d = delta(Some(8), Some(12), None, &[("9", "1")], 3);
        if rule == "kucoin" {
            d.bids[0].id = Some("12".into());
        }
        b.apply_delta(&d, &mut f).unwrap();
        assert_eq!(
            (b.position().last_id, b.bids().len()),
            (Some(12), 2),
            "{rule}"
        );
        b.apply_delta(&delta(Some(14), Some(15), None, &[], 4), &mut f)
            .unwrap();
        assert_eq!(
            gaps(&f),
            [(Some(13), Some(14), GapReason::Sequence)],
            "{rule}"
        );
        f.clear();
        b.apply_snapshot(&snap(Some(14), &[], &[], 5), &mut f)
            .unwrap(); // the buffer replays
        assert!(
            f.is_empty() && b.position().valid && b.position().last_id == Some(15),
            "{rule}"
        );
    }
}

#[test]
fn kucoin_levels_the_snapshot_has_are_skipped_and_a_bad_id_stops_the_fold() {
    let mut b = Book::new(rule_of("kucoin"), false);
    let mut f = Vec::new();
    b.apply_snapshot(&snap(Some(100), &[("10", "1")], &[], 1), &mut f)
        .unwrap();
    let mut d = delta(Some(99), Some(101), None, &[("10", "5"), ("9", "2")], 2);
    d.bids[0].id = Some("100".into());
    d.bids[1].id = Some("101".into());
    b.apply_delta(&d, &mut f).unwrap();
    assert_eq!(
        b.bids().iter().map(|l| l.size.as_str()).collect::<Vec<_>>(),
        ["1", "2"]
    );
    let mut d = delta(Some(102), Some(102), None, &[("8", "1")], 3);
    d.bids[0].id = Some("x".into());
    assert_eq!(
        b.apply_delta(&d, &mut f),
        Err(FoldError::LevelId("x".into()))
    );
    d.bids[0].id = None;
    assert_eq!(b.apply_delta(&d, &mut f), Err(FoldError::MissingLevelId));
    assert_eq!(b.position().last_id, Some(101)); // nothing applied
}

#[test]
fn bybit_phemex_okx_and_upbit() {
    let mut by = Book::new(rule_of("bybit"), false);
    let mut f = Vec::new();
    by.apply_delta(&delta(None, Some(5), None, &[], 1), &mut f)
        .unwrap();
    assert_eq!((by.counts().stale, by.buffer().len()), (1, 0)); // not buffered: it resubscribes
    by.apply_snapshot(&snap(Some(500), &[], &[], 2), &mut f)
        .unwrap();
    by.apply_delta(&delta(None, Some(501), None, &[], 3), &mut f)
        .unwrap();
    by.apply_delta(&delta(None, Some(503), None, &[], 4), &mut f)
        .unwrap();
    assert_eq!(gaps(&f), [(Some(502), Some(503), GapReason::Sequence)]);

    let mut ph = Book::new(rule_of("phemex"), false);
    f.clear();
    ph.apply_snapshot(&snap(Some(7), &[], &[], 1), &mut f)
        .unwrap();
    ph.apply_delta(&delta(None, Some(30), None, &[], 2), &mut f)
        .unwrap();
    ph.apply_delta(&delta(None, Some(30), None, &[], 3), &mut f)
        .unwrap();
    assert_eq!(gaps(&f), [(Some(31), Some(30), GapReason::Sequence)]);

    let mut okx = Book::new(rule_of("okx"), false);
    f.clear();
    okx.apply_snapshot(&snap(Some(10), &[], &[], 1), &mut f)
        .unwrap();
    okx.apply_delta(&delta(None, Some(11), Some(10), &[], 2), &mut f)
        .unwrap();
    okx.apply_delta(&delta(None, Some(12), None, &[], 3), &mut f)
        .unwrap(); // 2022 frames: no prev
    okx.apply_delta(&delta(None, Some(14), Some(13), &[], 4), &mut f)
        .unwrap();
    assert_eq!(gaps(&f), [(Some(12), Some(13), GapReason::Sequence)]);

    let mut up = Book::new(rule_of("upbit"), false);
    f.clear();
    up.apply_snapshot(&snap(None, &[("100", "1")], &[("101", "1")], 1), &mut f)
        .unwrap();
    assert_eq!(up.position().mode, Mode::Snapshot);
    up.apply_delta(&delta(None, Some(5), None, &[("99", "1")], 2), &mut f)
        .unwrap();
    // not applied (no check); the delta marks the book "diff", as Python's did
    assert_eq!((up.position().mode, up.bids().len()), (Mode::Diff, 1));
    let totals = Snapshot {
        totals: Some(("2.5", "1")),
        ..snap(None, &[("100", "1.5"), ("99", "1.00")], &[("101", "1")], 3)
    };
    up.apply_snapshot(&totals, &mut f).unwrap();
    assert!(f.is_empty());
    let totals = Snapshot {
        totals: Some(("3", "1")),
        ..totals
    };
    up.apply_snapshot(&totals, &mut f).unwrap();
    assert_eq!(
        f,
        [Finding::TotalMismatch {
            bids: "2.50".into(),
            asks: "1".into()
        }]
    );
}

#[test]
fn the_buffer_keeps_the_newest_deltas_up_to_its_limit() {
    let mut b = Book::new(rule_of("gate"), false);
    let mut f = Vec::new();
    for i in 0..BUFFER_LIMIT as i64 + 3 {
        b.apply_delta(&delta(Some(i + 1), Some(i + 1), None, &[], i + 2), &mut f)
            .unwrap();
    }
    assert_eq!(b.buffer().len(), BUFFER_LIMIT);
    b.apply_snapshot(&snap(Some(3), &[], &[], 1), &mut f)
        .unwrap();
    assert!(f.is_empty() && b.position().last_id == Some(BUFFER_LIMIT as i64 + 3));
}

#[test]
fn findings_come_after_the_gaps_in_order_and_tickers_wait_for_their_id() {
    let mut b = Book::new(rule_of("binance-usdm"), false);
    let mut f = Vec::new();
    b.apply_snapshot(
        &snap(Some(100), &[("10", "1"), ("x", "1")], &[("11", "2")], 1),
        &mut f,
    )
    .unwrap();
    assert_eq!(f, [Finding::Rejected(1)]);
    f.clear();
    let t = |u, bid_sz| Ticker {
        seq: 9,
        bid_px: "10",
        bid_sz,
        ask_px: "11",
        ask_sz: "2",
        update_id: Some(u),
    };
    b.apply_ticker(&t(102, "4"), &mut f).unwrap(); // ahead: waits
    b.apply_delta(
        &delta(Some(99), Some(101), Some(98), &[("10", "3")], 2),
        &mut f,
    )
    .unwrap();
    b.apply_delta(
        &delta(
            Some(102),
            Some(102),
            Some(101),
            &[("10", "5"), ("11.5", "1")],
            3,
        ),
        &mut f,
    )
    .unwrap();
    assert_eq!(b.counts().ticker_bad, 1);
    assert_eq!(
        f,
        [
            Finding::Crossed { bid: "11.5".into(), ask: "11".into() },
            Finding::TickerMismatch {
                detail: "u 102 (ticker seq 9): book (Decimal('11.5'), Decimal('1')) (Decimal('11'), Decimal('2')), ticker 10/4 11/2".into()
            },
        ]
    );
}

#[test]
fn an_absent_id_stops_the_fold_as_python_raised() {
    let mut b = Book::new(rule_of("binance-spot"), false);
    let mut f = Vec::new();
    b.apply_snapshot(&snap(None, &[], &[], 1), &mut f).unwrap();
    let e = b
        .apply_delta(&delta(Some(1), Some(2), None, &[], 2), &mut f)
        .unwrap_err();
    assert!(
        matches!(e, FoldError::Ids(ref m) if m.0 == "'<=' not supported between instances of 'int' and 'NoneType'")
    );
    assert!(b.position().seen_delta && b.position().mode == Mode::Diff);
}
