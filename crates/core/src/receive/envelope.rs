//! Appcircle's delivery envelope, read liberally: unknown fields stay in the raw body,
//! field names match case-insensitively, and only what dedupe and the replay window need
//! (`deliveryId`, `timestamp`) is required.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The parts of a delivery that Gatehouse reads; the raw body is kept beside it.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub delivery_id: String,
    pub timestamp: DateTime<Utc>,
    pub action: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    /// The module-specific object; `Null` when absent.
    pub item: Value,
    /// Named URLs (`detail`, `viewlogs`, ...); only string values are kept here.
    pub links: Map<String, Value>,
}

/// Why a (validly signed) body cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    #[error("body is not a JSON object")]
    NotObject,
    #[error("missing field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}` is invalid: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Longest `deliveryId` accepted; a GUID is 36 characters.
const MAX_DELIVERY_ID: usize = 200;

impl Envelope {
    /// Parses the raw body. Never re-serialises it: the stored payload is the bytes received.
    pub fn parse(body: &[u8]) -> Result<Self, EnvelopeError> {
        // A UTF-8 byte-order mark is not JSON, but some serialisers write one.
        let json = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        let value: Value =
            serde_json::from_slice(json).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
        let Value::Object(mut map) = value else {
            return Err(EnvelopeError::NotObject);
        };
        let delivery_id = match field(&map, "deliveryId") {
            None | Some(Value::Null) => return Err(EnvelopeError::Missing("deliveryId")),
            Some(v) => scalar_text(v).ok_or_else(|| EnvelopeError::Invalid {
                field: "deliveryId",
                reason: "not a string".into(),
            })?,
        };
        let delivery_id = delivery_id.trim().to_owned();
        if delivery_id.is_empty() || delivery_id.len() > MAX_DELIVERY_ID {
            return Err(EnvelopeError::Invalid {
                field: "deliveryId",
                reason: format!("must be 1 to {MAX_DELIVERY_ID} characters"),
            });
        }
        let timestamp = match field(&map, "timestamp") {
            None | Some(Value::Null) => return Err(EnvelopeError::Missing("timestamp")),
            Some(Value::String(s)) => crate::time::parse_liberal(s),
            Some(Value::Number(n)) => n.as_f64().and_then(crate::time::from_unix_number),
            Some(_) => None,
        }
        .ok_or_else(|| EnvelopeError::Invalid {
            field: "timestamp",
            reason: "not a date and time".into(),
        })?;
        // Moved out rather than cloned: this runs for every delivery.
        let links = match take_field(&mut map, "links") {
            Some(Value::Object(mut links)) => {
                links.retain(|_, v| v.is_string());
                links
            }
            _ => Map::new(),
        };
        Ok(Envelope {
            delivery_id,
            timestamp,
            action: text_field(&map, "action"),
            title: text_field(&map, "title"),
            message: text_field(&map, "message"),
            item: take_field(&mut map, "item").unwrap_or(Value::Null),
            links,
        })
    }

    /// A link by name, only if it is an http(s) URL.
    pub fn link(&self, name: &str) -> Option<&str> {
        self.links
            .get(name)
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    }
}

/// Looks a key up exactly, then case-insensitively (some .NET serialisers write PascalCase).
pub fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Like [`field`], taking the value out of the map.
fn take_field(map: &mut Map<String, Value>, name: &str) -> Option<Value> {
    if let Some(v) = map.remove(name) {
        return Some(v);
    }
    let key = map.keys().find(|k| k.eq_ignore_ascii_case(name))?.clone();
    map.remove(&key)
}

/// A string, number or bool as text; `None` for null, arrays and objects.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn text_field(map: &Map<String, Value>, name: &str) -> Option<String> {
    field(map, name)
        .and_then(scalar_text)
        .filter(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    // Fixed dates on purpose: these are parser input (and Appcircle's documented vector);
    // parsing reads no clock.
    use super::*;

    const VECTOR: &[u8] = include_bytes!("../../tests/vectors/appcircle-build-started.json");

    #[test]
    fn documented_example() {
        let e = Envelope::parse(VECTOR).expect("parses");
        assert_eq!(e.delivery_id, "ee81f55b-fd14-4f95-9e1f-f5bce3ad29e4");
        assert_eq!(
            crate::time::to_text(e.timestamp),
            "2022-10-26T14:55:08.462275Z"
        );
        assert_eq!(e.action.as_deref(), Some("Build|BuildStart"));
        assert_eq!(e.title.as_deref(), Some("Build Started"));
        assert!(
            e.message
                .as_deref()
                .is_some_and(|m| m.starts_with("Build started for"))
        );
        assert_eq!(e.item["taskId"], "9e3c7dcd-d292-4144-9844-ca07df6a8924");
        assert!(
            e.link("viewlogs")
                .is_some_and(|l| l.contains("modal=/build/modal/Logs"))
        );
    }

    #[test]
    fn minimal_and_pascal_case_envelopes() {
        let e = Envelope::parse(
            br#"{"DeliveryId":"x","Timestamp":"2024-01-01T00:00:00Z","Extra":[1]}"#,
        )
        .expect("parses");
        assert_eq!(e.delivery_id, "x");
        assert_eq!(e.action, None);
        assert_eq!(e.item, Value::Null);
    }

    #[test]
    fn a_byte_order_mark_is_tolerated() {
        let body = b"\xEF\xBB\xBF{\"deliveryId\":\"x\",\"timestamp\":\"2024-01-01T00:00:00Z\"}";
        assert_eq!(Envelope::parse(body).expect("parses").delivery_id, "x");
    }

    #[test]
    fn non_http_links_are_not_offered() {
        let e = Envelope::parse(
            br#"{"deliveryId":"x","timestamp":"2024-01-01T00:00:00Z","links":{"detail":"javascript:alert(1)","n":5}}"#,
        )
        .expect("parses");
        assert_eq!(e.link("detail"), None);
        assert!(e.links.get("n").is_none());
    }

    #[test]
    fn what_is_refused() {
        assert!(matches!(
            Envelope::parse(b"not json"),
            Err(EnvelopeError::NotJson(_))
        ));
        assert_eq!(Envelope::parse(b"[1,2]"), Err(EnvelopeError::NotObject));
        assert_eq!(
            Envelope::parse(br#"{"timestamp":"2024-01-01T00:00:00Z"}"#),
            Err(EnvelopeError::Missing("deliveryId"))
        );
        assert_eq!(
            Envelope::parse(br#"{"deliveryId":"a"}"#),
            Err(EnvelopeError::Missing("timestamp"))
        );
        assert!(matches!(
            Envelope::parse(br#"{"deliveryId":"a","timestamp":"soon"}"#),
            Err(EnvelopeError::Invalid {
                field: "timestamp",
                ..
            })
        ));
        assert!(matches!(
            Envelope::parse(br#"{"deliveryId":"  ","timestamp":"2024-01-01T00:00:00Z"}"#),
            Err(EnvelopeError::Invalid {
                field: "deliveryId",
                ..
            })
        ));
        assert!(matches!(
            Envelope::parse(br#"{"deliveryId":{},"timestamp":"2024-01-01T00:00:00Z"}"#),
            Err(EnvelopeError::Invalid {
                field: "deliveryId",
                ..
            })
        ));
    }
}
