//! OKX v5 replies and the text pong (`recorder.venues.okx.parse_event`, `is_pong`).
//!
//! A reply is an object with `event`: an ack `{"event":"subscribe","arg":{..},"connId":..}`,
//! an error `{"event":"error","code":"60018","msg":..,"connId":..}` or a notice
//! `{"event":"notice","code":"64008",..}` (a reconnect soon). Data frames start with
//! `arg` and carry no `event` in their first 64 bytes, so they are not parsed.

use std::borrow::Cow;

use super::json::{Parsed, Reader};
use super::{contains, head, strip};

/// The answer to our text `ping`.
pub const PONG: &[u8] = b"pong";

/// One reply: its `event` and the `code`/`msg` of an error or notice (`arg`, `id` and
/// `connId` are checked, not kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub event: Cow<'a, str>,
    pub code: Cow<'a, str>,
    pub msg: Cow<'a, str>,
}

/// The reply in `payload`, `None` for data, `pong` and garbage.
pub fn parse_event(payload: &[u8]) -> Option<Reply<'_>> {
    if !payload.starts_with(b"{\"event\"") && !contains(head(payload, 64), b"\"event\"") {
        return None;
    }
    decode(payload).ok().flatten()
}

fn decode(payload: &[u8]) -> Parsed<Option<Reply<'_>>> {
    let mut r = Reader::new(payload);
    let mut event = None;
    let mut code = Cow::Borrowed("");
    let mut msg = Cow::Borrowed("");
    r.object(|r, key| {
        match key {
            b"event" => event = if r.null()? { None } else { Some(r.string()?) },
            b"code" => code = r.string()?,
            b"msg" | b"connId" => {
                let s = r.string()?;
                if key == b"msg" {
                    msg = s;
                }
            }
            b"id" => {
                if !r.null()? {
                    r.string()?;
                }
            }
            b"arg" => {
                if !r.null()? {
                    arg(r)?;
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    Ok(event.map(|event| Reply { event, code, msg }))
}

/// Checks an ack's `{"channel":str,"instId":str}`.
fn arg(r: &mut Reader<'_>) -> Parsed<()> {
    r.object(|r, key| {
        match key {
            b"channel" | b"instId" => {
                r.string()?;
            }
            _ => r.skip()?,
        }
        Ok(())
    })
}

/// `"<code>: <msg>"` of an error reply or a notice, `None` for anything else.
pub fn frame_error(payload: &[u8]) -> Option<String> {
    let r = parse_event(payload)?;
    matches!(&*r.event, "error" | "notice").then(|| format!("{}: {}", r.code, r.msg))
}

/// True for the keep-alive answer, the text `pong` (any surrounding ASCII whitespace).
pub fn is_pong(payload: &[u8]) -> bool {
    strip(payload) == PONG
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACK: &[u8] = b"{\"event\":\"subscribe\",\"arg\":{\"channel\":\"books\",\"instId\":\"BTC-USDT\"},\"connId\":\"a4d3ae55\"}";
    const ERROR: &[u8] = b"{\"event\":\"error\",\"code\":\"60018\",\"msg\":\"Wrong URL or channel:books,instId:NOPE-USDT doesn't exist.\",\"connId\":\"a4d3ae55\"}";
    const NOTICE: &[u8] = b"{\"event\":\"notice\",\"code\":\"64008\",\"msg\":\"The connection will soon be closed for a service upgrade. Please reconnect.\",\"connId\":\"a4d3ae55\"}";
    const DATA: &[u8] = b"{\"arg\":{\"channel\":\"books\",\"instId\":\"BTC-USDT\"},\"action\":\"update\",\"data\":[{\"asks\":[[\"8476.98\",\"415\",\"0\",\"13\"]],\"bids\":[],\"ts\":\"1597026383085\",\"checksum\":-1200119424,\"prevSeqId\":123,\"seqId\":124}]}";

    #[test]
    fn errors_and_notices() {
        assert_eq!(
            frame_error(ERROR).as_deref(),
            Some("60018: Wrong URL or channel:books,instId:NOPE-USDT doesn't exist.")
        );
        assert!(frame_error(NOTICE).unwrap().starts_with("64008: "));
        assert_eq!(
            frame_error(b"{\"id\":\"7\",\"event\":\"error\"}").as_deref(),
            Some(": ")
        );
        for p in [
            ACK,
            DATA,
            PONG,
            b"{\"event\":null,\"code\":\"1\"}",
            b"{\"event\":\"error\",\"code\":60018}",
            b"{\"event\":\"error\",\"arg\":[]}",
            b"{\"event\":\"error\",\"id\":1}",
            b"{\"event\":\"error\",\"msg\":\"a\xffb\"}",
            b"{\"event\":\"error\"",
        ] {
            assert_eq!(frame_error(p), None, "{:?}", String::from_utf8_lossy(p));
        }
        assert_eq!(
            parse_event(ACK).map(|r| r.event.into_owned()),
            Some("subscribe".into())
        );
    }

    #[test]
    fn pongs() {
        assert!(is_pong(b"pong"));
        assert!(is_pong(b"\r\npong \x0b"));
        for p in [&b"ping"[..], b"PONG", b"\"pong\"", ACK, DATA, b""] {
            assert!(!is_pong(p));
        }
    }

    proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = [&b"{\"event\":"[..], &tail[..]].concat();
            let _ = frame_error(&p);
            let _ = frame_error(&tail);
            let _ = is_pong(&tail);
        }
    }
}
