//! `ebb tune`: search a policy's tunable fields on a trace (or CloudWatch
//! history) for the cheapest policy within an under-provisioning budget,
//! print the Pareto front beside the input policy and the baselines, and
//! write the tuned file.

use super::simulate::{ReplayArgs, ReplaySettings};
use crate::policy_file::load::read_policy_text;
use crate::policy_file::parse_str;
use crate::tune::plot::plot;
use crate::tune::run::{Point, TUNING_SHARE, TuneReport, TuneRequest, TuneTrace, tune};
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
    /// Load trace CSV (`timestamp,value`) to tune on; repeat it to tune on
    /// several (each candidate runs on every one, the budget holds on each);
    /// a synthetic trace when absent.
    #[arg(long)]
    pub trace: Vec<PathBuf>,
    /// Load one instance serves at 100% utilization, in the traces' units;
    /// one for every trace. Default: each trace's own, as `ebb simulate`
    /// picks it (or, with --p95-instances, the first trace's p95 / N).
    #[arg(long, value_parser = crate::ranges::parse_capacity_per_instance)]
    pub capacity_per_instance: Option<f64>,
    /// Rescale each trace so that its 95th-percentile load needs N instances
    /// at 100% utilization (the equal-cost bench's c = p95 / 10 is N = 10):
    /// traces of different scales then share one capacity per instance.
    #[arg(long, value_name = "N", value_parser = crate::ranges::parse_capacity_per_instance)]
    pub p95_instances: Option<f64>,
    /// How to read or make the histories and the simulated cloud, as `ebb
    /// simulate`'s; `--seed` also seeds the search.
    #[command(flatten)]
    pub settings: ReplaySettings,
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
    let replay = |trace: Option<PathBuf>| ReplayArgs {
        trace,
        capacity_per_instance: args.capacity_per_instance,
        settings: args.settings.clone(),
    };
    let sources: Vec<Option<PathBuf>> = if args.trace.is_empty() {
        vec![None]
    } else {
        args.trace.iter().cloned().map(Some).collect()
    };
    let mut traces = Vec::new();
    let mut options = None;
    for source in sources {
        let replay = replay(source);
        let loaded = replay.load_trace(&file)?;
        // The cloud's settings are the same for every trace; a capacity
        // per instance only from the flag or from CloudWatch (one history).
        options.get_or_insert_with(|| replay.options(&loaded, false, false));
        traces.push(TuneTrace {
            name: loaded.name,
            trace: loaded.trace,
        });
    }
    let request = TuneRequest {
        dimensions: dimensions(&file, &text, &space),
        file,
        text,
        path: args.policy.clone(),
        traces,
        options: options.expect("at least one trace was loaded"),
        p95_instances: args.p95_instances,
        budget_tau_u: args.budget,
        plan: SearchPlan {
            candidates: args.candidates as usize,
            seed: args.settings.synth.seed,
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
        print!("{}", format_report(&report, &args));
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

fn both(name: &str, a: &Point, b: &Point) -> String {
    format!(
        "{}   {:>12.1} {:>8.2} {:>12.1}",
        row(name, a),
        b.instance_hours,
        b.tau_u,
        b.changes_per_day
    )
}

fn both_header(out: &mut String) {
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
}

/// The report a user reads.
pub fn format_report(report: &TuneReport, args: &TuneArgs) -> String {
    let mut out = String::new();
    let several = report.traces.len() > 1;
    let on = match report.traces.as_slice() {
        [one] => one.name.clone(),
        all => format!("{} traces", all.len()),
    };
    let _ = writeln!(
        out,
        "ebb tune {}: {} candidates over {} fields on {on}",
        args.policy.display(),
        report.candidates.len(),
        report.dimensions.len()
    );
    for (i, t) in report.traces.iter().enumerate() {
        if several {
            let _ = writeln!(out, "trace {}: {}", i + 1, t.name);
        }
        let _ = writeln!(
            out,
            "{}walk-forward: tuned on the first {:.0}% ({:.1} days from {}), held out the last {:.1} days from {}",
            if several { "  " } else { "" },
            TUNING_SHARE * 100.0,
            t.tuning.days,
            t.tuning.start.format("%Y-%m-%d %H:%M"),
            t.held_out.days,
            t.held_out.start.format("%Y-%m-%d %H:%M"),
        );
        let scaled = if t.scale == 1.0 {
            String::new()
        } else {
            format!(
                " (load x{:.4} so that its p95 needs {} instances)",
                t.scale,
                args.p95_instances.unwrap_or_default()
            )
        };
        if several {
            let _ = writeln!(
                out,
                "  {:.1} load per instance{scaled}; budget tau_U <= {:.2} %",
                t.capacity_per_instance, t.budget_tau_u
            );
        } else {
            let _ = writeln!(
                out,
                "cloud: {:.1} load per instance{scaled}, boot {}s, metrics published {}s late",
                t.capacity_per_instance, report.boot_time_s, report.publish_delay_s
            );
            let _ = writeln!(
                out,
                "budget: tau_U <= {:.2} %{}\n",
                t.budget_tau_u,
                if report.budget_is_current {
                    " (the current policy's on the tuning part; set --budget tau_u=X% to choose)"
                } else {
                    ""
                }
            );
        }
    }
    if several {
        let _ = writeln!(
            out,
            "cloud: boot {}s, metrics published {}s late\nbudget: on each trace, tau_U within its own{}\n",
            report.boot_time_s,
            report.publish_delay_s,
            if report.budget_is_current {
                " (the current policy's on that trace's tuning part; set --budget tau_u=X% to choose)"
            } else {
                ""
            }
        );
    }
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
    let _ = writeln!(
        out,
        "\nPareto front on the tuning part{}:\n{header}",
        if several {
            " (all traces together: instance-hours added up, tau_U the share of all their time)"
        } else {
            ""
        }
    );
    for &i in &report.front {
        let p = report.candidates[i]
            .tuning
            .as_ref()
            .expect("front members ran")
            .total;
        let mark = if i == report.chosen { " <- chosen" } else { "" };
        let _ = writeln!(out, "{}{mark}", row(&candidate_name(i), &p));
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
            "\nchosen: {}, the cheapest within the budget{}",
            candidate_name(report.chosen),
            if several { " on every trace" } else { "" }
        );
    } else {
        let over: Vec<String> = report
            .traces
            .iter()
            .filter(|t| t.chosen_tuning.tau_u > t.budget_tau_u + 1e-9)
            .map(|t| {
                format!(
                    "{}{:.2} % against {:.2} %",
                    if several {
                        format!("{}: ", t.name)
                    } else {
                        String::new()
                    },
                    t.chosen_tuning.tau_u,
                    t.budget_tau_u
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "\nno candidate meets the budget{}; the closest is {} (tau_U {}); nothing written",
            if several { " on every trace" } else { "" },
            candidate_name(report.chosen),
            over.join(", ")
        );
    }
    both_header(&mut out);
    let _ = writeln!(out, "{}", both("chosen", &chosen, &report.chosen_held_out));
    for r in &report.references {
        let _ = writeln!(out, "{}", both(&r.name, &r.tuning, &r.held_out));
    }
    if several {
        for t in &report.traces {
            let _ = writeln!(out, "\n{}:", t.name);
            both_header(&mut out);
            let _ = writeln!(
                out,
                "{}",
                both("chosen", &t.chosen_tuning, &t.chosen_held_out)
            );
            for r in &t.references {
                let _ = writeln!(out, "{}", both(&r.name, &r.tuning, &r.held_out));
            }
        }
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
