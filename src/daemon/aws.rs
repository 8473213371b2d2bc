//! AWS clients for the daemon: one metric source (CloudWatch, plus the
//! scrape and Prometheus query sources, routed by each metric's kind) and
//! one Auto Scaling actuator per (account, region), configured from
//! [`AwsSettings`] (endpoint, retries, timeouts) on top of the SDK's default
//! credential chain, or of a role assumed with it ([`super::accounts`]).

use super::accounts::{AccountConfig, Accounts, ClientKey, SESSION_NAME};
use super::config::AwsSettings;
use crate::actuator::autoscaling::AutoScalingActuator;
use crate::source::cloudwatch::CloudWatchSource;
use crate::source::router::Router;
use crate::telemetry::aws::ApiMetricsInterceptor;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};

/// The AWS side of one region.
#[derive(Clone, Debug)]
pub struct RegionClients {
    /// The metric sources: CloudWatch in this region, scrapes and Prometheus queries.
    pub source: Router<CloudWatchSource>,
    /// The Auto Scaling actuator in this region.
    pub actuator: AutoScalingActuator,
}

/// Builds the SDK configuration for a region (the settings' or the default
/// chain's when `region` is `None`).
pub async fn sdk_config(settings: &AwsSettings, region: Option<&str>) -> aws_config::SdkConfig {
    loader(settings, region).load().await
}

/// The SDK configuration's loader for a region, credentials left to the
/// default chain.
fn loader(settings: &AwsSettings, region: Option<&str>) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(settings.connect_timeout)
                .operation_attempt_timeout(settings.attempt_timeout)
                .operation_timeout(settings.operation_timeout)
                .build(),
        );
    if let Some(region) = region
        .map(str::to_string)
        .or_else(|| settings.region.clone())
    {
        loader = loader.region(Region::new(region));
    }
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    loader
}

/// The SDK configuration for one (account, region): [`sdk_config`], with
/// the account's assumed-role credentials when the key names an account.
/// The assume-role provider calls STS (at `aws.endpoint_url` too, when set)
/// with the default chain's credentials; the clients' identity cache keeps
/// what it returns and refreshes it before it expires. An account the key
/// names but `accounts` lacks is refused at policy load, so it is not
/// expected here; it gets the default chain's credentials rather than none.
pub async fn account_sdk_config(
    settings: &AwsSettings,
    accounts: &Accounts,
    key: &ClientKey,
) -> aws_config::SdkConfig {
    let region = key.region.as_deref();
    let base = sdk_config(settings, region).await;
    let Some(account) = key.account.as_ref().and_then(|name| accounts.get(name)) else {
        return base;
    };
    let assumed = assume_role_provider(&base, account).await;
    loader(settings, region)
        .credentials_provider(assumed)
        .load()
        .await
}

/// Credentials from assuming the account's role with `base`'s.
async fn assume_role_provider(
    base: &aws_config::SdkConfig,
    account: &AccountConfig,
) -> aws_config::sts::AssumeRoleProvider {
    let mut provider = aws_config::sts::AssumeRoleProvider::builder(&account.role_arn)
        .session_name(SESSION_NAME)
        .configure(base);
    if let Some(id) = &account.external_id {
        provider = provider.external_id(id);
    }
    provider.build().await
}

/// Clients for one (account, region), counting every call into ebb's
/// metrics (the daemon's).
pub async fn account_clients_with_metrics(
    settings: &AwsSettings,
    accounts: &Accounts,
    key: &ClientKey,
    metrics: ApiMetricsInterceptor,
) -> RegionClients {
    clients_with_metrics(&account_sdk_config(settings, accounts, key).await, metrics)
}

/// Clients for one region.
pub async fn region_clients(settings: &AwsSettings, region: Option<&str>) -> RegionClients {
    clients_from(&sdk_config(settings, region).await)
}

/// Clients from a ready SDK configuration, with the metrics interceptor.
pub fn clients_with_metrics(
    config: &aws_config::SdkConfig,
    metrics: ApiMetricsInterceptor,
) -> RegionClients {
    let cloudwatch = aws_sdk_cloudwatch::config::Builder::from(config)
        .interceptor(metrics.clone())
        .build();
    let autoscaling = aws_sdk_autoscaling::config::Builder::from(config)
        .interceptor(metrics)
        .build();
    RegionClients {
        source: metric_source(config, aws_sdk_cloudwatch::Client::from_conf(cloudwatch)),
        actuator: AutoScalingActuator::new(aws_sdk_autoscaling::Client::from_conf(autoscaling)),
    }
}

/// CloudWatch, scrape and Prometheus query sources, routed by metric kind.
/// With the `ec2-discovery` feature, scrape metrics may target the group's
/// own instances (`asg = { ... }`).
fn metric_source(
    config: &aws_config::SdkConfig,
    cloudwatch: aws_sdk_cloudwatch::Client,
) -> Router<CloudWatchSource> {
    let router = Router::new(CloudWatchSource::new(cloudwatch));
    // The SDK configuration also serves the EC2 client, when built with it.
    #[cfg(not(feature = "ec2-discovery"))]
    let _ = config;
    #[cfg(feature = "ec2-discovery")]
    let router = {
        let instances = crate::source::scrape::ec2::Ec2GroupInstances::new(config);
        let mut router = router;
        router.scrape = router
            .scrape
            .with_group_instances(std::sync::Arc::new(instances));
        router
    };
    router
}

/// Clients from a ready SDK configuration.
pub fn clients_from(config: &aws_config::SdkConfig) -> RegionClients {
    RegionClients {
        source: metric_source(config, aws_sdk_cloudwatch::Client::new(config)),
        actuator: AutoScalingActuator::new(aws_sdk_autoscaling::Client::new(config)),
    }
}
