//! Faults the proxy ([`super::proxy`]) injects in front of moto, and the
//! answers AWS gives for them on the wire, so the SDK sees what it would see
//! from AWS: throttling as HTTP 400 with the protocol's `Throttling` error,
//! server errors as 5xx, a connection closed without an answer, an answer
//! that never comes, or one that comes late.

use std::sync::Arc;
use std::time::Duration;

/// What the proxy does with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Forward it after this long.
    Delay(Duration),
    /// Answer HTTP 400 with the protocol's throttling error.
    Throttle,
    /// Answer with this 5xx status and the protocol's error for it.
    ServerError(u16),
    /// Answer HTTP 403 `AuthorizationError`: the caller may not do this.
    Forbidden,
    /// Answer HTTP 403 `AccessDenied`, as STS refuses an AssumeRole whose
    /// trust policy does not let the caller in (moto lets everyone in).
    AccessDenied,
    /// Read the request, then close the connection without a word.
    Drop,
    /// Read the request and never answer (until the proxy is dropped).
    Hang,
}

impl Fault {
    /// A short name for tables and messages.
    pub fn name(&self) -> String {
        match self {
            Fault::Pass => "pass".into(),
            Fault::Delay(d) => format!("latency {}ms", d.as_millis()),
            Fault::Throttle => "throttling (HTTP 400)".into(),
            Fault::ServerError(status) => format!("HTTP {status}"),
            Fault::Forbidden => "forbidden (HTTP 403)".into(),
            Fault::AccessDenied => "access denied (HTTP 403)".into(),
            Fault::Drop => "dropped connection".into(),
            Fault::Hang => "hang".into(),
        }
    }
}

/// The wire protocol of a request, which decides the shape of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsQuery (Auto Scaling): form body, XML errors.
    Query,
    /// awsJson1.0 (DynamoDB): `X-Amz-Target` header, JSON errors.
    Json,
    /// Smithy RPC v2 CBOR (CloudWatch): CBOR errors, and the awsQuery
    /// code in `x-amzn-query-error` (CloudWatch is awsQuery-compatible).
    Cbor,
}

/// Decides each request's fate.
pub type FaultRule = Arc<dyn Fn(&super::proxy::Recorded) -> Fault + Send + Sync>;

/// The HTTP response AWS sends for an error, in the request's protocol.
pub fn error_response(protocol: Protocol, status: u16, code: &str, message: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let (content_type, body) = match protocol {
        Protocol::Cbor => {
            let body = super::cbor::from_json(&serde_json::json!({
                "__type": format!("com.amazonaws.cloudwatch#{code}"),
                "message": message,
            }));
            let mut answer = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: application/cbor\r\n\
                 smithy-protocol: rpc-v2-cbor\r\nx-amzn-query-error: {code};{}\r\n\
                 Content-Length: {}\r\nx-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\n\
                 Connection: close\r\n\r\n",
                if status < 500 { "Sender" } else { "Receiver" },
                body.len()
            )
            .into_bytes();
            answer.extend_from_slice(&body);
            return answer;
        }
        Protocol::Query => (
            "text/xml",
            format!(
                "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">\
                 <Error><Type>{}</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>",
                if status < 500 { "Sender" } else { "Receiver" }
            ),
        ),
        Protocol::Json => (
            "application/x-amz-json-1.0",
            format!(
                "{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{code}\",\"message\":\"{message}\"}}"
            ),
        ),
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         x-amzn-RequestId: 00000000-0000-0000-0000-000000000000\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The error answer for a fault that answers, if it does.
pub fn answer(fault: Fault, protocol: Protocol) -> Option<Vec<u8>> {
    match fault {
        Fault::Throttle => Some(match protocol {
            Protocol::Query | Protocol::Cbor => {
                error_response(protocol, 400, "Throttling", "Rate exceeded")
            }
            Protocol::Json => error_response(protocol, 400, "ThrottlingException", "Rate exceeded"),
        }),
        Fault::Forbidden => Some(error_response(
            protocol,
            403,
            "AuthorizationError",
            "not authorized to perform this action (injected by the test proxy)",
        )),
        Fault::AccessDenied => Some(error_response(
            protocol,
            403,
            "AccessDenied",
            "User is not authorized to perform: sts:AssumeRole (injected by the test proxy)",
        )),
        Fault::ServerError(status) => Some(error_response(
            protocol,
            status,
            if status == 503 {
                "ServiceUnavailable"
            } else {
                "InternalFailure"
            },
            "injected by the test proxy",
        )),
        _ => None,
    }
}
