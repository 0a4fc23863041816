//! What a server destination reads and answers inside the innermost layer (protocol.md §4.5,
//! §4.6).
//!
//! Onion v4 (every current client and server): a bencode-like list of one or two byte strings,
//! `l <len>:<json> [<len>:<body>] e`, where the JSON says method, endpoint and headers and the
//! body is raw bytes. Responses have the same shape with `{"code", "headers"}` and always a body.
//! Legacy v3 is a single JSON object with the body as a string. Lengths are decimal ASCII byte
//! counts; decoding checks each against the bytes present before slicing.

use std::fmt;

use super::OnionError;
use super::json::{self, ObjectWriter, Value};
use super::layer::{str_field, u16_field};

/// Longest decimal length accepted (10 digits is more than any body a node relays).
const MAX_LEN_DIGITS: usize = 10;

/// An HTTP request to a server, as sent through an onion request v4.
#[derive(Clone, PartialEq, Eq)]
pub struct V4Request {
    /// `GET`, `POST`, `PUT`, `DELETE`, …
    pub method: String,
    /// Path and query string, starting with `/` (`/room/abc/messages?limit=10`).
    pub endpoint: String,
    /// Request headers in the order they are sent (e.g. `Content-Type`, `X-SOGS-*`).
    pub headers: Vec<(String, String)>,
    /// The body; `None` (or empty, which is sent the same way) for GET and DELETE.
    pub body: Option<Vec<u8>>,
}

impl V4Request {
    /// `l<len>:{"method":…,"endpoint":…,"headers":{…}}[<len>:<body>]e`; the body element is
    /// left out when there is no body or it is empty (pysogs requires that for GET/DELETE).
    pub fn encode(&self) -> Result<Vec<u8>, OnionError> {
        self.check()?;
        let meta = ObjectWriter::new()
            .string("method", &self.method)
            .string("endpoint", &self.endpoint)
            .string_map("headers", &self.headers)
            .finish();
        let body = self.body.as_deref().filter(|b| !b.is_empty());
        Ok(encode_list(meta.as_bytes(), body))
    }

    /// Decodes a v4 request (what a server does with the innermost plaintext). A request that
    /// [`V4Request::encode`] would refuse (empty method, endpoint not starting with `/`) is
    /// refused here too, so whatever decodes can be re-encoded.
    pub fn decode(bytes: &[u8]) -> Result<V4Request, OnionError> {
        const WHAT: &str = "v4 request";
        let (meta, body) = decode_list(bytes, WHAT)?;
        let meta =
            json::parse_object(meta).map_err(|source| OnionError::Json { what: WHAT, source })?;
        let request = V4Request {
            method: str_field(&meta, WHAT, "method")?.to_owned(),
            endpoint: str_field(&meta, WHAT, "endpoint")?.to_owned(),
            headers: headers_field(&meta, WHAT)?,
            body: body.map(<[u8]>::to_vec),
        };
        request.check()?;
        Ok(request)
    }

    /// The rules both directions enforce.
    fn check(&self) -> Result<(), OnionError> {
        if self.method.is_empty() {
            return Err(OnionError::InvalidRequest {
                reason: "empty HTTP method",
            });
        }
        if !self.endpoint.starts_with('/') {
            return Err(OnionError::InvalidRequest {
                reason: "endpoint must start with '/'",
            });
        }
        Ok(())
    }
}

impl fmt::Debug for V4Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V4Request")
            .field("method", &self.method)
            .field("endpoint", &self.endpoint)
            .field("headers", &header_names(&self.headers))
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .finish()
    }
}

/// A server's answer inside an onion v4 response.
#[derive(Clone, PartialEq, Eq)]
pub struct V4Response {
    /// The HTTP status the server's endpoint returned (not the onion transport's status).
    pub code: u16,
    /// Response headers, names in lower case as servers send them (`content-type`).
    pub headers: Vec<(String, String)>,
    /// The response body (JSON text, plain text or binary, by `content-type`).
    pub body: Vec<u8>,
}

impl V4Response {
    /// `l<len>:{"code":…,"headers":{…}}<len>:<body>e` (the body element is always present).
    pub fn encode(&self) -> Vec<u8> {
        let meta = ObjectWriter::new()
            .integer("code", u64::from(self.code))
            .string_map("headers", &self.headers)
            .finish();
        encode_list(meta.as_bytes(), Some(&self.body))
    }

    /// Decodes a v4 response: exactly two elements, metadata with an integer `code`.
    pub fn decode(bytes: &[u8]) -> Result<V4Response, OnionError> {
        const WHAT: &str = "v4 response";
        let (meta, body) = decode_list(bytes, WHAT)?;
        let body = body.ok_or(OnionError::V4Framing {
            what: WHAT,
            reason: "no body element",
        })?;
        let meta =
            json::parse_object(meta).map_err(|source| OnionError::Json { what: WHAT, source })?;
        let code = u16_field(&meta, WHAT, "code")?.ok_or(OnionError::MissingField {
            what: WHAT,
            field: "code",
        })?;
        Ok(V4Response {
            code,
            headers: headers_field(&meta, WHAT)?,
            body: body.to_vec(),
        })
    }

    /// The value of header `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `content-type` header (`application/json`, `text/plain; charset=utf-8`,
    /// `application/octet-stream`, …).
    pub fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    /// Whether `code` is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }
}

impl fmt::Debug for V4Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V4Response")
            .field("code", &self.code)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A legacy v3 request (`/loki/v3/lsrpc`): one JSON object, body as a string (§4.6).
#[derive(Clone, PartialEq, Eq)]
pub struct V3Request {
    /// HTTP method.
    pub method: String,
    /// Path and query, starting with `/`.
    pub endpoint: String,
    /// Request headers.
    pub headers: Vec<(String, String)>,
    /// The body as text, if any.
    pub body: Option<String>,
}

impl V3Request {
    /// `{"method":…,"endpoint":…,"body":…,"headers":{…}}` (`body` only when there is one).
    pub fn encode(&self) -> Result<Vec<u8>, OnionError> {
        if self.method.is_empty() || !self.endpoint.starts_with('/') {
            return Err(OnionError::InvalidRequest {
                reason: "v3 request needs a method and an endpoint starting with '/'",
            });
        }
        let mut writer = ObjectWriter::new()
            .string("method", &self.method)
            .string("endpoint", &self.endpoint);
        if let Some(body) = &self.body {
            writer = writer.string("body", body);
        }
        Ok(writer
            .string_map("headers", &self.headers)
            .finish()
            .into_bytes())
    }

    /// Decodes a v3 request (server side).
    pub fn decode(bytes: &[u8]) -> Result<V3Request, OnionError> {
        const WHAT: &str = "v3 request";
        let json =
            json::parse_object(bytes).map_err(|source| OnionError::Json { what: WHAT, source })?;
        let body = match json.get("body") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                return Err(OnionError::BadField {
                    what: WHAT,
                    field: "body",
                    expected: "a string",
                });
            }
        };
        Ok(V3Request {
            method: str_field(&json, WHAT, "method")?.to_owned(),
            endpoint: str_field(&json, WHAT, "endpoint")?.to_owned(),
            headers: headers_field(&json, WHAT)?,
            body,
        })
    }
}

impl fmt::Debug for V3Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V3Request")
            .field("method", &self.method)
            .field("endpoint", &self.endpoint)
            .field("headers", &header_names(&self.headers))
            .field("body_len", &self.body.as_ref().map(String::len))
            .finish()
    }
}

/// Header names only (values may carry signatures and tokens).
fn header_names(headers: &[(String, String)]) -> Vec<&str> {
    headers.iter().map(|(k, _)| k.as_str()).collect()
}

/// The optional `headers` object, whose values must be strings.
fn headers_field(json: &Value, what: &'static str) -> Result<Vec<(String, String)>, OnionError> {
    let bad = OnionError::BadField {
        what,
        field: "headers",
        expected: "an object of strings",
    };
    match json.get("headers") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(members)) => members
            .iter()
            .map(|(k, v)| {
                v.as_str()
                    .map(|v| (k.clone(), v.to_owned()))
                    .ok_or(bad.clone())
            })
            .collect(),
        Some(_) => Err(bad),
    }
}

fn encode_list(first: &[u8], second: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(first.len() + second.map_or(0, <[u8]>::len) + 24);
    out.push(b'l');
    for element in std::iter::once(first).chain(second) {
        out.extend_from_slice(element.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(element);
    }
    out.push(b'e');
    out
}

/// `l <string> [<string>] e` → the one or two strings, borrowed.
fn decode_list<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], Option<&'a [u8]>), OnionError> {
    let framing = |reason| OnionError::V4Framing { what, reason };
    let inner = bytes
        .strip_prefix(b"l")
        .ok_or(framing("does not start with 'l'"))?
        .strip_suffix(b"e")
        .ok_or(framing("does not end with 'e'"))?;
    let (first, rest) = read_string(inner, what)?;
    if rest.is_empty() {
        return Ok((first, None));
    }
    let (second, rest) = read_string(rest, what)?;
    if !rest.is_empty() {
        return Err(framing("more than two elements"));
    }
    Ok((first, Some(second)))
}

/// `<decimal len>:<len bytes>` at the start of `bytes` → (string, rest).
fn read_string<'a>(
    bytes: &'a [u8],
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8]), OnionError> {
    let framing = |reason| OnionError::V4Framing { what, reason };
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(framing("expected a string length"));
    }
    if digits > MAX_LEN_DIGITS {
        return Err(framing("string length too long"));
    }
    let (len_text, rest) = bytes.split_at(digits);
    if len_text.len() > 1 && len_text.first() == Some(&b'0') {
        return Err(framing("string length with leading zero"));
    }
    let rest = rest
        .strip_prefix(b":")
        .ok_or(framing("expected ':' after a string length"))?;
    let declared = len_text
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    let len = usize::try_from(declared)
        .ok()
        .filter(|len| *len <= rest.len())
        .ok_or(OnionError::LengthPrefix {
            what,
            declared,
            available: rest.len(),
        })?;
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorKind, HasKind};

    fn example_request() -> V4Request {
        V4Request {
            method: "GET".into(),
            endpoint: "/room/some-room".into(),
            headers: vec![("Some-Header".into(), "12345".into())],
            body: None,
        }
    }

    #[test]
    fn requests_round_trip_with_and_without_body() {
        let mut request = example_request();
        let encoded = request.encode().unwrap();
        assert_eq!(V4Request::decode(&encoded).unwrap(), request);

        request.method = "POST".into();
        request.body = Some(b"\x00binary:e\xff".to_vec());
        let encoded = request.encode().unwrap();
        assert!(encoded.ends_with(b"10:\x00binary:e\xffe"));
        assert_eq!(V4Request::decode(&encoded).unwrap(), request);

        // An empty body is sent like no body.
        request.body = Some(Vec::new());
        let encoded = request.encode().unwrap();
        assert_eq!(V4Request::decode(&encoded).unwrap().body, None);
    }

    #[test]
    fn request_json_is_escaped() {
        let request = V4Request {
            method: "PUT".into(),
            endpoint: "/a\"b".into(),
            headers: vec![("X-\\".into(), "line\nbreak é".into())],
            body: Some(b"{}".to_vec()),
        };
        let encoded = request.encode().unwrap();
        assert_eq!(V4Request::decode(&encoded).unwrap(), request);
    }

    #[test]
    fn invalid_requests_are_refused() {
        let mut request = example_request();
        request.endpoint = "room".into();
        assert_eq!(
            request.encode().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let mut request = example_request();
        request.method = String::new();
        assert!(request.encode().is_err());
    }

    #[test]
    fn responses_round_trip_and_always_have_a_body() {
        let response = V4Response {
            code: 404,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: Vec::new(),
        };
        let encoded = response.encode();
        assert!(encoded.ends_with(b"0:e"));
        let decoded = V4Response::decode(&encoded).unwrap();
        assert_eq!(decoded, response);
        assert_eq!(decoded.content_type(), Some("text/plain; charset=utf-8"));
        assert_eq!(decoded.header("Content-Type"), decoded.content_type());
        assert!(!decoded.is_success());
        assert!(matches!(
            V4Response::decode(b"l12:{\"code\":200}e"),
            Err(OnionError::V4Framing { .. })
        ));
    }

    #[test]
    fn hostile_framing_gives_typed_errors() {
        let cases: &[&[u8]] = &[
            b"",
            b"l",
            b"e",
            b"le",
            b"l2:{}",
            b"2:{}e",
            b"l3:{}e",
            b"l02:{}e",
            b"l2{}e",
            b"l-2:{}e",
            b"l99999999999:{}e",
            b"l4294967296:{}e",
            b"l2:{}2:{}2:{}e",
            b"l2:{}x:e",
            b"l2:[]e",
            b"l2:{}e",
        ];
        for case in cases {
            let err = V4Response::decode(case).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Malformed, "{err:?}");
        }
        for meta in [
            r#"{"code":"200"}"#,
            r#"{"code":-1}"#,
            r#"{"code":200000}"#,
            r#"{"code":2.5}"#,
            r#"{"headers":{}}"#,
            r#"{"code":200,"headers":{"a":1}}"#,
            r#"{"code":200,"headers":[]}"#,
            r#"{"code":200"#,
        ] {
            let framed = format!("l{}:{meta}0:e", meta.len());
            let err = V4Response::decode(framed.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    err,
                    OnionError::BadField { .. }
                        | OnionError::MissingField { .. }
                        | OnionError::Json { .. }
                ),
                "{meta}: {err:?}"
            );
        }
        for case in [&b"l2:{}e"[..], b"l14:{\"method\":\"G\"}e", b"l3:abce"] {
            assert_eq!(
                V4Request::decode(case).unwrap_err().kind(),
                ErrorKind::Malformed
            );
        }
        assert!(matches!(
            V4Response::decode(b"l4294967295:{}e"),
            Err(OnionError::LengthPrefix {
                declared: 4_294_967_295,
                ..
            })
        ));
    }

    #[test]
    fn decoding_refuses_what_encoding_refuses() {
        // Found by the onion_layer fuzz target: an endpoint without a leading '/' decoded, and
        // re-encoding it then failed.
        let bad = br#"l79:{"method":"GET","endpoint":",room/some-room","headers":{"Some-Header":"12345"}}e"#;
        assert!(matches!(
            V4Request::decode(bad),
            Err(OnionError::InvalidRequest { .. })
        ));
        let no_method = br#"l42:{"method":"","endpoint":"/x","headers":{}}e"#;
        assert!(matches!(
            V4Request::decode(no_method),
            Err(OnionError::InvalidRequest { .. })
        ));
    }

    #[test]
    fn v3_requests_round_trip() {
        let request = V3Request {
            method: "POST".into(),
            endpoint: "/files".into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some("{\"file\":\"abc\"}".into()),
        };
        let encoded = request.encode().unwrap();
        assert_eq!(
            String::from_utf8(encoded.clone()).unwrap(),
            r#"{"method":"POST","endpoint":"/files","body":"{\"file\":\"abc\"}","headers":{"Content-Type":"application/json"}}"#
        );
        assert_eq!(V3Request::decode(&encoded).unwrap(), request);
        assert!(V3Request::decode(br#"{"method":"GET","endpoint":"/x","body":1}"#).is_err());
        assert!(V3Request::decode(b"l2:{}e").is_err());
    }

    #[test]
    fn debug_hides_bodies_and_header_values() {
        let mut request = example_request();
        request.body = Some(b"secret message".to_vec());
        let debug = format!("{request:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("12345"),
            "{debug}"
        );
        let response = V4Response {
            code: 200,
            headers: vec![],
            body: b"secret".to_vec(),
        };
        assert!(!format!("{response:?}").contains("secret"));
    }
}
