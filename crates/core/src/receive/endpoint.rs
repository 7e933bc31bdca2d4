//! Named webhook endpoints (`POST /hooks/{name}`) and their secrets.

use crate::{Error, Result};

/// Longest endpoint name; it becomes a URL path segment.
pub const MAX_NAME_LEN: usize = 64;

/// Endpoint names are URL path segments: letters, digits, `-`, `_`, `.`, not starting with a dot.
pub fn validate_name(name: &str) -> Result<()> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.is_empty() || name.len() > MAX_NAME_LEN || !ok_chars || name.starts_with('.') {
        return Err(Error::Invalid(format!(
            "invalid endpoint name `{name}`: use 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', not starting with '.'"
        )));
    }
    Ok(())
}

/// Secrets shorter than this draw a warning: HMAC with a guessable key proves little. They
/// are still accepted, since the secret is whatever the user typed into Appcircle (its own
/// documented example uses `test`).
pub const WEAK_SECRET_LEN: usize = 16;
/// Appcircle's secret field is free text; keep ours to something a form will take.
pub const MAX_SECRET_LEN: usize = 256;

pub fn validate_secret(secret: &str) -> Result<()> {
    if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
        return Err(Error::Invalid(format!(
            "a secret must be 1 to {MAX_SECRET_LEN} bytes long"
        )));
    }
    if secret.chars().any(char::is_control) || secret.trim() != secret {
        return Err(Error::Invalid(
            "a secret may not contain control characters or surrounding spaces".into(),
        ));
    }
    Ok(())
}

/// 32 bytes from the OS's CSPRNG as 64 hex digits: easy to paste, 256 bits strong.
pub fn generate_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::System(format!("the OS random source failed: {e}")))?;
    Ok(hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["ci", "my-app_ios.v2", "A", &"x".repeat(MAX_NAME_LEN)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "a b",
            "é",
            "..",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets() {
        assert!(validate_secret("").is_err());
        assert!(validate_secret("test").is_ok(), "Appcircle's own example");
        assert!(validate_secret(&"x".repeat(MAX_SECRET_LEN + 1)).is_err());
        assert!(validate_secret(" padded-secret ").is_err());
        assert!(validate_secret("line\nbreak-secret").is_err());
        assert!(validate_secret("a perfectly fine secret").is_ok());
        let a = generate_secret().expect("random");
        let b = generate_secret().expect("random");
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(validate_secret(&a).is_ok());
    }
}
