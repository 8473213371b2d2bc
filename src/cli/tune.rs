//! `ebb tune`: search a policy's tunable fields on a trace (or CloudWatch
//! history) for the cheapest policy within an under-provisioning budget,
//! print the Pareto front beside the input policy and the baselines, and
//! write the tuned file.

use super::simulate::ReplayArgs;
use crate::policy_file::load::read_policy_text;
use crate::policy_file::parse_str;
use crate::tune::plot::plot;
use crate::tune::run::{Point, TUNING_SHARE, TuneReport, TuneRequest, tune};
use crate::tune::search::SearchPlan;
use crate::tune::space::{SpaceFile, dimensions};
use anyhow::Context;
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `ebb tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The policy file to tune.
    pub policy: PathBuf,
    /// The history to tune on and the simulated cloud, as `ebb simulate`'s;
    /// `--seed` also seeds the search.
    #[command(flatten)]
    pub replay: ReplayArgs,
    /// The most under-provisioned time the chosen policy may have on the
    /// tuning part, e.g. `tau_u=0.5%`; default: the input policy's own.
    #[arg(long, value_parser = parse_budget)]
    pub budget: Option<f64>,
    /// A TOML file of search ranges (`target = [40, 70]`, `half_life =
    /// ["10s", "2m"]`, `warmup = false` to keep a field as written).
    #[arg(long)]
    pub space: Option<PathBuf>,
    /// How many candidates to simulate.
    #[arg(long, default_value_t = 200, value_parser = crate::ranges::TUNE_CANDIDATES.parser())]
    pub candidates: u32,
    /// Write the tuned policy file here (the input's comments kept).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write an SVG of the Pareto front.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tau_u=0.5%` (or `tau_u=0.5`): the tau_U budget in percent.
pub fn parse_budget(text: &str) -> Result<f64, String> {
    let Some((name, value)) = text.split_once('=') else {
        return Err(format!("`{text}` is not NAME=VALUE; e.g. tau_u=0.5%"));
    };
    if !name.trim().eq_ignore_ascii_case("tau_u") {
        return Err(format!(
            "`{}`: only a tau_u budget is known (share of time under-provisioned, %), e.g. tau_u=0.5%",
            name.trim()
        ));
    }
    let number = value.trim().trim_end_matches('%').trim();
    match number.parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "`{}` is not a percentage between 0 and 100",
            value.trim()
        )),
    }
}

/// Runs `ebb tune`: prints the Pareto front of the candidates tried.
pub fn run(args: TuneArgs) -> anyhow::Result<ExitCode> {
    let text = read_policy_text(&args.policy)
        .with_context(|| format!("reading {}", args.policy.display()))?;
    let file = match parse_str(&text, &args.policy) {
        Ok(file) => file,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let space = match &args.space {
        Some(path) => match SpaceFile::load(path) {
            Ok(space) => space,
            Err(errors) => {
                eprintln!("{errors}");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => SpaceFile::default(),
    };
    let loaded = args.replay.load_trace(&file)?;
    let request = TuneRequest {
        dimensions: dimensions(&file, &text, &space),
        file,
        text,
        path: args.policy.clone(),
        trace: loaded.trace.clone(),
        options: args.replay.options(&loaded, false, false),
        budget_tau_u: args.budget,
        plan: SearchPlan {
            candidates: args.candidates as usize,
            seed: args.replay.synth.seed,
        },
    };
    let report = tune(&request).with_context(|| format!("tuning {}", args.policy.display()))?;
    if let Some(path) = &args.plot {
        plot(&report, path).map_err(anyhow::Error::msg)?;
    }
    if let Some(path) = &args.out
        && report.meets_budget
    {
        std::fs::write(path, &report.tuned_text)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", format_report(&report, &args, &loaded.name));
    }
    Ok(if report.meets_budget {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn row(name: &str, p: &Point) -> String {
    format!(
        "  {name:<28} {:>12.1} {:>8.2} {:>12.1}",
        p.instance_hours, p.tau_u, p.changes_per_day
    )
}

/// Candidates by their 1-based number; the first holds the input's values.
fn candidate_name(index: usize) -> String {
    if index == 0 {
        "candidate 1 (the input's values)".into()
    } else {
        format!("candidate {}", index + 1)
    }
}

/// The report a user reads.
pub fn format_report(report: &TuneReport, args: &TuneArgs, trace_name: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ebb tune {}: {} candidates over {} fields on {trace_name}",
        args.policy.display(),
        report.candidates.len(),
        report.dimensions.len()
    );
    let _ = writeln!(
        out,
        "walk-forward: tuned on the first {:.0}% ({:.1} days from {}), held out the last {:.1} days from {}",
        TUNING_SHARE * 100.0,
        report.tuning.days,
        report.tuning.start.format("%Y-%m-%d %H:%M"),
        report.held_out.days,
        report.held_out.start.format("%Y-%m-%d %H:%M"),
    );
    let _ = writeln!(
        out,
        "cloud: {:.1} load per instance, boot {}s, metrics published {}s late",
        report.capacity_per_instance, report.boot_time_s, report.publish_delay_s
    );
    let _ = writeln!(
        out,
        "budget: tau_U <= {:.2} %{}\n",
        report.budget_tau_u,
        if report.budget_is_current {
            " (the current policy's on the tuning part; set --budget tau_u=X% to choose)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "searched:");
    for d in &report.dimensions {
        let now = d
            .current
            .map_or_else(|| "unset".to_string(), |v| d.format(v));
        let _ = writeln!(
            out,
            "  {:<36} {} .. {} (now {now})",
            d.path,
            d.format(d.low),
            d.format(d.high)
        );
    }
    let header = format!(
        "  {:<28} {:>12} {:>8} {:>12}",
        "", "inst-hours", "tau_U%", "changes/day"
    );
    let _ = writeln!(out, "\nPareto front on the tuning part:\n{header}");
    for &i in &report.front {
        let p = report.candidates[i]
            .tuning
            .as_ref()
            .expect("front members ran");
        let mark = if i == report.chosen { " <- chosen" } else { "" };
        let _ = writeln!(out, "{}{mark}", row(&candidate_name(i), p));
    }
    let _ = writeln!(out, "on the same axes:");
    for r in &report.references {
        let _ = writeln!(out, "{}", row(&r.name, &r.tuning));
    }
    let failed = report
        .candidates
        .iter()
        .filter_map(|c| c.tuning.as_ref().err())
        .collect::<Vec<_>>();
    if let Some(first) = failed.first() {
        let _ = writeln!(
            out,
            "note: {} candidates could not run; the first: {first}",
            failed.len()
        );
    }
    let chosen = report.chosen_tuning();
    if report.meets_budget {
        let _ = writeln!(
            out,
            "\nchosen: {}, the cheapest within the budget",
            candidate_name(report.chosen)
        );
    } else {
        let _ = writeln!(
            out,
            "\nno candidate meets tau_U <= {:.2} %; the closest is {} (tau_U {:.2} %); nothing written",
            report.budget_tau_u,
            candidate_name(report.chosen),
            chosen.tau_u
        );
    }
    let _ = writeln!(
        out,
        "  {:<28} {:>12} {:>8} {:>12}   {:>12} {:>8} {:>12}",
        "", "tuning", "", "", "held out", "", ""
    );
    let _ = writeln!(
        out,
        "  {:<28} {:>12} {:>8} {:>12}   {:>12} {:>8} {:>12}",
        "", "inst-hours", "tau_U%", "changes/day", "inst-hours", "tau_U%", "changes/day"
    );
    let both = |name: &str, a: &Point, b: &Point| {
        format!(
            "{}   {:>12.1} {:>8.2} {:>12.1}",
            row(name, a),
            b.instance_hours,
            b.tau_u,
            b.changes_per_day
        )
    };
    let _ = writeln!(out, "{}", both("chosen", &chosen, &report.chosen_held_out));
    for r in &report.references {
        let _ = writeln!(out, "{}", both(&r.name, &r.tuning, &r.held_out));
    }
    if report.changes.is_empty() {
        let _ = writeln!(
            out,
            "\nThe chosen candidate sets the same values as the input."
        );
    } else {
        let _ = writeln!(out, "\nchanges from {}:", args.policy.display());
        for c in &report.changes {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
            let _ = writeln!(out, "  {}: {} -> {}", c.path, show(&c.old), show(&c.new));
        }
    }
    if let Some(path) = &args.out
        && report.meets_budget
    {
        let _ = writeln!(out, "tuned policy: {}", path.display());
    }
    if let Some(path) = &args.plot {
        let _ = writeln!(out, "plot: {}", path.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_reads_tau_u_in_percent() {
        assert_eq!(parse_budget("tau_u=0.5%"), Ok(0.5));
        assert_eq!(parse_budget("TAU_U = 2"), Ok(2.0));
        assert!(
            parse_budget("theta_u=1%")
                .unwrap_err()
                .contains("only a tau_u")
        );
        assert!(
            parse_budget("tau_u=-1%")
                .unwrap_err()
                .contains("between 0 and 100")
        );
        assert!(parse_budget("tau_u=NaN").is_err());
        assert!(parse_budget("0.5%").unwrap_err().contains("NAME=VALUE"));
    }
}
