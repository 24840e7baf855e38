//! Enum values are stored as their wire names, so the database reads like the protocol.

use super::StoreError;
use serde::{Serialize, de::DeserializeOwned};

pub fn text<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

pub fn parse<T: DeserializeOwned>(text: &str, what: &'static str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|source| StoreError::Decode { what, source })
}
