//! Refusals written on the raw connection, below the router: a 408 for a head that did not
//! arrive in time, a 503 when every connection is busy, and the `Error` bodies of hyper's own
//! 400/414/431 (hyper answers a head it cannot parse with an empty body; the stream swaps in
//! these, see `stream.rs`).

use crate::model::ErrorBody;
use crate::server::error::ErrorCode;
use crate::server::limits::{Limits, MAX_URI_BYTES};

/// A complete `Connection: close` answer with an `Error` JSON body (and a fresh request id).
pub(crate) fn answer(status: u16, reason: &str, code: ErrorCode, message: String) -> Vec<u8> {
    answer_with(status, reason, code, message, None)
}

fn answer_with(
    status: u16,
    reason: &str,
    code: ErrorCode,
    message: String,
    retry_after: Option<u64>,
) -> Vec<u8> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = serde_json::to_vec(&ErrorBody::new(code.as_i64(), message, request_id.clone()))
        .unwrap_or_default();
    let retry = retry_after
        .map(|s| format!("retry-after: {s}\r\n"))
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\nx-request-id: {request_id}\r\n{retry}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

/// The longest request URI: hyper's own limit, or the head's if that is smaller.
pub(crate) fn max_uri_bytes(limits: &Limits) -> usize {
    MAX_URI_BYTES.min(limits.max_header_bytes)
}

fn uri_too_long(max: usize) -> Vec<u8> {
    answer(
        414,
        "URI Too Long",
        ErrorCode::UriTooLong,
        format!("the request URI exceeds the limit of {max} bytes"),
    )
}

/// The 408 for a head not received within the header timeout.
pub(crate) fn head_timeout(limits: &Limits) -> Vec<u8> {
    answer(
        408,
        "Request Timeout",
        ErrorCode::HeaderTimeout,
        format!(
            "the request head did not arrive within the header timeout of {} ms",
            limits.header_timeout.as_millis()
        ),
    )
}

/// The 503 for a connection past the connection limit when none can be closed.
pub(crate) fn too_many_connections(limits: &Limits) -> Vec<u8> {
    answer_with(
        503,
        "Service Unavailable",
        ErrorCode::TooManyConnections,
        format!(
            "all {} connections are busy (the server's max_connections); retry later",
            limits.max_connections
        ),
        Some(limits.retry_after_secs()),
    )
}

/// The `Error` answer replacing hyper's bodiless one for a head it refused, if `head` is one:
/// an answer head of status 400, 414 or 431 with `content-length: 0`. The router never sends
/// such an answer (every error of its own has a JSON body), so it can only be hyper's.
///
/// `request_line` is the length of the refused head's request line: hyper calls a head too
/// large even when its URI alone is what made it so; that is a 414 here.
pub(crate) fn replace_automatic(
    head: &[u8],
    limits: &Limits,
    request_line: usize,
) -> Option<Vec<u8>> {
    let max_uri = max_uri_bytes(limits);
    let status = head.strip_prefix(b"HTTP/1.1 ")?.get(..3)?;
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let lower = head[..end].to_ascii_lowercase();
    if !lower.windows(19).any(|w| w == b"\r\ncontent-length: 0") {
        return None;
    }
    Some(match status {
        b"400" => answer(
            400,
            "Bad Request",
            ErrorCode::MalformedHead,
            "the request head is not valid HTTP/1.1".to_owned(),
        ),
        b"414" => uri_too_long(max_uri),
        b"431" if request_line > max_uri => uri_too_long(max_uri),
        b"431" => answer(
            431,
            "Request Header Fields Too Large",
            ErrorCode::HeadersTooLarge,
            format!(
                "the request head exceeds the limit of {} bytes (the server's max_header_bytes) \
                 or of 100 headers",
                limits.max_header_bytes
            ),
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodiless_parse_refusals_are_replaced() {
        let limits = Limits::default();
        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\
                          date: Wed, 02 Dec 2026 14:00:00 GMT\r\n\r\n";
        let out = replace_automatic(hyper_431, &limits, 40).expect("replaced");
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(text.contains("\"code\":1021"), "{text}");
        assert!(text.contains("max_header_bytes"), "{text}");
        // The same refusal of a head whose request line alone is too long names the URI.
        let uri = replace_automatic(hyper_431, &limits, 100 * 1024).expect("replaced");
        let text = String::from_utf8(uri).unwrap();
        assert!(text.starts_with("HTTP/1.1 414 "), "{text}");
        assert!(text.contains("\"code\":1020"), "{text}");
        // An answer with a body, or another status, is left alone.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                     content-length: 80\r\n\r\n{";
        assert!(replace_automatic(ours, &limits, 40).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(replace_automatic(ok, &limits, 40).is_none());
        assert!(replace_automatic(b"{\"rows\":1}", &limits, 40).is_none());
    }
}
