//! Timing of the compiled frame decoders, per frame type: run by hand, never by `cargo test`
//! (timings on a shared machine are noise, not a check):
//!
//!     cargo test --release --manifest-path core/Cargo.toml -p ticktape --test decode_timing -- --ignored --nocapture
//!
//! The frames are Binance USD-M's as the capture holds them (a 68-level depth diff, a book
//! ticker, a trade). Under `valgrind --tool=callgrind` (`TIMING_ROUNDS=2000`, `TIMING_ONLY=trade`
//! for one type), the instruction counts per frame are steadier than the times.

use std::hint::black_box;
use std::time::Instant;

use ticktape::decode::Decoder;

fn depth_diff(levels: usize) -> Vec<u8> {
    let side = |base: f64, n: usize| -> String {
        (0..n)
            .map(|k| {
                format!(
                    r#"["{:.2}","{:.3}"]"#,
                    base + k as f64 * 0.1,
                    0.01 * k as f64
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"stream":"btcusdt@depth@0ms","data":{{"e":"depthUpdate","E":1723161256299,"T":1723161256298,"s":"BTCUSDT","U":5123107832006,"u":5123107837557,"pu":5123107831937,"b":[{}],"a":[{}]}}}}"#,
        side(61000.0, levels / 2),
        side(61800.0, levels - levels / 2)
    )
    .into_bytes()
}

const BOOK: &[u8] = br#"{"stream":"btcusdt@bookTicker","data":{"e":"bookTicker","u":5123107839020,"s":"BTCUSDT","b":"61800.20","B":"2.507","a":"61800.30","A":"2.510","T":1723161256313,"E":1723161256313}}"#;
const TRADE: &[u8] = br#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1723161256322,"T":1723161256322,"s":"BTCUSDT","t":5266583935,"p":"61800.30","q":"0.006","X":"MARKET","m":false}}"#;

#[test]
#[ignore = "a timing, run by hand"]
fn binance_frames() {
    let rounds: usize = std::env::var("TIMING_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(200_000);
    let dec = Decoder::for_stream(
        "binance-usdm",
        "usdm",
        "wss://fstream.binance.com/stream?streams=btcusdt@depth@0ms/btcusdt@bookTicker/btcusdt@trade",
    )
    .unwrap();
    let only = std::env::var("TIMING_ONLY").unwrap_or_default();
    let depth = depth_diff(68);
    for (name, frame, n) in [
        ("depth diff (68 levels)", &depth[..], rounds / 10),
        ("bookTicker", BOOK, rounds),
        ("trade", TRADE, rounds),
    ] {
        if !name.contains(only.as_str()) {
            continue;
        }
        assert_eq!(dec.frame(frame).unwrap().len(), 1);
        let t = Instant::now();
        for _ in 0..n {
            black_box(dec.frame(black_box(frame)).unwrap());
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{name:24} {us:8.3} us/frame ({n} frames)");
    }
}
