//! Delivery: one bounded queue and one background worker per sink.
//!
//! The control loop only ever pushes (a short mutex, no await), so a slow or
//! dead receiver cannot delay an evaluation. A full queue drops its oldest
//! event and counts it: the newest state of an alert matters more than an old
//! one. Each event is retried with exponential backoff on connection errors,
//! timeouts, 429 and 5xx (for SNS also throttling and 403, see
//! [`super::sns`]); other answers are final.

use super::sinks::{Destination, Sink};
use super::sns::SnsPublisher;
use super::{AlertEvent, DeliveryConfig};
use crate::daemon::config::AwsSettings;
use crate::lock::lock;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Labels of the alert delivery series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabels {
    /// The sink's name (its `name`, or its kind).
    pub sink: String,
}

/// Delivery counters, per sink; registered with ebb's own metrics.
#[derive(Debug, Clone, Default)]
pub struct AlertMetrics {
    /// `ebb_alerts_sent`: notifications delivered (counter).
    pub sent: Family<SinkLabels, Counter>,
    /// `ebb_alerts_failed`: notifications given up on after every attempt (counter).
    pub failed: Family<SinkLabels, Counter>,
    /// `ebb_alerts_dropped`: notifications dropped because the sink's queue was full (counter).
    pub dropped: Family<SinkLabels, Counter>,
    /// `ebb_alerts_retries`: delivery attempts after the first (counter).
    pub retries: Family<SinkLabels, Counter>,
    /// `ebb_alerts_queued`: notifications waiting for delivery.
    pub queued: Family<SinkLabels, Gauge>,
}

impl AlertMetrics {
    /// Registers the series with `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ebb_alerts_sent",
            "Alert notifications delivered",
            self.sent.clone(),
        );
        registry.register(
            "ebb_alerts_failed",
            "Alert notifications given up on after retries or a permanent error",
            self.failed.clone(),
        );
        registry.register(
            "ebb_alerts_dropped",
            "Alert notifications dropped because the sink's queue was full",
            self.dropped.clone(),
        );
        registry.register(
            "ebb_alerts_retries",
            "Alert delivery attempts retried",
            self.retries.clone(),
        );
        registry.register(
            "ebb_alerts_queued",
            "Alert notifications waiting for delivery",
            self.queued.clone(),
        );
    }
}

/// One sink's queue, shared by the pusher and the worker.
struct SinkQueue {
    events: Mutex<VecDeque<Arc<AlertEvent>>>,
    wake: Notify,
    capacity: usize,
    /// Queued plus being delivered: zero means everything went out.
    pending: AtomicUsize,
    labels: SinkLabels,
}

/// Hands events to per-sink workers; dropping it stops them.
pub struct Dispatcher {
    queues: Vec<(Arc<Sink>, Arc<SinkQueue>)>,
    workers: Vec<JoinHandle<()>>,
    metrics: AlertMetrics,
}

impl Dispatcher {
    /// Starts one worker per sink on the current tokio runtime; SNS sinks
    /// call AWS with `aws` (endpoint, profile, credentials chain).
    pub fn start(
        sinks: Vec<Sink>,
        capacity: usize,
        delivery: DeliveryConfig,
        metrics: AlertMetrics,
        aws: &AwsSettings,
    ) -> Result<Dispatcher, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(delivery.timeout)
            .connect_timeout(delivery.timeout)
            // A redirect could carry the secret URL's token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ebb/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for sink in sinks {
            let labels = SinkLabels {
                sink: sink.name.clone(),
            };
            // Make every sink's series visible at zero from the start.
            let _ = metrics.sent.get_or_create(&labels);
            let _ = metrics.failed.get_or_create(&labels);
            let _ = metrics.dropped.get_or_create(&labels);
            let sink = Arc::new(sink);
            let queue = Arc::new(SinkQueue {
                events: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
                wake: Notify::new(),
                capacity,
                pending: AtomicUsize::new(0),
                labels,
            });
            let transport = Transport {
                http: client.clone(),
                aws: aws.clone(),
            };
            workers.push(tokio::spawn(worker(
                sink.clone(),
                queue.clone(),
                transport,
                delivery.clone(),
                metrics.clone(),
            )));
            queues.push((sink, queue));
        }
        Ok(Dispatcher {
            queues,
            workers,
            metrics,
        })
    }

    /// Queues an event for every sink that wants it. Never waits.
    pub fn send(&self, event: AlertEvent) {
        let event = Arc::new(event);
        for (sink, queue) in &self.queues {
            if !sink.wants(&event) {
                continue;
            }
            let dropped = {
                let mut events = lock(&queue.events);
                let dropped = if events.len() >= queue.capacity {
                    events.pop_front()
                } else {
                    queue.pending.fetch_add(1, Ordering::SeqCst);
                    None
                };
                events.push_back(event.clone());
                self.metrics
                    .queued
                    .get_or_create(&queue.labels)
                    .set(events.len() as i64);
                dropped
            };
            if let Some(old) = dropped {
                self.metrics.dropped.get_or_create(&queue.labels).inc();
                tracing::warn!(
                    sink = %sink.name,
                    rule = %old.rule,
                    target = %old.target,
                    "alert queue full: dropped the oldest notification"
                );
            }
            queue.wake.notify_one();
        }
    }

    /// Events queued or in delivery, over all sinks.
    pub fn pending(&self) -> usize {
        self.queues
            .iter()
            .map(|(_, q)| q.pending.load(Ordering::SeqCst))
            .sum()
    }

    /// Waits until every queue is empty or `deadline` passes; true if empty.
    pub async fn flush(&self, deadline: Duration) -> bool {
        let give_up = tokio::time::Instant::now() + deadline;
        while self.pending() > 0 {
            if tokio::time::Instant::now() >= give_up {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for w in &self.workers {
            w.abort();
        }
    }
}

/// What a worker sends with: the shared HTTP client, and the AWS settings
/// its SNS client (if the sink is SNS) is built from.
struct Transport {
    http: reqwest::Client,
    aws: AwsSettings,
}

/// A worker's connection to its sink.
enum Sender {
    Http(reqwest::Client),
    Sns(SnsPublisher),
}

async fn worker(
    sink: Arc<Sink>,
    queue: Arc<SinkQueue>,
    transport: Transport,
    delivery: DeliveryConfig,
    metrics: AlertMetrics,
) {
    // Built here, not in `start`: loading the AWS config is async, and the
    // control loop must not wait for it.
    let sender = match &sink.destination {
        Destination::Http { .. } => Sender::Http(transport.http),
        Destination::Sns(topic) => {
            Sender::Sns(SnsPublisher::new(&transport.aws, topic.clone(), delivery.timeout).await)
        }
    };
    loop {
        let next = {
            let mut events = lock(&queue.events);
            let next = events.pop_front();
            metrics
                .queued
                .get_or_create(&queue.labels)
                .set(events.len() as i64);
            next
        };
        let Some(event) = next else {
            queue.wake.notified().await;
            continue;
        };
        match deliver(&sink, &sender, &delivery, &event, &metrics, &queue.labels).await {
            Ok(()) => {
                metrics.sent.get_or_create(&queue.labels).inc();
                tracing::debug!(sink = %sink.name, rule = %event.rule, target = %event.target, "alert delivered");
            }
            Err(error) => {
                metrics.failed.get_or_create(&queue.labels).inc();
                tracing::warn!(
                    sink = %sink.name,
                    rule = %event.rule,
                    target = %event.target,
                    %error,
                    "alert delivery failed"
                );
            }
        }
        queue.pending.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why one attempt failed, and whether another could succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AttemptError {
    Retry(String),
    Final(String),
}

async fn deliver(
    sink: &Sink,
    sender: &Sender,
    delivery: &DeliveryConfig,
    event: &AlertEvent,
    metrics: &AlertMetrics,
    labels: &SinkLabels,
) -> Result<(), String> {
    let mut backoff = delivery.initial_backoff;
    let mut attempt = 1;
    loop {
        let attempt_result = match sender {
            Sender::Http(client) => attempt_once(sink, client, event).await,
            Sender::Sns(publisher) => publisher.publish(event).await,
        };
        match attempt_result {
            Ok(()) => return Ok(()),
            Err(AttemptError::Final(e)) => return Err(e),
            Err(AttemptError::Retry(e)) if attempt >= delivery.max_attempts => {
                return Err(format!("{e} (gave up after {attempt} attempts)"));
            }
            Err(AttemptError::Retry(e)) => {
                tracing::debug!(sink = %sink.name, attempt, error = %e, "alert delivery will be retried");
                metrics.retries.get_or_create(labels).inc();
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(delivery.max_backoff);
                attempt += 1;
            }
        }
    }
}

async fn attempt_once(
    sink: &Sink,
    client: &reqwest::Client,
    event: &AlertEvent,
) -> Result<(), AttemptError> {
    let Some(request) = sink.request(event) else {
        return Err(AttemptError::Final(format!(
            "a {} sink is not an HTTP receiver",
            sink.kind.as_str()
        )));
    };
    let mut builder = client
        .post(&request.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(request.body);
    if let Some(token) = request.bearer {
        builder = builder.bearer_auth(token.expose());
    }
    // `without_url`: the URL may be the credential (Slack), so errors never carry it.
    let response = builder
        .send()
        .await
        .map_err(|e| AttemptError::Retry(e.without_url().to_string()))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    let message = format!("HTTP {status}: {}", body.trim());
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Err(AttemptError::Retry(message))
    } else {
        Err(AttemptError::Final(message))
    }
}
