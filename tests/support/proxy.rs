//! A loopback HTTP proxy in front of moto that records every request ebb
//! sends (the AWS action and the form body), so tests can check the calls
//! ebb makes: how many GetMetricData calls, how many group names per
//! DescribeAutoScalingGroups call. moto itself enforces none of AWS's limits.
//! It can also inject faults ([`super::faults`]): latency, throttling, 5xx,
//! dropped connections, hangs. And it can rewrite answers ([`AnswerRule`])
//! to give ebb what moto does not have (instance weights, instance
//! refreshes, GetMetricData pages).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::cbor;
use super::cbor_bridge::{self, closing};
use super::faults::{self, Fault, FaultRule, Protocol};

/// Decides how long to hold a request before forwarding it.
pub type DelayRule = Arc<dyn Fn(&Recorded) -> Option<Duration> + Send + Sync>;

/// Given a request and upstream's answer body, a new body to answer with
/// (HTTP 200, XML), or `None` to pass upstream's answer on. A CBOR answer
/// (CloudWatch) is read and written as JSON, the proxy converting it.
pub type AnswerRule = Arc<dyn Fn(&Recorded, &str) -> Option<String> + Send + Sync>;

/// What to do to a request, and to its answer.
type Rules<'a> = (
    &'a (dyn Fn(&Recorded) -> Fault + Send + Sync),
    &'a (dyn Fn(&Recorded, &str) -> Option<String> + Send + Sync),
);

/// One request as ebb sent it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The awsQuery `Action` (e.g. `GetMetricData`), for awsJson the
    /// operation named by `X-Amz-Target` (e.g. `GetItem`), for RPC v2 CBOR
    /// the one its path names.
    pub action: String,
    /// The decoded form fields, in order; a CBOR body's fields named as
    /// awsQuery would name them ([`super::cbor::query_fields`]).
    pub fields: Vec<(String, String)>,
    /// The region the request was signed for (from its SigV4 credential scope).
    pub region: String,
}

impl Recorded {
    /// How many fields have a key matching `pred`.
    pub fn count_fields(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.fields.iter().filter(|(k, _)| pred(k)).count()
    }
}

/// A running proxy; stops accepting when dropped.
pub struct Proxy {
    pub port: u16,
    recorded: Arc<Mutex<Vec<Recorded>>>,
    injected: Arc<Mutex<Vec<(String, Fault)>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    /// Forwards 127.0.0.1:<port> to 127.0.0.1:<upstream>.
    pub fn start(upstream: u16) -> Proxy {
        Self::start_with_delay(upstream, Arc::new(|_: &Recorded| None))
    }

    /// Like [`Proxy::start`], holding the requests `delay` names for as long
    /// as it says (a slow AWS API, for one group only).
    pub fn start_with_delay(upstream: u16, delay: DelayRule) -> Proxy {
        Self::start_with_faults(
            upstream,
            Arc::new(move |r: &Recorded| delay(r).map_or(Fault::Pass, Fault::Delay)),
        )
    }

    /// Like [`Proxy::start`], doing to each request what `rule` says.
    pub fn start_with_faults(upstream: u16, rule: FaultRule) -> Proxy {
        Self::start_full(upstream, rule, Arc::new(|_: &Recorded, _: &str| None))
    }

    /// Like [`Proxy::start`], refusing every `action` call (HTTP 403
    /// `AuthorizationError`, as AWS refuses a call IAM does not allow).
    pub fn start_forbidding(upstream: u16, action: &'static str) -> Proxy {
        Self::start_with_faults(
            upstream,
            Arc::new(move |r: &Recorded| {
                if r.action == action {
                    Fault::Forbidden
                } else {
                    Fault::Pass
                }
            }),
        )
    }

    /// Like [`Proxy::start`], answering what `answers` rewrites.
    pub fn start_with_answers(upstream: u16, answers: AnswerRule) -> Proxy {
        Self::start_full(upstream, Arc::new(|_: &Recorded| Fault::Pass), answers)
    }

    fn start_full(upstream: u16, rule: FaultRule, answers: AnswerRule) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let injected = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (rec, inj, st) = (
            Arc::clone(&recorded),
            Arc::clone(&injected),
            Arc::clone(&stop),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let rec = Arc::clone(&rec);
                let inj = Arc::clone(&inj);
                let rule = Arc::clone(&rule);
                let answers = Arc::clone(&answers);
                let st = Arc::clone(&st);
                thread::spawn(move || {
                    let _ = serve(
                        stream,
                        upstream,
                        &rec,
                        &inj,
                        (rule.as_ref(), answers.as_ref()),
                        &st,
                    );
                });
            }
        });
        Proxy {
            port,
            recorded,
            injected,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.recorded.lock().unwrap().clone()
    }

    /// The requests of one action so far.
    pub fn calls(&self, action: &str) -> Vec<Recorded> {
        self.recorded()
            .into_iter()
            .filter(|r| r.action == action)
            .collect()
    }

    /// Every fault injected so far, with the action it hit.
    pub fn injected(&self) -> Vec<(String, Fault)> {
        self.injected.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.recorded.lock().unwrap().clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one client connection: its request is recorded and forwarded.
fn serve(
    client: TcpStream,
    upstream: u16,
    recorded: &Mutex<Vec<Recorded>>,
    injected: &Mutex<Vec<(String, Fault)>>,
    (rule, answers): Rules<'_>,
    stop: &AtomicBool,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut json_target = None;
    let mut rpc_v2_operation = None;
    let mut gzipped = false;
    let mut region = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(()); // client closed
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if head.is_empty() {
            // The request line: `POST /service/S/operation/Op HTTP/1.1`.
            let path = line.split_whitespace().nth(1).unwrap_or_default();
            rpc_v2_operation = cbor_bridge::rpc_v2_operation(path).map(|(_, op)| op.to_string());
        }
        if lower.starts_with("content-encoding:") && lower.contains("gzip") {
            gzipped = true;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if let Some(scope) = lower
            .strip_prefix("authorization:")
            .and_then(|v| v.split("credential=").nth(1))
        {
            // `KEY/DATE/REGION/SERVICE/aws4_request, ...`
            region = scope.split('/').nth(2).unwrap_or_default().to_string();
        }
        if let Some(v) = lower.strip_prefix("x-amz-target:") {
            // `DynamoDB_20120810.GetItem` -> `GetItem` (case as sent).
            let v = &line[line.len() - v.len()..];
            json_target = v.trim().rsplit('.').next().map(str::to_string);
        }
        if !lower.starts_with("connection:") {
            head.push(line);
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    let (protocol, fields, action) = match (json_target, rpc_v2_operation) {
        (Some(action), _) => (Protocol::Json, Vec::new(), action),
        (None, Some(action)) => {
            let fields = cbor::to_json(&body, gzipped)
                .map(|json| cbor::query_fields(&json))
                .unwrap_or_default();
            (Protocol::Cbor, fields, action)
        }
        (None, None) => {
            let fields = form_fields(&String::from_utf8_lossy(&body));
            let action = fields
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (Protocol::Query, fields, action)
        }
    };
    let request = Recorded {
        action,
        fields,
        region,
    };
    let fault = rule(&request);
    let recorded_request = request.clone();
    if fault != Fault::Pass {
        injected
            .lock()
            .unwrap()
            .push((request.action.clone(), fault));
    }
    recorded.lock().unwrap().push(request);
    match fault {
        Fault::Pass => {}
        Fault::Delay(hold) => thread::sleep(hold),
        Fault::Drop => return Ok(()),
        Fault::Hang => {
            // Keep the connection open, unanswered, until the client gives
            // up and closes it or the proxy stops.
            let _ = client.set_read_timeout(Some(Duration::from_millis(100)));
            let mut byte = [0u8; 1];
            while !stop.load(Ordering::SeqCst) {
                match reader.read(&mut byte) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => return Ok(()),
                }
            }
            return Ok(());
        }
        Fault::Throttle | Fault::ServerError(_) | Fault::Forbidden | Fault::AccessDenied => {
            let answer = faults::answer(fault, protocol).expect("an answering fault");
            return client.write_all(&answer);
        }
    }

    // One request per connection both ways: moto answers `Connection: close`,
    // and so does this proxy, so the client opens a new one for the next.
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    for line in &head {
        up.write_all(line.as_bytes())?;
    }
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let body_start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |end| end + 4);
    let body = answer_text(protocol, &response[body_start..]);
    if let Some(body) = answers(&recorded_request, &body) {
        return client.write_all(&rewritten(protocol, &body));
    }
    client.write_all(&closing(&response))
}

/// An upstream answer's body as an [`AnswerRule`] reads it: a CBOR one as
/// JSON text (what [`super::cbor`] makes of it), any other as it is.
fn answer_text(protocol: Protocol, body: &[u8]) -> String {
    match protocol {
        Protocol::Cbor => cbor::to_json(body, false)
            .map(|json| json.to_string())
            .unwrap_or_default(),
        Protocol::Query | Protocol::Json => String::from_utf8_lossy(body).into_owned(),
    }
}

/// The HTTP 200 answer with a rule's `body`: XML, or for a CBOR request the
/// rule's JSON as CBOR.
fn rewritten(protocol: Protocol, body: &str) -> Vec<u8> {
    let (content_type, body) = match protocol {
        Protocol::Cbor => {
            let json = serde_json::from_str(body).expect("an answer rule's CBOR answer is JSON");
            (
                "application/cbor\r\nsmithy-protocol: rpc-v2-cbor",
                cbor::from_json(&json),
            )
        }
        Protocol::Query | Protocol::Json => ("text/xml", body.as_bytes().to_vec()),
    };
    let mut answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    answer
}

/// An awsQuery form body's fields, decoded, in order.
pub fn form_fields(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
