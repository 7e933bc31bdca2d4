//! The branch and profile named in an Appcircle message, for deliveries whose `item` leaves
//! them out: `Build failed for the develop branch for the profile My iOS App https://…`.
//!
//! Hand-written rather than a regex because these two patterns were the binary's only use of
//! the regex engine (about 0.7 MB of the release build). It reads as the regexes it replaces
//! did, and the tests compare it with them on generated text:
//! `(?i)\bfor the (.+?) branch for the profile (.+?)(?:\s+https?://\S*)?\s*$`, then
//! `(?i)\bfor the profile (.+?)(?:\s+https?://\S*)?\s*$` (`.` stops at a line break, `$` is
//! the end of the text). Case is folded for ASCII only, which is all the literals contain, and
//! a word character (for `\b`) is a letter, a digit or `_`.
//! Every step is linear in the message, so a hostile message cannot make it slow.

const FOR_THE: &str = "for the ";
const BRANCH_FOR_THE_PROFILE: &str = " branch for the profile ";
const FOR_THE_PROFILE: &str = "for the profile ";

/// The names in `message`, as raw captures (the caller trims quotes and full stops): the
/// branch and the profile when both are named, else the profile alone.
pub fn names(message: &str) -> Option<(Option<&str>, &str)> {
    let text = Text::new(message);
    if let Some((branch, profile)) = text.branch_and_profile() {
        return Some((Some(branch), profile));
    }
    text.profile_only().map(|profile| (None, profile))
}

/// A message with what every match needs worked out once: its ASCII-lowercased copy (same
/// byte offsets) for finding the literals, and where a profile name may end, so that each
/// candidate is judged in constant time.
struct Text<'a> {
    original: &'a str,
    lower: String,
    /// The profile may end where only whitespace follows...
    trimmed_end: usize,
    /// ...or anywhere in the whitespace before a trailing `http(s)://` link.
    link_gap: Option<LinkGap>,
    /// The last line break before `trimmed_end`: a name ending there must start after it.
    break_before_end: Option<usize>,
}

/// The whitespace between a profile name and the link that ends the message.
struct LinkGap {
    start: usize,
    link: usize,
    /// The last line break before `start`.
    break_before: Option<usize>,
}

impl<'a> Text<'a> {
    fn new(original: &'a str) -> Self {
        let lower = original.to_ascii_lowercase();
        let trimmed = original.trim_end();
        let last_break = |before: usize| original[..before].rfind('\n');
        let link = trimmed.trim_end_matches(|c: char| !c.is_whitespace()).len();
        let token = &lower[link..trimmed.len()];
        let gap_start = trimmed[..link].trim_end().len();
        let is_link = token.starts_with("http://") || token.starts_with("https://");
        Self {
            link_gap: (is_link && gap_start < link).then(|| LinkGap {
                start: gap_start,
                link,
                break_before: last_break(gap_start),
            }),
            break_before_end: last_break(trimmed.len()),
            trimmed_end: trimmed.len(),
            original,
            lower,
        }
    }

    /// Where a profile name starting at `start` ends, as the lazy `(.+?)` followed by the
    /// optional link and trailing whitespace would end it: the first place after at least
    /// one character from which the rest is that tail, and no line break on the way.
    fn profile_end(&self, start: usize) -> Option<usize> {
        let first = self.original[start..].chars().next()?;
        if first == '\n' {
            return None;
        }
        let min = start + first.len_utf8();
        // The end, and the last line break before it (none past `first` when it is `min`).
        let (end, last_break) = match &self.link_gap {
            Some(gap) if min < gap.link && min <= gap.start => (gap.start, gap.break_before),
            Some(gap) if min < gap.link => (min, None),
            _ if min < self.trimmed_end => (self.trimmed_end, self.break_before_end),
            _ => (min, None),
        };
        last_break.is_none_or(|at| at < start).then_some(end)
    }

    /// The first `for the X branch for the profile Y` that reaches the end of the text.
    fn branch_and_profile(&self) -> Option<(&'a str, &'a str)> {
        let mut from = 0;
        while let Some(at) = self.find_word(FOR_THE, from) {
            let branch = at + FOR_THE.len();
            let line_end = self.line_end(branch);
            if let Some(found) = self.after_branch(branch, line_end) {
                return Some(found);
            }
            // Every later start on this line sees a subset of the same candidates.
            from = line_end.max(at + 1);
        }
        None
    }

    fn after_branch(&self, branch: usize, line_end: usize) -> Option<(&'a str, &'a str)> {
        let first = self.original[branch..line_end].chars().next()?;
        let mut from = branch + first.len_utf8();
        while let Some(offset) = self.lower[from..line_end].find(BRANCH_FOR_THE_PROFILE) {
            let literal = from + offset;
            let profile = literal + BRANCH_FOR_THE_PROFILE.len();
            if let Some(end) = self.profile_end(profile) {
                return Some((
                    &self.original[branch..literal],
                    &self.original[profile..end],
                ));
            }
            from = literal + 1;
        }
        None
    }

    /// The first `for the profile Y` that reaches the end of the text.
    fn profile_only(&self) -> Option<&'a str> {
        let mut from = 0;
        while let Some(at) = self.find_word(FOR_THE_PROFILE, from) {
            let profile = at + FOR_THE_PROFILE.len();
            if let Some(end) = self.profile_end(profile) {
                return Some(&self.original[profile..end]);
            }
            from = at + 1;
        }
        None
    }

    /// The next `literal` at or after `from` that starts a word (`\b` before its `f`).
    fn find_word(&self, literal: &str, mut from: usize) -> Option<usize> {
        while let Some(offset) = self.lower.get(from..)?.find(literal) {
            let at = from + offset;
            let before = self.original[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                return Some(at);
            }
            from = at + 1;
        }
        None
    }

    fn line_end(&self, from: usize) -> usize {
        self.original[from..]
            .find('\n')
            .map_or(self.original.len(), |i| from + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use regex::Regex;

    fn regexes() -> (Regex, Regex) {
        (
            Regex::new(r"(?i)\bfor the (.+?) branch for the profile (.+?)(?:\s+https?://\S*)?\s*$")
                .expect("valid"),
            Regex::new(r"(?i)\bfor the profile (.+?)(?:\s+https?://\S*)?\s*$").expect("valid"),
        )
    }

    /// What the regexes this module replaced would have captured.
    fn by_regex<'m>(both: &(Regex, Regex), message: &'m str) -> Option<(Option<&'m str>, &'m str)> {
        if let Some(c) = both.0.captures(message) {
            let group = |i| c.get(i).map(|m| m.as_str());
            return Some((group(1), group(2)?));
        }
        both.1
            .captures(message)
            .and_then(|c| c.get(1))
            .map(|m| (None, m.as_str()))
    }

    #[test]
    fn reads_the_messages_appcircle_sends() {
        assert_eq!(
            names("Build failed for the develop branch for the profile My iOS App."),
            Some((Some("develop"), "My iOS App."))
        );
        assert_eq!(
            names("New version added for the profile Beta Testers https://my.appcircle.io/x"),
            Some((None, "Beta Testers"))
        );
        assert_eq!(
            names("FOR THE main BRANCH FOR THE PROFILE App  HTTPS://x \n"),
            Some((Some("main"), "App"))
        );
        assert_eq!(names("Build failed"), None);
        assert_eq!(names("therefor the profile X"), None, "not at a word start");
        assert_eq!(
            names("for the profile \nX"),
            None,
            "a name stops at a line break"
        );
    }

    #[test]
    fn agrees_with_the_regexes_on_tricky_cases() {
        let both = regexes();
        for message in [
            "for the a branch for the profile b branch for the profile c",
            "for the for the x branch for the profile y",
            "for the x\nfor the y branch for the profile z",
            "for the x branch for the profile y\nmore",
            "for the x branch for the profile \nfor the profile z",
            "for the profile https://link",
            "for the profile  https://link",
            "for the profile a https://x https://y",
            "for the profile a\thttp://x\t",
            "for the profile é https://ü",
            "_for the profile a",
            "éfor the profile a",
            "-for the profile a",
            "for the profile a\n",
            "for the profile a \n b",
            "for the  branch for the profile x",
            "for the x branch for the profile ",
            "for the profile a for the profile b\nc",
            "for the profile a\n https://x",
            "for the profile a \n\thttps://x",
            "for the x branch for the profile a\n https://x",
        ] {
            assert_eq!(names(message), by_regex(&both, message), "{message:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn agrees_with_the_regexes(parts in proptest::collection::vec(
            prop_oneof![
                Just("for the "), Just("For The "), Just(" branch for the profile "),
                Just("for the profile "), Just(" https://a.b/c"), Just(" HTTP://x"),
                Just(" "), Just("\n"), Just("\t"), Just("x"), Just("é"), Just("_"), Just("."),
                Just("branch"), Just("https://"),
            ],
            0..12,
        )) {
            let message: String = parts.concat();
            prop_assert_eq!(names(&message), by_regex(&regexes(), &message), "{:?}", message);
        }
    }
}
