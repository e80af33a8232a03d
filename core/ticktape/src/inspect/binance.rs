//! Binance USD-M replies to our control messages (`recorder.venues.binance_usdm.parse_ack`).
//!
//! A reply is `{"result":...,"id":N}`, or an error, nested (`{"error":{"code":2,"msg":..},"id":N}`)
//! or flat (`{"code":2,"msg":..}`). Data frames start `{"stream":` or `{"e":`, so a reply is
//! told by its first key before anything is parsed.

use super::is_space;
use super::json::{Parsed, Reader};

/// Our request id as the reply carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckId<'a> {
    Null,
    /// An integer's decimal text (any number of digits).
    Int(&'a str),
    Str(String),
}

/// The reply's `result`: null for SUBSCRIBE, a list for LIST_SUBSCRIPTIONS, a bool for properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckResult {
    Null,
    Bool(bool),
    List(Vec<String>),
}

/// One reply; `error` is the venue's error as `"<code>: <msg>"` (`None` printed for a
/// missing part), and then `result` is `Null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack<'a> {
    pub id: AckId<'a>,
    pub result: AckResult,
    pub error: Option<String>,
}

const REPLY_STARTS: [&[u8]; 4] = [b"{\"result\"", b"{\"id\"", b"{\"error\"", b"{\"code\""];

/// The reply in `payload`, or `None` for a data frame or anything that is no reply.
pub fn parse_ack(payload: &[u8]) -> Option<Ack<'_>> {
    // The head test reads the first 16 bytes, leading ASCII whitespace stripped.
    let head = payload.get(..payload.len().min(16))?;
    let lead = head.iter().take_while(|&&b| is_space(b)).count();
    let head = head.get(lead..)?;
    if !REPLY_STARTS.iter().any(|s| head.starts_with(s)) {
        return None;
    }
    decode(payload).ok()
}

/// `{"code": int|null, "msg": str}` of a nested error.
struct ErrorBody<'a> {
    code: Option<&'a str>,
    msg: String,
}

fn decode(payload: &[u8]) -> Parsed<Ack<'_>> {
    let mut r = Reader::new(payload);
    let mut id = AckId::Null;
    let mut result = AckResult::Null;
    let mut error: Option<ErrorBody> = None;
    let mut code: Option<&str> = None;
    let mut msg: Option<String> = None;
    r.object(|r, key| {
        match key {
            b"id" => {
                id = match r.peek() {
                    Some(b'"') => AckId::Str(r.string()?.into_owned()),
                    Some(b'n') => {
                        r.null()?;
                        AckId::Null
                    }
                    _ => AckId::Int(r.integer()?),
                }
            }
            b"result" => {
                result = match r.peek() {
                    Some(b'[') => {
                        let mut items = Vec::new();
                        r.array(|r| {
                            items.push(r.string()?.into_owned());
                            Ok(())
                        })?;
                        AckResult::List(items)
                    }
                    Some(b'n') => {
                        r.null()?;
                        AckResult::Null
                    }
                    _ => AckResult::Bool(r.boolean()?),
                }
            }
            b"error" => {
                error = if r.null()? {
                    None
                } else {
                    Some(error_body(r)?)
                }
            }
            b"code" => code = if r.null()? { None } else { Some(r.integer()?) },
            b"msg" => {
                msg = if r.null()? {
                    None
                } else {
                    Some(r.string()?.into_owned())
                }
            }
            _ => r.skip()?,
        }
        Ok(())
    })?;
    r.end()?;
    let error = match (error, code) {
        (Some(e), _) => Some(format!("{}: {}", e.code.unwrap_or("None"), e.msg)),
        (None, Some(c)) => Some(format!("{c}: {}", msg.as_deref().unwrap_or("None"))),
        (None, None) => None,
    };
    if error.is_some() {
        result = AckResult::Null;
    }
    Ok(Ack { id, result, error })
}

fn error_body<'a>(r: &mut Reader<'a>) -> Parsed<ErrorBody<'a>> {
    let mut body = ErrorBody {
        code: None,
        msg: String::new(),
    };
    r.object(|r, key| {
        match key {
            b"code" => body.code = if r.null()? { None } else { Some(r.integer()?) },
            b"msg" => body.msg = r.string()?.into_owned(),
            _ => r.skip()?,
        }
        Ok(())
    })?;
    Ok(body)
}

/// The error text of an error reply, `None` for anything else.
pub fn frame_error(payload: &[u8]) -> Option<String> {
    parse_ack(payload).and_then(|a| a.error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn err(p: &[u8]) -> Option<String> {
        frame_error(p)
    }

    #[test]
    fn replies() {
        let a = parse_ack(b"{\"result\":null,\"id\":7}").unwrap();
        assert_eq!(a.id, AckId::Int("7"));
        assert_eq!(a.result, AckResult::Null);
        assert_eq!(a.error, None);
        let a = parse_ack(b"{\"id\":1 , \"result\" : [ \"a\" , \"b\" ] }").unwrap();
        assert_eq!(a.result, AckResult::List(vec!["a".into(), "b".into()]));
        assert_eq!(
            parse_ack(b"{\"id\":\"x\",\"result\":false}").unwrap(),
            Ack {
                id: AckId::Str("x".into()),
                result: AckResult::Bool(false),
                error: None
            }
        );
    }

    #[test]
    fn errors_nested_and_flat() {
        assert_eq!(
            err(b"{\"error\":{\"code\":2,\"msg\":\"Invalid request\"},\"id\":1}").as_deref(),
            Some("2: Invalid request")
        );
        assert_eq!(
            err(b"{\"code\": 3, \"msg\": \"Invalid JSON\"}").as_deref(),
            Some("3: Invalid JSON")
        );
        assert_eq!(err(b"{\"code\":3}").as_deref(), Some("3: None"));
        assert_eq!(
            err(b"{\"error\":{\"msg\":\"x\"}}").as_deref(),
            Some("None: x")
        );
        assert_eq!(
            err(b"{\"error\":{\"code\":-0,\"msg\":\"x\"}}").as_deref(),
            Some("0: x")
        );
        // the nested error wins over the flat one; the last of a repeated key counts
        assert_eq!(
            err(b"{\"result\":true,\"error\":{\"code\":5,\"msg\":\"m\"},\"code\":7,\"msg\":\"q\"}")
                .as_deref(),
            Some("5: m")
        );
        assert_eq!(
            err(b"{\"id\":1,\"error\":{\"code\":1,\"msg\":\"m\"},\"error\":null}"),
            None
        );
    }

    #[test]
    fn data_frames_and_garbage_are_no_reply() {
        for p in [
            &b"{\"stream\":\"btcusdt@depth\",\"data\":{}}"[..],
            b"{\"e\":\"depthUpdate\"}",
            b"",
            b"{",
            b"{\"error\":",
            b"{\"id\":1.0}",
            b"{\"id\":true}",
            b"{\"id\":1} x",
            b"{\"id\":\"\\ud800\"}",
            b"{\"id\":\"a\xffb\"}",
            b"{\"error\":{\"code\":5,\"msg\":null}}",
            b"{\"id\":1,\"result\":[null]}",
            b"            {\"id\":1}", // the head test sees 16 bytes only
            b"{\"id\":1,\"\\u0072esult\":[1]}",
        ] {
            assert_eq!(parse_ack(p), None, "{:?}", String::from_utf8_lossy(p));
        }
        // what a strict decoder accepts is a reply still
        assert!(parse_ack(b"{\"id\":1,\"x\":\"a\xffb\"}").is_some());
        assert!(parse_ack(b"\t\r\n {\"id\":1}\n").is_some());
    }

    proptest! {
        #[test]
        fn never_panics(tail in proptest::collection::vec(any::<u8>(), 0..200), head in 0usize..4) {
            let p = [REPLY_STARTS[head], &tail[..]].concat();
            let _ = parse_ack(&p);
            let _ = parse_ack(&tail);
        }

        #[test]
        fn a_reply_reads_back(code in any::<i64>(), msg in "\\PC{0,20}", id in any::<u32>()) {
            let doc = format!(
                "{{\"error\":{{\"code\":{code},\"msg\":{}}},\"id\":{id}}}",
                quote(&msg)
            );
            let a = parse_ack(doc.as_bytes()).unwrap();
            let id_text = id.to_string();
            prop_assert_eq!(a.id, AckId::Int(&id_text));
            prop_assert_eq!(a.error, Some(format!("{code}: {msg}")));
        }
    }

    /// A JSON string literal of `s` (every char escaped as `\uXXXX`, pairs for the astral ones).
    fn quote(s: &str) -> String {
        let mut out = String::from("\"");
        for u in s.encode_utf16() {
            out.push_str(&format!("\\u{u:04x}"));
        }
        out.push('"');
        out
    }
}
