//! An account's scaling activities, answered as DescribeScalingActivities
//! answers them (awsQuery XML): a named group's first page, or without a
//! name the account's activities page by page with a NextToken. moto
//! records none, so the proxy (tests) and the AWS stub (benches) answer
//! from a list written here. The list is kept as AWS orders it: activities
//! in progress first, then the others newest first.

use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write as _;

/// One scaling activity.
#[derive(Debug, Clone)]
pub struct Listed {
    pub group: String,
    pub description: String,
    pub cause: String,
    pub start: DateTime<Utc>,
    /// `Successful`, `InProgress`, `Failed`...
    pub status: &'static str,
}

/// An instance launched into `group` at `start`.
pub fn launch(group: &str, id: &str, start: DateTime<Utc>, status: &'static str) -> Listed {
    Listed {
        group: group.to_string(),
        description: format!("Launching a new EC2 instance: {id}"),
        cause: "a user request changed the desired capacity".to_string(),
        start,
        status,
    }
}

/// An instance terminated out of `group` at `start`.
pub fn termination(group: &str, id: &str, start: DateTime<Utc>) -> Listed {
    Listed {
        description: format!("Terminating EC2 instance: {id}"),
        ..launch(group, id, start, "Successful")
    }
}

/// The `DescribeScalingActivitiesResult`'s content for a request with
/// these form fields: the named group's first `MaxRecords` (default and
/// at most 100), else the account's page at the NextToken's offset.
pub fn result_xml(all: &[Listed], fields: &[(String, String)]) -> String {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let max = field("MaxRecords")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100usize)
        .clamp(1, 100);
    let (page, next): (Vec<&Listed>, Option<usize>) = match field("AutoScalingGroupName") {
        Some(group) => (
            all.iter().filter(|a| a.group == group).take(max).collect(),
            None,
        ),
        None => {
            let offset = field("NextToken")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0usize);
            let page: Vec<&Listed> = all.iter().skip(offset).take(max).collect();
            let next = offset + page.len();
            (page, (next < all.len()).then_some(next))
        }
    };
    let mut xml = String::from("<Activities>");
    for (n, a) in page.iter().enumerate() {
        let _ = write!(
            xml,
            "<member><ActivityId>a-{n}</ActivityId><AutoScalingGroupName>{}</AutoScalingGroupName>\
             <Description>{}</Description><Cause>{}</Cause><StartTime>{}</StartTime>\
             <StatusCode>{}</StatusCode><Progress>100</Progress></member>",
            a.group,
            a.description,
            a.cause,
            a.start.to_rfc3339_opts(SecondsFormat::Secs, true),
            a.status
        );
    }
    xml.push_str("</Activities>");
    if let Some(next) = next {
        let _ = write!(xml, "<NextToken>{next}</NextToken>");
    }
    xml
}

/// The whole answer, as the proxy sends it in place of moto's.
pub fn answer(all: &[Listed], fields: &[(String, String)]) -> String {
    format!(
        "<DescribeScalingActivitiesResponse xmlns=\"http://autoscaling.amazonaws.com/doc/2011-01-01/\">\
         <DescribeScalingActivitiesResult>{}</DescribeScalingActivitiesResult>\
         <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>\
         </DescribeScalingActivitiesResponse>",
        result_xml(all, fields)
    )
}
