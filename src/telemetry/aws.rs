//! AWS API calls, errors and latency by operation, measured inside the SDK:
//! an interceptor added to each client sees every operation (GetMetricData,
//! DescribeAutoScalingGroups, SetDesiredCapacity, ...) from start to final
//! result, retries included, whichever code made the call.

use super::metrics::{HistogramFamily, OperationLabels};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use std::time::Instant;

/// Counts each SDK operation into ebb's metrics. Cheap to clone.
#[derive(Clone)]
pub struct ApiMetricsInterceptor {
    pub(super) calls: Family<OperationLabels, Counter>,
    pub(super) errors: Family<OperationLabels, Counter>,
    pub(super) duration: HistogramFamily<OperationLabels>,
}

impl std::fmt::Debug for ApiMetricsInterceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiMetricsInterceptor")
    }
}

/// When this operation started; kept in the operation's own config bag.
#[derive(Debug, Clone)]
struct Started(Instant);

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

impl Intercept for ApiMetricsInterceptor {
    fn name(&self) -> &'static str {
        "ebb-api-metrics"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().store_put(Started(Instant::now()));
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = cfg
            .load::<Metadata>()
            .map_or("unknown", |m| m.name())
            .to_string();
        let labels = OperationLabels { operation };
        self.calls.get_or_create(&labels).inc();
        // Created at zero with the first call, so error ratios need no `or`.
        let errors = self.errors.get_or_create(&labels);
        if !matches!(context.output_or_error(), Some(Ok(_))) {
            errors.inc();
        }
        if let Some(Started(start)) = cfg.load::<Started>() {
            self.duration
                .get_or_create(&labels)
                .observe(start.elapsed().as_secs_f64());
        }
        Ok(())
    }
}
