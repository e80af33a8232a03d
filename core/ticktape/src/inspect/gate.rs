//! Gate v4 replies and pongs (`recorder.venues.gate.parse_reply`, `is_pong`).
//!
//! Every frame is `{"time":..,"channel":..,"event":..,..}`; a reply to a request carries
//! `"error"`: null when fine, `{"code":2,"message":".."}` when refused. Any frame with a
//! non-null `error` is an error reply. A frame with neither the bytes `error` nor an
//! escape cannot name that key, so a data frame is passed over by one scan, unparsed.
//! The pong is `{"time":..,"channel":"spot.pong",..}` (`futures.pong`).

use std::borrow::Cow;

use super::contains;
use super::head;
use super::json::{Parsed, Reader};

/// The error text of an error reply (`"<code>: <message>"`, or the `error` value as it
/// came when it is no such object), `None` for anything else.
pub fn frame_error(payload: &[u8]) -> Option<String> {
    if !contains(payload, b"error") && !contains(payload, b"\\") {
        return None;
    }
    let raw = error_value(payload).ok()?;
    if raw == b"null" {
        return None;
    }
    Some(match error_body(raw) {
        Ok((code, message)) => format!("{}: {message}", code.unwrap_or("None")),
        Err(_) => String::from_utf8_lossy(raw).into_owned(),
    })
}

/// The `error` value of a frame `{"channel":str,"event":str,"error":any}` as it came.
fn error_value(payload: &[u8]) -> Parsed<&[u8]> {
    let mut r = Reader::new(payload);
    let mut error: &[u8] = b"null";
    r.object(|r, key| {
        match key {
            b"channel" | b"event" => {
                r.string()?;
            }
            b"error" => error = r.raw()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    Ok(error)
}

/// `{"code":int|null,"message":str}`: the code's decimal text and the message.
fn error_body(raw: &[u8]) -> Parsed<(Option<&str>, Cow<'_, str>)> {
    let mut r = Reader::new(raw);
    let mut code = None;
    let mut message = Cow::Borrowed("");
    r.object(|r, key| {
        match key {
            b"code" => code = if r.null()? { None } else { Some(r.integer()?) },
            b"message" => message = r.string()?,
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    Ok((code, message))
}

/// True for Gate's keep-alive answer (`"channel":"spot.pong"` / `"futures.pong"`).
pub fn is_pong(payload: &[u8]) -> bool {
    contains(head(payload, 80), b".pong\"")
        && (contains(payload, b"\"spot.pong\"") || contains(payload, b"\"futures.pong\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PONG: &[u8] = b"{\"time\":1700000000,\"time_ms\":1700000000123,\"conn_id\":5,\"channel\":\"spot.pong\",\"event\":\"\",\"result\":null}";
    const ACK: &[u8] = b"{\"time\":1700000000,\"time_ms\":1700000000123,\"id\":null,\"conn_id\":5,\"channel\":\"spot.trades\",\"event\":\"subscribe\",\"payload\":[\"BTC_USDT\"],\"error\":null,\"result\":{\"status\":\"success\"}}";
    const REFUSED: &[u8] = b"{\"time\":1700000000,\"channel\":\"spot.order_book_update\",\"event\":\"subscribe\",\"error\":{\"code\":2,\"message\":\"unknown currency pair GIBBERISH_USD\"},\"result\":null}";
    const DATA: &[u8] = b"{\"time\":1606292218,\"time_ms\":1606292218231,\"channel\":\"spot.order_book_update\",\"event\":\"update\",\"result\":{\"t\":1606292218213,\"s\":\"BTC_USDT\",\"U\":48776301,\"u\":48776306,\"b\":[[\"19137.74\",\"0.0001\"]],\"a\":[[\"19137.75\",\"0.6135\"]]}}";

    #[test]
    fn errors() {
        assert_eq!(
            frame_error(REFUSED).as_deref(),
            Some("2: unknown currency pair GIBBERISH_USD")
        );
        // an error that is no {code, message} object is reported as it came
        assert_eq!(
            frame_error(b"{\"error\": \"bad\" }").as_deref(),
            Some("\"bad\"")
        );
        assert_eq!(
            frame_error(b"{\"error\":{\"code\":1.5}}").as_deref(),
            Some("{\"code\":1.5}")
        );
        assert_eq!(
            frame_error(b"{\"error\":{\"message\":\"a\xffb\"}}").as_deref(),
            Some("{\"message\":\"a\u{fffd}b\"}")
        );
        assert_eq!(
            frame_error(b"{\"error\":{\"code\":null}}").as_deref(),
            Some("None: ")
        );
        assert_eq!(frame_error(b"{\"\\u0065rror\":1}").as_deref(), Some("1"));
        for p in [
            ACK,
            PONG,
            DATA,
            b"{\"error\":null}",
            b"{\"error\":1,\"error\":null}",
            b"{\"error\":1,\"event\":null}",
            b"{\"error\":1,\"channel\":2}",
            b"{\"error\":{\"code\":1}",
            b"[{\"error\":1}]",
            b"{\"error\":1} x",
        ] {
            assert_eq!(frame_error(p), None, "{:?}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn pongs() {
        assert!(is_pong(PONG));
        assert!(is_pong(
            b"{\"time\":1,\"channel\":\"futures.pong\",\"event\":\"\"}"
        ));
        for p in [ACK, REFUSED, DATA, b"pong", b"{\"channel\":\"spot.ping\"}"] {
            assert!(!is_pong(p), "{:?}", String::from_utf8_lossy(p));
        }
    }

    proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = [&b"{\"error\":"[..], &tail[..]].concat();
            let _ = frame_error(&p);
            let _ = frame_error(&tail);
            let _ = is_pong(&tail);
        }
    }
}
