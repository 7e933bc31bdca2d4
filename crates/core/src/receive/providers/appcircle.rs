//! Appcircle's deliveries: verified by `ac_signature` (HMAC-SHA256 of the raw body, hex),
//! identified by the body's `deliveryId`, dated by its `timestamp` (so they have a replay
//! window), and classified into a scope, an outcome and the ids they are about.
//!
//! Appcircle documents one `action` string (`Build|BuildStart`) and the display titles of
//! every other event (shared/appcircle/EVENTS.md). So the rules are, in order: a known
//! `action`; a known `title`; then words in the action's event part and the title. The
//! scope comes from the action's module when it names one. Anything unrecognised is kept
//! as `info` under its module, never dropped.

mod message;

use serde_json::Value;

use super::{Parsed, Refused, refusal};
use crate::model::{Classification, Outcome, Provider, Scope, Subject, Verdict, git_sha};
use crate::receive::envelope::{Envelope, field, scalar_text};
use crate::receive::signature;
struct Rule {
    title: &'static str,
    scope: Scope,
    outcome: Outcome,
}

const fn rule(title: &'static str, scope: Scope, outcome: Outcome) -> Rule {
    Rule {
        title,
        scope,
        outcome,
    }
}

/// `action` strings known from Appcircle's documentation.
const ACTIONS: &[(&str, Scope, Outcome)] = &[("Build|BuildStart", Scope::Build, Outcome::Started)];

use Outcome as O;
use Scope as S;

/// Every event title Appcircle documents (EVENTS.md), with older spellings.
const TITLES: &[Rule] = &[
    rule("Build Started", S::Build, O::Started),
    rule("Build Success", S::Build, O::Succeeded),
    rule("Build Successful", S::Build, O::Succeeded),
    rule("Build Succeeded", S::Build, O::Succeeded),
    rule("Build Complete with Warnings", S::Build, O::Warning),
    rule("Build Completed with Warnings", S::Build, O::Warning),
    rule("Build Failed", S::Build, O::Failed),
    rule("Build Canceled", S::Build, O::Canceled),
    rule("Build Cancelled", S::Build, O::Canceled),
    rule("Build Timeout", S::Build, O::TimedOut),
    rule("Build Timed Out", S::Build, O::TimedOut),
    rule("Fetch Started", S::Build, O::Info),
    rule("Test Report Created", S::Build, O::Info),
    rule("Build Cache Cleared", S::Build, O::Info),
    rule("Retention Policy Updated", S::Build, O::Info),
    rule("iOS Certificate Added", S::SigningIdentity, O::Info),
    rule("iOS Certificate Deleted", S::SigningIdentity, O::Info),
    rule(
        "iOS Certificate Expiration Reminder",
        S::SigningIdentity,
        O::Warning,
    ),
    rule(
        "iOS Provisioning Profile Added",
        S::SigningIdentity,
        O::Info,
    ),
    rule(
        "iOS Provisioning Profile Deleted",
        S::SigningIdentity,
        O::Info,
    ),
    rule(
        "iOS Provisioning Profile Expiration Reminder",
        S::SigningIdentity,
        O::Warning,
    ),
    rule("Android Keystore Created", S::SigningIdentity, O::Info),
    rule("Android Keystore Uploaded", S::SigningIdentity, O::Info),
    rule("Android Keystore Deleted", S::SigningIdentity, O::Info),
    rule(
        "Android Keystore Expiration Reminder",
        S::SigningIdentity,
        O::Warning,
    ),
    rule(
        "Apple Device List Fetch Success",
        S::SigningIdentity,
        O::Info,
    ),
    rule("Apple Device Registered", S::SigningIdentity, O::Info),
    rule("Apple Device Updated", S::SigningIdentity, O::Info),
    rule("Apple Device Provisioned", S::SigningIdentity, O::Info),
    rule("Apple Device Unregistered", S::SigningIdentity, O::Info),
    rule(
        "Apple Multiple Devices Updated",
        S::SigningIdentity,
        O::Info,
    ),
    rule(
        "Apple Multiple Devices Registered",
        S::SigningIdentity,
        O::Info,
    ),
    rule("Apple Identifier Created", S::SigningIdentity, O::Info),
    rule("Apple Identifier Deleted", S::SigningIdentity, O::Info),
    rule(
        "Apple Identifier Created in Apple Developer Portal",
        S::SigningIdentity,
        O::Info,
    ),
    rule(
        "Apple Identifier Updated in Apple Developer Portal",
        S::SigningIdentity,
        O::Info,
    ),
    rule(
        "New Version Added for Distribution",
        S::TestingDistribution,
        O::Succeeded,
    ),
    rule(
        "New Version Uploaded for Distribution",
        S::TestingDistribution,
        O::Succeeded,
    ),
    rule(
        "App Shared for Testing Distribution",
        S::TestingDistribution,
        O::Succeeded,
    ),
    rule("Store Status Changed", S::PublishToStores, O::Info),
    rule(
        "New Version Deployed to Publish",
        S::PublishToStores,
        O::Info,
    ),
    rule(
        "New Version uploaded to Publish",
        S::PublishToStores,
        O::Info,
    ),
    rule(
        "A Version is Rejected on Publish",
        S::PublishToStores,
        O::Failed,
    ),
    rule("Publish Step is Starting", S::PublishToStores, O::Started),
    rule("Publish Step is Restarting", S::PublishToStores, O::Started),
    rule("Publish Step Started", S::PublishToStores, O::Started),
    rule("Publish Step Succeeded", S::PublishToStores, O::Succeeded),
    rule("Publish Step Failed", S::PublishToStores, O::Failed),
    rule("Publish Step Canceled", S::PublishToStores, O::Canceled),
    rule("Publish Step Timed Out", S::PublishToStores, O::TimedOut),
    rule("Publish Flow Updated", S::PublishToStores, O::Info),
    rule("Publish Flow Failed", S::PublishToStores, O::Failed),
    rule("Publish Flow Canceled", S::PublishToStores, O::Canceled),
    rule("Publish Flow Timed Out", S::PublishToStores, O::TimedOut),
    rule("Publish Flow Succeeded", S::PublishToStores, O::Succeeded),
    rule(
        "New Version Deployed to the Enterprise Store",
        S::EnterpriseAppStore,
        O::Succeeded,
    ),
    rule(
        "New Version Uploaded to the Enterprise Store",
        S::EnterpriseAppStore,
        O::Succeeded,
    ),
    rule(
        "App Shared on Enterprise Store",
        S::EnterpriseAppStore,
        O::Succeeded,
    ),
];

/// The scope and outcome of a title Appcircle documents (any case and spacing); the account
/// sync words what it reads with these titles, so a synced fact and a webhook agree.
pub fn documented_title(title: &str) -> Option<(Scope, Outcome)> {
    let wanted = words(title);
    TITLES
        .iter()
        .find(|r| words(r.title) == wanted)
        .map(|r| (r.scope, r.outcome))
}

/// Verifies the one `ac_signature` against every secret (constant time, on the raw body),
/// then parses and classifies the body.
pub fn read(secrets: &[&[u8]], proofs: &[&str], body: &[u8]) -> Result<Parsed, Refused> {
    signature::single_header(proofs)
        .and_then(|h| signature::verify(secrets, body, h))
        .map_err(|e| refusal(e, signature::HEADER, "64 hex digits"))?;
    let envelope = Envelope::parse(body).map_err(|e| (Verdict::Malformed, e.to_string()))?;
    let classification = classify(&envelope);
    Ok((envelope, classification))
}

/// Classifies a parsed delivery. Total: every input gets a scope and an outcome.
pub fn classify(envelope: &Envelope) -> Classification {
    let (module, event) = split_action(envelope.action.as_deref());
    let module_scope = module.as_deref().and_then(Scope::from_module);
    let title = envelope.title.as_deref().unwrap_or_default();

    let known_action = envelope.action.as_deref().and_then(|a| {
        ACTIONS
            .iter()
            .find(|(name, ..)| name.eq_ignore_ascii_case(a.trim()))
            .map(|&(_, scope, outcome)| (scope, outcome))
    });
    let known_title = documented_title(title);
    let clue = format!("{} {title}", event.as_deref().unwrap_or_default());

    let (scope, outcome) = match (known_action, known_title) {
        (Some(hit), _) => hit,
        (None, Some((scope, outcome))) => (module_scope.unwrap_or(scope), outcome),
        (None, None) => {
            let scope = match (&module, module_scope) {
                (_, Some(scope)) => scope,
                // A module we do not know stays under its own name, in Other.
                (Some(_), None) => Scope::Other,
                (None, None) => scope_from_words(&words(&clue)),
            };
            (scope, outcome_from_words(&words(&clue)))
        }
    };
    let clue_words = words(&clue);
    let rejected = has_any(&clue_words, &["reject", "rejected"]);
    let expiring = scope == Scope::SigningIdentity
        && has_any(
            &clue_words,
            &["expiration", "expiring", "expire", "expires", "expired"],
        );
    Classification {
        provider: Provider::Appcircle,
        scope,
        outcome: if rejected { Outcome::Failed } else { outcome },
        module,
        rejected,
        expiring,
        started_at: None,
        subject: subject(envelope, scope),
    }
}

fn split_action(action: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(action) = action.map(str::trim).filter(|a| !a.is_empty()) else {
        return (None, None);
    };
    match action.split_once('|') {
        Some((m, e)) => (
            Some(m.trim().to_owned()).filter(|m| !m.is_empty()),
            Some(e.trim().to_owned()).filter(|e| !e.is_empty()),
        ),
        None => (None, Some(action.to_owned())),
    }
}

/// Lowercase words, splitting camelCase and punctuation: `BuildTimedOut` → build timed out.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            prev_lower = c.is_lowercase() || c.is_numeric();
            word.extend(c.to_lowercase());
        } else {
            prev_lower = false;
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn has_any(words: &[String], wanted: &[&str]) -> bool {
    words.iter().any(|w| wanted.contains(&w.as_str()))
}

fn has_phrase(words: &[String], phrase: &[&str]) -> bool {
    words
        .windows(phrase.len())
        .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
}

fn scope_from_words(w: &[String]) -> Scope {
    if has_any(w, &["enterprise"]) {
        Scope::EnterpriseAppStore
    } else if has_any(w, &["publish"]) || has_phrase(w, &["store", "submit"]) {
        Scope::PublishToStores
    } else if has_any(w, &["distribution", "testing", "tester", "testers"]) {
        Scope::TestingDistribution
    } else if has_any(
        w,
        &[
            "certificate",
            "provisioning",
            "keystore",
            "identifier",
            "device",
            "devices",
            "signing",
        ],
    ) {
        Scope::SigningIdentity
    } else if has_any(w, &["build", "builds", "fetch", "commit"]) {
        Scope::Build
    } else {
        Scope::Other
    }
}

fn outcome_from_words(w: &[String]) -> Outcome {
    if has_any(w, &["reject", "rejected"]) {
        Outcome::Failed
    } else if has_any(w, &["timeout", "timeouts"]) || has_phrase(w, &["timed", "out"]) {
        Outcome::TimedOut
    } else if has_any(w, &["fail", "failed", "failure", "error", "errored"]) {
        Outcome::Failed
    } else if has_any(w, &["cancel", "canceled", "cancelled", "abort", "aborted"]) {
        Outcome::Canceled
    } else if has_any(
        w,
        &[
            "warning",
            "warnings",
            "expiration",
            "expiring",
            "expire",
            "expires",
            "expired",
        ],
    ) {
        Outcome::Warning
    } else if has_any(
        w,
        &[
            "success",
            "successful",
            "succeeded",
            "successfully",
            "passed",
            "complete",
            "completed",
        ],
    ) {
        Outcome::Succeeded
    } else if has_any(
        w,
        &[
            "start",
            "started",
            "starting",
            "restart",
            "restarting",
            "queued",
            "running",
            "initializing",
        ],
    ) {
        Outcome::Started
    } else {
        Outcome::Info
    }
}

const EMPTY_GUID: &str = "00000000-0000-0000-0000-000000000000";

fn subject(envelope: &Envelope, scope: Scope) -> Subject {
    let item = match &envelope.item {
        Value::Object(map) => Some(map),
        _ => None,
    };
    let id = |name: &str| {
        item.and_then(|m| field(m, name))
            .and_then(scalar_text)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && s != EMPTY_GUID)
    };
    // Modules other than Build may name their profile differently (appProfileId, ...).
    let any_profile_id = || {
        item.and_then(|m| {
            m.iter()
                .find(|(k, _)| k.to_ascii_lowercase().ends_with("profileid"))
                .and_then(|(_, v)| scalar_text(v))
                .filter(|s| !s.is_empty() && s != EMPTY_GUID)
        })
    };
    let (mut branch_name, mut profile_name) = (id("branchName"), id("profileName"));
    if let Some(message) = envelope.message.as_deref()
        && let Some((branch, profile)) = message::names(message)
    {
        branch_name = branch_name.or_else(|| branch.and_then(clean_name));
        profile_name = profile_name.or_else(|| clean_name(profile));
    }
    Subject {
        profile_id: id("profileId").or_else(any_profile_id),
        profile_name,
        branch_id: id("branchId"),
        branch_name,
        task_id: id("taskId").or_else(|| (scope == Scope::Build).then(|| id("id")).flatten()),
        build_id: id("buildId"),
        commit_id: id("commitId"),
        // Undocumented in webhooks; the name Appcircle's dashboard queue gives the hash.
        commit_sha: id("commitHash").as_deref().and_then(git_sha),
    }
}

fn clean_name(raw: &str) -> Option<String> {
    let name = raw
        .trim()
        .trim_end_matches(['.', ','])
        .trim_matches(['"', '\'', '`']);
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    // Fixed dates on purpose: classification reads the envelope's words, never its date, and
    // nothing here reads a clock.
    use super::*;
    use serde_json::json;

    fn envelope(
        action: Option<&str>,
        title: Option<&str>,
        message: Option<&str>,
        item: Value,
    ) -> Envelope {
        let mut body =
            json!({"deliveryId": "d", "timestamp": "2024-01-01T00:00:00Z", "item": item});
        for (k, v) in [("action", action), ("title", title), ("message", message)] {
            if let Some(v) = v {
                body[k] = json!(v);
            }
        }
        Envelope::parse(body.to_string().as_bytes()).expect("valid envelope")
    }

    fn by_title(title: &str) -> Classification {
        classify(&envelope(None, Some(title), None, Value::Null))
    }

    #[test]
    fn documented_example_is_a_build_start_with_names() {
        let e = Envelope::parse(include_bytes!(
            "../../../tests/vectors/appcircle-build-started.json"
        ))
        .expect("parses");
        let c = classify(&e);
        assert_eq!((c.scope, c.outcome), (Scope::Build, Outcome::Started));
        assert_eq!(c.module.as_deref(), Some("Build"));
        let s = c.subject;
        assert_eq!(
            s.profile_id.as_deref(),
            Some("7f17fdb4-46e7-40c3-a01d-1ef18de06890")
        );
        assert_eq!(s.profile_name.as_deref(), Some("pr_mr_tag_test"));
        assert_eq!(
            s.branch_id.as_deref(),
            Some("3779c7d2-c826-4596-95f2-52486bf75471")
        );
        assert_eq!(s.branch_name.as_deref(), Some("develop"));
        assert_eq!(
            s.task_id.as_deref(),
            Some("9e3c7dcd-d292-4144-9844-ca07df6a8924")
        );
        assert_eq!(s.build_id, None, "the empty GUID means no build yet");
        assert_eq!(
            s.commit_id.as_deref(),
            Some("ba50d2d6-bfcc-49a1-8fa6-6e00711b4d5b")
        );
    }

    #[test]
    fn every_documented_title() {
        for r in TITLES {
            let c = by_title(r.title);
            assert_eq!((c.scope, c.outcome), (r.scope, r.outcome), "{}", r.title);
        }
    }

    #[test]
    fn title_matching_ignores_case_and_spacing() {
        let c = by_title("build   FAILED");
        assert_eq!((c.scope, c.outcome), (Scope::Build, Outcome::Failed));
    }

    #[test]
    fn rejected_version_fails_and_is_marked() {
        let c = by_title("A Version is Rejected on Publish");
        assert_eq!(
            (c.scope, c.outcome, c.rejected),
            (Scope::PublishToStores, Outcome::Failed, true)
        );
    }

    #[test]
    fn expiry_reminders_are_warnings_and_marked() {
        for t in [
            "iOS Certificate Expiration Reminder",
            "iOS Provisioning Profile Expiration Reminder",
            "Android Keystore Expiration Reminder",
        ] {
            let c = by_title(t);
            assert_eq!(
                (c.scope, c.outcome, c.expiring),
                (S::SigningIdentity, O::Warning, true),
                "{t}"
            );
        }
        assert!(!by_title("iOS Certificate Added").expiring);
    }

    #[test]
    fn action_wins_over_title() {
        let c = classify(&envelope(
            Some("Build|BuildStart"),
            Some("Something else"),
            None,
            Value::Null,
        ));
        assert_eq!((c.scope, c.outcome), (Scope::Build, Outcome::Started));
    }

    #[test]
    fn unknown_action_event_is_read_by_words_under_its_module() {
        let cases = [
            ("Build|BuildTimedOut", S::Build, O::TimedOut),
            ("Build|BuildFailed", S::Build, O::Failed),
            ("Build|BuildCompleteWithWarnings", S::Build, O::Warning),
            ("Build|BuildSuccess", S::Build, O::Succeeded),
            ("Build|BuildCancelled", S::Build, O::Canceled),
            ("StoreSubmit|SubmitFailed", S::PublishToStores, O::Failed),
            (
                "PublishToStores|VersionRejected",
                S::PublishToStores,
                O::Failed,
            ),
            ("Distribution|Whatever", S::TestingDistribution, O::Info),
            ("EnterpriseStore|Thing", S::EnterpriseAppStore, O::Info),
            (
                "SigningIdentity|CertificateExpiring",
                S::SigningIdentity,
                O::Warning,
            ),
        ];
        for (action, scope, outcome) in cases {
            let c = classify(&envelope(Some(action), None, None, Value::Null));
            assert_eq!((c.scope, c.outcome), (scope, outcome), "{action}");
        }
    }

    #[test]
    fn a_module_we_do_not_know_is_kept_as_other() {
        let c = classify(&envelope(
            Some("CodePush|ReleaseRolledBack"),
            None,
            None,
            Value::Null,
        ));
        assert_eq!((c.scope, c.outcome), (Scope::Other, Outcome::Info));
        assert_eq!(c.module.as_deref(), Some("CodePush"));
    }

    #[test]
    fn unknown_titles_fall_back_to_words() {
        let cases = [
            ("Re-sign Failed", S::Other, O::Failed),
            ("Re-sign Successful", S::Other, O::Succeeded),
            (
                "Publish to App Store Timed Out",
                S::PublishToStores,
                O::TimedOut,
            ),
            (
                "Enterprise Store Upload Canceled",
                S::EnterpriseAppStore,
                O::Canceled,
            ),
            ("Testers notified", S::TestingDistribution, O::Info),
            ("Build Queued", S::Build, O::Started),
            ("Apple Device Deleted", S::SigningIdentity, O::Info),
            ("Something entirely new", S::Other, O::Info),
            ("", S::Other, O::Info),
        ];
        for (title, scope, outcome) in cases {
            let c = by_title(title);
            assert_eq!((c.scope, c.outcome), (scope, outcome), "{title}");
        }
    }

    #[test]
    fn names_from_messages() {
        let item = json!({"profileId": "p"});
        let c = classify(&envelope(
            None,
            Some("Build Failed"),
            Some("Build failed for the feature/login page branch for the profile My iOS App."),
            item,
        ));
        assert_eq!(c.subject.branch_name.as_deref(), Some("feature/login page"));
        assert_eq!(c.subject.profile_name.as_deref(), Some("My iOS App"));

        let c = classify(&envelope(
            None,
            Some("New Version Added for Distribution"),
            Some("New version added for the profile Beta Testers https://my.appcircle.io/x"),
            json!({"distributionProfileId": "dp"}),
        ));
        assert_eq!(c.subject.profile_name.as_deref(), Some("Beta Testers"));
        assert_eq!(c.subject.profile_id.as_deref(), Some("dp"));
        assert_eq!(c.subject.branch_name, None);

        let c = classify(&envelope(
            None,
            Some("Build Failed"),
            Some("no names here"),
            Value::Null,
        ));
        assert_eq!(c.subject, Subject::default());
    }

    #[test]
    fn task_id_falls_back_to_item_id_only_for_builds() {
        let c = classify(&envelope(
            Some("Build|BuildStart"),
            None,
            None,
            json!({"id": "t1"}),
        ));
        assert_eq!(c.subject.task_id.as_deref(), Some("t1"));
        let c = classify(&envelope(
            None,
            Some("Store Status Changed"),
            None,
            json!({"id": "x"}),
        ));
        assert_eq!(c.subject.task_id, None);
    }

    #[test]
    fn words_split_camel_case_and_punctuation() {
        assert_eq!(words("BuildTimedOut"), ["build", "timed", "out"]);
        assert_eq!(words("Re-sign  iOS"), ["re", "sign", "i", "os"]);
    }

    #[test]
    fn names_parse_liberally() {
        assert_eq!(
            "Publish to Stores".parse::<Scope>(),
            Ok(Scope::PublishToStores)
        );
        assert_eq!("store_submit".parse::<Scope>(), Ok(Scope::PublishToStores));
        assert_eq!("timed-out".parse::<Outcome>(), Ok(Outcome::TimedOut));
        assert!("nope".parse::<Scope>().is_err());
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
        }
        for o in Outcome::ALL {
            assert_eq!(o.as_str().parse::<Outcome>(), Ok(o));
        }
    }
}
