//! Starting the daemon: the state directory's lock, every policy file (all
//! must be valid at start), the decisions log, the saved state, alerts and
//! telemetry, the leader election, and each target's evaluator restored.

use super::accounts::ClientKey;
use super::batch::UNWRITTEN_AT_ONCE;
use super::config::DaemonConfig;
use super::decisions_log::DecisionsLog;
use super::leader::hostname;
use super::leader::{ElectionMode, start_election};
use super::ops::Operations;
use super::policies::read_dir;
use super::restore::{RESTORES_AT_ONCE, evaluator_for, tell_look_back};
use super::run::Daemon;
use super::saver::StateSaver;
use super::schedule::Slot;
use super::state::StateStore;
use super::state_lock::StateDirLock;
use crate::governor_memory::GovernorMemory;
use crate::policy_file::PolicyFile;
use anyhow::{Context, bail};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;

impl Daemon {
    /// Loads the policies (every file must be valid at start), opens the log,
    /// and restores each target's state: from the state file, or else from
    /// the group's scaling activities.
    pub async fn start(config: DaemonConfig, dry_run: bool) -> anyhow::Result<Daemon> {
        // First, before anything is opened or bound: a second daemon on the
        // same state directory stops here, naming the one running.
        let host = hostname();
        let state_lock = StateDirLock::acquire(&config.state_dir, &host)?;
        let mut contents = read_dir(&config.policy_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        contents.refuse_unknown_accounts(&config.accounts);
        if !contents.invalid.is_empty() {
            let errors: Vec<String> = contents
                .invalid
                .values()
                .flatten()
                .map(ToString::to_string)
                .collect();
            bail!("invalid policy files:\n{}", errors.join("\n"));
        }
        if contents.valid.is_empty() {
            bail!(
                "no policy files (*.toml) in {}",
                config.policy_dir.display()
            );
        }
        let log = DecisionsLog::open(&config.decisions_log).with_context(|| {
            format!(
                "cannot open the decisions log {}",
                config.decisions_log.display()
            )
        })?;
        let mut store = StateStore::new(&config.state_dir);
        let saved = match store.load() {
            Ok(saved) => saved,
            Err(e) => {
                // A corrupt file must not stop scaling; cooldowns come back
                // from the activity history instead.
                tracing::error!(error = %e, "ignoring the state file");
                None
            }
        };
        let have_state_file = saved.is_some();
        let saved = saved.unwrap_or_default();
        let mut ops = Operations::start(&config.alerts, &config.telemetry, &config.aws).await?;
        ops.restore_alerts(&saved.alerts);
        let election = match &config.leader_election {
            Some(settings) => Some(start_election(&config, settings).await?),
            None => None,
        };
        let instance = match &config.leader_election {
            Some(settings) => settings.holder(),
            None => format!("{host}:{}", std::process::id()),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let mut daemon = Daemon {
            dry_run: dry_run || config.dry_run,
            config,
            slots: BTreeMap::new(),
            clients: HashMap::new(),
            log,
            saver: StateSaver::start(store),
            saved,
            state_dirty: false,
            in_flight: 0,
            tx,
            rx,
            ops,
            election,
            instance,
            _state_lock: state_lock,
            have_state_file,
            restore_limit: Arc::new(tokio::sync::Semaphore::new(RESTORES_AT_ONCE)),
            unwritten: Arc::new(tokio::sync::Semaphore::new(UNWRITTEN_AT_ONCE)),
            restoring: tokio::task::JoinSet::new(),
        };
        for policy in contents.valid.values() {
            let key = ClientKey::of(&policy.file.target, &daemon.config.accounts);
            daemon.ensure_clients(key).await;
            tell_look_back(&daemon.clients, &daemon.config.accounts, policy);
        }
        // Shard mode holds no shard yet: a target's last scaling is read
        // when its shard first comes here, by that host only.
        let sharded = daemon
            .config
            .leader_election
            .as_ref()
            .is_some_and(|settings| settings.mode == ElectionMode::Shards);
        let unsaved: Vec<&PolicyFile> = contents
            .valid
            .iter()
            .filter(|(group, _)| !daemon.saved.targets.contains_key(*group))
            .map(|(_, policy)| &*policy.file)
            .collect();
        let mut reconstructed = if sharded {
            HashMap::new()
        } else {
            daemon.reconstruct_states(&unsaved, have_state_file).await
        };
        let now = Instant::now();
        for (group, policy) in contents.valid {
            let mut evaluator = evaluator_for(&policy, &daemon.saved);
            let unsaved = daemon.saved.memory(&group).is_none();
            if unsaved && !sharded {
                let reconstructed = reconstructed.remove(&group).unwrap_or_default();
                evaluator.restore_memory(GovernorMemory::new(reconstructed, None));
            }
            let next_due = now + daemon.jitter();
            let mut slot = Slot::new(policy, evaluator, next_due);
            slot.unrestored = unsaved && sharded;
            daemon.slots.insert(group, slot);
        }
        tracing::info!(
            targets = daemon.slots.len(),
            dry_run = daemon.dry_run,
            policy_dir = %daemon.config.policy_dir.display(),
            decisions_log = %daemon.log.path().display(),
            state_file = %daemon.saver.path().display(),
            "ebb daemon started"
        );
        daemon.read_own_scaling().await;
        daemon.declare_targets();
        Ok(daemon)
    }
}
