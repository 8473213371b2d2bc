//! `ebb log`: read a decisions log (one JSON [`DecisionRecord`] per line)
//! the way an operator asks about it: what happened lately (`tail`), why this
//! decision (`explain`), and how often each outcome (`stats`).
//!
//! Lines that do not parse (a torn last line, a hand edit) are skipped with a
//! warning naming file and line, so one bad line never hides the rest.

use crate::decision::{Action, DecisionRecord, MetricStatus, Outcome, Recommendation, Role};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Where the daemon writes its decisions log unless configured otherwise.
pub const DEFAULT_DECISIONS_LOG: &str = "/var/log/ebb/decisions.jsonl";

/// The arguments of `ebb log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// The decisions log to read.
    #[arg(long, short, global = true, env = "EBB_DECISIONS_LOG", default_value = DEFAULT_DECISIONS_LOG)]
    pub file: PathBuf,
    /// What to do with the log.
    #[command(subcommand)]
    pub command: LogCommand,
}

/// The subcommands of `ebb log`.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Print the latest decisions, one readable line each.
    Tail(TailArgs),
    /// Print the full reasoning behind one decision of a target.
    Explain(ExplainArgs),
    /// Count decisions, scale-outs, scale-ins, holds and errors per target.
    Stats(StatsArgs),
    /// Re-run the core on one decision's recorded inputs and check it
    /// reproduces the decision; exits 1 on a mismatch.
    Replay(ReplayArgs),
    /// Score the live policy against its shadow candidates over a period,
    /// with the same figures as `ebb diff`.
    Compare(CompareArgs),
    /// Run the daemon config's alert rules over the log: what would have
    /// fired, repeated and resolved (nothing is sent).
    Alerts(super::log_alerts::AlertsArgs),
}

/// The arguments of `ebb log compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The target (Auto Scaling group).
    pub target: String,
    /// The live policy file (its first target-tracking policy defines demand).
    #[arg(long)]
    pub policy: PathBuf,
    /// Only decisions at or after this time.
    #[arg(long, value_parser = parse_time)]
    pub from: Option<DateTime<Utc>>,
    /// Only decisions at or before this time.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<DateTime<Utc>>,
    /// Print Markdown tables.
    #[arg(long)]
    pub markdown: bool,
}

/// The arguments of `ebb log replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The target (Auto Scaling group).
    pub target: String,
    /// The decision in force at this time; default: the latest.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
    /// The policy file the daemon ran with for that target.
    #[arg(long)]
    pub policy: PathBuf,
}

/// The arguments of `ebb log tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only this target (Auto Scaling group).
    #[arg(long, short)]
    pub target: Option<String>,
    /// How many of the latest decisions to print.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub lines: usize,
    /// Keep printing decisions as they are appended (follows log rotation).
    #[arg(long)]
    pub follow: bool,
}

/// The arguments of `ebb log explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The target (Auto Scaling group).
    pub target: String,
    /// The decision in force at this time (the last one at or before it),
    /// e.g. `2026-11-25T09:30:00Z` or `2026-11-25 09:30`; default: the latest.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<DateTime<Utc>>,
    /// Print the record as JSON instead.
    #[arg(long)]
    pub json: bool,
}

/// The arguments of `ebb log stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this target.
    #[arg(long, short)]
    pub target: Option<String>,
}

/// Runs an `ebb log` subcommand.
pub fn run(args: LogArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let result = match args.command {
        LogCommand::Tail(tail) => run_tail(&args.file, tail, &mut out),
        LogCommand::Explain(explain) => run_explain(&args.file, explain, &mut out),
        LogCommand::Stats(stats) => run_stats(&args.file, stats, &mut out),
        LogCommand::Replay(replay) => run_replay(&args.file, replay, &mut out),
        LogCommand::Compare(compare) => run_compare(&args.file, compare, &mut out),
        LogCommand::Alerts(alerts) => super::log_alerts::run(&args.file, alerts, &mut out),
    };
    // `ebb log tail | head` closes the pipe early: that is not an error.
    match result {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        other => other,
    }
}

/// Accepts RFC 3339 and the shorter forms people type (UTC assumed).
fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(t) = humantime::parse_rfc3339_weak(s) {
        return Ok(DateTime::<Utc>::from(t));
    }
    for format in ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "`{s}` is not a time; use e.g. 2026-11-25T09:30:00Z or \"2026-11-25 09:30\" (UTC)"
    ))
}

/// Reads records line by line as bytes, warning about (and skipping) bad
/// lines: a torn line, a hand edit, bytes that are not UTF-8.
pub(crate) struct Records {
    path: PathBuf,
    reader: BufReader<File>,
    line_no: usize,
    skipped: usize,
    line: Vec<u8>,
    /// Following a live file: a line without its newline is still being written.
    following: bool,
}

impl Records {
    pub(crate) fn open(path: &Path) -> anyhow::Result<Records> {
        let file = File::open(path)
            .with_context(|| format!("cannot open decisions log `{}`", path.display()))?;
        Ok(Records {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            line_no: 0,
            skipped: 0,
            line: Vec::new(),
            following: false,
        })
    }

    /// The line number of the record last returned.
    pub(crate) fn line_no(&self) -> usize {
        self.line_no
    }

    /// The next record; `Ok(None)` at the current end of the file.
    pub(crate) fn next_record(&mut self) -> anyhow::Result<Option<DecisionRecord>> {
        loop {
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .with_context(|| format!("reading `{}`", self.path.display()))?;
            if n == 0 {
                return Ok(None);
            }
            if self.following && !self.line.ends_with(b"\n") {
                // Read it again, whole, once the writer finished it.
                self.reader.seek(SeekFrom::Current(-(n as i64)))?;
                return Ok(None);
            }
            self.line_no += 1;
            if self.line.trim_ascii().is_empty() {
                continue;
            }
            match DecisionRecord::from_json(self.line.trim_ascii()) {
                Ok(record) => return Ok(Some(record)),
                Err(e) => {
                    self.skipped += 1;
                    eprintln!(
                        "warning: {}:{}: not a decision record, skipped: {e}",
                        self.path.display(),
                        self.line_no
                    );
                }
            }
        }
    }
}

/// `text` with every control character escaped (`\n`, `\u{1b}`), so a field
/// can neither break a line nor drive the terminal.
pub(crate) fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The record with control characters escaped in every string and map key:
/// one pass over the whole record, so no field printed later can miss it.
fn printable_record(record: &DecisionRecord) -> DecisionRecord {
    fn escape(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(printable(&s)),
            Value::Array(items) => Value::Array(items.into_iter().map(escape).collect()),
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (printable(&k), escape(v)))
                    .collect(),
            ),
            other => other,
        }
    }
    serde_json::to_value(record)
        .ok()
        .and_then(|value| serde_json::from_value(escape(value)).ok())
        .unwrap_or_else(|| record.clone())
}

fn run_tail(path: &Path, args: TailArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut records = Records::open(path)?;
    records.following = args.follow;
    let wanted = |r: &DecisionRecord| args.target.as_deref().is_none_or(|t| r.target == t);
    let mut last = VecDeque::with_capacity(args.lines.min(10_000));
    let mut targets = BTreeSet::new();
    let mut matched = false;
    while let Some(record) = records.next_record()? {
        if wanted(&record) {
            matched = true;
            if last.len() == args.lines {
                last.pop_front();
            }
            if args.lines > 0 {
                last.push_back(record);
            }
        } else if !targets.contains(&record.target) {
            targets.insert(record.target);
        }
    }
    if let (Some(target), false) = (&args.target, matched) {
        let unknown = unknown_target(target, path, &targets);
        if !args.follow {
            bail!("{unknown}");
        }
        eprintln!("warning: {unknown}; following");
    }
    for record in &last {
        writeln!(out, "{}", one_line(&printable_record(record)))?;
    }
    out.flush()?;
    if !args.follow {
        return Ok(ExitCode::SUCCESS);
    }
    follow(path, records, &wanted, out)
}

/// Says a target has no records in the log, and which targets do.
fn unknown_target(target: &str, path: &Path, targets: &BTreeSet<String>) -> String {
    let known: Vec<String> = targets.iter().map(|t| printable(t)).collect();
    format!(
        "no decisions for target `{}` in `{}`; targets in the log: {}",
        printable(target),
        path.display(),
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

/// Prints records as they are appended; reopens the file when logrotate
/// moves it away or truncates it.
fn follow(
    path: &Path,
    mut records: Records,
    wanted: &dyn Fn(&DecisionRecord) -> bool,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    use std::os::unix::fs::MetadataExt;
    records.following = true;
    let mut inode = records.reader.get_ref().metadata()?.ino();
    loop {
        while let Some(record) = records.next_record()? {
            if wanted(&record) {
                writeln!(out, "{}", one_line(&printable_record(&record)))?;
            }
        }
        out.flush()?;
        std::thread::sleep(Duration::from_millis(250));
        let position = records.reader.stream_position()?;
        match std::fs::metadata(path) {
            Ok(meta) if meta.ino() != inode || meta.len() < position => {
                records = Records::open(path)?;
                records.following = true;
                inode = records.reader.get_ref().metadata()?.ino();
            }
            // Rotated away and not yet recreated: keep reading the old file.
            _ => {}
        }
    }
}

fn kebab<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
}

fn outcome_word(record: &DecisionRecord) -> &'static str {
    match (&record.outcome, record.action) {
        (Outcome::Failed { .. }, _) => "FAILED",
        _ if !record.role.is_live() => "not acted on",
        (_, Action::Hold) => "hold",
        (Outcome::DryRun, _) => "dry-run",
        (Outcome::Applied, _) => "applied",
        (Outcome::Held, _) => "not applied",
    }
}

/// One decision as one line: when, what, which way, how it went, why.
pub fn one_line(record: &DecisionRecord) -> String {
    let role = match &record.role {
        Role::Live => String::new(),
        Role::Shadow { candidate } => format!(" (shadow {candidate})"),
        Role::Standby => " (standby)".to_string(),
    };
    let metrics: Vec<String> = record
        .metrics
        .iter()
        .map(|m| match (m.status, m.smoothed) {
            (MetricStatus::Ok, Some(v)) => format!("{}={}", m.name, short_number(v)),
            (status, _) => format!("{}={}", m.name, kebab(&status)),
        })
        .collect();
    let mut line = format!(
        "{} {}{role} {} {}->{} [{}]",
        record.time.format("%Y-%m-%dT%H:%M:%SZ"),
        record.target,
        kebab(&record.action),
        record.capacity.desired,
        record.desired,
        outcome_word(record),
    );
    if !metrics.is_empty() {
        let _ = write!(line, " {}", metrics.join(" "));
    }
    let _ = write!(line, " | {}", record.reason);
    // A record that failed before deciding says its error in its reason.
    if let Some(error) = record.outcome.error()
        && !record.reason.contains(error)
    {
        let _ = write!(line, " | error: {error}");
    }
    let notices = record.notice_lines();
    if !notices.is_empty() {
        let _ = write!(line, " | notice: {}", notices.join("; "));
    }
    line
}

fn short_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{v:.0}")
    } else if v.abs() >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A decision found in the log, and the line it is on.
struct Found {
    record: DecisionRecord,
    line: usize,
}

/// The live decision of `target` in force at `at` (the last one at or before
/// it; the latest when `at` is absent). A time in whole seconds, as `tail`
/// prints them, covers its whole second: records carry fractions.
fn find_decision(path: &Path, target: &str, at: Option<DateTime<Utc>>) -> anyhow::Result<Found> {
    let until = at.map(end_of_printed_second);
    let mut records = Records::open(path)?;
    let mut chosen: Option<Found> = None;
    let mut first_time: Option<DateTime<Utc>> = None;
    let mut targets = BTreeSet::new();
    while let Some(record) = records.next_record()? {
        // The live record explains what ebb did; shadows are other questions.
        if record.target != target || record.role.is_shadow() {
            if !targets.contains(&record.target) {
                targets.insert(record.target);
            }
            continue;
        }
        first_time.get_or_insert(record.time);
        if until.is_none_or(|until| record.time <= until)
            && chosen.as_ref().is_none_or(|c| record.time >= c.record.time)
        {
            chosen = Some(Found {
                record,
                line: records.line_no(),
            });
        }
    }
    if let Some(found) = chosen {
        return Ok(found);
    }
    if let (Some(first), Some(at)) = (first_time, at) {
        bail!(
            "no decision for `{}` at or before {} in `{}`: its first is at {}",
            printable(target),
            at.to_rfc3339(),
            path.display(),
            first.to_rfc3339()
        );
    }
    bail!("{}", unknown_target(target, path, &targets));
}

/// The last instant of `at`'s second when `at` has no fraction of a second.
fn end_of_printed_second(at: DateTime<Utc>) -> DateTime<Utc> {
    if at.timestamp_subsec_nanos() != 0 {
        return at;
    }
    at.checked_add_signed(chrono::Duration::nanoseconds(999_999_999))
        .unwrap_or(at)
}

fn run_explain(path: &Path, args: ExplainArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let found = find_decision(path, &args.target, args.at)?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&found.record)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let which = match args.at {
        Some(at) if at.timestamp_subsec_nanos() == 0 => format!(
            "the last live decision at or before {} (to the end of that second)",
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
        Some(at) => format!(
            "the last live decision at or before {}",
            at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        ),
        None => "the latest live decision".to_string(),
    };
    writeln!(out, "record: {}:{}, {which}", path.display(), found.line)?;
    write!(out, "{}", explain(&printable_record(&found.record)))?;
    Ok(ExitCode::SUCCESS)
}

fn run_replay(path: &Path, args: ReplayArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let file = match crate::policy_file::load_file(&args.policy) {
        Ok(file) => file,
        Err(errors) => bail!("{errors}"),
    };
    let record = find_decision(path, &args.target, args.at)?.record;
    let result = crate::replay::replay(&file, &record);
    writeln!(
        out,
        "decision of {} at {}: desired {} ({:?}), replayed: desired {}",
        record.target,
        record.time.to_rfc3339(),
        record.desired,
        record.action,
        result.desired
    )?;
    if !result.taken_as_recorded.is_empty() {
        writeln!(
            out,
            "taken as recorded (they learn from history a record does not hold): {}",
            result.taken_as_recorded.join(", ")
        )?;
    }
    if result.mismatches.is_empty() {
        writeln!(
            out,
            "reproduced: every policy recommendation, governor step and the decision match"
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "MISMATCH in {} field(s):", result.mismatches.len())?;
    for m in &result.mismatches {
        writeln!(
            out,
            "  {}:\n    recorded: {}\n    replayed: {}",
            m.field, m.recorded, m.replayed
        )?;
    }
    Ok(ExitCode::FAILURE)
}

fn run_compare(path: &Path, args: CompareArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let file = match crate::policy_file::load_file(&args.policy) {
        Ok(file) => file,
        Err(errors) => bail!("{errors}"),
    };
    let mut records = Records::open(path)?;
    let mut live = Vec::new();
    let mut shadows: BTreeMap<String, Vec<DecisionRecord>> = BTreeMap::new();
    while let Some(record) = records.next_record()? {
        let in_period =
            args.from.is_none_or(|t| record.time >= t) && args.to.is_none_or(|t| record.time <= t);
        if record.target != args.target || !in_period {
            continue;
        }
        match &record.role {
            Role::Shadow { candidate } => {
                let candidate = candidate.clone();
                shadows.entry(candidate).or_default().push(record)
            }
            Role::Live | Role::Standby => live.push(record),
        }
    }
    if shadows.is_empty() {
        bail!(
            "no shadow decisions for `{}` in `{}` in that period: name candidates in the policy's `target.shadows`",
            args.target,
            path.display()
        );
    }
    let comparison = crate::sim::score::compare_live_and_shadows(&file, &live, &shadows)
        .map_err(anyhow::Error::msg)?;
    writeln!(
        out,
        "{} decisions of `{}` from {} to {}; demand = capacity at `{}`'s target, as observed under the live policy \
         ({} decisions without usable data left out)\n",
        comparison.scored,
        args.target,
        live.first().map_or("-".into(), |r| r.time.to_rfc3339()),
        live.last().map_or("-".into(), |r| r.time.to_rfc3339()),
        comparison.tracked_policy,
        comparison.skipped
    )?;
    for (candidate, score) in &comparison.candidates {
        if args.markdown {
            writeln!(out, "#### live vs {candidate}\n")?;
        } else {
            writeln!(out, "live vs {candidate}:")?;
        }
        let table = crate::cli::diff::comparison_table(
            &comparison.live,
            score,
            ("live", candidate),
            None,
            args.markdown,
        );
        writeln!(out, "{table}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The full reasoning of one decision, section by section.
pub fn explain(r: &DecisionRecord) -> String {
    let mut out = String::new();
    let role = match r.role {
        Role::Live => String::new(),
        ref role => format!(" ({})", role.as_str()),
    };
    let _ = writeln!(out, "{} at {}{role}", r.target, r.time.to_rfc3339());
    let _ = writeln!(
        out,
        "decision:  {} {} -> {} [{}]",
        kebab(&r.action),
        r.capacity.desired,
        r.desired,
        outcome_word(r)
    );
    let _ = writeln!(out, "reason:    {}", r.reason);
    let _ = writeln!(
        out,
        "capacity:  desired {}, in service {}, warming {}; bounds {}..={}",
        r.capacity.desired,
        r.capacity.in_service,
        r.capacity.warming,
        r.min_capacity,
        r.max_capacity
    );
    let _ = writeln!(out, "metrics:");
    if r.metrics.is_empty() {
        let _ = writeln!(out, "  (none read)");
    }
    for m in &r.metrics {
        let mut line = format!("  {:<16} {:<8}", m.name, kebab(&m.status));
        if let Some(raw) = m.raw {
            let _ = write!(line, " raw {}", short_number(raw));
        }
        if let Some(s) = m.smoothed {
            let _ = write!(line, " smoothed {}", short_number(s));
        }
        if let Some(age) = m.age_s {
            let _ = write!(line, " age {age}s");
        }
        let _ = writeln!(out, "{}", line.trim_end());
        for note in &m.notes {
            let _ = writeln!(out, "      note: {note}");
        }
        if let Some(detail) = &m.detail {
            let _ = writeln!(out, "      detail: {detail}");
        }
    }
    let _ = writeln!(out, "policies:");
    if r.policies.is_empty() {
        let _ = writeln!(out, "  (none evaluated)");
    }
    for p in &r.policies {
        let rec = match p.recommendation {
            Recommendation::Capacity(c) => format!("capacity {c}"),
            Recommendation::NoOpinion => "no opinion".into(),
            Recommendation::MissingData => "missing data".into(),
        };
        let _ = writeln!(out, "  {} ({}): {rec}: {}", p.name, p.kind, p.reason);
        if let Some(detail) = &p.detail {
            let _ = writeln!(out, "      detail: {detail}");
        }
    }
    let _ = writeln!(out, "governor:");
    if r.steps.is_empty() {
        let _ = writeln!(out, "  (no steps)");
    }
    for s in &r.steps {
        let _ = writeln!(
            out,
            "  {:<12} -> {:<4} {}",
            kebab(&s.rule),
            s.capacity,
            s.note
        );
    }
    let outcome = match &r.outcome {
        Outcome::Failed {
            error,
            kind: Some(kind),
        } => format!("FAILED ({kind}), capacity kept: {error}"),
        Outcome::Failed { error, kind: None } => format!("FAILED, capacity kept: {error}"),
        Outcome::Applied => "applied".into(),
        Outcome::DryRun => "dry run: nothing changed".into(),
        Outcome::Held if r.action == Action::Hold => "hold: nothing to change".into(),
        Outcome::Held => "not applied".into(),
    };
    let _ = writeln!(out, "outcome:   {outcome}");
    for n in &r.notice_lines() {
        let _ = writeln!(out, "notice:    {n}");
    }
    let state = &r.governor_state;
    let when = |t: Option<DateTime<Utc>>| t.map_or("never".to_string(), |t| t.to_rfc3339());
    let _ = writeln!(
        out,
        "state before: last scale-out {}, last scale-in {}, last set {}",
        when(state.last_scale_out),
        when(state.last_scale_in),
        state
            .last_set
            .map_or("unknown".to_string(), |c| c.to_string())
    );
    out
}

/// Counts for one target.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TargetStats {
    /// Records of the target read.
    pub decisions: u64,
    /// Decisions to scale out.
    pub scale_outs: u64,
    /// Decisions to scale in.
    pub scale_ins: u64,
    /// Decisions to hold.
    pub holds: u64,
    /// Records whose outcome is a failure.
    pub errors: u64,
    /// Changes carried out.
    pub applied: u64,
    /// Changes a dry run decided and did not carry out.
    pub dry_run: u64,
    /// Time of the target's first record read.
    pub first: Option<DateTime<Utc>>,
    /// Time of the target's last record read.
    pub last: Option<DateTime<Utc>>,
}

impl TargetStats {
    fn add(&mut self, r: &DecisionRecord) {
        self.decisions += 1;
        match r.action {
            Action::ScaleOut => self.scale_outs += 1,
            Action::ScaleIn => self.scale_ins += 1,
            Action::Hold => self.holds += 1,
        }
        match r.outcome {
            Outcome::Failed { .. } => self.errors += 1,
            Outcome::Applied => self.applied += 1,
            Outcome::DryRun if r.action != Action::Hold => self.dry_run += 1,
            Outcome::DryRun | Outcome::Held => {}
        }
        self.first = Some(self.first.map_or(r.time, |f| f.min(r.time)));
        self.last = Some(self.last.map_or(r.time, |l| l.max(r.time)));
    }
}

fn run_stats(path: &Path, args: StatsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let mut records = Records::open(path)?;
    // Live decisions only: shadow and standby records were never acted on.
    let mut per_target: BTreeMap<String, TargetStats> = BTreeMap::new();
    let mut others = 0u64;
    while let Some(record) = records.next_record()? {
        if args.target.as_deref().is_some_and(|t| t != record.target) {
            continue;
        }
        if !record.role.is_live() {
            others += 1;
            continue;
        }
        per_target
            .entry(record.target.clone())
            .or_default()
            .add(&record);
    }
    if per_target.is_empty() && args.target.is_some() {
        bail!(
            "no live decisions for target `{}` in `{}`",
            args.target.unwrap_or_default(),
            path.display()
        );
    }
    write!(out, "{}", stats_table(&per_target))?;
    if others > 0 {
        writeln!(out, "({others} shadow/standby records not counted)")?;
    }
    if records.skipped > 0 {
        writeln!(out, "({} unreadable lines skipped)", records.skipped)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The stats as an aligned table, one line per target, for `ebb log stats`.
pub fn stats_table(per_target: &BTreeMap<String, TargetStats>) -> String {
    let width = per_target
        .keys()
        .map(|t| printable(t).chars().count())
        .max()
        .unwrap_or(0)
        .max("target".len());
    let mut out = format!(
        "{:<width$}  {:>9}  {:>10}  {:>9}  {:>6}  {:>6}  {:>7}  {:>7}  from .. to\n",
        "target", "decisions", "scale-outs", "scale-ins", "holds", "errors", "applied", "dry-run"
    );
    let fmt_time = |t: Option<DateTime<Utc>>| {
        t.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        })
    };
    for (target, s) in per_target {
        let _ = writeln!(
            out,
            "{:<width$}  {:>9}  {:>10}  {:>9}  {:>6}  {:>6}  {:>7}  {:>7}  {} .. {}",
            printable(target),
            s.decisions,
            s.scale_outs,
            s.scale_ins,
            s.holds,
            s.errors,
            s.applied,
            s.dry_run,
            fmt_time(s.first),
            fmt_time(s.last)
        );
    }
    out
}
