//! Numbers and codes in a scenario file: a JSON number, `"0x..."` text or a name.

use crate::bugcheck::BugCheckCode;
use crate::status::NtStatus;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number given as a JSON number, `"0x..."` or decimal text.
fn parse_number(s: &str) -> Option<u64> {
    let t = s.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(&h.replace('_', ""), 16).ok(),
        None => t.parse().ok(),
    }
}

/// A JSON number or string, for the hand-written deserialisers below.
fn number_or_text<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Result<u64, String>>, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(|v| Some(Ok(v)))
            .ok_or_else(|| D::Error::custom(format!("{n} is not a non-negative integer"))),
        serde_json::Value::String(s) => Ok(Some(parse_number(&s).ok_or(s))),
        other => Err(D::Error::custom(format!(
            "expected a number or a string, found {other}"
        ))),
    }
}

/// A bug check code in a scenario file: a number, `"0x76"`, or its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code(pub BugCheckCode);

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#x}", self.0.0))
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        code32(
            d,
            "a bug check code; expected a number, \"0x76\" or a name such as \"PROCESS_HAS_LOCKED_PAGES\"",
            |n| BugCheckCode::from_name(n).map(|c| c.0),
        )
        .map(|v| Code(BugCheckCode(v)))
    }
}

/// A 32-bit code given as a number, `"0x..."` or a name `by_name` knows; `what` ends the
/// error message ("`X` is not {what}").
fn code32<'de, D: Deserializer<'de>>(
    d: D,
    what: &str,
    by_name: fn(&str) -> Option<u32>,
) -> std::result::Result<u32, D::Error> {
    use serde::de::Error;
    let bad = |v: String| D::Error::custom(format!("`{v}` is not {what}"));
    match number_or_text(d)? {
        Some(Ok(v)) => u32::try_from(v).map_err(|_| bad(v.to_string())),
        Some(Err(name)) => by_name(&name).ok_or_else(|| bad(name)),
        None => Err(bad("null".into())),
    }
}

/// A bug check parameter in a scenario file: a number, `"0x..."`, or `null` (any value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param(pub Option<u64>);

impl Serialize for Param {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0 {
            Some(v) => s.serialize_str(&format!("{v:#x}")),
            None => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        match number_or_text(d)? {
            Some(Ok(v)) => Ok(Param(Some(v))),
            Some(Err(t)) => Err(D::Error::custom(format!(
                "`{t}` is not a bug check parameter; expected a number, \"0x...\" or null (any value)"
            ))),
            None => Ok(Param(None)),
        }
    }
}

/// An NTSTATUS in a scenario file: a name (`"STATUS_PENDING"`), `"0x103"` or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status(pub NtStatus);

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self.0.name() {
            Some(n) => s.serialize_str(n),
            None => s.serialize_str(&format!("{:#x}", self.0.0)),
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        code32(
            d,
            "an NTSTATUS; expected a name such as \"STATUS_PENDING\", \"0x103\" or a number",
            |n| NtStatus::from_name(n).map(|c| c.0),
        )
        .map(|v| Status(NtStatus(v)))
    }
}
