//! The book's fold alone, on a capture's Binance USD-M depth diffs and book tickers.
//!
//!     cargo bench --manifest-path core/Cargo.toml -p ticktape --bench book_apply -- PATH [PASSES]
//!
//! PATH: JSON lines, one per event in the capture's order: `{"k":"s","U":..,"b":..,"a":..}`
//! (the REST snapshot), `{"k":"d","U":..,"u":..,"pu":..,"b":..,"a":..}` (a depth diff) or
//! `{"k":"t","u":..,"b":..,"B":..,"a":..,"A":..}` (a book ticker). From the hftbacktest
//! capture (from the repository root: `.venv/bin/python - > /tmp/depth.jsonl`):
//!
//! ```text
//! import gzip, json
//! from tools.captures import HFTBACKTEST_USDM
//! for line in gzip.open(HFTBACKTEST_USDM, "rb"):
//!     d = json.loads(line.partition(b" ")[2])
//!     if "stream" not in d:
//!         print(json.dumps({"k": "s", "U": d["lastUpdateId"], "b": d["bids"], "a": d["asks"]}))
//!     elif d["stream"].endswith("depth@0ms"):
//!         x = d["data"]
//!         print(json.dumps({"k": "d", "U": x["U"], "u": x["u"], "pu": x["pu"], "b": x["b"], "a": x["a"]}))
//!     elif d["stream"].endswith("bookTicker"):
//!         x = d["data"]
//!         print(json.dumps({"k": "t", **{k: x[k] for k in "ubBaA"}}))
//! ```
//!
//! Each pass folds every event into a fresh book (`binance-usdm`'s rule), each diff and
//! ticker from a fresh copy (in cache, as a just-decoded frame is); reported: ns per diff
//! applied (and levels per diff) and per ticker, the best pass (wall time: a busy machine
//! shows). One pass (PASSES 1) under `valgrind --tool=callgrind --toggle-collect='*Book::apply_delta*'`
//! counts the book's instructions alone.

use std::time::Instant;

use serde_json::Value;
use ticktape::book::{Book, Finding, OwnedDelta, OwnedLevel, Snapshot, Stamp, Ticker};
use ticktape::sync::{rule_of, Ids};

enum Ev {
    Snap(i64, Vec<(String, String)>, Vec<(String, String)>),
    Diff(OwnedDelta),
    Tick(Ticker<String>),
}

fn levels(v: &Value) -> Vec<(String, String)> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    let s = |i: usize| l[i].as_str().unwrap_or("").to_owned();
                    (s(0), s(1))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn owned(v: &Value) -> Vec<OwnedLevel> {
    levels(v)
        .into_iter()
        .map(|(price, size)| OwnedLevel {
            price,
            size,
            id: None,
        })
        .collect()
}

fn load(path: &str) -> Vec<Ev> {
    let text = std::fs::read_to_string(path).expect("read the events file");
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line).expect("a JSON line");
        let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
        let stamp = Stamp {
            seq: i as i64 + 1,
            ..Stamp::default()
        };
        out.push(match v["k"].as_str() {
            Some("s") => Ev::Snap(
                v["U"].as_i64().unwrap_or(0),
                levels(&v["b"]),
                levels(&v["a"]),
            ),
            Some("d") => Ev::Diff(OwnedDelta {
                venue: "binance-usdm".into(),
                symbol: "BTCUSDT".into(),
                norm: "BTC-USDT".into(),
                stamp,
                bids: owned(&v["b"]),
                asks: owned(&v["a"]),
                ids: Ids {
                    first: v["U"].as_i64(),
                    last: v["u"].as_i64(),
                    prev: v["pu"].as_i64(),
                },
                checksum: None,
            }),
            _ => Ev::Tick(Ticker {
                seq: stamp.seq,
                bid_px: s("b"),
                bid_sz: s("B"),
                ask_px: s("a"),
                ask_sz: s("A"),
                update_id: v["u"].as_i64(),
            }),
        });
    }
    out
}

/// One pass: (ns in diffs, diffs, levels, ns in tickers, tickers, findings).
fn pass(evs: &[Ev]) -> (u128, u64, u64, u128, u64, usize) {
    let mut book = Book::new(rule_of("binance-usdm"), false);
    let mut found: Vec<Finding> = Vec::new();
    let (mut td, mut nd, mut nl, mut tt, mut nt, mut nf) = (0u128, 0u64, 0u64, 0u128, 0u64, 0);
    for ev in evs {
        found.clear();
        match ev {
            Ev::Snap(u, b, a) => {
                let s = Snapshot {
                    stamp: Stamp::default(),
                    bids: b,
                    asks: a,
                    update_id: Some(*u),
                    depth: None,
                    checksum: None,
                    totals: None,
                };
                book.apply_snapshot(&s, &mut found).expect("snapshot");
            }
            Ev::Diff(d) => {
                // a fresh copy, in cache as a just-decoded frame is (not the load's)
                let d = d.clone();
                let synced = book.position().valid;
                let t0 = Instant::now();
                book.apply_delta(&d, &mut found).expect("delta");
                if synced {
                    td += t0.elapsed().as_nanos();
                    nd += 1;
                    nl += (d.bids.len() + d.asks.len()) as u64;
                }
            }
            Ev::Tick(t) => {
                let t = t.clone();
                let t0 = Instant::now();
                book.apply_ticker(&t, &mut found).expect("ticker");
                tt += t0.elapsed().as_nanos();
                nt += 1;
            }
        }
        nf += found.len();
    }
    (td, nd, nl, tt, nt, nf)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(path) = args.first() else {
        eprintln!("usage: book_apply PATH [PASSES] (see the file's docs)");
        return;
    };
    let passes: usize = args.get(1).and_then(|p| p.parse().ok()).unwrap_or(10);
    let evs = load(path);
    let mut best: Option<(u128, u64, u64, u128, u64, usize)> = None;
    for _ in 0..passes {
        let r = pass(&evs);
        best = Some(match best {
            Some(b) if b.0 + b.3 <= r.0 + r.3 => b,
            _ => r,
        });
    }
    if let Some((td, nd, nl, tt, nt, nf)) = best {
        println!(
            "diffs {nd} ({:.1} levels each): {:.0} ns per diff; tickers {nt}: {:.0} ns per ticker; findings {nf}",
            nl as f64 / nd.max(1) as f64,
            td as f64 / nd.max(1) as f64,
            tt as f64 / nt.max(1) as f64
        );
    }
}
