//! AWS SDK errors at the edge: one line for logs and decision records, and
//! their [`ErrorKind`] by what the SDK saw or the error code the service sent.

use crate::error_kind::{CallError, ErrorKind};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The service's error code and message when it answered with one (e.g.
/// `Throttling: Rate exceeded`), else the error and its causes (timeouts,
/// connection refused), joined with `: `.
pub fn error_text<E, R>(e: &SdkError<E, R>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    }
}

/// The kind of an AWS SDK error: timeouts and unreadable answers by what
/// the SDK says happened, service errors by their code (see [`kind_of_code`]).
pub fn error_kind<E, R>(e: &SdkError<E, R>) -> ErrorKind
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        SdkError::DispatchFailure(failure) if failure.is_timeout() => ErrorKind::Timeout,
        SdkError::ResponseError(_) => ErrorKind::BadResponse,
        SdkError::ServiceError(_) => e
            .code()
            .and_then(|code| kind_of_code(code, e.message().unwrap_or_default()))
            .unwrap_or(ErrorKind::Other),
        _ => ErrorKind::Other,
    }
}

/// The kind an AWS error code says, across the services ebb calls (Auto
/// Scaling, CloudWatch, EC2, STS, DynamoDB, SNS); `None` when the code says
/// none of them. Auto Scaling reports a missing group as a `ValidationError`
/// whose message says "not found", so the message is read for that code only.
pub fn kind_of_code(code: &str, message: &str) -> Option<ErrorKind> {
    const THROTTLED: &[&str] = &[
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "EC2ThrottledException",
    ];
    const ACCESS_DENIED: &[&str] = &[
        "UnauthorizedOperation",
        "UnauthorizedAccess",
        "AuthFailure",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "ExpiredTokenException",
        "OptInRequired",
    ];
    const TIMEOUT: &[&str] = &["RequestTimeout", "RequestTimeoutException"];
    if THROTTLED.contains(&code) {
        Some(ErrorKind::Throttled)
    } else if code.starts_with("AccessDenied") || ACCESS_DENIED.contains(&code) {
        Some(ErrorKind::AccessDenied)
    } else if code.ends_with("NotFound")
        || code.ends_with("NotFoundException")
        || code == "NoSuchEntity"
        || (code == "ValidationError" && message.to_ascii_lowercase().contains("not found"))
    {
        Some(ErrorKind::NotFound)
    } else if TIMEOUT.contains(&code) {
        Some(ErrorKind::Timeout)
    } else {
        None
    }
}

/// An SDK error as a [`CallError`]: its kind, and `operation failed: ` and
/// the [`error_text`] as its message.
pub fn call_error<E, R>(operation: &str, e: &SdkError<E, R>) -> CallError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    CallError::new(
        error_kind(e),
        format!("{operation} failed: {}", error_text(e)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_are_throttled() {
        for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded"] {
            assert_eq!(
                kind_of_code(code, "Rate exceeded"),
                Some(ErrorKind::Throttled),
                "{code}"
            );
        }
    }

    #[test]
    fn permission_and_credential_codes_are_access_denied() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "InvalidClientTokenId",
            "ExpiredToken",
        ] {
            assert_eq!(
                kind_of_code(code, "no"),
                Some(ErrorKind::AccessDenied),
                "{code}"
            );
        }
    }

    #[test]
    fn missing_resources_are_not_found_and_other_validation_errors_are_not() {
        assert_eq!(
            kind_of_code("ValidationError", "AutoScalingGroup name not found - web"),
            Some(ErrorKind::NotFound)
        );
        assert_eq!(
            kind_of_code("ResourceNotFoundException", ""),
            Some(ErrorKind::NotFound)
        );
        assert_eq!(
            kind_of_code("InvalidInstanceID.NotFound", ""),
            Some(ErrorKind::NotFound)
        );
        assert_eq!(
            kind_of_code(
                "ValidationError",
                "New SetDesiredCapacity value 50 is above max value 10"
            ),
            None
        );
        assert_eq!(kind_of_code("InternalFailure", ""), None);
    }

    #[test]
    fn request_timeouts_are_timeouts() {
        assert_eq!(kind_of_code("RequestTimeout", ""), Some(ErrorKind::Timeout));
    }
}
