//! Phemex JSON-RPC replies (`recorder.venues.phemex.parse_reply`, `is_pong`).
//!
//! A reply is `{"error":null,"id":1,"result":{"status":"success"}}`, refused with
//! `"error":{"code":6001,"message":"invalid argument"}`; the answer to our `server.ping`
//! is `{"error":null,"id":0,"result":"pong"}`. A frame without the bytes `"id"`, or with
//! neither `"result"` nor `"error"`, is data and is not parsed.

use std::borrow::Cow;

use super::contains;
use super::json::{Parsed, Reader};

/// One reply: the `error` as `(code, message)` when not null, and `result` as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    pub error: Option<(&'a str, Cow<'a, str>)>,
    pub result: &'a [u8],
}

/// The reply in `payload`, `None` for a data frame or anything else.
pub fn parse_reply(payload: &[u8]) -> Option<Reply<'_>> {
    if !contains(payload, b"\"id\"")
        || (!contains(payload, b"\"result\"") && !contains(payload, b"\"error\""))
    {
        return None;
    }
    decode(payload).ok()
}

fn decode(payload: &[u8]) -> Parsed<Reply<'_>> {
    let mut r = Reader::new(payload);
    let mut error = None;
    let mut result: &[u8] = b"null";
    r.object(|r, key| {
        match key {
            b"id" => {
                if !r.null()? {
                    r.integer()?;
                }
            }
            b"error" => {
                error = if r.null()? {
                    None
                } else {
                    Some(error_body(r)?)
                }
            }
            b"result" => result = r.raw()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    Ok(Reply { error, result })
}

/// `{"code":int,"message":str}`, each defaulting to 0 and "".
fn error_body<'a>(r: &mut Reader<'a>) -> Parsed<(&'a str, Cow<'a, str>)> {
    let mut code = "0";
    let mut message = Cow::Borrowed("");
    r.object(|r, key| {
        match key {
            b"code" => code = r.integer()?,
            b"message" => message = r.string()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok((code, message))
}

/// `"<code>: <message>"` of an error reply, `None` for anything else.
pub fn frame_error(payload: &[u8]) -> Option<String> {
    let (code, message) = parse_reply(payload)?.error?;
    Some(format!("{code}: {message}"))
}

/// True for the keep-alive answer: no error and the result `"pong"` as sent.
pub fn is_pong(payload: &[u8]) -> bool {
    contains(payload, b"\"pong\"")
        && parse_reply(payload).is_some_and(|r| r.error.is_none() && r.result == b"\"pong\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PONG: &[u8] = b"{\"error\":null,\"id\":0,\"result\":\"pong\"}";
    const ACK: &[u8] = b"{\"error\":null,\"id\":1,\"result\":{\"status\":\"success\"}}";
    const ERROR: &[u8] =
        b"{\"error\":{\"code\":6001,\"message\":\"invalid argument\"},\"id\":1,\"result\":null}";
    const DATA: &[u8] = b"{\"book\":{\"asks\":[[87705000,1000000]],\"bids\":[]},\"depth\":30,\"sequence\":79253958,\"symbol\":\"BTCUSD\",\"timestamp\":1583555482434235628,\"type\":\"incremental\"}";

    #[test]
    fn pongs() {
        assert!(is_pong(PONG));
        assert!(is_pong(b" { \"result\" : \"pong\" , \"id\" : null } "));
        for p in [
            ACK,
            ERROR,
            DATA,
            b"pong",
            b"{\"id\":0,\"result\":\"p\\u006fng\",\"x\":\"pong\"}",
            b"{\"id\":0,\"result\":\"pong\",\"error\":{}}",
            b"{\"id\":0.0,\"result\":\"pong\"}",
        ] {
            assert!(!is_pong(p), "{:?}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn errors() {
        assert_eq!(
            frame_error(ERROR).as_deref(),
            Some("6001: invalid argument")
        );
        assert_eq!(
            frame_error(b"{\"id\":2,\"error\":{}}").as_deref(),
            Some("0: ")
        );
        for p in [
            ACK,
            PONG,
            DATA,
            b"{\"error\":{\"code\":1,\"message\":\"x\"}}", // no "id"
            b"{\"id\":1,\"error\":{\"code\":null}}",
            b"{\"id\":1,\"error\":{\"code\":1,\"message\":\"x\"},\"error\":null}",
            b"{\"id\":\"1\",\"error\":{\"code\":1}}",
            b"{\"id\":1,\"error\":{\"message\":\"a\xffb\"}}",
        ] {
            assert_eq!(frame_error(p), None, "{:?}", String::from_utf8_lossy(p));
        }
    }

    proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = [&b"{\"id\":1,\"error\":"[..], &tail[..]].concat();
            let _ = frame_error(&p);
            let _ = is_pong(&p);
            let _ = frame_error(&tail);
        }
    }
}
