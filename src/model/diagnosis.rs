//! What shipdeck made of one failed CI job: the kind of failure, its tier (what it takes to
//! get past it), the headline and error lines pulled from the job's log, and the suggested
//! next step. The engine's classifier (`engine::diagnosis`) builds these from logs; the UI,
//! issues and `status --json` show them.
//!
//! Tiers follow the release model: tier 1 is cheap (lint, format, type mismatch, missing
//! import, flaky test) and `R` (re-run the failed jobs) is offered for it; tier 2 needs a
//! person's review (a failing test, API contract, schema, dependency); tier 3 opens an issue
//! (data integrity, security, several services at once).
//!
//! A re-run only *fixes* a flaky test. For the other tier-1 kinds the fix is a push from the
//! author, so their [`NextStep`] is [`NextStep::FixAndPush`] and the action sentence says what
//! to fix; `R` is still offered because it is cheap and harmless, and because a tier-1 failure
//! that looked deterministic is sometimes an artefact of the runner (a cache, a tool version).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::SafeText;

/// How much it takes to get past a failure. Ordered: `One < Two < Three`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Tier {
    /// Cheap to fix or a flake: re-running is offered.
    One,
    /// Needs a person's review before anything moves.
    Two,
    /// Opens an issue: data, security, or more than this commit is at stake.
    Three,
}

impl Tier {
    pub fn number(self) -> u8 {
        match self {
            Self::One => 1,
            Self::Two => 2,
            Self::Three => 3,
        }
    }

    /// "tier 1", "tier 2", "tier 3".
    pub fn word(self) -> &'static str {
        match self {
            Self::One => "tier 1",
            Self::Two => "tier 2",
            Self::Three => "tier 3",
        }
    }
}

impl From<Tier> for u8 {
    fn from(tier: Tier) -> Self {
        tier.number()
    }
}

/// A tier number other than 1, 2 or 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a tier is 1, 2 or 3, not {0}")]
pub struct InvalidTier(pub u8);

impl TryFrom<u8> for Tier {
    type Error = InvalidTier;

    fn try_from(number: u8) -> Result<Self, Self::Error> {
        match number {
            1 => Ok(Self::One),
            2 => Ok(Self::Two),
            3 => Ok(Self::Three),
            other => Err(InvalidTier(other)),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The kinds of CI failure the classifier tells apart (the table of the CI-failures spec),
/// plus `Unknown` when no known pattern matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    Lint,
    Format,
    TypeMismatch,
    MissingImport,
    Flaky,
    TestFailure,
    ApiContract,
    Schema,
    Dependency,
    Security,
    DataIntegrity,
    SeveralServices,
    Unknown,
}

impl FailureKind {
    pub const ALL: [FailureKind; 13] = [
        Self::Lint,
        Self::Format,
        Self::TypeMismatch,
        Self::MissingImport,
        Self::Flaky,
        Self::TestFailure,
        Self::ApiContract,
        Self::Schema,
        Self::Dependency,
        Self::Security,
        Self::DataIntegrity,
        Self::SeveralServices,
        Self::Unknown,
    ];

    /// The tier of this kind. `Unknown` is tier 2: a failure nobody recognised needs a person
    /// to read the log, and re-running it blindly is how real failures get waved through.
    pub fn tier(self) -> Tier {
        match self {
            Self::Lint | Self::Format | Self::TypeMismatch | Self::MissingImport | Self::Flaky => {
                Tier::One
            }
            Self::TestFailure
            | Self::ApiContract
            | Self::Schema
            | Self::Dependency
            | Self::Unknown => Tier::Two,
            Self::Security | Self::DataIntegrity | Self::SeveralServices => Tier::Three,
        }
    }

    /// A short human name, e.g. "type mismatch".
    pub fn label(self) -> &'static str {
        match self {
            Self::Lint => "lint",
            Self::Format => "formatting",
            Self::TypeMismatch => "type mismatch",
            Self::MissingImport => "missing import",
            Self::Flaky => "flaky test",
            Self::TestFailure => "failing test",
            Self::ApiContract => "API contract",
            Self::Schema => "database schema",
            Self::Dependency => "dependency update",
            Self::Security => "security finding",
            Self::DataIntegrity => "data integrity",
            Self::SeveralServices => "several services",
            Self::Unknown => "unclassified",
        }
    }

    /// The snake_case name used in JSON, e.g. "type_mismatch".
    pub fn code(self) -> &'static str {
        match self {
            Self::Lint => "lint",
            Self::Format => "format",
            Self::TypeMismatch => "type_mismatch",
            Self::MissingImport => "missing_import",
            Self::Flaky => "flaky",
            Self::TestFailure => "test_failure",
            Self::ApiContract => "api_contract",
            Self::Schema => "schema",
            Self::Dependency => "dependency",
            Self::Security => "security",
            Self::DataIntegrity => "data_integrity",
            Self::SeveralServices => "several_services",
            Self::Unknown => "unknown",
        }
    }

    /// What to do about this kind of failure (see the module documentation).
    pub fn next_step(self) -> NextStep {
        match self {
            Self::Flaky => NextStep::Rerun,
            Self::Lint | Self::Format | Self::TypeMismatch | Self::MissingImport => {
                NextStep::FixAndPush
            }
            Self::TestFailure
            | Self::ApiContract
            | Self::Schema
            | Self::Dependency
            | Self::Unknown => NextStep::Review,
            Self::Security | Self::DataIntegrity | Self::SeveralServices => NextStep::OpenIssue,
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The next step for a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// Re-run the failed jobs (`R`): the failure is not in the code.
    Rerun,
    /// The author fixes the code and pushes; a re-run of the same commit fails the same way.
    FixAndPush,
    /// Someone reviews the change before anything is promoted.
    Review,
    /// Open an issue: more than this commit is at stake.
    OpenIssue,
}

impl NextStep {
    pub fn word(self) -> &'static str {
        match self {
            Self::Rerun => "re-run the failed jobs",
            Self::FixAndPush => "fix and push",
            Self::Review => "needs review",
            Self::OpenIssue => "open an issue",
        }
    }
}

/// The diagnosis of one failed job of one run attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    pub job_id: u64,
    pub job_name: SafeText,
    pub run_attempt: u32,
    /// The tool whose output decided the kind, e.g. "tsc", "eslint", "npm audit".
    pub tool: Option<SafeText>,
    pub kind: FailureKind,
    pub tier: Tier,
    /// One line, e.g. "tsc: TS2322 Type 'string' is not assignable to type 'number'
    /// (src/cart/total.ts:42)".
    pub headline: SafeText,
    /// The error lines of the log, cleaned, in log order (at most a dozen).
    pub excerpt: Vec<SafeText>,
    /// The suggested action, in a sentence or two.
    pub action: SafeText,
    pub next: NextStep,
    /// An outside assistant's answer, filled in later by the engine.
    pub outside: Option<SafeText>,
}

impl Diagnosis {
    /// Whether `R` (re-run the failed jobs) is offered for this failure on its own.
    pub fn rerun_offered(&self) -> bool {
        self.tier == Tier::One
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_serialise_as_numbers_and_reject_others() {
        assert_eq!(serde_json::to_string(&Tier::Three).unwrap(), "3");
        assert_eq!(serde_json::from_str::<Tier>("1").unwrap(), Tier::One);
        assert!(serde_json::from_str::<Tier>("4").is_err());
        assert!(serde_json::from_str::<Tier>("\"one\"").is_err());
        assert!(Tier::One < Tier::Two && Tier::Two < Tier::Three);
        assert_eq!(Tier::Two.word(), "tier 2");
    }

    #[test]
    fn kinds_serialise_in_snake_case_matching_their_code() {
        for kind in FailureKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.code()));
            assert_eq!(serde_json::from_str::<FailureKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            serde_json::to_string(&FailureKind::SeveralServices).unwrap(),
            "\"several_services\""
        );
    }

    #[test]
    fn tiers_and_next_steps_follow_the_release_model() {
        use FailureKind::*;
        for kind in [Lint, Format, TypeMismatch, MissingImport, Flaky] {
            assert_eq!(kind.tier(), Tier::One, "{kind:?}");
        }
        for kind in [TestFailure, ApiContract, Schema, Dependency, Unknown] {
            assert_eq!(kind.tier(), Tier::Two, "{kind:?}");
            assert_eq!(kind.next_step(), NextStep::Review);
        }
        for kind in [Security, DataIntegrity, SeveralServices] {
            assert_eq!(kind.tier(), Tier::Three, "{kind:?}");
            assert_eq!(kind.next_step(), NextStep::OpenIssue);
        }
        assert_eq!(Flaky.next_step(), NextStep::Rerun);
        assert_eq!(Lint.next_step(), NextStep::FixAndPush);
        assert_eq!(Unknown.label(), "unclassified");
    }

    #[test]
    fn a_diagnosis_round_trips_through_json() {
        let diagnosis = Diagnosis {
            job_id: 7,
            job_name: SafeText::new("lint"),
            run_attempt: 1,
            tool: Some(SafeText::new("eslint")),
            kind: FailureKind::Lint,
            tier: Tier::One,
            headline: SafeText::new("eslint: 'discount' is assigned a value but never used"),
            excerpt: vec![SafeText::new("  14:7  error  'discount' ...")],
            action: SafeText::new("run the linter"),
            next: NextStep::FixAndPush,
            outside: None,
        };
        let json = serde_json::to_value(&diagnosis).unwrap();
        assert_eq!(json["tier"], 1);
        assert_eq!(json["kind"], "lint");
        assert_eq!(json["next"], "fix_and_push");
        let back: Diagnosis = serde_json::from_value(json).unwrap();
        assert_eq!(back, diagnosis);
        assert!(back.rerun_offered());
    }
}
