//! Alert rules: each looks at every live decision record of the targets it
//! watches and says whether its condition holds; the [`RuleEngine`] turns
//! that into events: fire once, repeat at an interval while the condition
//! holds, resolve when it clears.
//!
//! Pure: the record's time is the only clock, so replaying a decisions log
//! gives the same alerts.
//!
//! [`config`] is the rule as written, [`validate`] turns it into a [`Rule`]
//! that holds exactly its kind's parameters, `conditions` says whether each
//! kind's condition holds for a record, and [`engine`] remembers what fires.

mod conditions;
pub mod config;
pub mod engine;
pub mod validate;

pub use config::{RuleConfig, RuleKindName};
pub use engine::{
    ACCOUNT_LABEL, ERROR_KIND_LABEL, POLICY_FILE_LABEL, ReloadFailure, RuleEngine, SavedAlerts,
    Track,
};
pub use validate::{ErrorKinds, Rule, RuleKind};

#[cfg(test)]
mod tests;
