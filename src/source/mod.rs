//! Metric sources: where datapoints come from.
//!
//! A source answers a batch of [`MetricRequest`]s at once, so one that can
//! (CloudWatch's GetMetricData) serves every target of a tick in as few calls
//! as the API allows. The simulated cloud implements the same trait.

pub mod cloudwatch;
pub mod http;
pub mod prometheus_query;
pub mod router;
pub mod scrape;

use crate::series::{FetchResults, MetricRequest};
use chrono::{DateTime, Utc};

/// Anything that can fetch a batch of metric requests.
pub trait MetricSource {
    /// Fetches every request of the batch at `now`; each request gets its own answer (series or
    /// error), one failure never stops the others.
    fn fetch(
        &mut self,
        now: DateTime<Utc>,
        requests: &[MetricRequest],
    ) -> impl std::future::Future<Output = FetchResults> + Send;
}
