//! The Prometheus query source: an instant query against a Prometheus
//! server's HTTP API (`GET /api/v1/query`) that must come back as exactly
//! one number, a scalar or a one-sample vector. Anything else (no series,
//! several series, a range or string result, the API's error envelope, a
//! timeout) is an error that names the query.

use super::MetricSource;
use super::http::HttpClient;
use crate::error_kind::ErrorKind;
use crate::lock::lock;
use crate::policy_file::{MetricSourceSpec, PrometheusQuery};
use crate::series::{Datapoint, FetchError, FetchResults, MetricRequest, Series};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::task::JoinSet;

/// Runs each request's query; queries of one fetch run concurrently.
/// Clones share their HTTP clients.
#[derive(Debug, Clone, Default)]
pub struct PrometheusQuerySource {
    clients: Arc<Mutex<HashMap<Option<PathBuf>, HttpClient>>>,
}

/// The API's envelope: `{"status": "success", "data": ...}` or
/// `{"status": "error", "errorType": ..., "error": ...}`.
#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum QueryData {
    Scalar(SamplePair),
    Vector(Vec<VectorSample>),
    Matrix(serde::de::IgnoredAny),
    String(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct VectorSample {
    #[serde(default)]
    metric: serde_json::Map<String, serde_json::Value>,
    value: SamplePair,
}

/// `[<unix seconds>, "<value>"]`.
#[derive(Deserialize)]
struct SamplePair(f64, String);

impl PrometheusQuerySource {
    /// A source for instant queries, with a fresh HTTP client.
    pub fn new() -> PrometheusQuerySource {
        PrometheusQuerySource::default()
    }

    fn client(&self, ca_file: &Option<PathBuf>) -> Result<HttpClient, String> {
        let mut clients = lock(&self.clients);
        if let Some(client) = clients.get(ca_file) {
            return Ok(client.clone());
        }
        let client = HttpClient::new(ca_file.as_deref())?;
        clients.insert(ca_file.clone(), client.clone());
        Ok(client)
    }

    async fn fetch_all(&mut self, requests: &[MetricRequest]) -> FetchResults {
        let mut results = FetchResults::new();
        let mut running = JoinSet::new();
        for request in requests {
            let MetricSourceSpec::Prometheus(query) = &request.spec.source else {
                results.insert(
                    request.key.clone(),
                    Err(FetchError::other("not a Prometheus query metric")),
                );
                continue;
            };
            match self.client(&query.ca_file) {
                Ok(client) => {
                    let (key, query) = (request.key.clone(), query.clone());
                    running.spawn(async move {
                        let answer = run_query(&client, &query).await;
                        (
                            key,
                            answer.map_err(|e| e.context(format!("query `{}`", query.query))),
                        )
                    });
                }
                Err(e) => {
                    results.insert(request.key.clone(), Err(FetchError::other(e)));
                }
            }
        }
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok((key, answer)) => {
                    results.insert(key, answer);
                }
                Err(e) => tracing::error!(error = %e, "a Prometheus query task failed"),
            }
        }
        results
    }
}

impl MetricSource for PrometheusQuerySource {
    fn fetch(
        &mut self,
        _now: DateTime<Utc>,
        requests: &[MetricRequest],
    ) -> impl std::future::Future<Output = FetchResults> + Send {
        self.fetch_all(requests)
    }
}

/// `base` + `/api/v1/query?query=...`, keeping any path prefix of `base`.
pub fn query_url(base: &str, query: &str) -> String {
    let encoded: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .finish();
    format!("{}/api/v1/query?{encoded}", base.trim_end_matches('/'))
}

async fn run_query(client: &HttpClient, spec: &PrometheusQuery) -> Result<Series, FetchError> {
    let url = query_url(&spec.url, &spec.query);
    let uri = url
        .parse()
        .map_err(|e| FetchError::other(format!("bad URL {url}: {e}")))?;
    let response = client
        .get(&uri, "application/json", spec.auth.as_ref(), spec.timeout)
        .await?;
    let status_kind = ErrorKind::of_http_status(response.status.as_u16());
    let envelope: Envelope = match serde_json::from_slice(&response.body) {
        Ok(envelope) => envelope,
        Err(e) if response.status.is_success() => {
            return Err(FetchError::new(
                ErrorKind::BadResponse,
                format!("the answer is not the API's JSON: {e}"),
            ));
        }
        Err(_) => {
            let text = String::from_utf8_lossy(&response.body);
            let excerpt: String = text.chars().take(200).collect();
            return Err(FetchError::new(
                status_kind.unwrap_or(ErrorKind::Other),
                format!("HTTP {}: {}", response.status, excerpt.trim()),
            ));
        }
    };
    if envelope.status != "success" {
        // The API's own error type says a timeout; otherwise the HTTP
        // status says what went wrong (400 bad query, 503 overloaded...).
        let kind = match envelope.error_type.as_deref() {
            Some("timeout") => ErrorKind::Timeout,
            _ => status_kind.unwrap_or(ErrorKind::BadResponse),
        };
        return Err(FetchError::new(
            kind,
            format!(
                "Prometheus answered {} ({}): {}",
                envelope.status,
                envelope.error_type.as_deref().unwrap_or("no error type"),
                envelope.error.as_deref().unwrap_or("no message")
            ),
        ));
    }
    instant_value(envelope, spec).map_err(|e| FetchError::new(ErrorKind::BadResponse, e))
}

/// The one instant value of a successful answer, with its labels and
/// warnings as detail; what is wrong with the answer otherwise.
fn instant_value(envelope: Envelope, spec: &PrometheusQuery) -> Result<Series, String> {
    let (pair, labels) = match envelope.data {
        Some(QueryData::Scalar(pair)) => (pair, None),
        Some(QueryData::Vector(mut samples)) if samples.len() == 1 => {
            let sample = samples.remove(0);
            (sample.value, Some(sample.metric))
        }
        Some(QueryData::Vector(samples)) => {
            return Err(format!(
                "returned {} series; the query must reduce to exactly one (wrap it in sum(), max(), ...)",
                samples.len()
            ));
        }
        Some(QueryData::Matrix(_)) => {
            return Err("returned a range vector; an instant value is needed".into());
        }
        Some(QueryData::String(_)) => return Err("returned a string; a number is needed".into()),
        None => return Err("the answer has no data".into()),
    };
    let value = parse_value(&pair.1).ok_or_else(|| format!("`{}` is not a number", pair.1))?;
    let time = DateTime::from_timestamp_millis((pair.0 * 1000.0).round() as i64)
        .ok_or_else(|| format!("timestamp {} is out of range", pair.0))?;
    let mut detail = json!({ "query": spec.query });
    if let Some(labels) = labels.filter(|l| !l.is_empty()) {
        detail["labels"] = serde_json::Value::Object(labels);
    }
    if !envelope.warnings.is_empty() {
        detail["warnings"] = json!(envelope.warnings);
    }
    Ok(Series {
        points: vec![Datapoint { time, value }],
        detail: Some(detail),
        stale: None,
    })
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_urls_keep_the_base_path_and_encode_the_query() {
        assert_eq!(
            query_url("http://p:9090/prom/", "sum(rate(x{a=\"b\"}[1m]))"),
            "http://p:9090/prom/api/v1/query?query=sum%28rate%28x%7Ba%3D%22b%22%7D%5B1m%5D%29%29"
        );
    }
}
