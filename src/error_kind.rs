//! What kind of failure a call at the edge met (a metric source, the Auto
//! Scaling API): throttled, not found, access denied, timed out, a bad
//! answer, or something else. The edges classify once, where the error is
//! still an SDK error or an HTTP status; records, alert rules and retries
//! match on the kind, never on the wording of the message.

use serde::{Deserialize, Serialize};

/// The kind of a failed call. The kebab-case names are a stable interface:
/// the decisions log, the `api-call-failed` rule's `kinds` and the alerts'
/// `error_kind` label spell them so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// The service refused for rate (AWS `Throttling`, HTTP 429).
    Throttled,
    /// What was asked for does not exist (a group, an endpoint: HTTP 404).
    NotFound,
    /// The credentials may not do this, or are not valid (HTTP 401/403).
    AccessDenied,
    /// No answer in time.
    Timeout,
    /// An answer came but could not be read or was not what was asked for.
    BadResponse,
    /// Anything else (connection refused, a 5xx, a request ebb could not build).
    Other,
}

impl ErrorKind {
    /// The kind as records, alert labels and rule filters spell it, e.g. `access-denied`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Throttled => "throttled",
            ErrorKind::NotFound => "not-found",
            ErrorKind::AccessDenied => "access-denied",
            ErrorKind::Timeout => "timeout",
            ErrorKind::BadResponse => "bad-response",
            ErrorKind::Other => "other",
        }
    }

    /// Whether trying the same call again later may work by itself: rate
    /// limits and timeouts pass; a missing resource or a denied permission
    /// needs an operator.
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorKind::Throttled | ErrorKind::Timeout)
    }

    /// The kind an HTTP error status says; `None` for a success.
    pub fn of_http_status(status: u16) -> Option<ErrorKind> {
        match status {
            200..=299 => None,
            429 => Some(ErrorKind::Throttled),
            401 | 403 => Some(ErrorKind::AccessDenied),
            404 | 410 => Some(ErrorKind::NotFound),
            408 | 504 => Some(ErrorKind::Timeout),
            _ => Some(ErrorKind::Other),
        }
    }
}

/// A failed call at the edge: its kind, for code to match on, and a message
/// for people that names the operation and what it was for (the group, the
/// query, the account when there is one). Sources call it `FetchError`,
/// actuators `ActuatorError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct CallError {
    /// What kind of failure it was, for code to match on.
    pub kind: ErrorKind,
    /// What failed, for people: the operation and what it was for.
    pub message: String,
}

impl CallError {
    /// A failure of `kind`, described by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CallError {
        CallError {
            kind,
            message: message.into(),
        }
    }

    /// An error of no particular kind (a bug, a request ebb could not build).
    pub fn other(message: impl Into<String>) -> CallError {
        CallError::new(ErrorKind::Other, message)
    }

    /// The same error with `context: ` before its message.
    pub fn context(self, context: impl std::fmt::Display) -> CallError {
        CallError {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_classify_by_meaning() {
        assert_eq!(ErrorKind::of_http_status(200), None);
        assert_eq!(ErrorKind::of_http_status(302), Some(ErrorKind::Other));
        assert_eq!(ErrorKind::of_http_status(429), Some(ErrorKind::Throttled));
        assert_eq!(
            ErrorKind::of_http_status(401),
            Some(ErrorKind::AccessDenied)
        );
        assert_eq!(
            ErrorKind::of_http_status(403),
            Some(ErrorKind::AccessDenied)
        );
        assert_eq!(ErrorKind::of_http_status(404), Some(ErrorKind::NotFound));
        assert_eq!(ErrorKind::of_http_status(504), Some(ErrorKind::Timeout));
        assert_eq!(ErrorKind::of_http_status(500), Some(ErrorKind::Other));
    }

    #[test]
    fn only_throttling_and_timeouts_are_transient() {
        let transient: Vec<ErrorKind> = [
            ErrorKind::Throttled,
            ErrorKind::NotFound,
            ErrorKind::AccessDenied,
            ErrorKind::Timeout,
            ErrorKind::BadResponse,
            ErrorKind::Other,
        ]
        .into_iter()
        .filter(|k| k.is_transient())
        .collect();
        assert_eq!(transient, [ErrorKind::Throttled, ErrorKind::Timeout]);
    }

    #[test]
    fn the_serialized_names_are_the_display_names() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::AccessDenied,
            ErrorKind::BadResponse,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{kind}\""));
        }
    }
}
