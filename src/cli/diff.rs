//! `ebb diff`: replay the same history through two versions of a policy and
//! say what the change would do, in a form that fits a pull-request comment,
//! with guards that fail CI when a change makes things worse.

use super::simulate::ReplayArgs;
use crate::policy_file::{PolicyFile, load_file};
use crate::sim::baseline::REACTIVE_LIMIT;
use crate::sim::plot::plot;
use crate::sim::run::{ControllerRun, SimReport, simulate};
use crate::sim::score::Score;
use anyhow::Context;
use clap::Args;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The arguments of `ebb diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The policy as it is.
    pub old: PathBuf,
    /// The policy as proposed.
    pub new: PathBuf,
    /// The same for both; without --capacity-per-instance, it is derived
    /// from the trace and the old policy's max capacity.
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// Price of one instance-hour, to show cost.
    #[arg(long)]
    pub price: Option<f64>,
    /// Write an SVG of demand and both policies' capacity.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print Markdown (for a pull-request comment).
    #[arg(long)]
    pub markdown: bool,
    /// Fail when the under-provisioned time share grows by more than this many points.
    #[arg(long)]
    pub max_under_increase: Option<f64>,
    /// Fail when instance-hours grow by more than this many percent.
    #[arg(long)]
    pub max_cost_increase: Option<f64>,
    /// Fail when the number of scaling actions grows by more than this many percent.
    #[arg(long)]
    pub max_changes_increase: Option<f64>,
}

/// One field that differs between the two files.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldChange {
    /// Dotted path of the field, e.g. `governor.scale_in_cooldown`.
    pub path: String,
    /// The value in the old file, as TOML; `None` when the old file does not set it.
    pub old: Option<String>,
    /// The value in the new file, as TOML; `None` when the new file does not set it.
    pub new: Option<String>,
}

/// Runs `ebb diff`: exit 0 when no guard is crossed, 1 when one is.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let (old, new) = match (load_file(&args.old), load_file(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (old, new) => {
            for errors in [old.err(), new.err()].into_iter().flatten() {
                eprintln!("{errors}");
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let loaded = args.replay.load_trace(&old)?;
    let mut options = args.replay.options(&loaded, true, false);
    let (trace, trace_name) = (loaded.trace, loaded.name);
    let old_report = simulate(&old, trace.clone(), &options)
        .with_context(|| format!("simulating {}", args.old.display()))?;
    options.capacity_per_instance = Some(old_report.capacity_per_instance);
    let new_report = simulate(&new, trace, &options)
        .with_context(|| format!("simulating {}", args.new.display()))?;

    let fields = field_changes(&old, &new);
    let old_run = &old_report.runs[0];
    let new_run = &new_report.runs[0];
    let breaches = guard_breaches(&args, &old_run.score, &new_run.score);
    let limit_tau_u = |report: &SimReport| {
        report
            .baseline(REACTIVE_LIMIT)
            .map(|run| run.score.under_timeshare)
    };
    let reactive_limit = limit_tau_u(&old_report).zip(limit_tau_u(&new_report));
    if let Some(path) = &args.plot {
        let both = side_by_side(&old_report, new_run, &args.old, &args.new);
        plot(&both, path).map_err(anyhow::Error::msg)?;
    }
    let text = format_diff(&DiffView {
        old_name: &args.old,
        new_name: &args.new,
        trace_name: &trace_name,
        report: &old_report,
        fields: &fields,
        old: &old_run.score,
        new: &new_run.score,
        price: args.price,
        breaches: &breaches,
        reactive_limit,
        markdown: args.markdown,
    });
    print!("{text}");
    Ok(if breaches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every leaf field that differs, as dotted paths (`governor.warmup`,
/// `policies[0].target`), in the files' own units.
pub fn field_changes(old: &PolicyFile, new: &PolicyFile) -> Vec<FieldChange> {
    let mut flat_old = Vec::new();
    let mut flat_new = Vec::new();
    flatten(
        "",
        &serde_json::to_value(old).unwrap_or(Value::Null),
        &mut flat_old,
    );
    flatten(
        "",
        &serde_json::to_value(new).unwrap_or(Value::Null),
        &mut flat_new,
    );
    let lookup = |flat: &[(String, String)], path: &str| {
        flat.iter().find(|(p, _)| p == path).map(|(_, v)| v.clone())
    };
    let mut paths: Vec<&String> = flat_old
        .iter()
        .chain(flat_new.iter())
        .map(|(p, _)| p)
        .collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (o, n) = (lookup(&flat_old, path), lookup(&flat_new, path));
            (o != n).then(|| FieldChange {
                path: path.clone(),
                old: o,
                new: n,
            })
        })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// The guards the new policy crosses, each as a sentence.
pub fn guard_breaches(args: &DiffArgs, old: &Score, new: &Score) -> Vec<String> {
    let mut breaches = Vec::new();
    let under_growth = new.under_timeshare - old.under_timeshare;
    if let Some(limit) = args.max_under_increase
        && under_growth > limit
    {
        breaches.push(format!(
            "under-provisioned time grows by {under_growth:.2} points ({:.2}% -> {:.2}%), more than the {limit} allowed",
            old.under_timeshare, new.under_timeshare
        ));
    }
    let cost_growth = percent_change(old.instance_hours, new.instance_hours);
    if let Some(limit) = args.max_cost_increase
        && cost_growth > limit
    {
        breaches.push(format!(
            "instance-hours grow by {cost_growth:.1}% ({:.1} -> {:.1}), more than the {limit}% allowed",
            old.instance_hours, new.instance_hours
        ));
    }
    let changes_growth = percent_change(
        f64::from(old.capacity_changes),
        f64::from(new.capacity_changes),
    );
    if let Some(limit) = args.max_changes_increase
        && changes_growth > limit
    {
        breaches.push(format!(
            "scaling actions grow by {changes_growth:.1}% ({} -> {}), more than the {limit}% allowed",
            old.capacity_changes, new.capacity_changes
        ));
    }
    breaches
}

fn percent_change(old: f64, new: f64) -> f64 {
    if old == 0.0 {
        if new == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        100.0 * (new - old) / old
    }
}

/// Both policies' runs in one report, for the plot.
fn side_by_side(
    old: &SimReport,
    new_run: &ControllerRun,
    old_name: &Path,
    new_name: &Path,
) -> SimReport {
    let mut both = old.clone();
    both.runs[0].name = format!("old: {}", old_name.display());
    let mut new_run = new_run.clone();
    new_run.name = format!("new: {}", new_name.display());
    both.runs.truncate(1);
    both.runs.push(new_run);
    both
}

/// What the diff prints.
pub struct DiffView<'a> {
    /// The old policy file.
    pub old_name: &'a Path,
    /// The new policy file.
    pub new_name: &'a Path,
    /// The trace both were replayed on, as the report names it.
    pub trace_name: &'a str,
    /// The simulation of both files on the trace.
    pub report: &'a SimReport,
    /// The fields that differ between the files.
    pub fields: &'a [FieldChange],
    /// The old file's scores.
    pub old: &'a Score,
    /// The new file's scores.
    pub new: &'a Score,
    /// Price of one instance-hour, when given, to show the cost in money.
    pub price: Option<f64>,
    /// The guards the new file crosses, one line each; empty when none.
    pub breaches: &'a [String],
    /// The reactive limit's tau_U at the old and the new file's target.
    pub reactive_limit: Option<(f64, f64)>,
    /// Markdown (for a pull request comment) instead of plain text.
    pub markdown: bool,
}

/// The diff as plain text or Markdown.
pub fn format_diff(view: &DiffView<'_>) -> String {
    let mut out = String::new();
    let md = view.markdown;
    let title = format!(
        "ebb diff: {} -> {}",
        view.old_name.display(),
        view.new_name.display()
    );
    let _ = writeln!(out, "{}{title}\n", if md { "### " } else { "" });
    let _ = writeln!(
        out,
        "Replayed {} ({} minutes, {:.1} load per instance, boot {}s).\n",
        view.trace_name,
        view.report.minutes,
        view.report.capacity_per_instance,
        view.report.boot_time_s
    );
    if view.fields.is_empty() {
        let _ = writeln!(out, "The two files set the same values.\n");
    } else {
        let _ = writeln!(out, "Changed fields:");
        for f in view.fields {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
            if md {
                let _ = writeln!(
                    out,
                    "- `{}`: `{}` -> `{}`",
                    f.path,
                    show(&f.old),
                    show(&f.new)
                );
            } else {
                let _ = writeln!(out, "  {}: {} -> {}", f.path, show(&f.old), show(&f.new));
            }
        }
        let _ = writeln!(out);
    }
    out.push_str(&comparison_table(
        view.old,
        view.new,
        ("old", "new"),
        view.price,
        md,
    ));
    let _ = writeln!(out);
    if let Some((old, new)) = view.reactive_limit {
        let _ = writeln!(
            out,
            "Reactive limit (capacity for each period's load as soon as it is published; no policy without a forecast is short less often at the same target): tau_U {old:.2} % at the old file's target, {new:.2} % at the new one's.\n"
        );
    }
    if view.breaches.is_empty() {
        let _ = writeln!(out, "Guards: none crossed.");
    } else {
        for breach in view.breaches {
            let label = if md {
                "- **GUARD CROSSED:**"
            } else {
                "GUARD CROSSED:"
            };
            let _ = writeln!(out, "{label} {breach}");
        }
    }
    out
}

/// Two scores side by side with the change, as text or a Markdown table;
/// `names` head the two columns.
pub fn comparison_table(
    old: &Score,
    new: &Score,
    names: (&str, &str),
    price: Option<f64>,
    md: bool,
) -> String {
    let mut out = String::new();
    let mut rows: Vec<(&str, f64, f64, usize)> = vec![
        ("instance-hours", old.instance_hours, new.instance_hours, 1),
        (
            "under-provisioned time tau_U %",
            old.under_timeshare,
            new.under_timeshare,
            2,
        ),
        (
            "under-provisioning accuracy theta_U %",
            old.under_accuracy,
            new.under_accuracy,
            2,
        ),
        (
            "over-provisioned time tau_O %",
            old.over_timeshare,
            new.over_timeshare,
            2,
        ),
        (
            "over-provisioning accuracy theta_O %",
            old.over_accuracy,
            new.over_accuracy,
            2,
        ),
        (
            "minutes above target + tolerance %",
            old.above_target.unwrap_or(f64::NAN),
            new.above_target.unwrap_or(f64::NAN),
            2,
        ),
        (
            "instances beyond those holding the target",
            old.excess_instances.unwrap_or(f64::NAN),
            new.excess_instances.unwrap_or(f64::NAN),
            2,
        ),
        (
            "scaling actions",
            f64::from(old.capacity_changes),
            f64::from(new.capacity_changes),
            0,
        ),
        (
            "time at max capacity %",
            old.time_at_max,
            new.time_at_max,
            2,
        ),
        (
            "mean utilization %",
            old.mean_utilization,
            new.mean_utilization,
            1,
        ),
    ];
    // Scores from decisions alone (live vs shadows) know no tracked metric.
    rows.retain(|(_, old, new, _)| !(old.is_nan() && new.is_nan()));
    let cost;
    if let Some(price) = price {
        cost = (
            "cost",
            old.instance_hours * price,
            new.instance_hours * price,
            2,
        );
        rows.insert(1, cost);
    }
    if md {
        let _ = writeln!(
            out,
            "| | {} | {} | change |\n|---|---:|---:|---:|",
            names.0, names.1
        );
    } else {
        let _ = writeln!(
            out,
            "{:<40} {:>12} {:>12} {:>12}",
            "", names.0, names.1, "change"
        );
    }
    for (name, o, n, digits) in rows {
        let change = format!("{:+.*}", digits, n - o);
        if md {
            let _ = writeln!(out, "| {name} | {o:.digits$} | {n:.digits$} | {change} |");
        } else {
            let _ = writeln!(
                out,
                "{name:<40} {o:>12.digits$} {n:>12.digits$} {change:>12}"
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::trace::SynthArgs;
    use crate::policy_file::parse_str;

    const BASE: &str = r#"
[target]
group = "web"
min_capacity = 2
max_capacity = 10

[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
statistic = "Average"

[[policies]]
kind = "target-tracking"
name = "cpu"
metric = "cpu"
target = 50.0
"#;

    #[test]
    fn lists_each_changed_leaf_with_both_values() {
        let old = parse_str(BASE, Path::new("old.toml")).unwrap();
        let new_text = BASE
            .replace("target = 50.0", "target = 60.0")
            .replace("max_capacity = 10", "max_capacity = 12");
        let new = parse_str(&new_text, Path::new("new.toml")).unwrap();
        let changes = field_changes(&old, &new);
        let paths: Vec<_> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, vec!["policies[0].target", "target.max_capacity"]);
        assert_eq!(changes[0].old.as_deref(), Some("50.0"));
        assert_eq!(changes[0].new.as_deref(), Some("60.0"));
        assert!(field_changes(&old, &old).is_empty());
    }

    fn score(under: f64, hours: f64, changes: u32) -> Score {
        Score {
            under_accuracy: 0.0,
            over_accuracy: 0.0,
            under_timeshare: under,
            over_timeshare: 0.0,
            capacity_changes: changes,
            instance_hours: hours,
            time_at_max: 0.0,
            mean_utilization: 0.0,
            above_target: None,
            excess_instances: None,
        }
    }

    fn args(under: Option<f64>, cost: Option<f64>, changes: Option<f64>) -> DiffArgs {
        DiffArgs {
            old: "old.toml".into(),
            new: "new.toml".into(),
            replay: ReplayArgs {
                trace: None,
                capacity_per_instance: None,
                settings: crate::cli::simulate::ReplaySettings {
                    read: Default::default(),
                    synth: SynthArgs {
                        days: 1,
                        seed: 1,
                        shape: crate::sim::synth::Shape::Diurnal,
                    },
                    boot_time: std::time::Duration::from_secs(300),
                    publish_delay: std::time::Duration::from_secs(120),
                    from_cloudwatch: false,
                    history: crate::cli::simulate::HistoryArgs {
                        metric: None,
                        aws: Default::default(),
                    },
                },
            },
            price: None,
            plot: None,
            markdown: false,
            max_under_increase: under,
            max_cost_increase: cost,
            max_changes_increase: changes,
        }
    }

    #[test]
    fn guards_trip_only_past_their_limits() {
        let (old, new) = (score(1.0, 100.0, 10), score(2.5, 109.0, 12));
        assert!(guard_breaches(&args(None, None, None), &old, &new).is_empty());
        assert!(guard_breaches(&args(Some(1.5), Some(9.0), Some(20.0)), &old, &new).is_empty());
        let crossed = guard_breaches(&args(Some(1.0), Some(5.0), Some(10.0)), &old, &new);
        assert_eq!(crossed.len(), 3, "{crossed:?}");
        assert!(crossed[0].contains("1.50 points"), "{}", crossed[0]);
        assert!(crossed[1].contains("9.0%"), "{}", crossed[1]);
        assert!(crossed[2].contains("20.0%"), "{}", crossed[2]);
    }
}
