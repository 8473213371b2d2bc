//! The leader lease in DynamoDB: one item per lease name, read with
//! consistent reads and written only with conditional puts (see
//! [`super::lease`] for the rules).
//!
//! Table layout: partition key `lease` (string). Attributes: `holder` (S),
//! `token` (N, the fencing token), `version` (N), `duration_ms` (N),
//! `released` (BOOL), and `written_at` (S, the writer's wall clock, for people
//! only: no instance ever reads another's clock).

use super::lease::{LeaseRecord, Step, WriteOutcome};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use std::collections::HashMap;
use std::time::Duration;

/// Why a lease call failed. A failed write may still have landed.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// A DynamoDB call failed.
    #[error("DynamoDB {operation} on table `{table}` failed: {message}")]
    Call {
        /// The DynamoDB operation, e.g. `GetItem`.
        operation: &'static str,
        /// The table.
        table: String,
        /// The SDK's error.
        message: String,
    },
    /// The lease item is there but cannot be read as a lease.
    #[error("lease item in table `{table}` is malformed: {message}")]
    Malformed {
        /// The table.
        table: String,
        /// What is wrong with the item.
        message: String,
    },
}

/// A lease item as a scan found it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScannedLease {
    /// The item's partition key (`lease`).
    pub key: String,
    /// The lease as stored.
    pub record: LeaseRecord,
    /// The writer's wall clock at its last write, for people only.
    pub written_at: Option<String>,
}

/// One lease in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct LeaseTable {
    client: Client,
    table: String,
    name: String,
}

impl LeaseTable {
    /// The lease named `name` in the DynamoDB table `table`.
    pub fn new(client: Client, table: impl Into<String>, name: impl Into<String>) -> LeaseTable {
        LeaseTable {
            client,
            table: table.into(),
            name: name.into(),
        }
    }

    /// The DynamoDB table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The lease's key.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The same table, another lease in it (shard mode: one per shard).
    pub fn named(&self, name: impl Into<String>) -> LeaseTable {
        LeaseTable {
            client: self.client.clone(),
            table: self.table.clone(),
            name: name.into(),
        }
    }

    /// Every lease whose key starts with `prefix`, with its key, read
    /// consistently in one scan of the table (paged).
    pub async fn scan(&self, prefix: &str) -> Result<Vec<ScannedLease>, LeaseError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| self.call_error("Scan", e))?;
            for item in out.items() {
                let Some(AttributeValue::S(key)) = item.get("lease") else {
                    continue;
                };
                if key.starts_with(prefix) {
                    let written_at = match item.get("written_at") {
                        Some(AttributeValue::S(at)) => Some(at.clone()),
                        _ => None,
                    };
                    found.push(ScannedLease {
                        key: key.clone(),
                        record: self.decode(item)?,
                        written_at,
                    });
                }
            }
            match out.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(found),
            }
        }
    }

    /// Creates the table (on-demand billing) when it does not exist yet.
    pub async fn create_table_if_missing(&self) -> Result<(), LeaseError> {
        let exists = self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await;
        match exists {
            Ok(_) => return Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(e) => return Err(self.call_error("DescribeTable", e)),
        }
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("lease")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("name and type are set"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("lease")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("name and key type are set"),
            )
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // Another instance created it first.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.call_error("CreateTable", e)),
        }
    }

    /// The lease as stored now; `None` when there is no item.
    pub async fn read(&self) -> Result<Option<LeaseRecord>, LeaseError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("lease", AttributeValue::S(self.name.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.call_error("GetItem", e))?;
        out.item().map(|item| self.decode(item)).transpose()
    }

    /// Carries out a write step. On a conflict, reads the record as it now
    /// is (best effort: `None` in the conflict when that read fails too).
    pub async fn write(&self, step: &Step) -> Result<WriteOutcome, LeaseError> {
        let (record, expected) = match step {
            Step::Read => panic!("LeaseTable::write called with Step::Read"),
            Step::Create { record } => (record, None),
            Step::Replace {
                expected_version,
                record,
            } => (record, Some(*expected_version)),
        };
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.encode(record)));
        put = match expected {
            None => put.condition_expression("attribute_not_exists(#lease)"),
            Some(version) => put
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", AttributeValue::N(version.to_string())),
        };
        if expected.is_none() {
            put = put.expression_attribute_names("#lease", "lease");
        }
        match put.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(WriteOutcome::Conflict(self.read().await.ok().flatten()))
            }
            Err(e) => Err(self.call_error("PutItem", e)),
        }
    }

    fn encode(&self, record: &LeaseRecord) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("lease".to_string(), AttributeValue::S(self.name.clone())),
            (
                "holder".to_string(),
                AttributeValue::S(record.holder.clone()),
            ),
            (
                "token".to_string(),
                AttributeValue::N(record.token.to_string()),
            ),
            (
                "version".to_string(),
                AttributeValue::N(record.version.to_string()),
            ),
            (
                "duration_ms".to_string(),
                AttributeValue::N(record.duration.as_millis().to_string()),
            ),
            (
                "released".to_string(),
                AttributeValue::Bool(record.released),
            ),
            (
                "written_at".to_string(),
                AttributeValue::S(chrono::Utc::now().to_rfc3339()),
            ),
        ])
    }

    fn decode(&self, item: &HashMap<String, AttributeValue>) -> Result<LeaseRecord, LeaseError> {
        let malformed = |message: String| LeaseError::Malformed {
            table: self.table.clone(),
            message,
        };
        let number = |name: &str| -> Result<u64, LeaseError> {
            match item.get(name) {
                Some(AttributeValue::N(n)) => n
                    .parse()
                    .map_err(|_| malformed(format!("`{name}` is not a whole number: {n}"))),
                _ => Err(malformed(format!("`{name}` is missing or not a number"))),
            }
        };
        let holder = match item.get("holder") {
            Some(AttributeValue::S(s)) => s.clone(),
            _ => return Err(malformed("`holder` is missing or not a string".into())),
        };
        Ok(LeaseRecord {
            holder,
            token: number("token")?,
            version: number("version")?,
            duration: Duration::from_millis(number("duration_ms")?),
            released: matches!(item.get("released"), Some(AttributeValue::Bool(true))),
        })
    }

    fn call_error<E, R>(
        &self,
        operation: &'static str,
        e: aws_sdk_dynamodb::error::SdkError<E, R>,
    ) -> LeaseError
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        LeaseError::Call {
            operation,
            table: self.table.clone(),
            message: describe(&e),
        }
    }
}

/// An SDK error in one line, with the service's code and message when there
/// is one.
fn describe<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    match e {
        SdkError::ServiceError(service) => service.err().to_string(),
        SdkError::TimeoutError(_) => "timed out".to_string(),
        SdkError::DispatchFailure(d) => format!("could not send: {d:?}"),
        SdkError::ResponseError(r) => format!("unreadable response: {r:?}"),
        other => other.to_string(),
    }
}
