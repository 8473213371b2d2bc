//! A real HTTP server on 127.0.0.1 for tests: records every request and
//! answers as the test says (a status per request number, optionally held
//! until the test releases it). Stopped when dropped.

#![allow(dead_code)]

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

type Respond = dyn Fn(usize) -> u16 + Send + Sync;

pub struct Receiver {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    gate: Option<Arc<Semaphore>>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Answers 200 to everything.
    pub async fn ok() -> Receiver {
        Receiver::start(|_| 200, false).await
    }

    /// Answers `status` to the first `n` requests, then 200.
    pub async fn failing_first(n: usize, status: u16) -> Receiver {
        Receiver::start(move |i| if i < n { status } else { 200 }, false).await
    }

    /// Records each request at once but answers only when [`Receiver::release`] lets it.
    pub async fn held() -> Receiver {
        Receiver::start(|_| 200, true).await
    }

    /// `respond(i)` is the status for the i-th request (0-based).
    pub async fn start(
        respond: impl Fn(usize) -> u16 + Send + Sync + 'static,
        hold: bool,
    ) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let gate = hold.then(|| Arc::new(Semaphore::new(0)));
        let respond: Arc<Respond> = Arc::new(respond);
        let server = {
            let requests = requests.clone();
            let gate = gate.clone();
            tokio::spawn(async move {
                let mut connections = JoinSet::new();
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let requests = requests.clone();
                    let gate = gate.clone();
                    let respond = respond.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |req: Request<Incoming>| {
                            let requests = requests.clone();
                            let gate = gate.clone();
                            let respond = respond.clone();
                            async move {
                                let (parts, body) = req.into_parts();
                                let body = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let index = {
                                    let mut requests = requests.lock().unwrap();
                                    requests.push(Recorded {
                                        method: parts.method.to_string(),
                                        path: parts.uri.path().to_string(),
                                        headers: parts.headers.clone(),
                                        body,
                                    });
                                    requests.len() - 1
                                };
                                if let Some(gate) = gate {
                                    gate.acquire().await.expect("gate open").forget();
                                }
                                let status = StatusCode::from_u16(respond(index)).unwrap();
                                Ok::<_, hyper::Error>(
                                    Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from_static(b"{}")))
                                        .unwrap(),
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        Receiver {
            addr,
            requests,
            gate,
            server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    /// Lets `n` held requests be answered.
    pub fn release(&self, n: usize) {
        self.gate.as_ref().expect("a held receiver").add_permits(n);
    }

    /// Waits (bounded) until at least `n` requests arrived.
    pub async fn wait_for(&self, n: usize, within: std::time::Duration) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + within;
        while self.count() < n && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.requests()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Aborting the accept task drops the JoinSet, which aborts every connection.
        self.server.abort();
    }
}
