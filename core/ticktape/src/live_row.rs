//! A live-table row's payload (`state.live_row.LiveRow`, format 1) written as msgpack
//! straight from the fold's state: the recorder's publisher encodes the touched symbol's
//! row after each record without building Python objects. `state.live_row` decodes it
//! (and holds the reference encoder it is tested against).
//!
//! The payload is one msgpack array, in `LiveRow`'s field order: format, venue, symbol,
//! norm, seq, ts_ns, valid, has_book, bids `[[price, size], ...]`, asks, last trade
//! `[price, size, side, trade_id, exch_ts_ns, recv_ts_ns, seq]` or nil, ticker `{field:
//! value}`, quote `[bid_px, bid_sz, ask_px, ask_sz, exch_ts_ns, recv_ts_ns]` or nil.

use crate::fold::{LastTrade, Quote};

/// `state.live_row.ROW_FORMAT`.
pub const ROW_FORMAT: i64 = 1;

/// What a row holds, borrowed from the fold's state.
pub struct RowRef<'a> {
    pub venue: &'a str,
    pub symbol: &'a str,
    pub norm: &'a str,
    pub seq: i64,
    pub ts_ns: i64,
    pub valid: bool,
    pub has_book: bool,
    pub bids: Vec<(&'a str, &'a str)>,
    pub asks: Vec<(&'a str, &'a str)>,
    pub last_trade: Option<&'a LastTrade>,
    pub ticker: &'a [(&'static str, String)],
    pub quote: Option<&'a Quote>,
}

fn array(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x90 | n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0xdc);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdd);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn map(out: &mut Vec<u8>, n: usize) {
    if n < 16 {
        out.push(0x80 | n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0xde);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdf);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 32 {
        out.push(0xa0 | n as u8);
    } else if n <= u8::MAX as usize {
        out.push(0xd9);
        out.push(n as u8);
    } else if n <= u16::MAX as usize {
        out.push(0xda);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn int(out: &mut Vec<u8>, v: i64) {
    if (0..128).contains(&v) {
        out.push(v as u8);
    } else if (-32..0).contains(&v) {
        out.push(v as i8 as u8);
    } else {
        out.push(0xd3);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

fn boolean(out: &mut Vec<u8>, v: bool) {
    out.push(if v { 0xc3 } else { 0xc2 });
}

fn levels(out: &mut Vec<u8>, lv: &[(&str, &str)]) {
    array(out, lv.len());
    for (p, s) in lv {
        array(out, 2);
        string(out, p);
        string(out, s);
    }
}

/// Append the payload of `row` to `out`.
pub fn encode(row: &RowRef<'_>, out: &mut Vec<u8>) {
    array(out, 13);
    int(out, ROW_FORMAT);
    string(out, row.venue);
    string(out, row.symbol);
    string(out, row.norm);
    int(out, row.seq);
    int(out, row.ts_ns);
    boolean(out, row.valid);
    boolean(out, row.has_book);
    levels(out, &row.bids);
    levels(out, &row.asks);
    match row.last_trade {
        None => out.push(0xc0),
        Some(t) => {
            array(out, 7);
            string(out, &t.price);
            string(out, &t.size);
            string(out, &t.side);
            string(out, &t.trade_id);
            int(out, t.stamp.exch_ts_ns);
            int(out, t.stamp.recv_ts_ns);
            int(out, t.stamp.seq);
        }
    }
    map(out, row.ticker.len());
    for (k, v) in row.ticker {
        string(out, k);
        string(out, v);
    }
    match row.quote {
        None => out.push(0xc0),
        Some(q) => {
            array(out, 6);
            string(out, &q.bid_px);
            string(out, &q.bid_sz);
            string(out, &q.ask_px);
            string(out, &q.ask_sz);
            int(out, q.stamp.exch_ts_ns);
            int(out, q.stamp.recv_ts_ns);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_use_msgpack_forms() {
        let mut o = Vec::new();
        int(&mut o, 5);
        int(&mut o, -3);
        int(&mut o, 1 << 40);
        assert_eq!(o[..2], [5, 0xfd]);
        assert_eq!(o[2], 0xd3);
        let mut o = Vec::new();
        string(&mut o, &"x".repeat(40));
        assert_eq!(o[..2], [0xd9, 40]);
        let mut o = Vec::new();
        array(&mut o, 20);
        map(&mut o, 3);
        assert_eq!(o, [0xdc, 0, 20, 0x83]);
    }

    #[test]
    fn an_empty_row() {
        let row = RowRef {
            venue: "v",
            symbol: "s",
            norm: "n",
            seq: 1,
            ts_ns: 2,
            valid: false,
            has_book: false,
            bids: vec![],
            asks: vec![("1", "2")],
            last_trade: None,
            ticker: &[],
            quote: None,
        };
        let mut o = Vec::new();
        encode(&row, &mut o);
        let want = [
            0x9d, 1, 0xa1, b'v', 0xa1, b's', 0xa1, b'n', 1, 2, 0xc2, 0xc2, 0x90, 0x91, 0x92, 0xa1,
            b'1', 0xa1, b'2', 0xc0, 0x80, 0xc0,
        ];
        assert_eq!(o, want);
    }
}
