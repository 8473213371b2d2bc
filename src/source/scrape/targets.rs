//! Which URLs to scrape this round: a static list, every address of a DNS
//! name, or the private IPs of the group's in-service instances (through a
//! [`GroupInstances`] the daemon plugs in, since it needs the EC2 API).

use crate::error_kind::{CallError, ErrorKind};
use crate::policy_file::ScrapeMetric;
use crate::policy_file::http_sources::Scheme;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

/// Finds the private IPs of an Auto Scaling group's in-service instances.
pub trait GroupInstances: Send + Sync {
    /// The private IPs of `group`'s in-service instances; a failure says
    /// what kind it was (a throttled or denied AWS call, a missing group).
    fn private_ips<'a>(
        &'a self,
        group: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, CallError>> + Send + 'a>>;
}

/// The URLs to scrape for `spec` on behalf of `group`, sorted and without repeats.
pub async fn resolve(
    spec: &ScrapeMetric,
    group: &str,
    instances: Option<&dyn GroupInstances>,
) -> Result<Vec<String>, CallError> {
    let mut urls = if !spec.urls.is_empty() {
        spec.urls.clone()
    } else if let Some(dns) = &spec.dns {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((dns.name.as_str(), dns.port))
            .await
            .map_err(|e| CallError::other(format!("resolving {}: {e}", dns.name)))?
            .collect();
        addrs
            .iter()
            .map(|a| url(dns.scheme, a.ip(), dns.port, &dns.path))
            .collect()
    } else if let Some(asg) = &spec.asg {
        let instances = instances.ok_or_else(|| {
            CallError::other(
                "scrape targets `asg` need the EC2 API: this ebb was built without the `ec2-discovery` feature",
            )
        })?;
        instances
            .private_ips(group)
            .await
            .map_err(|e| e.context(format_args!("listing the in-service instances of {group}")))?
            .into_iter()
            .map(|ip| url(asg.scheme, ip, asg.port, &asg.path))
            .collect()
    } else {
        return Err(CallError::new(ErrorKind::Other, "no targets configured"));
    };
    urls.sort();
    urls.dedup();
    Ok(urls)
}

fn url(scheme: Scheme, ip: IpAddr, port: u16, path: &str) -> String {
    // SocketAddr's Display brackets IPv6 addresses as URLs need.
    format!(
        "{}://{}{}",
        scheme.as_str(),
        SocketAddr::new(ip, port),
        path
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url(Scheme::Http, "::1".parse().unwrap(), 9100, "/metrics"),
            "http://[::1]:9100/metrics"
        );
        assert_eq!(
            url(Scheme::Https, "10.0.0.7".parse().unwrap(), 443, "/m"),
            "https://10.0.0.7:443/m"
        );
    }
}
