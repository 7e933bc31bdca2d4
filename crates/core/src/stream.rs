//! Streams: the unit the gate judges. One definition of what a stream is, used by the
//! writer (which keys each event and upserts the `streams` row), the queries (recent
//! outcomes, running builds, durations) and [`crate::gate`].

use crate::classify::{Scope, Subject};

/// Scopes the gate follows; the others (signing identity, other) are shown, not gated.
pub fn is_gated(scope: Scope) -> bool {
    matches!(
        scope,
        Scope::Build
            | Scope::TestingDistribution
            | Scope::PublishToStores
            | Scope::EnterpriseAppStore
    )
}

/// What a stream is keyed by: within a scope, the profile (its id when the sender gave one,
/// else its name) and, for builds only, the branch likewise. Empty when neither is known,
/// so such events still group together instead of vanishing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub scope: Scope,
    pub profile: String,
    pub branch: String,
}

impl StreamKey {
    pub fn of(scope: Scope, subject: &Subject) -> StreamKey {
        let profile = subject
            .profile_id
            .clone()
            .or_else(|| subject.profile_name.clone())
            .unwrap_or_default();
        let branch = if scope == Scope::Build {
            subject
                .branch_id
                .clone()
                .or_else(|| subject.branch_name.clone())
                .unwrap_or_default()
        } else {
            String::new()
        };
        StreamKey {
            scope,
            profile,
            branch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_win_over_names_and_only_builds_have_branches() {
        let subject = Subject {
            profile_id: Some("p-1".into()),
            profile_name: Some("App".into()),
            branch_id: None,
            branch_name: Some("main".into()),
            ..Subject::default()
        };
        let build = StreamKey::of(Scope::Build, &subject);
        assert_eq!(
            (build.profile.as_str(), build.branch.as_str()),
            ("p-1", "main")
        );
        let dist = StreamKey::of(Scope::TestingDistribution, &subject);
        assert_eq!((dist.profile.as_str(), dist.branch.as_str()), ("p-1", ""));
        let unknown = StreamKey::of(Scope::Build, &Subject::default());
        assert_eq!(
            (unknown.profile.as_str(), unknown.branch.as_str()),
            ("", "")
        );
        assert!(is_gated(Scope::Build) && !is_gated(Scope::SigningIdentity));
    }
}
