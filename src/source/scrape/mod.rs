//! The scrape source: ebb reads the fleet's own Prometheus endpoints.
//!
//! Each fetch is one round: find the targets ([`targets`]), GET them all
//! concurrently (a limit on scrapes in flight, a timeout per request), parse
//! each page ([`expo`]), and reduce the series a [`selector::Selector`] picks
//! to one value ([`reduce`]). Metrics with the same target settings share a
//! round, so a page is fetched once per tick however many metrics read it.
//! When fewer than `min_answered` of the targets answered, the value is not
//! trusted: the series comes back marked stale and the governor holds.
//! Which targets answered, with what, and why the others failed goes into
//! the decision record through [`Series::detail`].

#[cfg(feature = "ec2-discovery")]
pub mod ec2;
pub mod expo;
pub mod reduce;
pub mod selector;
pub mod targets;

use self::expo::Sample;
use self::reduce::{Memory, Page, Reduction, TargetValue};
use self::targets::GroupInstances;
use super::MetricSource;
use super::http::HttpClient;
use crate::error_kind::ErrorKind;
use crate::lock::lock;
use crate::policy_file::http_sources::{AsgTargets, DnsTargets};
use crate::policy_file::{HttpAuth, MetricSourceSpec, ScrapeMetric, ScrapeValue};
use crate::series::{Datapoint, FetchError, FetchResults, MetricKey, MetricRequest, Series};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// What ebb asks for: OpenMetrics first, the classic text format otherwise.
const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.9,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Scrapes HTTP endpoints; remembers the previous round of each metric for
/// rates. Clones share that memory (the daemon clones its sources into each
/// batch of targets), so a counter's rate spans batches.
#[derive(Clone, Default)]
pub struct ScrapeSource {
    shared: Arc<Mutex<Shared>>,
    instances: Option<Arc<dyn GroupInstances>>,
}

#[derive(Default)]
struct Shared {
    /// One client per CA file (`None`: system roots only).
    clients: HashMap<Option<PathBuf>, HttpClient>,
    /// Per metric: when it was last asked for, and its previous round.
    memory: HashMap<MetricKey, (DateTime<Utc>, Memory)>,
}

impl std::fmt::Debug for ScrapeSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let remembered = self.shared.lock().map_or(0, |s| s.memory.len());
        f.debug_struct("ScrapeSource")
            .field("remembered_metrics", &remembered)
            .field("asg_targets", &self.instances.is_some())
            .finish()
    }
}

/// A metric nobody asked for this long is forgotten (its policy was removed).
const FORGET_AFTER: chrono::Duration = chrono::Duration::hours(1);

/// One target's outcome in a round.
#[derive(Debug)]
struct TargetResult {
    url: String,
    page: Result<Vec<Sample>, FetchError>,
}

/// The settings that decide what a round fetches. Metrics whose settings
/// are equal share a round.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RoundKey {
    /// The group, for `asg` targets only.
    group: Option<String>,
    urls: Vec<String>,
    dns: Option<DnsTargets>,
    asg: Option<AsgTargets>,
    timeout: Duration,
    concurrency: usize,
    auth: Option<HttpAuth>,
    ca_file: Option<PathBuf>,
}

impl RoundKey {
    fn of(spec: &ScrapeMetric, group: &str) -> RoundKey {
        RoundKey {
            group: spec.asg.as_ref().map(|_| group.to_string()),
            urls: spec.urls.clone(),
            dns: spec.dns.clone(),
            asg: spec.asg.clone(),
            timeout: spec.timeout,
            concurrency: spec.concurrency,
            auth: spec.auth.clone(),
            ca_file: spec.ca_file.clone(),
        }
    }
}

impl ScrapeSource {
    /// A scrape source with a fresh HTTP client and no memory of earlier rounds.
    pub fn new() -> ScrapeSource {
        ScrapeSource::default()
    }

    /// Enables `asg` targets, with a way to list a group's instances.
    pub fn with_group_instances(mut self, instances: Arc<dyn GroupInstances>) -> ScrapeSource {
        self.instances = Some(instances);
        self
    }

    fn client(&self, ca_file: &Option<PathBuf>) -> Result<HttpClient, String> {
        let mut shared = lock(&self.shared);
        if let Some(client) = shared.clients.get(ca_file) {
            return Ok(client.clone());
        }
        let client = HttpClient::new(ca_file.as_deref())?;
        shared.clients.insert(ca_file.clone(), client.clone());
        Ok(client)
    }

    async fn fetch_all(&mut self, now: DateTime<Utc>, requests: &[MetricRequest]) -> FetchResults {
        let mut results = FetchResults::new();
        let mut rounds: Vec<(RoundKey, Vec<(&MetricRequest, &ScrapeMetric)>)> = Vec::new();
        for request in requests {
            let MetricSourceSpec::Scrape(spec) = &request.spec.source else {
                results.insert(
                    request.key.clone(),
                    Err(FetchError::other(
                        "not a scrape metric: the scrape source cannot serve it",
                    )),
                );
                continue;
            };
            let key = RoundKey::of(spec, &request.key.target);
            match rounds.iter_mut().find(|(k, _)| *k == key) {
                Some((_, members)) => members.push((request, spec)),
                None => rounds.push((key, vec![(request, spec)])),
            }
        }
        let mut running = JoinSet::new();
        for (index, (key, members)) in rounds.iter().enumerate() {
            let client = match self.client(&key.ca_file) {
                Ok(client) => client,
                Err(e) => {
                    for (request, _) in members {
                        results.insert(request.key.clone(), Err(FetchError::other(e.clone())));
                    }
                    continue;
                }
            };
            let spec = members[0].1.clone();
            let group = members[0].0.key.target.clone();
            let instances = self.instances.clone();
            running.spawn(async move { (index, run_round(client, spec, group, instances).await) });
        }
        let mut outcomes: HashMap<usize, Result<Vec<TargetResult>, FetchError>> = HashMap::new();
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((index, outcome)) => {
                    outcomes.insert(index, outcome);
                }
                // A panicking round is a bug; its metrics are answered below as failed.
                Err(e) => tracing::error!(error = %e, "a scrape round failed"),
            }
        }
        for (index, (_, members)) in rounds.iter().enumerate() {
            let outcome = outcomes.remove(&index);
            for (request, spec) in members {
                if results.contains_key(&request.key) {
                    continue;
                }
                let series = match &outcome {
                    None => Err(FetchError::other("the scrape round did not complete")),
                    Some(Err(e)) => Ok(Series {
                        points: Vec::new(),
                        detail: Some(json!({ "error": e.message, "kind": e.kind })),
                        stale: Some(format!("no scrape targets: {e}")),
                    }),
                    Some(Ok(targets)) => {
                        let mut shared = lock(&self.shared);
                        let (asked, memory) = shared.memory.entry(request.key.clone()).or_default();
                        *asked = now;
                        Ok(summarize(spec, targets, now, memory))
                    }
                };
                results.insert(request.key.clone(), series);
            }
        }
        // Forget metrics nobody asks for any more. Other batches' metrics
        // are asked for at their own pace, so only long silence counts.
        let mut shared = lock(&self.shared);
        shared
            .memory
            .retain(|_, (asked, _)| now - *asked < FORGET_AFTER);
        drop(shared);
        results
    }
}

impl MetricSource for ScrapeSource {
    fn fetch(
        &mut self,
        now: DateTime<Utc>,
        requests: &[MetricRequest],
    ) -> impl std::future::Future<Output = FetchResults> + Send {
        self.fetch_all(now, requests)
    }
}

/// Resolves the targets and scrapes them all, at most `concurrency` at once.
async fn run_round(
    client: HttpClient,
    spec: ScrapeMetric,
    group: String,
    instances: Option<Arc<dyn GroupInstances>>,
) -> Result<Vec<TargetResult>, FetchError> {
    let urls = targets::resolve(&spec, &group, instances.as_deref()).await?;
    let permits = Arc::new(Semaphore::new(spec.concurrency.max(1)));
    let mut running = JoinSet::new();
    for (index, url) in urls.iter().enumerate() {
        let (client, permits, url, auth) = (
            client.clone(),
            permits.clone(),
            url.clone(),
            spec.auth.clone(),
        );
        let timeout = spec.timeout;
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (
                index,
                scrape_one(&client, &url, auth.as_ref(), timeout).await,
            )
        });
    }
    let mut pages: Vec<Option<Result<Vec<Sample>, FetchError>>> =
        urls.iter().map(|_| None).collect();
    while let Some(joined) = running.join_next().await {
        if let Ok((index, page)) = joined {
            pages[index] = Some(page);
        }
    }
    Ok(urls
        .into_iter()
        .zip(pages)
        .map(|(url, page)| TargetResult {
            url,
            page: page.unwrap_or_else(|| Err(FetchError::other("the scrape task failed"))),
        })
        .collect())
}

async fn scrape_one(
    client: &HttpClient,
    url: &str,
    auth: Option<&HttpAuth>,
    timeout: Duration,
) -> Result<Vec<Sample>, FetchError> {
    let uri = url
        .parse()
        .map_err(|e| FetchError::other(format!("bad URL: {e}")))?;
    let response = client.get(&uri, ACCEPT, auth, timeout).await?;
    if let Some(kind) = ErrorKind::of_http_status(response.status.as_u16()) {
        return Err(FetchError::new(kind, format!("HTTP {}", response.status)));
    }
    let bad_page = |message: String| FetchError::new(ErrorKind::BadResponse, message);
    let text = std::str::from_utf8(&response.body)
        .map_err(|_| bad_page("the page is not UTF-8 text".to_string()))?;
    expo::parse(text)
        .map_err(|e| bad_page(format!("not a valid Prometheus or OpenMetrics page: {e}")))
}

/// What one metric makes of a round: its value (when enough targets
/// answered and one had a value) and the per-target detail.
fn summarize(
    spec: &ScrapeMetric,
    targets: &[TargetResult],
    now: DateTime<Utc>,
    memory: &mut Memory,
) -> Series {
    let pages: Vec<Page> = targets
        .iter()
        .filter_map(|t| {
            t.page.as_ref().ok().map(|samples| Page {
                target: &t.url,
                samples,
            })
        })
        .collect();
    let known: HashSet<&str> = targets.iter().map(|t| t.url.as_str()).collect();
    let reduced = match reduction(spec) {
        Ok(reduction) => reduce::reduce(reduction, &spec.selector, &pages, &known, now, memory),
        Err(e) => {
            return Series {
                points: Vec::new(),
                detail: None,
                stale: Some(e),
            };
        }
    };
    let (total, answered) = (targets.len(), pages.len());
    let failed: Vec<_> = targets
        .iter()
        .filter_map(|t| {
            t.page
                .as_ref()
                .err()
                .map(|e| json!({ "target": t.url, "error": e.message, "kind": e.kind }))
        })
        .collect();
    let mut values = serde_json::Map::new();
    let mut no_value = serde_json::Map::new();
    for (target, value) in &reduced.per_target {
        match value {
            TargetValue::Value(v) => values.insert(target.clone(), json!(v)),
            TargetValue::Nothing(why) => no_value.insert(target.clone(), json!(why)),
        };
    }
    let mut detail =
        json!({ "targets": total, "answered": answered, "min_answered": spec.min_answered });
    for (field, value) in [
        ("failed", serde_json::Value::Array(failed)),
        ("values", serde_json::Value::Object(values)),
        ("no_value", serde_json::Value::Object(no_value)),
    ] {
        let empty = value.as_array().is_some_and(Vec::is_empty)
            || value.as_object().is_some_and(|o| o.is_empty());
        if !empty {
            detail[field] = value;
        }
    }
    // The epsilon keeps e.g. 3 of 10 at min_answered 0.3 (0.3 x 10 is 3.0000000000000004).
    let quorum = total > 0 && answered as f64 + 1e-9 >= spec.min_answered * total as f64;
    let stale = if !quorum {
        Some(format!(
            "{answered} of {total} scrape targets answered; {:.0}% are needed",
            spec.min_answered * 100.0
        ))
    } else if reduced.value.is_none() {
        reduced.why.clone()
    } else {
        None
    };
    let points = match (stale.is_none(), reduced.value) {
        (true, Some(value)) => vec![Datapoint { time: now, value }],
        _ => Vec::new(),
    };
    if let Some(why) = &reduced.why {
        detail["why_no_value"] = json!(why);
    }
    Series {
        points,
        detail: Some(detail),
        stale,
    }
}

/// The validated policy file's choice as a [`Reduction`].
fn reduction(spec: &ScrapeMetric) -> Result<Reduction, String> {
    match (spec.value, spec.aggregate, spec.quantile) {
        (ScrapeValue::Gauge, Some(a), _) => Ok(Reduction::Gauge(a)),
        (ScrapeValue::Rate, Some(a), _) => Ok(Reduction::Rate(a)),
        (ScrapeValue::Quantile, _, Some(q)) => Ok(Reduction::Quantile(q)),
        _ => Err(
            "scrape metric without aggregate/quantile (the policy file was not validated)".into(),
        ),
    }
}
