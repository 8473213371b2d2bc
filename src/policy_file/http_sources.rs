//! Policy-file schema of the metric sources read over HTTP: scraping the
//! fleet's own Prometheus endpoints (`[metrics.X.source.scrape]`) and
//! querying a Prometheus server (`[metrics.X.source.prometheus]`).
//! The checks serde cannot make are at the end of this file;
//! [`super::validate`] calls them.

use super::SimulatedMetric;
use crate::source::scrape::selector::Selector;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Scrape every target, pick series with `selector`, reduce them to one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeMetric {
    /// PromQL-style series selector, e.g. `http_requests_total{code!~"5.."}`.
    pub selector: Selector,
    /// How a target's matching series become a number.
    pub value: ScrapeValue,
    /// How targets' numbers combine (`gauge` and `rate`).
    #[serde(default)]
    pub aggregate: Option<Aggregate>,
    /// Which quantile, 0-1 (`value = "quantile"`).
    #[serde(default)]
    pub quantile: Option<f64>,
    /// Targets, one of three ways: a static list of URLs...
    #[serde(default)]
    pub urls: Vec<String>,
    /// ...every A/AAAA record of a DNS name...
    #[serde(default)]
    pub dns: Option<DnsTargets>,
    /// ...or the in-service instances of the policy's own group.
    #[serde(default)]
    pub asg: Option<AsgTargets>,
    /// Per-request timeout (connect, headers and body).
    #[serde(with = "crate::duration", default = "default_scrape_timeout")]
    pub timeout: Duration,
    /// At most this many scrapes in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// The value is stale unless at least this share (0-1] of targets answered.
    #[serde(default = "default_min_answered")]
    pub min_answered: f64,
    /// Credentials to send to each target, when the endpoints need them.
    #[serde(default)]
    pub auth: Option<HttpAuth>,
    /// Extra PEM CA certificates to trust for `https` targets, besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl ScrapeMetric {
    /// What the simulator should serve for this metric when `simulated_as`
    /// is not given: the fleet's request rate for `rate` summed, in-flight
    /// requests per instance for an averaged gauge named like `*in_flight*`.
    pub fn simulated_kind(&self) -> Option<SimulatedMetric> {
        let name = self.selector.name();
        match (self.value, self.aggregate) {
            (ScrapeValue::Rate, Some(Aggregate::Sum)) => Some(SimulatedMetric::RequestRate),
            (ScrapeValue::Gauge, Some(Aggregate::Avg))
                if name.contains("in_flight") || name.contains("inflight") =>
            {
                Some(SimulatedMetric::InFlightPerInstance)
            }
            _ => None,
        }
    }
}

/// How a target's matching series become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScrapeValue {
    /// The series' values as they are, summed per target.
    Gauge,
    /// Counters: per-second increase between two scrapes, summed per target.
    Rate,
    /// Histogram: a quantile of the observations between two scrapes, from
    /// `<name>_bucket` series summed by `le` across the fleet.
    Quantile,
}

/// How the targets' numbers combine into the metric's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// The sum over the targets that answered.
    Sum,
    /// Their mean.
    Avg,
    /// The highest of them.
    Max,
    /// The lowest of them.
    Min,
    /// How many targets had a value.
    Count,
}

/// Every address a DNS name resolves to, as `scheme://addr:port/path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsTargets {
    /// The DNS name to resolve at each scrape.
    pub name: String,
    /// The port the metrics endpoint listens on.
    pub port: u16,
    /// The path of the metrics endpoint; default `/metrics`.
    #[serde(default = "default_path")]
    pub path: String,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Scheme,
}

/// The private IPs of the group's in-service instances.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsgTargets {
    /// The port the metrics endpoint listens on.
    pub port: u16,
    /// The path of the metrics endpoint; default `/metrics`.
    #[serde(default = "default_path")]
    pub path: String,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Scheme,
}

/// The URL scheme ebb scrapes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Plain HTTP.
    #[default]
    Http,
    /// HTTPS, verified against the system's CA certificates and the source's `ca_file`.
    Https,
}

impl Scheme {
    /// The scheme as a URL spells it: `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Credentials for an HTTP source, read from a file or an environment
/// variable at each request (so rotation needs no restart); never logged.
/// Either a bearer token, or a username with a password.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAuth {
    /// A file holding the bearer token (trailing whitespace trimmed).
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// An environment variable holding the bearer token.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// The basic-auth username; needs a password from `password_file` or `password_env`.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding the basic-auth password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the basic-auth password.
    #[serde(default)]
    pub password_env: Option<String>,
}

/// An instant PromQL query that must reduce to exactly one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusQuery {
    /// The server's base URL, e.g. `http://prometheus:9090`.
    pub url: String,
    /// e.g. `sum(rate(http_requests_total{job="web"}[1m]))`.
    pub query: String,
    /// How long a query may take before it counts as failed; default 5s.
    #[serde(with = "crate::duration", default = "default_query_timeout")]
    pub timeout: Duration,
    /// Credentials to send to the server, when it needs them.
    #[serde(default)]
    pub auth: Option<HttpAuth>,
    /// Extra PEM CA certificates to trust for an `https` server, besides the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_scrape_timeout() -> Duration {
    Duration::from_secs(5)
}

fn default_query_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_concurrency() -> usize {
    16
}

fn default_min_answered() -> f64 {
    0.5
}

fn default_path() -> String {
    "/metrics".into()
}

/// Checks of a scrape section serde cannot make; `at` is its field path.
pub(super) fn validate_scrape(s: &ScrapeMetric, at: &str, err: &mut impl FnMut(String, String)) {
    let mut bad = |field: &str, msg: String| err(format!("{at}.{field}"), msg);
    match (s.value, s.aggregate, s.quantile) {
        (ScrapeValue::Gauge | ScrapeValue::Rate, None, _) => bad(
            "aggregate",
            "needed with value = \"gauge\" or \"rate\": sum, avg, max, min or count".into(),
        ),
        (ScrapeValue::Gauge | ScrapeValue::Rate, Some(_), Some(_)) => {
            bad("quantile", "only used with value = \"quantile\"".into())
        }
        (ScrapeValue::Quantile, _, None) => bad(
            "quantile",
            "needed with value = \"quantile\", e.g. 0.95".into(),
        ),
        (ScrapeValue::Quantile, _, Some(q)) if !(0.0..=1.0).contains(&q) => {
            bad("quantile", format!("{q} is not within 0-1"))
        }
        (ScrapeValue::Quantile, Some(_), _) => bad(
            "aggregate",
            "not used with value = \"quantile\": buckets are summed across the fleet".into(),
        ),
        _ => {}
    }
    let ways = usize::from(!s.urls.is_empty())
        + usize::from(s.dns.is_some())
        + usize::from(s.asg.is_some());
    if ways != 1 {
        bad(
            "urls",
            format!(
                "give exactly one of `urls`, `dns` or `asg` to say what to scrape ({ways} given)"
            ),
        );
    }
    for (i, url) in s.urls.iter().enumerate() {
        if let Err(e) = check_url(url) {
            bad(&format!("urls[{i}]"), e);
        }
    }
    if let Some(dns) = &s.dns {
        if dns.name.trim().is_empty() {
            bad("dns.name", "must not be empty".into());
        }
        if dns.port == 0 {
            bad("dns.port", "must be 1-65535".into());
        }
        if !dns.path.starts_with('/') {
            bad("dns.path", format!("`{}` must start with `/`", dns.path));
        }
    }
    if let Some(asg) = &s.asg {
        if asg.port == 0 {
            bad("asg.port", "must be 1-65535".into());
        }
        if !asg.path.starts_with('/') {
            bad("asg.path", format!("`{}` must start with `/`", asg.path));
        }
    }
    if let Err(problem) = crate::ranges::POSITIVE_DURATION.check(s.timeout) {
        bad("timeout", problem);
    }
    if let Err(problem) = crate::ranges::CONCURRENCY.check_usize(s.concurrency) {
        bad("concurrency", problem);
    }
    if !(s.min_answered > 0.0 && s.min_answered <= 1.0) {
        bad(
            "min_answered",
            format!("{} is not within (0, 1]", s.min_answered),
        );
    }
    if let Some(auth) = &s.auth {
        validate_auth(auth, &format!("{at}.auth"), err);
    }
}

/// Checks of a Prometheus query section; `at` is its field path.
pub(super) fn validate_prometheus(
    q: &PrometheusQuery,
    at: &str,
    err: &mut impl FnMut(String, String),
) {
    if let Err(e) = check_url(&q.url) {
        err(format!("{at}.url"), e);
    }
    if q.query.trim().is_empty() {
        err(format!("{at}.query"), "must not be empty".into());
    }
    if let Err(problem) = crate::ranges::POSITIVE_DURATION.check(q.timeout) {
        err(format!("{at}.timeout"), problem);
    }
    if let Some(auth) = &q.auth {
        validate_auth(auth, &format!("{at}.auth"), err);
    }
}

/// Exactly one bearer token source, or a username with exactly one password source.
fn validate_auth(a: &HttpAuth, at: &str, err: &mut impl FnMut(String, String)) {
    let bearer =
        usize::from(a.bearer_token_file.is_some()) + usize::from(a.bearer_token_env.is_some());
    let password = usize::from(a.password_file.is_some()) + usize::from(a.password_env.is_some());
    let user = a.username.is_some();
    let problem = match (bearer, user, password) {
        (1, false, 0) | (0, true, 1) => return,
        (0, false, 0) => {
            "give bearer_token_file or bearer_token_env, or username with password_file or password_env"
        }
        (1.., _, _) if user || password > 0 => {
            "give either a bearer token or a username and password, not both"
        }
        (2, _, _) => "give bearer_token_file or bearer_token_env, not both",
        (0, true, 0) => "username needs password_file or password_env",
        (0, false, _) => "a password needs a username",
        _ => "give password_file or password_env, not both",
    };
    err(at.into(), problem.into());
}

/// What is wrong with a URL ebb calls (http or https, with a host), if anything.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| format!("`{url}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => return Err(format!("`{url}`: scheme `{other}` is not http or https")),
        None => return Err(format!("`{url}` needs http:// or https://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{url}` has no host"));
    }
    Ok(())
}
