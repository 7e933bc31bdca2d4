//! JSON text read into Gatehouse's own types, one way everywhere: through a
//! [`serde_json::Value`] parsed from bytes. The API reads its requests from a `Value` (the
//! window hands one over), and serde generates each type's deserializer once per input it is
//! read from (text, bytes, a `Value`); reading stored settings, accounts and a mirror's events
//! through the same `Value`, and every `Value` from bytes, keeps one copy of each in the
//! binary instead of two or three.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// `text` as a `T`, through a `Value`.
pub fn read<T: DeserializeOwned>(text: &str) -> serde_json::Result<T> {
    value(text).and_then(serde_json::from_value)
}

/// `text` as a `Value`, parsed as the bodies of requests are (from bytes).
pub fn value(text: &str) -> serde_json::Result<Value> {
    serde_json::from_slice(text.as_bytes())
}
