//! A source that routes each request to the source of its kind: CloudWatch,
//! scrape or Prometheus query, all fetched concurrently, answers merged.
//! The daemon builds one with its CloudWatch source plugged in; a kind with
//! no source configured is answered with an error that says so.

use super::MetricSource;
use super::prometheus_query::PrometheusQuerySource;
use super::scrape::ScrapeSource;
use crate::policy_file::MetricSourceSpec;
use crate::series::{FetchError, FetchResults, MetricRequest};
use chrono::{DateTime, Utc};

/// Routes requests by their spec's source kind. Cloning clones each source
/// (the scrape source's memory of previous rounds is shared by clones).
#[derive(Debug, Clone)]
pub struct Router<C, S = ScrapeSource, P = PrometheusQuerySource> {
    /// Where CloudWatch metrics go.
    pub cloudwatch: C,
    /// Where scraped metrics go.
    pub scrape: S,
    /// Where Prometheus queries go.
    pub prometheus: P,
}

impl<C: MetricSource + Send> Router<C, ScrapeSource, PrometheusQuerySource> {
    /// `cloudwatch` with the standard scrape and Prometheus query sources.
    pub fn new(cloudwatch: C) -> Self {
        Router {
            cloudwatch,
            scrape: ScrapeSource::new(),
            prometheus: PrometheusQuerySource::new(),
        }
    }
}

impl<C, S, P> MetricSource for Router<C, S, P>
where
    C: MetricSource + Send,
    S: MetricSource + Send,
    P: MetricSource + Send,
{
    fn fetch(
        &mut self,
        now: DateTime<Utc>,
        requests: &[MetricRequest],
    ) -> impl std::future::Future<Output = FetchResults> + Send {
        let (mut cloudwatch, mut scrape, mut prometheus) = (Vec::new(), Vec::new(), Vec::new());
        for request in requests {
            match request.spec.source {
                MetricSourceSpec::Cloudwatch(_) => cloudwatch.push(request.clone()),
                MetricSourceSpec::Scrape(_) => scrape.push(request.clone()),
                MetricSourceSpec::Prometheus(_) => prometheus.push(request.clone()),
            }
        }
        async move {
            // Sources that have nothing to do are not called at all.
            let (mut merged, from_scrape, from_prometheus) = tokio::join!(
                fetch_some(&mut self.cloudwatch, now, &cloudwatch),
                fetch_some(&mut self.scrape, now, &scrape),
                fetch_some(&mut self.prometheus, now, &prometheus),
            );
            merged.extend(from_scrape);
            merged.extend(from_prometheus);
            merged
        }
    }
}

async fn fetch_some<M: MetricSource>(
    source: &mut M,
    now: DateTime<Utc>,
    requests: &[MetricRequest],
) -> FetchResults {
    if requests.is_empty() {
        FetchResults::new()
    } else {
        source.fetch(now, requests).await
    }
}

/// Stands in for a source that is not configured: every request it gets is
/// answered with an error naming why (e.g. "CloudWatch is not available in
/// this command").
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

impl MetricSource for Unavailable {
    fn fetch(
        &mut self,
        _now: DateTime<Utc>,
        requests: &[MetricRequest],
    ) -> impl std::future::Future<Output = FetchResults> + Send {
        let answers = requests
            .iter()
            .map(|r| (r.key.clone(), Err(FetchError::other(self.0.clone()))))
            .collect();
        std::future::ready(answers)
    }
}
