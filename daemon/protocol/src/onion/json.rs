//! The few small JSON objects onion requests carry, encoded and decoded by hand.
//!
//! Onion layers end in a small JSON object (routing instructions, protocol.md §4.3), v4 requests
//! and responses start with one (§4.5), and snode replies are one (§4.4). They have a handful of
//! string, integer and boolean fields, so this module has a tiny strict parser and an encoder
//! instead of a serialization framework: types in this crate are not `Serialize` (README), and
//! every byte here comes from the network, so the parser is bounded (nesting depth, no
//! allocation beyond the input's size) and returns [`JsonError`] on anything that is not JSON.

use std::fmt::Write as _;

/// How deep arrays and objects may nest; the objects onion requests use are one or two deep.
const MAX_DEPTH: usize = 32;

/// A parsed JSON value. Numbers keep their text (validated against the JSON grammar); only the
/// integers this protocol uses are ever interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `null`
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string, unescaped.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object's members in document order (duplicates kept; lookups take the last one, as
    /// nlohmann::json and Python do).
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object (the last one if repeated); `None` for other values.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as a non-negative integer, if it is written as one (`200`, not `200.0`,
    /// `2e2` or `-1`) and fits in a `u64`.
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(text) if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
            _ => None,
        }
    }

    /// Compact JSON text of this value.
    pub(crate) fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(true) => out.push_str("true"),
            Value::Bool(false) => out.push_str("false"),
            Value::Number(text) => out.push_str(text),
            Value::String(s) => write_string(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(out, key);
                    out.push(':');
                    value.write_json(out);
                }
                out.push('}');
            }
        }
    }
}

/// Why some bytes are not acceptable JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The bytes are not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The text ended inside a value.
    #[error("unexpected end of JSON text")]
    UnexpectedEnd,
    /// A byte that cannot appear where it does.
    #[error("unexpected character at byte {at}")]
    Unexpected {
        /// Offset of the offending byte.
        at: usize,
    },
    /// Arrays or objects nest deeper than this parser allows.
    #[error("nested too deeply")]
    TooDeep,
    /// A `\u` escape that is not a valid code point (e.g. a lone surrogate).
    #[error("invalid unicode escape at byte {at}")]
    BadEscape {
        /// Offset of the escape.
        at: usize,
    },
    /// Non-whitespace after the value.
    #[error("trailing characters at byte {at}")]
    Trailing {
        /// Offset of the first trailing byte.
        at: usize,
    },
}

/// Parses one JSON value filling all of `bytes` (surrounding whitespace allowed).
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|_| JsonError::NotUtf8)?;
    let mut parser = Parser {
        text: text.as_bytes(),
        pos: 0,
    };
    parser.skip_whitespace();
    let value = parser.value(0)?;
    parser.skip_whitespace();
    if parser.pos != parser.text.len() {
        return Err(JsonError::Trailing { at: parser.pos });
    }
    Ok(value)
}

/// Parses a JSON object (anything else is an error naming the first byte).
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Value, JsonError> {
    let value = parse(bytes)?;
    match value {
        Value::Object(_) => Ok(value),
        _ => {
            let at = bytes.iter().take_while(|b| is_whitespace(**b)).count();
            Err(JsonError::Unexpected { at })
        }
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// A recursive-descent parser over UTF-8 text (validated up front, so string contents can be
/// copied out byte-wise between escapes).
struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn next(&mut self) -> Result<u8, JsonError> {
        let b = self.peek().ok_or(JsonError::UnexpectedEnd)?;
        self.pos += 1;
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), JsonError> {
        let at = self.pos;
        if self.next()? == want {
            Ok(())
        } else {
            Err(JsonError::Unexpected { at })
        }
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.pos += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        match self.peek().ok_or(JsonError::UnexpectedEnd)? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(Value::String),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => Err(JsonError::Unexpected { at: self.pos }),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Result<Value, JsonError> {
        for want in word.bytes() {
            self.expect(want)?;
        }
        Ok(value)
    }

    fn object(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_whitespace();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected_here());
            }
            let key = self.string()?;
            self.skip_whitespace();
            self.expect(b':')?;
            self.skip_whitespace();
            let value = self.value(depth)?;
            members.push((key, value));
            self.skip_whitespace();
            let at = self.pos;
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(Value::Object(members)),
                _ => return Err(JsonError::Unexpected { at }),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(JsonError::TooDeep);
        }
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            items.push(self.value(depth)?);
            self.skip_whitespace();
            let at = self.pos;
            match self.next()? {
                b',' => continue,
                b']' => return Ok(Value::Array(items)),
                _ => return Err(JsonError::Unexpected { at }),
            }
        }
    }

    fn unexpected_here(&self) -> JsonError {
        if self.pos >= self.text.len() {
            JsonError::UnexpectedEnd
        } else {
            JsonError::Unexpected { at: self.pos }
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.expect(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let at = self.pos;
            match self.next()? {
                b'"' => break,
                b'\\' => {
                    let escaped = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape(at)?,
                        _ => return Err(JsonError::Unexpected { at: self.pos - 1 }),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(escaped.encode_utf8(&mut buf).as_bytes());
                }
                // Control characters must be escaped.
                0x00..=0x1f => return Err(JsonError::Unexpected { at }),
                b => out.push(b),
            }
        }
        // The input was valid UTF-8 and escapes were pushed as whole characters.
        String::from_utf8(out).map_err(|_| JsonError::NotUtf8)
    }

    /// The code point of a `\uXXXX` escape (the `\u` already read), joining surrogate pairs.
    fn unicode_escape(&mut self, at: usize) -> Result<char, JsonError> {
        let high = self.hex4()?;
        let code = match high {
            0xd800..=0xdbff => {
                if self.next()? != b'\\' || self.next()? != b'u' {
                    return Err(JsonError::BadEscape { at });
                }
                let low = self.hex4()?;
                if !(0xdc00..=0xdfff).contains(&low) {
                    return Err(JsonError::BadEscape { at });
                }
                0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00)
            }
            0xdc00..=0xdfff => return Err(JsonError::BadEscape { at }),
            _ => high,
        };
        char::from_u32(code).ok_or(JsonError::BadEscape { at })
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut code = 0u32;
        for _ in 0..4 {
            let at = self.pos;
            let digit = char::from(self.next()?)
                .to_digit(16)
                .ok_or(JsonError::Unexpected { at })?;
            code = code * 16 + digit;
        }
        Ok(code)
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.unexpected_here()),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.require_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.require_digits()?;
        }
        let text = self.text.get(start..self.pos).unwrap_or_default();
        // ASCII digits and signs only.
        Ok(Value::Number(String::from_utf8_lossy(text).into_owned()))
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn require_digits(&mut self) -> Result<(), JsonError> {
        if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
            return Err(self.unexpected_here());
        }
        self.digits();
        Ok(())
    }
}

/// Appends `s` as a JSON string literal: `"` and `\` escaped, control characters as `\n`-style
/// or `\u00XX` escapes, everything else (including non-ASCII) as is — what `JSON.stringify`
/// and nlohmann's `dump()` produce.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Builds a compact JSON object member by member, in the order given.
pub(crate) struct ObjectWriter {
    out: String,
    empty: bool,
}

impl ObjectWriter {
    /// An empty object under construction.
    pub(crate) fn new() -> ObjectWriter {
        ObjectWriter {
            out: String::from("{"),
            empty: true,
        }
    }

    fn key(&mut self, key: &str) {
        if !self.empty {
            self.out.push(',');
        }
        self.empty = false;
        write_string(&mut self.out, key);
        self.out.push(':');
    }

    /// Adds a string member.
    pub(crate) fn string(mut self, key: &str, value: &str) -> ObjectWriter {
        self.key(key);
        write_string(&mut self.out, value);
        self
    }

    /// Adds an integer member.
    pub(crate) fn integer(mut self, key: &str, value: u64) -> ObjectWriter {
        self.key(key);
        let _ = write!(self.out, "{value}");
        self
    }

    /// Adds a member whose value is already JSON text (an object built by another writer).
    pub(crate) fn raw(mut self, key: &str, json: &str) -> ObjectWriter {
        self.key(key);
        self.out.push_str(json);
        self
    }

    /// Adds an object member of string pairs, in order.
    pub(crate) fn string_map(self, key: &str, pairs: &[(String, String)]) -> ObjectWriter {
        let inner = pairs
            .iter()
            .fold(ObjectWriter::new(), |w, (k, v)| w.string(k, v))
            .finish();
        self.raw(key, &inner)
    }

    /// The JSON text.
    pub(crate) fn finish(mut self) -> String {
        self.out.push('}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Value {
        Value::Number(text.into())
    }

    #[test]
    fn parses_nested_values_with_whitespace() {
        let value =
            parse(br#" {"a": [1, -2.5e+3, true, false, null], "b": {"c": "d"}, "e": 0} "#).unwrap();
        assert_eq!(
            value,
            Value::Object(vec![
                (
                    "a".into(),
                    Value::Array(vec![
                        num("1"),
                        num("-2.5e+3"),
                        Value::Bool(true),
                        Value::Bool(false),
                        Value::Null
                    ])
                ),
                (
                    "b".into(),
                    Value::Object(vec![("c".into(), Value::String("d".into()))])
                ),
                ("e".into(), num("0")),
            ])
        );
        assert_eq!(value.get("e").unwrap().as_u64(), Some(0));
        assert_eq!(value.get("a").unwrap().as_u64(), None);
    }

    #[test]
    fn unescapes_strings_including_surrogate_pairs() {
        let value = parse(br#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0000""#).unwrap();
        assert_eq!(
            value,
            Value::String("a\"b\\c/d\u{8}\u{c}\n\r\t\u{e9}\u{1f600}\u{0}".into())
        );
        assert_eq!(parse("\"é😀\"".as_bytes()).unwrap().as_str(), Some("é😀"));
    }

    #[test]
    fn string_encoding_round_trips() {
        for s in [
            "",
            "plain",
            "quote\" back\\slash",
            "\u{0}\u{1f}\n\t",
            "é😀/",
        ] {
            let mut out = String::new();
            write_string(&mut out, s);
            assert_eq!(
                parse(out.as_bytes()).unwrap(),
                Value::String(s.into()),
                "{out}"
            );
        }
        let mut out = String::new();
        write_string(&mut out, "\u{1}\"");
        assert_eq!(out, r#""\u0001\"""#);
    }

    #[test]
    fn last_duplicate_key_wins() {
        let value = parse(br#"{"k":1,"k":2}"#).unwrap();
        assert_eq!(value.get("k").unwrap().as_u64(), Some(2));
    }

    #[test]
    fn rejects_what_is_not_json() {
        let cases: &[&[u8]] = &[
            b"",
            b"   ",
            b"{",
            b"{\"a\"",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{a:1}",
            b"[1,]",
            b"01",
            b"-",
            b"1.",
            b"1e",
            b".5",
            b"+1",
            b"tru",
            b"nul",
            b"\"abc",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\ud800\\u0041\"",
            b"\"a\nb\"",
            b"{} {}",
            b"{}x",
            b"\xff",
            b"\"\xc3\"",
            b"NaN",
        ];
        for case in cases {
            assert!(parse(case).is_err(), "{:?}", String::from_utf8_lossy(case));
        }
        assert_eq!(parse(b"\xff"), Err(JsonError::NotUtf8));
        assert_eq!(parse(b"{}x"), Err(JsonError::Trailing { at: 2 }));
        assert!(parse_object(b"[]").is_err());
        assert!(parse_object(b"\"s\"").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let deep_ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(deep_ok.as_bytes()).is_ok());
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(parse(too_deep.as_bytes()), Err(JsonError::TooDeep));
        // A hostile nesting far beyond the limit fails fast without recursing further.
        let hostile = "{\"a\":".repeat(100_000);
        assert_eq!(parse(hostile.as_bytes()), Err(JsonError::TooDeep));
    }

    #[test]
    fn integers_only_when_written_as_integers() {
        for (text, expect) in [
            ("200", Some(200)),
            ("0", Some(0)),
            ("-1", None),
            ("2e2", None),
            ("200.0", None),
            ("18446744073709551616", None),
        ] {
            assert_eq!(parse(text.as_bytes()).unwrap().as_u64(), expect, "{text}");
        }
    }

    #[test]
    fn writer_builds_compact_objects_in_order() {
        let headers = vec![("Some-Header".to_string(), "12345".to_string())];
        let json = ObjectWriter::new()
            .string("method", "GET")
            .integer("port", 443)
            .string_map("headers", &headers)
            .finish();
        assert_eq!(
            json,
            r#"{"method":"GET","port":443,"headers":{"Some-Header":"12345"}}"#
        );
        assert_eq!(ObjectWriter::new().finish(), "{}");
        assert_eq!(parse(json.as_bytes()).unwrap().to_json(), json);
    }
}
