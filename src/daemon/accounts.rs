//! Other AWS accounts the daemon reaches by assuming a role in each
//! (`[accounts.NAME]` in the daemon config, `account = "NAME"` in a policy's
//! `[target]`), and which set of SDK clients a target uses: one per
//! (account, region).
//!
//! A target without `account` uses the default credential chain's own
//! account, as before. The assumed credentials come from aws-config's
//! assume-role provider on top of the default chain; the SDK's identity cache
//! keeps them and refreshes them before they expire. A role that cannot be
//! assumed fails the calls of that account's clients only: every other
//! (account, region) has clients of its own.

use crate::policy_file::spans::Spans;
use crate::policy_file::{PolicyFileError, TargetSpec};
use crate::text_file::{MAX_CONFIG_BYTES, read_text};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The session name ebb's assumed-role sessions carry (CloudTrail shows it).
pub const SESSION_NAME: &str = "ebb";

/// One member account: the role to assume in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// `arn:aws:iam::123456789012:role/ebb`.
    pub role_arn: String,
    /// The external id the role's trust policy asks for, if it asks for one.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Region for this account's targets that name none; `aws.region` when
    /// absent.
    #[serde(default)]
    pub region: Option<String>,
}

/// Named accounts, as the daemon config lists them.
pub type Accounts = BTreeMap<String, AccountConfig>;

/// Which set of SDK clients serves a target, and which targets are batched
/// together: the same account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey {
    /// The `[accounts]` entry; `None` for the default chain's own account.
    pub account: Option<String>,
    /// The target's region, else its account's, else `None` (`aws.region`
    /// or the default chain's).
    pub region: Option<String>,
}

impl ClientKey {
    /// The clients a target uses.
    pub fn of(target: &TargetSpec, accounts: &Accounts) -> ClientKey {
        let account_region = target
            .account
            .as_ref()
            .and_then(|name| accounts.get(name))
            .and_then(|account| account.region.clone());
        ClientKey {
            account: target.account.clone(),
            region: target.region.clone().or(account_region),
        }
    }

    /// `prod/eu-west-1`, `default/default`: for logs.
    pub fn describe(&self) -> String {
        format!(
            "{}/{}",
            self.account.as_deref().unwrap_or("default"),
            self.region.as_deref().unwrap_or("default")
        )
    }
}

/// What is wrong with one `[accounts.NAME]` entry, as (field, message).
pub fn problems(accounts: &Accounts) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (name, account) in accounts {
        if let Err(message) = check_role_arn(&account.role_arn) {
            found.push((format!("accounts.{name}.role_arn"), message));
        }
        if account.external_id.as_deref() == Some("") {
            found.push((
                format!("accounts.{name}.external_id"),
                "must not be empty (leave it out when the role asks for none)".to_string(),
            ));
        }
        if account.region.as_deref() == Some("") {
            found.push((
                format!("accounts.{name}.region"),
                "must not be empty".to_string(),
            ));
        }
    }
    found
}

/// A role ARN: `arn:PARTITION:iam::ACCOUNT_ID:role/NAME`, the account id
/// twelve digits.
fn check_role_arn(arn: &str) -> Result<(), String> {
    let wrong = || format!("`{arn}` is not a role ARN (arn:aws:iam::123456789012:role/NAME)");
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account_id, resource] = parts[..] else {
        return Err(wrong());
    };
    let account_ok = account_id.len() == 12 && account_id.bytes().all(|b| b.is_ascii_digit());
    let role_ok = resource
        .strip_prefix("role/")
        .is_some_and(|name| !name.is_empty());
    if prefix != "arn" || partition.is_empty() || service != "iam" || !region.is_empty() {
        return Err(wrong());
    }
    if !account_ok {
        return Err(format!(
            "`{arn}`: the account id `{account_id}` must be twelve digits"
        ));
    }
    if !role_ok {
        return Err(wrong());
    }
    Ok(())
}

/// The error for a policy file whose target names an account the daemon
/// config does not define, or `None` when it names none or a known one.
pub fn unknown_account(
    path: &Path,
    target: &TargetSpec,
    accounts: &Accounts,
) -> Option<PolicyFileError> {
    let name = target.account.as_ref()?;
    if accounts.contains_key(name) {
        return None;
    }
    let known = if accounts.is_empty() {
        "the daemon config defines no [accounts]".to_string()
    } else {
        let names: Vec<&str> = accounts.keys().map(String::as_str).collect();
        format!("the daemon config defines: {}", names.join(", "))
    };
    let line = read_text(path, MAX_CONFIG_BYTES)
        .ok()
        .and_then(|text| Spans::parse(&text).line_of("target.account"));
    Some(PolicyFileError {
        file: path.to_path_buf(),
        field: Some("target.account".to_string()),
        line,
        message: format!("unknown account `{name}`: {known}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(account: Option<&str>, region: Option<&str>) -> TargetSpec {
        let text = format!(
            "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 2\n{}{}",
            account.map_or(String::new(), |a| format!("account = \"{a}\"\n")),
            region.map_or(String::new(), |r| format!("region = \"{r}\"\n")),
        );
        toml::from_str::<crate::policy_file::PolicyFile>(&text)
            .unwrap()
            .target
    }

    fn accounts() -> Accounts {
        BTreeMap::from([(
            "prod".to_string(),
            AccountConfig {
                role_arn: "arn:aws:iam::123456789012:role/ebb".into(),
                external_id: Some("x".into()),
                region: Some("eu-west-1".into()),
            },
        )])
    }

    #[test]
    fn a_target_uses_its_region_else_its_accounts() {
        let accounts = accounts();
        let key = ClientKey::of(&target(Some("prod"), None), &accounts);
        assert_eq!(key.account.as_deref(), Some("prod"));
        assert_eq!(key.region.as_deref(), Some("eu-west-1"));
        let key = ClientKey::of(&target(Some("prod"), Some("us-east-2")), &accounts);
        assert_eq!(key.region.as_deref(), Some("us-east-2"));
        let key = ClientKey::of(&target(None, None), &accounts);
        assert_eq!(
            key,
            ClientKey {
                account: None,
                region: None
            }
        );
        assert_eq!(key.describe(), "default/default");
    }

    #[test]
    fn role_arns_are_checked() {
        assert!(check_role_arn("arn:aws:iam::123456789012:role/ebb").is_ok());
        assert!(check_role_arn("arn:aws-cn:iam::123456789012:role/path/ebb").is_ok());
        for bad in [
            "ebb",
            "arn:aws:iam::1234:role/ebb",
            "arn:aws:sts::123456789012:role/ebb",
            "arn:aws:iam::123456789012:user/ebb",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam:eu-west-1:123456789012:role/ebb",
        ] {
            assert!(check_role_arn(bad).is_err(), "{bad}");
        }
        let mut accounts = accounts();
        accounts.get_mut("prod").unwrap().role_arn = "arn:aws:iam::12:role/ebb".into();
        let found = problems(&accounts);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "accounts.prod.role_arn");
        assert!(found[0].1.contains("twelve digits"), "{found:?}");
    }

    #[test]
    fn an_unknown_account_names_the_file_line_and_the_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.toml");
        let text =
            "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 2\naccount = \"prd\"\n";
        std::fs::write(&path, text).unwrap();
        let file = toml::from_str::<crate::policy_file::PolicyFile>(text).unwrap();
        let e = unknown_account(&path, &file.target, &accounts()).unwrap();
        assert_eq!(e.line, Some(5));
        assert_eq!(
            e.to_string(),
            format!(
                "{}:5: target.account: unknown account `prd`: the daemon config defines: prod",
                path.display()
            )
        );
        assert!(unknown_account(&path, &target(Some("prod"), None), &accounts()).is_none());
        assert!(unknown_account(&path, &target(None, None), &accounts()).is_none());
    }
}
