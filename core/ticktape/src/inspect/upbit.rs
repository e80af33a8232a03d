//! Upbit's error frames and keep-alive answers (`recorder.venues.upbit`).

use super::json::{Parsed, Reader};
use super::{is_space, strip};

/// The answer to our text `PING`: a status frame, not market data.
pub const STATUS_UP: &[u8] = b"{\"status\":\"UP\"}";

/// True for the keep-alive answer, surrounded by any ASCII whitespace.
pub fn is_status_up(payload: &[u8]) -> bool {
    strip(payload) == STATUS_UP
}

/// `(name, message)` of an error frame `{"error":{"name":..,"message":..}}`, `None` for
/// anything else (a missing name or message reads as empty).
pub fn parse_error(payload: &[u8]) -> Option<(String, String)> {
    let start = payload.iter().position(|&b| !is_space(b))?;
    if !payload.get(start..)?.starts_with(b"{\"error\"") {
        return None;
    }
    decode(payload).ok().flatten()
}

fn decode(payload: &[u8]) -> Parsed<Option<(String, String)>> {
    let mut r = Reader::new(payload);
    let mut error = None;
    r.object(|r, key| {
        if key == b"error" {
            error = if r.null()? {
                None
            } else {
                Some(error_body(r)?)
            };
        } else {
            r.skip()?;
        }
        Ok(())
    })?;
    r.end()?;
    Ok(error)
}

fn error_body(r: &mut Reader<'_>) -> Parsed<(String, String)> {
    let (mut name, mut message) = (String::new(), String::new());
    r.object(|r, key| {
        match key {
            b"name" => name = r.string()?.into_owned(),
            b"message" => message = r.string()?.into_owned(),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok((name, message))
}

/// The error text of an error frame (`"<name>: <message>"`), `None` for anything else.
pub fn frame_error(payload: &[u8]) -> Option<String> {
    parse_error(payload).map(|(n, m)| format!("{n}: {m}"))
}

/// True for a keep-alive answer: short, and the status frame.
pub fn is_keepalive(payload: &[u8]) -> bool {
    payload.len() < 24 && is_status_up(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn errors() {
        assert_eq!(
            parse_error(b"{\"error\":{\"name\":\"NO_TICKET\",\"message\":\"no ticket\"}}"),
            Some(("NO_TICKET".into(), "no ticket".into()))
        );
        assert_eq!(
            parse_error(b"{\"error\":{}}"),
            Some((String::new(), String::new()))
        );
        assert_eq!(
            parse_error(b" \n{\"error\":{\"name\":\"A\"}}").map(|e| e.0),
            Some("A".into())
        );
        for p in [
            &b"{\"ty\":\"trade\"}"[..],
            b"{\"error\": broken",
            b"{\"error\":null}",
            b"{\"error\":{\"name\":1}}",
            b"{\"error\":{\"name\":null}}",
            b"{\"error\":{\"name\":\"A\"},\"x\":[}",
            b" \x0b{\"error\":{}}",
            b"{\"error\":{\"name\":\"n\xffo\"}}",
        ] {
            assert_eq!(parse_error(p), None, "{:?}", String::from_utf8_lossy(p));
        }
    }

    #[test]
    fn keepalive() {
        assert!(is_status_up(b"{\"status\":\"UP\"}"));
        assert!(is_status_up(b" {\"status\":\"UP\"}\x0c\n"));
        assert!(!is_status_up(b"{\"ty\":\"trade\"}"));
        assert!(!is_status_up(b""));
        assert!(is_keepalive(b"{\"status\":\"UP\"}"));
        assert!(!is_keepalive(b"{\"status\":\"UP\"}          "));
    }

    proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let p = [&b"{\"error\":"[..], &tail[..]].concat();
            let _ = parse_error(&p);
            let _ = parse_error(&tail);
            let _ = is_keepalive(&tail);
        }
    }
}
