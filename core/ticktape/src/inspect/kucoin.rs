//! KuCoin's control frames (`recorder.venues.kucoin.parse_reply`, `is_keepalive`,
//! `error_text`).
//!
//! Every frame is an envelope with a `type`: market data is `message`; `welcome`, `ack`
//! and `pong` answer us (keep-alive answers: no data flows in them); `error` is
//! `{"id":..,"type":"error","code":404,"data":"topic .. is not found"}`. A frame holding
//! the bytes `"type":"message"` is data and is not parsed.

use std::borrow::Cow;

use super::contains;
use super::json::{Invalid, Parsed, Reader};

/// One control frame: its `type`, its `code` as Python prints it (`None` when absent or
/// null) and its `data` as it came (empty when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub kind: Cow<'a, str>,
    pub code: Cow<'a, str>,
    pub data: &'a [u8],
}

/// The envelope of a control frame, `None` for a message (market data) or a frame that
/// is no such JSON object.
pub fn parse_reply(payload: &[u8]) -> Option<Reply<'_>> {
    if contains(payload, b"\"type\":\"message\"") {
        return None;
    }
    decode(payload).ok().filter(|r| r.kind != "message")
}

fn decode(payload: &[u8]) -> Parsed<Reply<'_>> {
    let mut r = Reader::new(payload);
    let mut kind = None;
    let mut code = Cow::Borrowed("None");
    let mut data: &[u8] = b"";
    r.object(|r, key| {
        match key {
            b"type" => kind = Some(r.string()?),
            // int | str | null
            b"id" | b"code" => {
                let text = match r.peek() {
                    Some(b'"') => r.string()?,
                    Some(b'n') => {
                        r.null()?;
                        Cow::Borrowed("None")
                    }
                    _ => Cow::Borrowed(r.integer()?),
                };
                if key == b"code" {
                    code = text;
                }
            }
            b"data" => data = r.raw()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    Ok(Reply {
        kind: kind.ok_or(Invalid)?,
        code,
        data,
    })
}

/// True for `pong`, `welcome` and `ack`: answers that prove no data flows.
pub fn is_keepalive(payload: &[u8]) -> bool {
    parse_reply(payload).is_some_and(|r| matches!(&*r.kind, "pong" | "welcome" | "ack"))
}

/// `"<code>: <data>"` of an error frame (`data` as it came, its quotes stripped), `None`
/// for anything else.
pub fn frame_error(payload: &[u8]) -> Option<String> {
    let r = parse_reply(payload)?;
    if r.kind != "error" {
        return None;
    }
    let data = String::from_utf8_lossy(r.data);
    Some(format!("{}: {}", r.code, data.trim_matches('"')))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WELCOME: &[u8] = b"{\"id\":\"hQvf8jkno\",\"type\":\"welcome\"}";
    const PONG: &[u8] = b"{\"id\":\"1545910590801\",\"type\":\"pong\"}";
    const ACK: &[u8] = b"{\"id\":\"1545910660739\",\"type\":\"ack\"}";
    const ERROR: &[u8] = b"{\"id\":\"3\",\"type\":\"error\",\"code\":404,\"data\":\"topic /market/ticker:XX-YY is not found\"}";
    const DATA: &[u8] = b"{\"type\":\"message\",\"topic\":\"/market/level2:BTC-USDT\",\"subject\":\"trade.l2update\",\"data\":{\"changes\":{\"asks\":[[\"18906\",\"0.00331\",\"14103845\"]],\"bids\":[]},\"sequenceEnd\":14103845,\"sequenceStart\":14103845,\"symbol\":\"BTC-USDT\",\"time\":1663747970273}}";

    #[test]
    fn keepalives() {
        for p in [WELCOME, PONG, ACK, b" {\"type\":\"ack\",\"id\":7} "] {
            assert!(is_keepalive(p), "{:?}", String::from_utf8_lossy(p));
        }
        for p in [
            ERROR,
            DATA,
            b"garbage",
            b"{\"id\":\"1\"}",
            b"{\"type\":\"pong\",\"id\":1.5}",
            b"{\"type\":\"pong\",\"code\":true}",
            b"{\"type\" : \"message\"}",
        ] {
            assert!(!is_keepalive(p), "{:?}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            frame_error(ERROR).as_deref(),
            Some("404: topic /market/ticker:XX-YY is not found")
        );
        assert_eq!(
            frame_error(b"{\"type\":\"error\",\"code\":\"509\",\"data\":\"\\\"x\"}").as_deref(),
            Some("509: \\\"x")
        );
        assert_eq!(
            frame_error(b"{\"type\":\"error\"}").as_deref(),
            Some("None: ")
        );
        assert_eq!(
            frame_error(b"{\"type\":\"error\",\"code\":-0,\"data\":{\"a\":[1, 2]}}").as_deref(),
            Some("0: {\"a\":[1, 2]}")
        );
        for p in [ACK, PONG, DATA, b"{\"type\":\"error\",\"code\":\"a\xffb\"}"] {
            assert_eq!(frame_error(p), None, "{:?}", String::from_utf8_lossy(p));
        }
    }

    proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = [&b"{\"type\":\"error\",\"data\":"[..], &tail[..]].concat();
            let _ = frame_error(&p);
            let _ = frame_error(&tail);
            let _ = is_keepalive(&tail);
        }
    }
}
