//! Where a run is short: its episodes (runs of minutes with fewer instances
//! in service than the load needs at 100% utilization), side by side with
//! another run's, for the equal-cost bench's `EBB_EPISODES` (issue 18: to
//! see where in time ebb loses minutes to AWS at AWS's cost, and why).

use chrono::{DateTime, Duration, Utc};
use ebb::decision::{DecisionRecord, Recommendation};
use ebb::sim::cloud::Sample;

/// One run of consecutive short minutes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    pub start: DateTime<Utc>,
    pub minutes: usize,
    /// The largest shortfall, in instances.
    pub worst: u32,
    /// Demand and supply at the worst minute.
    pub demand: u32,
    pub supply: u32,
    /// Minutes whose demand was above max capacity: short whatever a
    /// controller does.
    pub above_max: usize,
}

impl Episode {
    fn end(&self) -> DateTime<Utc> {
        self.start + Duration::minutes(self.minutes as i64)
    }

    fn overlaps(&self, other: &Episode) -> bool {
        self.start < other.end() && other.start < self.end()
    }
}

/// The short episodes of a run's samples.
pub fn episodes(samples: &[Sample], capacity_per_instance: f64, max: u32) -> Vec<Episode> {
    let mut found: Vec<Episode> = Vec::new();
    let mut open: Option<Episode> = None;
    for s in samples {
        let demand = s.demand(capacity_per_instance);
        if s.serving >= demand {
            found.extend(open.take());
            continue;
        }
        let short = demand - s.serving;
        let episode = open.get_or_insert(Episode {
            start: s.time,
            minutes: 0,
            worst: 0,
            demand,
            supply: s.serving,
            above_max: 0,
        });
        episode.minutes += 1;
        if demand > max {
            episode.above_max += 1;
        }
        if short > episode.worst {
            episode.worst = short;
            episode.demand = demand;
            episode.supply = s.serving;
        }
    }
    found.extend(open);
    found
}

/// What the policies recommended and the governor decided over the
/// `before` minutes up to an episode's start, one line per evaluation that
/// changed anything.
fn decisions_before(
    decisions: &[DecisionRecord],
    start: DateTime<Utc>,
    before: Duration,
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut last = None;
    for d in decisions
        .iter()
        .filter(|d| d.time >= start - before && d.time <= start + Duration::minutes(3))
    {
        let wants: Vec<String> = d
            .policies
            .iter()
            .map(|p| match p.recommendation {
                Recommendation::Capacity(c) => format!("{} {c}", p.name),
                Recommendation::NoOpinion => format!("{} -", p.name),
                Recommendation::MissingData => format!("{} missing", p.name),
            })
            .collect();
        let line = format!(
            "{} desired {} -> {} [{}]",
            d.time.format("%m-%d %H:%M"),
            d.capacity.desired,
            d.desired,
            wants.join(", ")
        );
        let key = (d.capacity.desired, d.desired, wants);
        if last.as_ref() != Some(&key) {
            lines.push(format!("      {line}"));
            last = Some(key);
        }
    }
    lines
}

/// Prints `ours`' and `theirs`' episodes, longest first (at most `limit` of
/// ours), each with the other run's overlapping minutes and, when decisions
/// were kept, what ebb's policies said in the quarter hour before.
pub fn print_side_by_side(
    name: &str,
    (ours_name, ours): (&str, &[Sample]),
    (theirs_name, theirs): (&str, &[Sample]),
    capacity_per_instance: f64,
    max: u32,
    decisions: &[DecisionRecord],
    limit: usize,
) {
    let mine = episodes(ours, capacity_per_instance, max);
    let other = episodes(theirs, capacity_per_instance, max);
    let total = |e: &[Episode]| e.iter().map(|e| e.minutes).sum::<usize>();
    let above = |e: &[Episode]| e.iter().map(|e| e.above_max).sum::<usize>();
    println!(
        "\n{name}: {ours_name} short {} min in {} episodes, {theirs_name} {} min in {} ({} and {} of those minutes above max capacity {max}: short whatever a controller does)",
        total(&mine),
        mine.len(),
        total(&other),
        other.len(),
        above(&mine),
        above(&other),
    );
    let describe = |e: &Episode| {
        format!(
            "{} {:>3} min ({} above max), worst {} short (demand {}, serving {})",
            e.start.format("%m-%d %H:%M"),
            e.minutes,
            e.above_max,
            e.worst,
            e.demand,
            e.supply
        )
    };
    // Longest first by the minutes a controller could have avoided.
    let avoidable = |e: &Episode| e.minutes - e.above_max;
    let mut sorted = mine.clone();
    sorted.sort_by(|a, b| avoidable(b).cmp(&avoidable(a)).then(a.start.cmp(&b.start)));
    for e in sorted.iter().take(limit) {
        let overlapping: Vec<String> = other
            .iter()
            .filter(|o| o.overlaps(e))
            .map(&describe)
            .collect();
        println!(
            "  {ours_name} {} | {theirs_name}: {}",
            describe(e),
            if overlapping.is_empty() {
                "not short".to_string()
            } else {
                overlapping.join("; ")
            }
        );
        for line in decisions_before(decisions, e.start, Duration::minutes(15)) {
            println!("{line}");
        }
    }
    let theirs_alone: Vec<&Episode> = other
        .iter()
        .filter(|o| !mine.iter().any(|e| e.overlaps(o)))
        .collect();
    println!(
        "  {theirs_name} short where {ours_name} is not: {} min in {} episodes",
        theirs_alone.iter().map(|e| e.minutes).sum::<usize>(),
        theirs_alone.len()
    );
}
