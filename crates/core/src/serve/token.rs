//! Access tokens for the inbox's API: 256 random bits, shown once, kept only as their
//! SHA-256 (a stolen database gives no working token), and a role that says what they may do.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use crate::{Error, Result};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum Role {
    /// Events, requests (without the bodies of unverified ones), the gate and the stream.
    Read,
    /// Everything the desktop can do: endpoints and secrets, settings, accept and replay.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "read" => Ok(Role::Read),
            "admin" => Ok(Role::Admin),
            other => Err(Error::Invalid(format!("unknown token role `{other}`"))),
        }
    }

    /// Whether this role may do what `needed` requires.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// Tokens start with this, so that they are recognisable in a leaked file or a log
/// (and by secret scanners).
pub const PREFIX: &str = "gh_inbox_";

/// A fresh token: [`PREFIX`] and 32 bytes from the OS's CSPRNG as 64 hex digits.
pub fn generate() -> Result<String> {
    Ok(format!("{PREFIX}{}", random_hex()?))
}

/// 32 bytes from the OS's CSPRNG as 64 hex digits (tokens, browser session ids).
pub fn random_hex() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::System(format!("the OS random source failed: {e}")))?;
    Ok(hex::encode(bytes))
}

/// What is stored and looked up: the SHA-256 of the token's bytes. A lookup by this hash
/// reveals nothing useful through its timing: finding a token from its hash's first bytes
/// would take a preimage.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Token names follow endpoint names: letters, digits, `-`, `_`, `.`.
pub fn validate_name(name: &str) -> Result<()> {
    crate::receive::endpoint::validate_name(name)
        .map_err(|_| Error::Invalid(format!(
            "invalid token name `{name}`: use 1 to {} letters, digits, '-', '_' or '.', not starting with '.'",
            crate::receive::endpoint::MAX_NAME_LEN
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_prefixed_and_hashed() {
        let (a, b) = (generate().expect("a"), generate().expect("b"));
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX));
        assert_eq!(a.len(), PREFIX.len() + 64);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn roles() {
        assert!(Role::Admin.allows(Role::Read));
        assert!(Role::Admin.allows(Role::Admin));
        assert!(Role::Read.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Admin));
        assert_eq!(Role::parse("admin").expect("admin"), Role::Admin);
        assert!(Role::parse("root").is_err());
    }
}
