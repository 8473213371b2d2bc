//! A tiny HTTP/1.1 server on 127.0.0.1 for tests: one thread accepting,
//! one per connection, routes by path to canned responses that a test can
//! change between rounds; plain or TLS (rustls). Stops (and joins its accept
//! thread) when dropped.

#![allow(dead_code)] // each test crate uses a different part

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the server does for one path.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this content type and body.
    Ok { content_type: String, body: String },
    /// This status with a plain body.
    Status(u16, String),
    /// Hold the connection this long before answering 200 with an empty body.
    Hang(Duration),
    /// 200 only when the request's `Authorization` header is exactly this; 401 otherwise.
    RequireAuth { authorization: String, body: String },
}

impl Reply {
    pub fn text(body: impl Into<String>) -> Reply {
        Reply::Ok {
            content_type: "text/plain; version=0.0.4".into(),
            body: body.into(),
        }
    }
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Reply>>,
    /// Every request seen: (path, headers lower-cased).
    seen: Mutex<Vec<(String, HashMap<String, String>)>>,
}

pub struct TestServer {
    addr: SocketAddr,
    tls: bool,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(None)
    }

    /// An HTTPS server presenting `cert` (DER) with its PKCS#8 `key` (DER).
    pub fn start_tls(cert: Vec<u8>, key: Vec<u8>) -> TestServer {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![rustls::pki_types::CertificateDer::from(cert)],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.into()),
            )
            .expect("a usable test certificate");
        TestServer::start_with(Some(Arc::new(config)))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let is_tls = tls.is_some();
        let accept = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let (shared, stop, tls) = (shared.clone(), stop.clone(), tls.clone());
                    std::thread::spawn(move || match tls {
                        None => serve(stream, &shared, &stop),
                        Some(config) => {
                            if let Ok(conn) = rustls::ServerConnection::new(config) {
                                serve(rustls::StreamOwned::new(conn, stream), &shared, &stop);
                            }
                        }
                    });
                }
            })
        };
        TestServer {
            addr,
            tls: is_tls,
            shared,
            stop,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    pub fn set(&self, path: &str, reply: Reply) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), reply);
    }

    /// Headers of every request to `path` so far.
    pub fn requests_to(&self, path: &str) -> Vec<HashMap<String, String>> {
        let seen = self.shared.seen.lock().unwrap();
        seen.iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: impl Read + Write, shared: &Shared, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream);
    // Keep-alive: answer requests on this connection until it closes.
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_string();
        let path = target.split('?').next().unwrap_or("/").to_string();
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        shared
            .seen
            .lock()
            .unwrap()
            .push((path.clone(), headers.clone()));
        let reply = shared.routes.lock().unwrap().get(&path).cloned();
        let (status, content_type, body) = match reply {
            None => (404, "text/plain".to_string(), "not found".to_string()),
            Some(Reply::Ok { content_type, body }) => (200, content_type, body),
            Some(Reply::Status(code, body)) => (code, "text/plain".into(), body),
            Some(Reply::Hang(how_long)) => {
                let until = Instant::now() + how_long;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                (200, "text/plain".into(), String::new())
            }
            Some(Reply::RequireAuth {
                authorization,
                body,
            }) => {
                if headers.get("authorization") == Some(&authorization) {
                    (200, "text/plain; version=0.0.4".into(), body)
                } else {
                    (401, "text/plain".into(), "unauthorized".into())
                }
            }
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let stream = reader.get_mut();
        if stream.write_all(head.as_bytes()).is_err()
            || stream.write_all(body.as_bytes()).is_err()
            || stream.flush().is_err()
        {
            return;
        }
    }
}
