//! Bybit v5 replies: acks, refusals and pongs (`recorder.venues.bybit.parse_reply`).
//!
//! A reply is an object with `op` and no `topic`: `{"success":true,"ret_msg":"subscribe",
//! "conn_id":..,"op":"subscribe"}`, a refusal with `"success":false` and the reason in
//! `ret_msg`, the pong `{"success":true,"ret_msg":"pong",..,"op":"ping"}` (the option
//! market's pong has `"op":"pong"`). Data frames name their `topic` in the first 40
//! bytes and are not parsed.

use std::borrow::Cow;

use super::json::{Parsed, Reader};
use super::{contains, head};

/// One reply: the fields the rules read (`conn_id` and `req_id` are checked, not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub op: Cow<'a, str>,
    /// Absent (or null) on the option market's pong.
    pub success: Option<bool>,
    pub ret_msg: Cow<'a, str>,
}

/// The ack, refusal or pong in `payload`, `None` for market data and anything unreadable.
pub fn parse_reply(payload: &[u8]) -> Option<Reply<'_>> {
    if contains(head(payload, 40), b"\"topic\"") || !contains(payload, b"\"op\"") {
        return None;
    }
    decode(payload).ok()
}

fn decode(payload: &[u8]) -> Parsed<Reply<'_>> {
    let mut r = Reader::new(payload);
    let mut op = None;
    let mut success = None;
    let mut ret_msg = Cow::Borrowed("");
    r.object(|r, key| {
        match key {
            b"op" => op = Some(r.string()?),
            b"success" => success = if r.null()? { None } else { Some(r.boolean()?) },
            b"ret_msg" => ret_msg = r.string()?,
            b"conn_id" | b"req_id" => {
                r.string()?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    // `op` is the one field without a default
    let op = op.ok_or(super::json::Invalid)?;
    Ok(Reply {
        op,
        success,
        ret_msg,
    })
}

/// True for the answer to our ping (`ret_msg` pong of `op` ping, or `op` pong).
pub fn is_pong(payload: &[u8]) -> bool {
    parse_reply(payload).is_some_and(|r| r.op == "pong" || (r.op == "ping" && r.ret_msg == "pong"))
}

/// `"<op>: <ret_msg>"` of a refusal (`success` false), `None` for anything else.
pub fn frame_error(payload: &[u8]) -> Option<String> {
    let r = parse_reply(payload)?;
    (r.success == Some(false)).then(|| format!("{}: {}", r.op, r.ret_msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SPOT_PONG: &[u8] = b"{\"success\":true,\"ret_msg\":\"pong\",\"conn_id\":\"0970e817-426e-429a-a679-ff7f55e0b16a\",\"op\":\"ping\"}";
    const LINEAR_PONG: &[u8] = b"{\"success\":true,\"ret_msg\":\"pong\",\"conn_id\":\"465772b1-7630-4fdc-a492-e003e6f0f260\",\"req_id\":\"\",\"op\":\"ping\"}";
    const OPTION_PONG: &[u8] = b"{\"req_id\":\"\",\"op\":\"pong\",\"args\":[\"1675418560633\"],\"conn_id\":\"cfcb4ocsvfriu23r3er0\"}";
    const ACK: &[u8] = b"{\"success\":true,\"ret_msg\":\"subscribe\",\"conn_id\":\"2324d924-aa4d-45b0-a858-7b8be29ab52b\",\"req_id\":\"ticktape-0-0\",\"op\":\"subscribe\"}";
    const REFUSAL: &[u8] = b"{\"success\":false,\"ret_msg\":\"Invalid symbol :[orderbook.50.NOPEUSDT]\",\"conn_id\":\"c1\",\"req_id\":\"ticktape-0-0\",\"op\":\"subscribe\"}";
    const DATA: &[u8] = b"{\"topic\":\"orderbook.50.BTCUSDT\",\"ts\":1672304484978,\"type\":\"delta\",\"data\":{\"s\":\"BTCUSDT\",\"b\":[[\"16493.50\",\"0.006\"]],\"a\":[],\"u\":18521288,\"seq\":7961638724},\"cts\":1672304484976}";

    #[test]
    fn pongs() {
        for p in [SPOT_PONG, LINEAR_PONG, OPTION_PONG] {
            assert!(is_pong(p), "{:?}", String::from_utf8_lossy(p));
            assert_eq!(frame_error(p), None);
        }
        for p in [ACK, REFUSAL, DATA, b"{\"op\":\"ping\"}", b"pong", b""] {
            assert!(!is_pong(p), "{:?}", String::from_utf8_lossy(p));
        }
        assert!(is_pong(b"{\"op\":\"p\\u0069ng\",\"ret_msg\":\"pong\"}"));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            frame_error(REFUSAL).as_deref(),
            Some("subscribe: Invalid symbol :[orderbook.50.NOPEUSDT]")
        );
        assert_eq!(
            frame_error(b" {\"success\":false,\"op\":\"unsubscribe\"}").as_deref(),
            Some("unsubscribe: ")
        );
        for p in [
            ACK,
            DATA,
            b"{\"success\":false,\"ret_msg\":\"x\"}", // no op
            b"{\"success\":false,\"op\":\"s\",\"ret_msg\":null}",
            b"{\"success\":false,\"op\":\"s\",\"conn_id\":1}",
            b"{\"success\":\"false\",\"op\":\"s\"}",
            b"{\"success\":false,\"op\":\"s\"} x",
            b"{\"success\":false,\"op\":\"s\",\"ret_msg\":\"a\xffb\"}",
            b"{\"topic\":\"x\",\"success\":false,\"op\":\"s\"}",
        ] {
            assert_eq!(frame_error(p), None, "{:?}", String::from_utf8_lossy(p));
        }
    }

    proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = [&b"{\"op\":"[..], &tail[..]].concat();
            let _ = frame_error(&p);
            let _ = is_pong(&p);
            let _ = frame_error(&tail);
        }
    }
}
