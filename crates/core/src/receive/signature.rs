//! HMAC-SHA256 of the raw body, in hex, checked in constant time: Appcircle's `ac_signature`
//! and GitHub's `X-Hub-Signature-256` (after its `sha256=`). The errors' wording names
//! Appcircle's header; the providers word their own ([`crate::receive::providers::refusal`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header Appcircle signs with. Note the underscore: some proxies drop it.
pub const HEADER: &str = "ac_signature";

/// Why a delivery is not proven authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {HEADER} header")]
    Missing,
    #[error("{HEADER} header is not 64 hex digits")]
    Malformed,
    #[error("more than one {HEADER} header")]
    Ambiguous,
    #[error("{HEADER} does not match any active secret")]
    Mismatch,
}

/// Lowercase hex of the HMAC, as Appcircle sends it; used by `gatehouse send` and tests.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    hex::encode(mac(secret, body).finalize().into_bytes())
}

/// Checks `header` (upper- or lowercase hex) against every secret, in constant time per
/// comparison, and returns the index of the secret that matched.
///
/// Every secret is tried even after a match, so timing does not tell which one matched.
pub fn verify(secrets: &[&[u8]], body: &[u8], header: &str) -> Result<usize, SignatureError> {
    let expected = decode(header)?;
    let mut matched = None;
    for (i, secret) in secrets.iter().enumerate() {
        if mac(secret, body).verify_slice(&expected).is_ok() && matched.is_none() {
            matched = Some(i);
        }
    }
    matched.ok_or(SignatureError::Mismatch)
}

/// Picks the one signature header out of all the values the request carried.
pub fn single_header<'a>(values: &[&'a str]) -> Result<&'a str, SignatureError> {
    match values {
        [] => Err(SignatureError::Missing),
        [one] => Ok(one),
        _ => Err(SignatureError::Ambiguous),
    }
}

fn decode(header: &str) -> Result<[u8; 32], SignatureError> {
    let header = header.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(header, &mut out).map_err(|_| SignatureError::Malformed)?;
    Ok(out)
}

fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR: &[u8] = include_bytes!("../../tests/vectors/appcircle-build-started.json");
    const VECTOR_SIG: &str = "8470172a1c60447abd7dce97227448da2b369b17d54d128306625979eca6476b";
    const VECTOR_NEWLINE_SIG: &str =
        "f40bb743e38d4fe860748ff43e8e8aaeae1ef1e0450b9d703b046d18aba7ee52";

    #[test]
    fn documented_appcircle_vector() {
        assert_eq!(VECTOR.len(), 1215);
        assert_eq!(sign(b"test", VECTOR), VECTOR_SIG);
        assert_eq!(verify(&[b"test"], VECTOR, VECTOR_SIG), Ok(0));
    }

    #[test]
    fn uppercase_hex_and_surrounding_space_are_accepted() {
        let upper = format!(" {} ", VECTOR_SIG.to_uppercase());
        assert_eq!(verify(&[b"test"], VECTOR, &upper), Ok(0));
    }

    #[test]
    fn one_appended_byte_fails() {
        let mut body = VECTOR.to_vec();
        body.push(b'\n');
        assert_eq!(
            verify(&[b"test"], &body, VECTOR_SIG),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(sign(b"test", &body), VECTOR_NEWLINE_SIG);
    }

    #[test]
    fn github_published_vector_uses_the_same_hmac() {
        let body = include_bytes!("../../tests/vectors/github-hello-world.txt");
        assert_eq!(
            sign(b"It's a Secret to Everybody", body),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn wrong_secret_and_bad_headers() {
        assert_eq!(
            verify(&[b"nope"], VECTOR, VECTOR_SIG),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(&[b"test"], VECTOR, ""), Err(SignatureError::Missing));
        assert_eq!(
            verify(&[b"test"], VECTOR, "zz"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[b"test"], VECTOR, &VECTOR_SIG[..62]),
            Err(SignatureError::Malformed)
        );
        let prefixed = format!("sha256={VECTOR_SIG}");
        assert_eq!(
            verify(&[b"test"], VECTOR, &prefixed),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&[], VECTOR, VECTOR_SIG),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn second_secret_during_rotation() {
        assert_eq!(verify(&[b"old", b"test"], VECTOR, VECTOR_SIG), Ok(1));
    }

    #[test]
    fn several_headers_are_ambiguous() {
        assert_eq!(single_header(&[]), Err(SignatureError::Missing));
        assert_eq!(single_header(&["a"]), Ok("a"));
        assert_eq!(single_header(&["a", "b"]), Err(SignatureError::Ambiguous));
    }
}
