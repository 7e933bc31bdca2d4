//! Text that came from outside (payloads, headers, request bodies) shown where characters
//! can act: terminals act on control characters and escape sequences, and any renderer
//! reorders text around bidirectional controls, so a message can hide or reverse what it
//! says. The CLI and the desktop notifications show such text through [`neutralise`].

/// Characters a terminal acts on or that reorder text: C0 controls (serde_json escapes
/// those already), DEL, C1 controls (U+0080-U+009F, e.g. the one-byte CSI), and the
/// bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
pub fn is_unsafe(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Text from a delivery or a request, made safe to print: every [`is_unsafe`] character
/// becomes a visible escape such as `\x1b` or `\u{202e}`, so stored input can neither
/// drive the terminal nor hide what it says. Newlines and tabs stay when `multiline`.
pub fn neutralise(s: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\t' if multiline => out.push(c),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_become_visible_escapes() {
        let hostile = "ok\x1b]0;pwned\x07\x1b[2J\r\u{9b}31m\u{202e}edirrevo\u{2066}x\u{2069}\u{7f}";
        let safe = neutralise(hostile, false);
        assert!(safe.chars().all(|c| !is_unsafe(c)), "{safe:?}");
        assert_eq!(
            safe,
            "ok\\x1b]0;pwned\\x07\\x1b[2J\\x0d\\x9b31m\\u{202e}edirrevo\\u{2066}x\\u{2069}\\x7f"
        );
        assert_eq!(neutralise("a\nb\tc", true), "a\nb\tc");
        assert_eq!(neutralise("a\nb", false), "a\\x0ab");
        assert_eq!(neutralise("héllo ✓ 日本", false), "héllo ✓ 日本");
    }
}
