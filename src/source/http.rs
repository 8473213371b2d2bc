//! The HTTP client shared by the sources that read over HTTP (scrape,
//! Prometheus query): rustls TLS with the system's roots (plus an optional
//! CA file), one timeout over connect + headers + body, a cap on body size,
//! and credentials read from a file or an environment variable at each
//! request. Credentials never appear in errors or logs: errors name where a
//! secret comes from, never what it is.

use crate::error_kind::ErrorKind;
use crate::policy_file::HttpAuth;
use crate::series::FetchError;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The most a response body may hold; a scrape page or query result larger
/// than this is a misconfiguration, not something to buffer.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A cheap-to-clone HTTP(S) client.
#[derive(Clone)]
pub struct HttpClient {
    inner: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpClient")
    }
}

/// A response that arrived in full.
#[derive(Debug)]
pub struct Response {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type` header, when sent.
    pub content_type: Option<String>,
    /// The whole body, within the size limit.
    pub body: Bytes,
}

impl HttpClient {
    /// A client trusting the system's root certificates and, when given, the
    /// PEM certificates in `ca_file`.
    pub fn new(ca_file: Option<&Path>) -> Result<HttpClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        // Unreadable system certificates are not fatal: a CA file may be all that is needed.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
        if let Some(path) = ca_file {
            let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect())
                .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "CA file {} holds no PEM certificate",
                    path.display()
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("CA file {}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpClient {
            inner: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// GETs `uri`, with everything (connect, headers, body) within `timeout`.
    pub async fn get(
        &self,
        uri: &Uri,
        accept: &str,
        auth: Option<&HttpAuth>,
        timeout: Duration,
    ) -> Result<Response, FetchError> {
        let mut request = Request::get(uri.clone()).header(ACCEPT, accept);
        if let Some(auth) = auth {
            request = request.header(
                AUTHORIZATION,
                authorization(auth).map_err(FetchError::other)?,
            );
        }
        let request = request
            .body(Empty::new())
            .map_err(|e| FetchError::other(format!("bad request: {e}")))?;
        let exchange = async {
            let response = self
                .inner
                .request(request)
                .await
                .map_err(|e| FetchError::other(error_chain(&e)))?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    FetchError::new(
                        ErrorKind::BadResponse,
                        if e.is::<http_body_util::LengthLimitError>() {
                            format!(
                                "response body larger than {} MiB",
                                MAX_BODY_BYTES / (1024 * 1024)
                            )
                        } else {
                            format!("reading the body: {}", error_chain(e.as_ref()))
                        },
                    )
                })?
                .to_bytes();
            Ok(Response {
                status,
                content_type,
                body,
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::new(
                ErrorKind::Timeout,
                format!("timed out after {}", humantime::format_duration(timeout)),
            )),
        }
    }
}

/// The `Authorization` header for `auth`, read now from its file or
/// variable. Marked sensitive so that no debug output shows it.
fn authorization(auth: &HttpAuth) -> Result<HeaderValue, String> {
    let text = if let Some(token) = secret(
        auth.bearer_token_file.as_deref(),
        auth.bearer_token_env.as_deref(),
    )? {
        format!("Bearer {token}")
    } else {
        let user = auth
            .username
            .as_deref()
            .ok_or("auth has neither a bearer token nor a username")?;
        let password = secret(auth.password_file.as_deref(), auth.password_env.as_deref())?
            .ok_or("auth: username without password_file or password_env")?;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {pair}")
    };
    let mut value = HeaderValue::from_str(&text)
        .map_err(|_| "auth: the secret holds characters not allowed in an HTTP header")?;
    value.set_sensitive(true);
    Ok(value)
}

/// A secret from a file (trailing newline trimmed) or an environment
/// variable; None when neither is configured.
fn secret(file: Option<&Path>, env: Option<&str>) -> Result<Option<String>, String> {
    let value = match (file, env) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?,
        (None, Some(var)) => std::env::var(var).map_err(|_| {
            format!("environment variable {var} (a secret) is not set or not UTF-8")
        })?,
        (None, None) => return Ok(None),
    };
    let value = value.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(match file {
            Some(path) => format!("secret file {} is empty", path.display()),
            None => format!(
                "environment variable {} (a secret) is empty",
                env.unwrap_or_default()
            ),
        });
    }
    Ok(Some(value))
}

/// An error and its causes on one line: hyper's own messages ("client
/// error (Connect)") say little without them.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_come_from_files_and_env_and_are_sensitive() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "s3cr3t\n").unwrap();
        let header = authorization(&HttpAuth {
            bearer_token_file: Some(token),
            ..HttpAuth::default()
        })
        .unwrap();
        assert_eq!(header, "Bearer s3cr3t");
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains("s3cr3t"));

        // SAFETY: the variable name is unique to this test.
        unsafe { std::env::set_var("EBB_TEST_HTTP_PASSWORD", "pw") };
        let basic = authorization(&HttpAuth {
            username: Some("ebb".into()),
            password_env: Some("EBB_TEST_HTTP_PASSWORD".into()),
            ..HttpAuth::default()
        })
        .unwrap();
        assert_eq!(basic, "Basic ZWJiOnB3");

        let missing = authorization(&HttpAuth {
            bearer_token_env: Some("EBB_TEST_HTTP_UNSET".into()),
            ..HttpAuth::default()
        })
        .unwrap_err();
        assert!(missing.contains("EBB_TEST_HTTP_UNSET"), "{missing}");
    }
}
