//! The CloudWatch source: every CloudWatch metric due in a tick, across all
//! targets, fetched with as few GetMetricData calls as the API allows.
//!
//! Each request becomes a group of queries: one metric stat, or a metric math
//! expression with the stats it reads. A group is never split across calls
//! (an expression must see its inputs), and a call carries at most
//! [`MAX_QUERIES_PER_CALL`] queries. Query ids are made unique per call by
//! prefixing them with the request's index, and expressions are rewritten to
//! match.
//!
//! CloudWatch publishes late, so periods that may still be filling are never
//! returned: a metric's latest `delay_periods` periods are dropped, and a
//! datapoint is only reported once its whole period lies before
//! `now - delay_periods x period`.

use super::MetricSource;

use crate::aws_error::call_error;
use crate::few_at_once::FewAtOnce;
use crate::policy_file::{CloudWatchMetric, CloudWatchQuery, CloudWatchStat, MetricSpec};
use crate::series::{Datapoint, FetchError, FetchResults, MetricRequest, Series};
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::types::{
    Dimension, Metric, MetricDataQuery, MetricStat, ScanBy, StatusCode,
};
use aws_smithy_types::DateTime as SmithyTime;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// GetMetricData takes at most this many queries per call.
pub const MAX_QUERIES_PER_CALL: usize = 500;

/// A tick's GetMetricData calls in flight at once: a round over thousands
/// of targets takes several calls of seconds each, which one after another
/// overran the interval; a few at a time stay far below the API's rate
/// limit (50 calls a second by default).
pub const MAX_CALLS_IN_FLIGHT: usize = 4;

/// Reads metrics from CloudWatch. Cheap to clone: clones share the client.
#[derive(Clone, Debug)]
pub struct CloudWatchSource {
    client: Client,
}

impl CloudWatchSource {
    /// A source calling CloudWatch's GetMetricData through `client`.
    pub fn new(client: Client) -> Self {
        CloudWatchSource { client }
    }
}

/// The queries of one request, which must travel in the same call. They
/// are built only when their call is made ([`QueryGroup::queries`]): built
/// for a whole round at once (the SDK's queries are several allocations
/// each), 10,000 requests' queries were held from the round's start, most
/// of them waiting for a call (fleet_tick: the round's first rise in RSS
/// was 11 MiB with them, 7 MiB without).
#[derive(Debug, Clone)]
pub struct QueryGroup {
    /// Index of the request in the batch.
    pub request: usize,
    /// The request's CloudWatch metric (shared with its policy file).
    metric: Arc<MetricSpec>,
    /// How many queries the request takes: one metric stat, or an
    /// expression and the stats it refers to.
    pub query_count: usize,
    /// Only datapoints of periods starting at or after this are kept.
    pub start: DateTime<Utc>,
    /// Only datapoints of periods ending at or before this are kept.
    pub end: DateTime<Utc>,
    /// The metric's period, seconds.
    pub period_s: i64,
}

/// Builds the query group of one request.
pub fn query_group(
    index: usize,
    now: DateTime<Utc>,
    request: &MetricRequest,
) -> Result<QueryGroup, FetchError> {
    let cw = request.spec.source.cloudwatch().ok_or_else(|| {
        FetchError::other("not a CloudWatch metric: the CloudWatch source cannot serve it")
    })?;
    let period_s = cw.period.as_secs() as i64;
    if period_s <= 0 {
        return Err(FetchError::other("CloudWatch period must be at least 1s"));
    }
    let period = chrono::Duration::seconds(period_s);
    let settled = now - period * cw.delay_periods as i32;
    let end = align_down(settled, period_s);
    let start = align_down(request.since, period_s);
    let query_count = match &cw.query {
        CloudWatchQuery::Stat(_) => 1,
        CloudWatchQuery::Expression { queries, .. } => queries.len() + 1,
    };
    if query_count > MAX_QUERIES_PER_CALL {
        return Err(FetchError::other(format!(
            "{query_count} queries in one metric: GetMetricData takes at most {MAX_QUERIES_PER_CALL}"
        )));
    }
    Ok(QueryGroup {
        request: index,
        metric: Arc::clone(&request.spec),
        query_count,
        start,
        end,
        period_s,
    })
}

impl QueryGroup {
    /// The id of the query whose data is the request's answer.
    pub fn result_id(&self) -> String {
        format!("r{}", self.request)
    }

    /// The metric data queries of the request: one metric stat, or an
    /// expression and the stats it refers to.
    pub fn queries(&self) -> Vec<MetricDataQuery> {
        match self.metric.source.cloudwatch() {
            Some(cw) => queries_for(&self.result_id(), cw),
            // `query_group` made it from a CloudWatch metric only.
            None => Vec::new(),
        }
    }
}

fn queries_for(result_id: &str, cw: &CloudWatchMetric) -> Vec<MetricDataQuery> {
    let period = cw.period.as_secs() as i32;
    let (expression, named) = match &cw.query {
        CloudWatchQuery::Stat(stat) => {
            return vec![
                MetricDataQuery::builder()
                    .id(result_id)
                    .metric_stat(metric_stat(stat, period))
                    .return_data(true)
                    .build(),
            ];
        }
        CloudWatchQuery::Expression {
            expression,
            queries,
        } => (expression, queries),
    };
    let mut queries = Vec::with_capacity(named.len() + 1);
    for (id, stat) in named {
        queries.push(
            MetricDataQuery::builder()
                .id(format!("{result_id}_{id}"))
                .metric_stat(metric_stat(stat, period))
                .return_data(false)
                .build(),
        );
    }
    let ids: Vec<&str> = named.keys().map(String::as_str).collect();
    queries.push(
        MetricDataQuery::builder()
            .id(result_id)
            .expression(rewrite_ids(expression, &ids, &format!("{result_id}_")))
            .period(period)
            .return_data(true)
            .build(),
    );
    queries
}

fn metric_stat(stat: &CloudWatchStat, period: i32) -> MetricStat {
    let dimensions = stat
        .dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    MetricStat::builder()
        .metric(
            Metric::builder()
                .namespace(&stat.namespace)
                .metric_name(&stat.metric_name)
                .set_dimensions(Some(dimensions))
                .build(),
        )
        .period(period)
        .stat(stat.statistic.as_str())
        .build()
}

/// Prefixes every identifier of `expression` that names one of `ids`, leaving
/// quoted text (e.g. inside SEARCH('...')) and function names alone.
pub fn rewrite_ids(expression: &str, ids: &[&str], prefix: &str) -> String {
    let mut out = String::with_capacity(expression.len() + 16);
    let mut chars = expression.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' || c == '"' {
            out.push(c);
            for (_, d) in chars.by_ref() {
                out.push(d);
                if d == c {
                    break;
                }
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &expression[i..end];
            if ids.contains(&word) {
                out.push_str(prefix);
            }
            out.push_str(word);
        } else {
            out.push(c);
        }
    }
    out
}

/// How far apart the windows of groups sharing a call may start (or end).
/// GetMetricData takes one StartTime/EndTime per call, so every query in a
/// call reads the union of their windows: a routine request for the last
/// few minutes must not ride with a two-week history request.
pub const MAX_WINDOW_SPREAD: chrono::Duration = chrono::Duration::hours(1);

/// Packs query groups into calls: at most [`MAX_QUERIES_PER_CALL`] queries
/// each, every group whole, and windows within [`MAX_WINDOW_SPREAD`] of each
/// other. A tick where every target asks for about the same window (the
/// usual case) takes ceil(queries / 500) calls.
pub fn pack_calls(mut groups: Vec<QueryGroup>) -> Vec<Vec<QueryGroup>> {
    groups.sort_by_key(|g| (g.start, g.end, g.request));
    pack(
        groups,
        |g| g.query_count,
        |call, g| {
            let first = &call[0];
            let (lo, hi) = call
                .iter()
                .fold((g.end, g.end), |(lo, hi), c| (lo.min(c.end), hi.max(c.end)));
            g.start - first.start <= MAX_WINDOW_SPREAD && hi - lo <= MAX_WINDOW_SPREAD
        },
        MAX_QUERIES_PER_CALL,
    )
}

/// Packs items into calls of at most `limit` by `size`, in order, never
/// splitting an item, and starting a new call when `fits` says an item does
/// not belong with the current one. An item larger than `limit` cannot be
/// sent and must be rejected before.
pub fn pack<T>(
    items: Vec<T>,
    size: impl Fn(&T) -> usize,
    fits: impl Fn(&[T], &T) -> bool,
    limit: usize,
) -> Vec<Vec<T>> {
    let mut calls: Vec<Vec<T>> = Vec::new();
    let mut used = 0;
    for item in items {
        let n = size(&item);
        let new_call = match calls.last() {
            None => true,
            Some(call) => used + n > limit || !fits(call, &item),
        };
        if new_call {
            calls.push(Vec::new());
            used = 0;
        }
        used += n;
        calls.last_mut().expect("a call was just pushed").push(item);
    }
    calls
}

fn align_down(t: DateTime<Utc>, period_s: i64) -> DateTime<Utc> {
    let secs = t.timestamp().div_euclid(period_s) * period_s;
    Utc.timestamp_opt(secs, 0).single().unwrap_or(t)
}

fn to_smithy(t: DateTime<Utc>) -> SmithyTime {
    SmithyTime::from_secs(t.timestamp())
}

fn from_smithy(t: &SmithyTime) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(t.to_millis().ok()?).single()
}

/// What one id collected over the pages of a call.
#[derive(Default)]
struct Collected {
    points: Vec<Datapoint>,
    error: Option<String>,
}

impl CloudWatchSource {
    /// One GetMetricData call (following NextToken) for a packed set of groups.
    async fn call(&self, groups: &[QueryGroup]) -> Result<HashMap<String, Collected>, FetchError> {
        let start = groups
            .iter()
            .map(|g| g.start)
            .min()
            .expect("non-empty call");
        // The API wants an end after the start; an empty window returns nothing.
        let end = groups
            .iter()
            .map(|g| g.end)
            .max()
            .expect("non-empty call")
            .max(start + chrono::Duration::seconds(1));
        let queries: Vec<MetricDataQuery> = groups.iter().flat_map(QueryGroup::queries).collect();
        let mut collected: HashMap<String, Collected> = HashMap::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(to_smithy(start))
                .end_time(to_smithy(end))
                .scan_by(ScanBy::TimestampAscending)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| call_error("GetMetricData", &e))?;
            for result in output.metric_data_results() {
                let Some(id) = result.id() else { continue };
                let entry = collected.entry(id.to_string()).or_default();
                for (t, v) in result.timestamps().iter().zip(result.values()) {
                    if let Some(time) = from_smithy(t) {
                        entry.points.push(Datapoint { time, value: *v });
                    }
                }
                if result.status_code() == Some(&StatusCode::InternalError)
                    || result.status_code() == Some(&StatusCode::Forbidden)
                {
                    let messages: Vec<String> = result
                        .messages()
                        .iter()
                        .filter_map(|m| m.value().map(str::to_string))
                        .collect();
                    entry.error = Some(format!(
                        "CloudWatch answered {:?} for this query: {}",
                        result.status_code(),
                        messages.join("; ")
                    ));
                }
            }
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => break,
            }
        }
        Ok(collected)
    }
}

impl MetricSource for CloudWatchSource {
    async fn fetch(&mut self, now: DateTime<Utc>, requests: &[MetricRequest]) -> FetchResults {
        // Sized once: grown by doubling, each step held the old table and
        // the new at once (10,000 answers a round at fleet scale).
        let mut results = FetchResults::with_capacity(requests.len());
        let mut groups = Vec::new();
        for (i, request) in requests.iter().enumerate() {
            match query_group(i, now, request) {
                Ok(group) => groups.push(group),
                Err(e) => {
                    results.insert(request.key.clone(), Err(e));
                }
            }
        }
        let mut calls = FewAtOnce::new(MAX_CALLS_IN_FLIGHT, pack_calls(groups), |call| {
            let source = self.clone();
            async move {
                let answer = source.call(&call).await;
                (call, answer)
            }
        });
        while let Some(joined) = calls.next().await {
            let (call, answer) = match joined {
                Ok(done) => done,
                // A panic goes on up, as it did before the calls had tasks.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Cancelled: only when the runtime shuts down.
                Err(_) => continue,
            };
            match answer {
                Ok(mut collected) => {
                    for group in &call {
                        let key = requests[group.request].key.clone();
                        let answer = match collected.remove(&group.result_id()) {
                            Some(Collected { error: Some(e), .. }) => Err(FetchError::other(e)),
                            Some(Collected { points, .. }) => Ok(settled(points, group)),
                            None => Ok(Series::default()),
                        };
                        results.insert(key, answer);
                    }
                }
                Err(e) => {
                    for group in &call {
                        results.insert(requests[group.request].key.clone(), Err(e.clone()));
                    }
                }
            }
        }
        results
    }
}

/// Keeps the datapoints of complete periods inside the group's window, oldest
/// first, one per period.
fn settled(points: Vec<Datapoint>, group: &QueryGroup) -> Series {
    let period = chrono::Duration::seconds(group.period_s);
    let by_time: BTreeMap<DateTime<Utc>, f64> = points
        .into_iter()
        .filter(|p| p.time >= group.start && p.time + period <= group.end)
        .map(|p| (p.time, p.value))
        .collect();
    Series {
        points: by_time
            .into_iter()
            .map(|(time, value)| Datapoint { time, value })
            .collect(),
        detail: None,
        stale: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::{MetricSourceSpec, MetricSpec, Smoothing, Statistic};
    use crate::series::MetricKey;
    use std::time::Duration;

    fn cw(expression: Option<&str>, delay_periods: u32) -> CloudWatchMetric {
        let mut queries = BTreeMap::new();
        if expression.is_some() {
            for id in ["m1", "m2"] {
                queries.insert(
                    id.to_string(),
                    CloudWatchStat {
                        namespace: "AWS/ApplicationELB".into(),
                        metric_name: format!("Metric{id}"),
                        dimensions: Default::default(),
                        statistic: Statistic::sum(),
                    },
                );
            }
        }
        let query = match expression {
            Some(expression) => CloudWatchQuery::Expression {
                expression: expression.to_string(),
                queries,
            },
            None => CloudWatchQuery::Stat(CloudWatchStat {
                namespace: "AWS/EC2".into(),
                metric_name: "CPUUtilization".into(),
                dimensions: [("AutoScalingGroupName".into(), "web".into())].into(),
                statistic: Statistic::average(),
            }),
        };
        CloudWatchMetric {
            query,
            period: Duration::from_secs(60),
            delay_periods,
        }
    }

    fn request(metric: CloudWatchMetric, since: DateTime<Utc>) -> MetricRequest {
        MetricRequest {
            key: MetricKey::new("web", "cpu"),
            spec: MetricSpec {
                source: MetricSourceSpec::Cloudwatch(metric),
                smoothing: Smoothing::Latest,
                stale_after: Duration::from_secs(300),
                max_value: None,
                simulated_as: None,
            }
            .into(),
            since,
        }
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, h, m, s).unwrap()
    }

    #[test]
    fn expression_ids_are_prefixed_outside_quotes_only() {
        let out = rewrite_ids(
            "100 * m1 / (m1 + m2) + SUM(SEARCH('m1 {AWS/EC2}', 'Sum', 60)) + m10",
            &["m1", "m2"],
            "r3_",
        );
        assert_eq!(
            out,
            "100 * r3_m1 / (r3_m1 + r3_m2) + SUM(SEARCH('m1 {AWS/EC2}', 'Sum', 60)) + m10"
        );
    }

    #[test]
    fn an_expression_travels_with_its_inputs_and_only_it_returns_data() {
        let group = query_group(
            7,
            at(12, 0, 30),
            &request(cw(Some("m1 / m2"), 2), at(11, 50, 0)),
        )
        .unwrap();
        let queries = group.queries();
        assert_eq!(group.query_count, queries.len());
        let ids: Vec<_> = queries.iter().map(|q| q.id().unwrap()).collect();
        assert_eq!(ids, ["r7_m1", "r7_m2", "r7"]);
        assert_eq!(queries[2].expression(), Some("r7_m1 / r7_m2"));
        assert_eq!(queries[0].return_data(), Some(false));
        assert_eq!(queries[2].return_data(), Some(true));
    }

    #[test]
    fn the_latest_delay_periods_are_never_asked_for() {
        // At 12:00:30 with a 2-period delay, data is settled up to 11:58:30,
        // so the last complete period is 11:57-11:58.
        let group = query_group(0, at(12, 0, 30), &request(cw(None, 2), at(11, 50, 10))).unwrap();
        assert_eq!(group.start, at(11, 50, 0));
        assert_eq!(group.end, at(11, 58, 0));
        let points = (50..60)
            .map(|m| Datapoint {
                time: at(11, m, 0),
                value: m as f64,
            })
            .collect();
        let series = settled(points, &group);
        let minutes: Vec<u32> = series
            .points
            .iter()
            .map(|p| chrono::Timelike::minute(&p.time))
            .collect();
        assert_eq!(minutes, (50..58).collect::<Vec<_>>());
    }

    #[test]
    fn packing_never_exceeds_the_limit_nor_splits_a_group() {
        let any = |_: &[usize], _: &usize| true;
        // 1,000 plain metrics and a few 3-query expressions.
        let sizes: Vec<usize> = (0..1000).map(|i| if i % 97 == 0 { 3 } else { 1 }).collect();
        let total: usize = sizes.iter().sum();
        let calls = pack(sizes.clone(), |n| *n, any, MAX_QUERIES_PER_CALL);
        assert!(
            calls
                .iter()
                .all(|c| c.iter().sum::<usize>() <= MAX_QUERIES_PER_CALL)
        );
        assert_eq!(calls.iter().flatten().count(), sizes.len());
        assert_eq!(calls.len(), total.div_ceil(MAX_QUERIES_PER_CALL));
        assert_eq!(pack(vec![1usize; 1001], |n| *n, any, 500).len(), 3);
        assert_eq!(pack(vec![1usize; 500], |n| *n, any, 500).len(), 1);
        assert!(pack(Vec::<usize>::new(), |n| *n, any, 500).is_empty());
    }

    #[test]
    fn a_long_history_request_does_not_share_a_call_with_recent_ones() {
        let now = at(12, 0, 30);
        let mut requests: Vec<_> = (0..600)
            .map(|i| {
                // Targets' latest datapoints differ by a few minutes.
                request(cw(None, 2), now - chrono::Duration::minutes(5 + i % 7))
            })
            .collect();
        requests.push(request(cw(None, 2), now - chrono::Duration::days(14)));
        let groups: Vec<_> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| query_group(i, now, r).unwrap())
            .collect();
        let calls = pack_calls(groups);
        // The history alone, and 600 recent queries in two calls.
        assert_eq!(calls.len(), 3);
        assert_eq!(calls[0].len(), 1);
        assert_eq!(calls[0][0].request, 600);
        assert!(calls[1..].iter().all(|c| c.len() <= MAX_QUERIES_PER_CALL));
    }
}
