//! A release checklist item as the engine publishes it with a promotion's preview, so the
//! confirmation can list it and the captain can tick it.

use serde::{Deserialize, Serialize};

use super::SafeText;

/// One configured item of an environment's release checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    /// Short and unique within the environment: what a tick names (`--tick ID`).
    pub id: SafeText,
    pub text: SafeText,
    /// An unticked required item blocks the promotion; an optional one never does.
    pub required: bool,
    /// A pull request label that satisfies the item when nobody is there to tick it.
    pub label: Option<SafeText>,
}
