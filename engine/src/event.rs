//! The event contract (DOMAIN.md §2): one raw message in, a valid event or the reason out.
//!
//! The rules and the reasons are those the dead-letter topic has always carried: a reason
//! starts with `not JSON:`, `not an event:` or `schema:`, and names the field it is about
//! (`- at `$.field``). Nothing here panics on any input; every byte string gets an answer.
//!
//! Order events are checked here for their shape only: what their `status` and `amount` may
//! be is the orders' rule (`stream.core.orders`), applied by the caller.

use crate::rfc3339::{self, TimeError};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Limits the caller configures (one source of each number: the Python contract module).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Characters an id may have (a conversation id twice as many, plus one).
    pub max_id_chars: usize,
    /// The latest epoch millisecond an event may carry.
    pub latest_ms: i64,
}

pub const KINDS: [&str; 5] = ["message", "read", "end", "transfer", "order"];
pub const SENDERS: [&str; 4] = ["buyer", "agent", "bot", "system"];
pub const BUYER_KINDS: [&str; 3] = ["customer", "ad", "peer"];

/// An order's `amount` as sent (its rule is the caller's).
#[derive(Debug, PartialEq, Eq)]
pub enum Amount<'a> {
    /// Absent or null.
    Absent,
    /// A JSON string, unescaped.
    Text(Cow<'a, str>),
    /// A JSON number, as written.
    Number(&'a str),
    /// Anything else (an object, an array, a boolean).
    Other,
}

/// A structurally valid event, defaults not yet applied.
#[derive(Debug)]
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub ts_ms: i64,
    pub shop_id: Cow<'a, str>,
    pub buyer_id: Cow<'a, str>,
    pub conversation_id: Option<Cow<'a, str>>,
    pub platform: Option<Cow<'a, str>>,
    pub kind: &'static str,
    pub sender: Option<&'static str>,
    pub agent_id: Option<Cow<'a, str>>,
    pub text: Option<Cow<'a, str>>,
    pub buyer_kind: &'static str,
    pub order_id: Option<Cow<'a, str>>,
    pub status: Option<Cow<'a, str>>,
    pub amount: Amount<'a>,
}

// --- reading the object --------------------------------------------------------------------

/// A key or string value, borrowed from the input when it has no escapes.
struct Text<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// The members of a JSON object, in document order, values unparsed.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> de::Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(12);
                while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    out.push((key, value));
                }
                Ok(Members(out))
            }
        }
        deserializer.deserialize_map(V)
    }
}

/// The JSON type of a value, named as the reasons name it.
fn type_name(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "str",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "bool",
        Some(b'n') => "null",
        _ if raw.contains(['.', 'e', 'E']) => "float",
        // an integer beyond 64 bits is read as a float where a number of another type is
        // named (the decoder has always said so)
        _ if raw.parse::<i64>().is_err() && raw.parse::<u64>().is_err() => "float",
        _ => "int",
    }
}

/// Whether a number is written as an integer (any size).
fn integer_literal(raw: &str) -> bool {
    !raw.is_empty()
        && !raw.contains(['.', 'e', 'E'])
        && !raw.starts_with(['"', '[', '{', 't', 'f', 'n'])
}

fn at(message: impl fmt::Display, field: &str) -> String {
    format!("schema: {message} - at `$.{field}`")
}

fn not_json(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.contains("recursion limit") {
        "not an event: JSON nested too deeply".to_owned()
    } else if error.classify() == serde_json::error::Category::Eof {
        "not JSON: Input data was truncated".to_owned()
    } else {
        format!("not JSON: JSON is malformed: {text}")
    }
}

fn string<'a>(raw: &'a RawValue) -> Result<Cow<'a, str>, String> {
    match serde_json::from_str::<Text<'a>>(raw.get()) {
        Ok(Text(text)) => Ok(text),
        Err(error) => Err(not_json(&error)),
    }
}

/// A string field; `nullable` fields take null as absent.
fn str_field<'a>(
    raw: &'a RawValue,
    field: &str,
    nullable: bool,
    max_chars: Option<usize>,
) -> Result<Option<Cow<'a, str>>, String> {
    let kind = type_name(raw.get());
    if kind == "null" && nullable {
        return Ok(None);
    }
    if kind != "str" {
        let expected = if nullable { "str | null" } else { "str" };
        return Err(at(
            format_args!("Expected `{expected}`, got `{kind}`"),
            field,
        ));
    }
    let text = string(raw)?;
    if let Some(max) = max_chars {
        let n = text.chars().count();
        if n == 0 {
            return Err(at("Expected `str` of length >= 1", field));
        }
        if n > max {
            return Err(at(format_args!("Expected `str` of length <= {max}"), field));
        }
    }
    Ok(Some(text))
}

/// A string as Python's `repr` shows it (the reasons quote a refused value that way), for the
/// characters that matter in a log line: controls, separators and format characters escaped.
fn py_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{a0}' | '\u{ad}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            '\u{61c}'
            | '\u{1680}'
            | '\u{180e}'
            | '\u{2000}'..='\u{200f}'
            | '\u{2028}'..='\u{202f}'
            | '\u{205f}'..='\u{2064}'
            | '\u{2066}'..='\u{206f}'
            | '\u{3000}'
            | '\u{feff}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// One of a fixed set of strings.
fn choice(
    raw: &RawValue,
    field: &str,
    nullable: bool,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, String> {
    let Some(text) = str_field(raw, field, nullable, None)? else {
        return Ok(None);
    };
    match allowed.iter().find(|a| **a == text) {
        Some(found) => Ok(Some(found)),
        None => Err(at(
            format_args!("Invalid enum value {}", py_repr(&text)),
            field,
        )),
    }
}

/// `ts`: epoch milliseconds, or an RFC 3339 time with an offset.
///
/// The outer error is the field's (reported where it stands); the inner one a time outside
/// the contract's range (reported with the cross-field rules, after the structure).
fn ts_field(raw: &RawValue, limits: Limits) -> Result<Result<i64, String>, String> {
    let text = raw.get();
    let kind = if integer_literal(text) {
        "int"
    } else {
        type_name(text)
    };
    match kind {
        "str" => {
            let value = string(raw)?;
            let time = rfc3339::parse(&value).map_err(|e| match e {
                TimeError::Invalid => at("Invalid RFC3339 encoded datetime", "ts"),
                TimeError::NoOffset => at("Expected `datetime` with a timezone component", "ts"),
            })?;
            let ms = time.epoch_millis();
            if !(0..=limits.latest_ms).contains(&ms) {
                return Ok(Err(at(
                    format_args!("ts {} is outside 1970-01-01..9999-12-30", time.isoformat()),
                    "ts",
                )));
            }
            Ok(Ok(ms))
        }
        "int" => {
            let shown = if text == "-0" { "0" } else { text };
            Ok(match text.parse::<i64>() {
                Ok(ms) if (0..=limits.latest_ms).contains(&ms) => Ok(ms),
                _ => Err(at(
                    format_args!("ts {shown} is not an epoch-milliseconds time"),
                    "ts",
                )),
            })
        }
        kind => Err(at(
            format_args!("Expected `int | datetime`, got `{kind}`"),
            "ts",
        )),
    }
}

/// Control characters and bidirectional overrides: they would hide one id behind another on a
/// screen or in a log line.
fn hidden(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{200e}' | '\u{200f}'
                | '\u{61c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    })
}

const REQUIRED: [&str; 5] = ["event_id", "ts", "shop_id", "buyer_id", "type"];

/// How deep arrays and objects may nest anywhere in a message: an event nests two levels at
/// most; a deeper value (even in a field nobody reads) is refused rather than walked.
pub const MAX_DEPTH: usize = 128;

/// Whether valid JSON nests deeper than [`MAX_DEPTH`].
fn too_deep(json: &str) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in json.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth -= 1,
            _ => {}
        }
    }
    false
}

/// Decode and validate one message.
pub fn decode(raw: &[u8], limits: Limits) -> Result<Event<'_>, String> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Err("not JSON: the message is not valid UTF-8".to_owned());
    };
    let whole: &RawValue = serde_json::from_str(text).map_err(|e| not_json(&e))?;
    let kind = type_name(whole.get().trim_start());
    if kind != "object" {
        return Err(format!("schema: Expected `object`, got `{kind}`"));
    }
    if too_deep(whole.get()) {
        return Err("not an event: JSON nested too deeply".to_owned());
    }
    let Members(members) = serde_json::from_str(whole.get()).map_err(|e| not_json(&e))?;

    let id = limits.max_id_chars;
    let mut event_id = None;
    let mut ts = None;
    let mut shop_id = None;
    let mut buyer_id = None;
    let mut event_kind = None;
    let mut conversation_id = None;
    let mut platform = None;
    let mut sender = None;
    let mut agent_id = None;
    let mut body = None;
    let mut buyer_kind = "customer";
    let mut order_id = None;
    let mut status = None;
    let mut amount = Amount::Absent;
    let mut repeated: Option<&str> = None;
    for (i, (key, value)) in members.iter().enumerate() {
        if repeated.is_none() && members[..i].iter().any(|(k, _)| k == key) {
            repeated = Some(key);
        }
        let value: &RawValue = value;
        match key.as_ref() {
            "event_id" => event_id = str_field(value, "event_id", false, Some(id))?,
            "ts" => ts = Some(ts_field(value, limits)?),
            "shop_id" => shop_id = str_field(value, "shop_id", false, Some(id))?,
            "buyer_id" => buyer_id = str_field(value, "buyer_id", false, Some(id))?,
            "type" => event_kind = choice(value, "type", false, &KINDS)?,
            "conversation_id" => {
                conversation_id = str_field(value, "conversation_id", true, Some(2 * id + 1))?
            }
            "platform" => platform = str_field(value, "platform", true, Some(id))?,
            "sender" => sender = choice(value, "sender", true, &SENDERS)?,
            "agent_id" => agent_id = str_field(value, "agent_id", true, Some(id))?,
            "text" => body = str_field(value, "text", true, None)?,
            "buyer_kind" => {
                buyer_kind = choice(value, "buyer_kind", false, &BUYER_KINDS)?.unwrap_or("customer")
            }
            "order_id" => order_id = str_field(value, "order_id", true, Some(id))?,
            "status" => status = str_field(value, "status", true, None)?,
            "amount" => {
                amount = match type_name(value.get()) {
                    "null" => Amount::Absent,
                    "str" => Amount::Text(string(value)?),
                    "int" | "float" => Amount::Number(value.get()),
                    _ => Amount::Other,
                }
            }
            _ => {} // unknown fields are ignored (forward compatibility)
        }
    }
    let found = [
        event_id.is_some(),
        ts.is_some(),
        shop_id.is_some(),
        buyer_id.is_some(),
        event_kind.is_some(),
    ];
    if let Some(missing) = REQUIRED
        .iter()
        .zip(found)
        .find(|(_, f)| !f)
        .map(|(name, _)| name)
    {
        return Err(format!("schema: Object missing required field `{missing}`"));
    }
    if let Some(name) = repeated {
        // JSON parsers disagree on which one counts: refused rather than read one way here
        // and another way elsewhere
        return Err(at(
            format_args!("field `{name}` appears more than once"),
            name,
        ));
    }
    let ts = ts.unwrap_or(Ok(0));
    let event = Event {
        event_id: event_id.unwrap_or_default(),
        ts_ms: *ts.as_ref().unwrap_or(&0),
        shop_id: shop_id.unwrap_or_default(),
        buyer_id: buyer_id.unwrap_or_default(),
        conversation_id,
        platform,
        kind: event_kind.unwrap_or("message"),
        sender,
        agent_id,
        text: body,
        buyer_kind,
        order_id,
        status,
        amount,
    };
    for (name, value) in [
        ("event_id", Some(&event.event_id)),
        ("shop_id", Some(&event.shop_id)),
        ("buyer_id", Some(&event.buyer_id)),
        ("conversation_id", event.conversation_id.as_ref()),
        ("platform", event.platform.as_ref()),
        ("agent_id", event.agent_id.as_ref()),
        ("order_id", event.order_id.as_ref()),
    ] {
        if value.is_some_and(|v| hidden(v)) {
            return Err(at(
                format_args!("`{name}` holds a control or bidirectional-override character"),
                name,
            ));
        }
    }
    ts?;
    check_kind(&event)?;
    Ok(event)
}

/// The cross-field rules of each kind of event.
fn check_kind(event: &Event) -> Result<(), String> {
    if event.kind == "message" {
        if event.sender.is_none() {
            return Err(at("a message needs `sender`", "sender"));
        }
        if event.text.is_none() {
            return Err(at("a message needs `text`", "text"));
        }
    }
    if event.kind == "transfer" && event.agent_id.is_none() {
        return Err(at(
            "a transfer needs `agent_id` (the agent it moves to)",
            "agent_id",
        ));
    }
    if let Some(sender @ ("agent" | "bot")) = event.sender {
        if event.agent_id.is_none() {
            return Err(at(
                format_args!("sender {sender} needs `agent_id`"),
                "agent_id",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_id_chars: 128,
        latest_ms: 253_402_041_600_000,
    };
    const BASE: &str =
        r#""event_id":"e1","ts":"2026-11-11T10:00:00+08:00","shop_id":"s1","buyer_id":"b1""#;

    fn ok(body: &str) -> Event<'_> {
        decode(body.as_bytes(), LIMITS).unwrap()
    }

    fn reason(body: &str) -> String {
        decode(body.as_bytes(), LIMITS).unwrap_err()
    }

    fn with(extra: &str) -> String {
        format!("{{{BASE},{extra}}}")
    }

    #[test]
    fn a_message_decodes_with_its_fields() {
        let raw = with(r#""type":"message","sender":"agent","agent_id":"a\u00e91","text":"hi""#);
        let event = ok(&raw);
        assert_eq!(event.ts_ms, 1_794_362_400_000);
        assert_eq!((event.kind, event.sender), ("message", Some("agent")));
        assert_eq!(event.agent_id.as_deref(), Some("aé1"));
        assert!(matches!(event.shop_id, Cow::Borrowed(_)));
        assert_eq!(event.buyer_kind, "customer");
    }

    #[test]
    fn reasons_name_the_field() {
        assert_eq!(reason("[1]"), "schema: Expected `object`, got `array`");
        assert_eq!(reason("null"), "schema: Expected `object`, got `null`");
        assert!(reason("{not json").starts_with("not JSON: JSON is malformed"));
        assert_eq!(reason(""), "not JSON: Input data was truncated");
        assert_eq!(
            reason(r#"{"ts":0,"shop_id":"s","buyer_id":"b","type":"read"}"#),
            "schema: Object missing required field `event_id`"
        );
        assert_eq!(
            reason(&with(r#""type":"typing""#)),
            "schema: Invalid enum value 'typing' - at `$.type`"
        );
        assert_eq!(
            reason(r#"{"event_id":"","ts":0,"shop_id":"s","buyer_id":"b","type":"read"}"#),
            "schema: Expected `str` of length >= 1 - at `$.event_id`"
        );
        assert_eq!(
            reason(&with(r#""type":"read","platform":7"#)),
            "schema: Expected `str | null`, got `int` - at `$.platform`"
        );
        assert_eq!(
            reason(&with(r#""type":"message","sender":"agent","text":"x""#)),
            "schema: sender agent needs `agent_id` - at `$.agent_id`"
        );
        assert_eq!(
            reason(&with(r#""type":"read","type":"end""#)),
            "schema: field `type` appears more than once - at `$.type`"
        );
        assert_eq!(
            reason(&with(r#""type":"read","agent_id":"a\u202e1""#)),
            "schema: `agent_id` holds a control or bidirectional-override character - at `$.agent_id`"
        );
        assert_eq!(
            decode(&[0xff, 0xfe], LIMITS).unwrap_err(),
            "not JSON: the message is not valid UTF-8"
        );
    }

    #[test]
    fn ts_forms() {
        let read = |ts: &str| {
            let raw = format!(
                r#"{{"event_id":"e","ts":{ts},"shop_id":"s","buyer_id":"b","type":"read"}}"#
            );
            decode(raw.as_bytes(), LIMITS).map(|e| e.ts_ms)
        };
        assert_eq!(read("1794362400000").unwrap(), 1_794_362_400_000);
        assert_eq!(read("-0").unwrap(), 0);
        assert_eq!(
            read("-1").unwrap_err(),
            "schema: ts -1 is not an epoch-milliseconds time - at `$.ts`"
        );
        assert_eq!(
            read("18446744073709551616").unwrap_err(),
            "schema: ts 18446744073709551616 is not an epoch-milliseconds time - at `$.ts`"
        );
        assert_eq!(
            read("1.5").unwrap_err(),
            "schema: Expected `int | datetime`, got `float` - at `$.ts`"
        );
        assert_eq!(
            read("true").unwrap_err(),
            "schema: Expected `int | datetime`, got `bool` - at `$.ts`"
        );
        assert_eq!(
            read(r#""2026-11-11T10:00:00""#).unwrap_err(),
            "schema: Expected `datetime` with a timezone component - at `$.ts`"
        );
        assert_eq!(
            read(r#""1969-12-31T23:59:59Z""#).unwrap_err(),
            "schema: ts 1969-12-31T23:59:59+00:00 is outside 1970-01-01..9999-12-30 - at `$.ts`"
        );
    }

    #[test]
    fn amounts_are_kept_as_sent() {
        let order = |amount: &str| {
            let raw = with(&format!(
                r#""type":"order","order_id":"o","status":"paid","amount":{amount}"#
            ));
            let event = decode(raw.as_bytes(), LIMITS).map(|e| format!("{:?}", e.amount));
            event.unwrap()
        };
        assert_eq!(order("19.90"), r#"Number("19.90")"#);
        assert_eq!(order(r#""19.9""#), r#"Text("19.9")"#);
        assert_eq!(order("null"), "Absent");
        assert_eq!(order("[1]"), "Other");
    }

    #[test]
    fn refused_values_are_quoted_as_python_does() {
        assert_eq!(py_repr("typing"), "'typing'");
        assert_eq!(py_repr("it's"), "\"it's\"");
        assert_eq!(py_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(py_repr("\u{202e}x\n\u{0}\\"), "'\\u202ex\\n\\x00\\\\'");
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |n: usize| {
            with(&format!(
                r#""type":"read","x":{}{}"#,
                "[".repeat(n),
                "]".repeat(n)
            ))
        };
        assert_eq!(
            reason(&nested(100_000)),
            "not an event: JSON nested too deeply"
        );
        assert_eq!(
            reason(&nested(MAX_DEPTH)),
            "not an event: JSON nested too deeply"
        );
        assert_eq!(ok(&nested(MAX_DEPTH - 1)).kind, "read");
        assert_eq!(ok(&with(r#""type":"read","x":"[[[\"]]""#)).kind, "read");
        let top = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(reason(&top), "schema: Expected `object`, got `array`");
    }
}
