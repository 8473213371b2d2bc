//! A loopback bridge in front of moto_server that lets the current
//! aws-sdk-cloudwatch (Smithy RPC v2 CBOR only) talk to moto's CloudWatch
//! (awsJson1.0, what boto3 uses; moto has no CBOR: getmoto/moto#9195).
//!
//! Captured side by side, the two requests differ only in protocol: the
//! SDK posts a CBOR body to `/service/GraniteServiceVersion20100801/
//! operation/GetMetricData` with `smithy-protocol: rpc-v2-cbor`; boto3
//! posts the same shape as JSON to `/` with `X-Amz-Target:
//! GraniteServiceVersion20100801.GetMetricData`. No header or endpoint
//! setting makes the SDK send JSON, so this bridge rewrites the one into
//! the other and moto's JSON answer back into CBOR ([`super::cbor`]).
//! Every other request (Query, awsJson) passes through untouched.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use super::cbor;

/// A running bridge; stops accepting when dropped.
pub struct CborBridge {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl CborBridge {
    /// Serves a free 127.0.0.1 port, forwarding to moto on 127.0.0.1:<upstream>.
    pub fn start(upstream: u16) -> CborBridge {
        Self::start_on(0, upstream)
    }

    /// Serves 127.0.0.1:<listen> (0: any free port).
    pub fn start_on(listen: u16, upstream: u16) -> CborBridge {
        let listener = TcpListener::bind(("127.0.0.1", listen)).expect("bind CBOR bridge");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                thread::spawn(move || {
                    let _ = serve(stream, upstream);
                });
            }
        });
        CborBridge { port, stop }
    }
}

impl Drop for CborBridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// The operation an RPC v2 request path names: `/service/S/operation/Op`
/// gives `(S, Op)`.
pub fn rpc_v2_operation(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/service/")?;
    let (service, op) = rest.split_once("/operation/")?;
    Some((service, op))
}

/// One HTTP request as read off a connection.
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header lines as sent (with their `\r\n`), except `Connection`.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// The value of a header (case-insensitive name), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Reads one request; `None` when the client closed first.
pub fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut start = String::new();
    if reader.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let mut parts = start.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if !lower.starts_with("connection:") {
            headers.push(line);
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn serve(client: TcpStream, upstream: u16) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let Some((service, op)) = rpc_v2_operation(&request.path) else {
        return client.write_all(&forward(&request, upstream)?);
    };

    let gzipped = request
        .header("content-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let json = match cbor::to_json(&request.body, gzipped) {
        Ok(json) => json.to_string(),
        Err(e) => {
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{e}",
                e.len()
            );
            return client.write_all(answer.as_bytes());
        }
    };
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut head = String::from("POST / HTTP/1.1\r\n");
    head.push_str(&headers_except(
        request.headers.iter().map(|l| l.trim_end()),
        &[
            "content-length",
            "content-type",
            "content-encoding",
            "smithy-protocol",
            "accept",
        ],
    ));
    head.push_str(&format!(
        "X-Amz-Target: {service}.{op}\r\nContent-Type: application/x-amz-json-1.0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        json.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(json.as_bytes())?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    client.write_all(&as_cbor(&response))
}

/// Sends `request` as it came to 127.0.0.1:`upstream` and returns the
/// answer, marked `Connection: close`.
pub fn forward(request: &Request, upstream: u16) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.write_all(format!("{} {} HTTP/1.1\r\n", request.method, request.path).as_bytes())?;
    for line in &request.headers {
        up.write_all(line.as_bytes())?;
    }
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&request.body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    Ok(closing(&response))
}

/// moto's JSON answer as the SDK expects it: the same status, a CBOR body.
fn as_cbor(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let body = &response[end + 4..];
    let cbor_body = if body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        match serde_json::from_slice(body) {
            Ok(json) => cbor::from_json(&json),
            // Not JSON (moto's HTML 404): pass it on for the test to see.
            Err(_) => return closing(response),
        }
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out = headers_except(
        head.split("\r\n"),
        &["content-type", "content-length", "connection"],
    );
    out.push_str(&format!(
        "Content-Type: application/cbor\r\nsmithy-protocol: rpc-v2-cbor\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        cbor_body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&cbor_body);
    bytes
}

/// The header lines (the start line too) whose name is not in `dropped`
/// (lowercase), each ended with `\r\n`.
fn headers_except<'a>(lines: impl Iterator<Item = &'a str>, dropped: &[&str]) -> String {
    let mut out = String::new();
    for line in lines {
        let name = line.split(':').next().unwrap_or("").trim();
        if !dropped.iter().any(|d| name.eq_ignore_ascii_case(d)) {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out
}

/// The response with `Connection: close`, so the client does not reuse the
/// connection about to be closed.
pub fn closing(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let mut out = headers_except(head.split("\r\n"), &["connection"]);
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[end + 4..]);
    bytes
}
