//! The values a policy file writes as text and ebb parses into types (see
//! [`super::values`]), read from the file's TOML table before the file is
//! read into its types. Reading a value that does not parse would stop at
//! that value; read here first, every such error is collected (by field)
//! with a placeholder that parses, which the loader writes in its place so
//! the rest of the file is read and checked too, and `ebb check` reports
//! every error of a file at once. The file is refused whenever anything is
//! collected.

use super::values::{Days, HistoryStep, Statistic, TimeZone};
use toml::{Table, Value};

/// A value that does not parse, or a CloudWatch table that is both or
/// neither a metric stat and an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unparsable {
    /// Dotted field path, as validation names fields.
    pub field: String,
    /// What is wrong with the value, for people.
    pub problem: String,
    /// A value (TOML, quoted) that parses, to write in its place; `None`
    /// when the table itself is wrong and nothing can stand in for it.
    pub placeholder: Option<&'static str>,
}

/// Every unparsable value in `document`.
pub fn unparsable(document: &Table) -> Vec<Unparsable> {
    let mut problems = Vec::new();
    if let Some(metrics) = document.get("metrics").and_then(Value::as_table) {
        for (name, metric) in metrics {
            let cloudwatch = metric
                .get("source")
                .and_then(|s| s.get("cloudwatch"))
                .and_then(Value::as_table);
            if let Some(cw) = cloudwatch {
                let at = format!("metrics.{name}.source.cloudwatch");
                cloudwatch_problems(cw, &at, &mut problems);
            }
        }
    }
    if let Some(policies) = document.get("policies").and_then(Value::as_array) {
        for (i, policy) in policies.iter().enumerate() {
            if let Some(policy) = policy.as_table() {
                policy_problems(policy, &format!("policies[{i}]"), &mut problems);
            }
        }
    }
    problems
}

/// Parses the string at `key` of `table` with `parse`; on failure records
/// the problem at `at.key`, with `placeholder` to stand in for it.
fn check<T>(
    table: &Table,
    key: &str,
    at: &str,
    parse: impl Fn(String) -> Result<T, String>,
    placeholder: &'static str,
    problems: &mut Vec<Unparsable>,
) {
    let Some(Value::String(text)) = table.get(key) else {
        return; // absent, or not a string: serde says what is wrong
    };
    if let Err(problem) = parse(text.clone()) {
        problems.push(Unparsable {
            field: format!("{at}.{key}"),
            problem,
            placeholder: Some(placeholder),
        });
    }
}

fn policy_problems(policy: &Table, at: &str, problems: &mut Vec<Unparsable>) {
    match policy.get("kind").and_then(Value::as_str) {
        Some("schedule") => {
            check(
                policy,
                "timezone",
                at,
                TimeZone::try_from,
                "\"UTC\"",
                problems,
            );
            let windows = policy.get("windows").and_then(Value::as_array);
            for (j, window) in windows.into_iter().flatten().enumerate() {
                if let Some(window) = window.as_table() {
                    let at = format!("{at}.windows[{j}]");
                    check(window, "days", &at, Days::try_from, "\"*\"", problems);
                }
            }
        }
        Some("predictive") => {
            let step = HistoryStep::try_from;
            check(policy, "history_step", at, step, "\"5m\"", problems);
        }
        _ => {}
    }
}

/// A statistic that CloudWatch does not know, and a table that is both or
/// neither a metric stat and an expression.
fn cloudwatch_problems(cw: &Table, at: &str, problems: &mut Vec<Unparsable>) {
    check(
        cw,
        "statistic",
        at,
        Statistic::try_from,
        "\"Average\"",
        problems,
    );
    if let Some(queries) = cw.get("queries").and_then(Value::as_table) {
        for (id, query) in queries {
            if let Some(query) = query.as_table() {
                let at = format!("{at}.queries.{id}");
                check(
                    query,
                    "statistic",
                    &at,
                    Statistic::try_from,
                    "\"Average\"",
                    problems,
                );
            }
        }
    }
    let plain = ["namespace", "metric_name", "statistic"];
    let is_plain = plain.iter().any(|key| cw.contains_key(*key));
    let mut wrong = |field: String, problem: &str| {
        problems.push(Unparsable {
            field,
            problem: problem.into(),
            placeholder: None,
        })
    };
    let queries = cw.get("queries").and_then(Value::as_table);
    match (cw.contains_key("expression"), is_plain) {
        (true, true) => wrong(
            at.to_string(),
            "give either namespace/metric_name/statistic or expression, not both",
        ),
        (true, false) if queries.is_none_or(Table::is_empty) => wrong(
            format!("{at}.queries"),
            "an expression needs queries to refer to",
        ),
        (true, false) => {}
        (false, _) => {
            for key in plain.iter().filter(|key| !cw.contains_key(**key)) {
                wrong(format!("{at}.{key}"), "missing");
            }
        }
    }
}
