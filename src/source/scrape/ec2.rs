//! `asg` scrape targets through the AWS APIs (feature `ec2-discovery`): the
//! group's in-service instances from Auto Scaling, their private IPs from
//! EC2's DescribeInstances.

use super::targets::GroupInstances;
use crate::aws_error::call_error;
use crate::error_kind::{CallError, ErrorKind};
use aws_sdk_autoscaling::types::LifecycleState;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

/// DescribeInstances takes at most this many instance IDs per call.
const IDS_PER_CALL: usize = 200;

/// Lists a group's in-service instances' private IPs.
#[derive(Debug, Clone)]
pub struct Ec2GroupInstances {
    autoscaling: aws_sdk_autoscaling::Client,
    ec2: aws_sdk_ec2::Client,
}

impl Ec2GroupInstances {
    /// Clients for the Auto Scaling and EC2 APIs built from one SDK config
    /// (the account and region of the targets it lists).
    pub fn new(config: &aws_config::SdkConfig) -> Ec2GroupInstances {
        Ec2GroupInstances {
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
        }
    }

    async fn list(&self, group: &str) -> Result<Vec<IpAddr>, CallError> {
        let out = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(group)
            .send()
            .await
            .map_err(|e| call_error("DescribeAutoScalingGroups", &e))?;
        let found = out
            .auto_scaling_groups()
            .iter()
            .find(|g| g.auto_scaling_group_name() == Some(group))
            .ok_or_else(|| {
                CallError::new(
                    ErrorKind::NotFound,
                    format!("Auto Scaling group `{group}` not found"),
                )
            })?;
        let ids: Vec<String> = found
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService))
            .filter_map(|i| i.instance_id().map(str::to_string))
            .collect();
        let mut ips = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_CALL) {
            let mut pages = self
                .ec2
                .describe_instances()
                .set_instance_ids(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| call_error("DescribeInstances", &e))?;
                for instance in page.reservations().iter().flat_map(|r| r.instances()) {
                    // An instance without a private IP (terminating) has nothing to scrape.
                    if let Some(ip) = instance.private_ip_address() {
                        ips.push(ip.parse().map_err(|_| {
                            CallError::new(
                                ErrorKind::BadResponse,
                                format!("EC2 gave `{ip}` as a private IP"),
                            )
                        })?);
                    }
                }
            }
        }
        Ok(ips)
    }
}

impl GroupInstances for Ec2GroupInstances {
    fn private_ips<'a>(
        &'a self,
        group: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, CallError>> + Send + 'a>> {
        Box::pin(self.list(group))
    }
}
