//! tickloop-notify: alert sinks beyond the `alerts` topic — an HTTP webhook and Amazon SNS.
//!
//! The live loop hands each alert to a [`Notifier`] and moves on: a background thread
//! delivers to every sink, retrying a failed delivery with exponential backoff. The queue is
//! bounded; when a sink is down long enough to fill it, further alerts are dropped *and
//! counted* (the `alerts` topic still has every one), so a slow webhook can never stall
//! ticks. Every message carries the alert's deterministic id (`alerts/<symbol>/<kind>/<ts>`)
//! so receivers can drop the duplicates a replay after a crash re-sends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

/// One alert, as the `alerts` topic carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMessage {
    pub id: String,
    pub symbol: String,
    /// A one-line ASCII headline (`tickloop_alerts::alert_summary`): the SNS subject.
    pub summary: String,
    /// The alert's JSON (the same value the topic gets).
    pub json: String,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("{sink}: {reason}")]
    Delivery { sink: String, reason: String },
    #[error("{0}")]
    Config(String),
}

/// Somewhere alerts go.
pub trait AlertSink: Send {
    fn name(&self) -> String;
    fn send(&mut self, alert: &AlertMessage) -> Result<(), NotifyError>;
}

/// POSTs each alert's JSON to a URL (http or https), with the id in `X-Tickloop-Alert-Id`
/// and an optional bearer token. Slack-style hooks carry their secret in the path, so the
/// URL is never logged or printed whole: only its scheme and host ([`redact_url`]).
pub struct Webhook {
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Webhook {
    pub fn new(url: &str, token: Option<String>) -> Result<Self, NotifyError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(NotifyError::Config(format!("webhook {}: needs an http:// or https:// URL", redact_url(url))));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(true)
            .build()
            .into();
        Ok(Webhook { url: url.to_owned(), token, agent })
    }
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("url", &redact_url(&self.url)).finish_non_exhaustive()
    }
}

/// `scheme://host[:port]/…`: where a URL points, without the credentials, path or query
/// that may carry its secret.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let hidden = if authority.len() < rest.len() || host.len() < authority.len() { "/…" } else { "" };
    format!("{scheme}://{host}{hidden}")
}

impl AlertSink for Webhook {
    fn name(&self) -> String {
        format!("webhook {}", redact_url(&self.url))
    }

    fn send(&mut self, alert: &AlertMessage) -> Result<(), NotifyError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header("X-Tickloop-Alert-Id", &alert.id);
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        request
            .send(alert.json.as_bytes())
            .map(|_| ())
            .map_err(|e| NotifyError::Delivery { sink: self.name(), reason: e.to_string() })
    }
}

#[cfg(feature = "sns")]
mod sns;
#[cfg(feature = "sns")]
pub use sns::Sns;

/// Delivery counters, shared with the runner's metrics.
#[derive(Debug, Default)]
pub struct NotifyStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

/// The bounded queue in front of the sinks and the thread that drains it.
#[derive(Debug)]
pub struct Notifier {
    tx: Option<SyncSender<AlertMessage>>,
    worker: Option<JoinHandle<()>>,
    stats: Arc<NotifyStats>,
}

impl Notifier {
    /// Starts delivering to `sinks`; at most `capacity` alerts wait, and a failed delivery
    /// is tried `attempts` times in all.
    pub fn start(sinks: Vec<Box<dyn AlertSink>>, capacity: usize, attempts: u32) -> Self {
        let (tx, rx) = sync_channel(capacity.max(1));
        let stats = Arc::new(NotifyStats::default());
        let shared = stats.clone();
        let worker = std::thread::Builder::new()
            .name("alert-sinks".into())
            .spawn(move || deliver(rx, sinks, attempts.max(1), &shared))
            .expect("spawning the alert delivery thread");
        Notifier { tx: Some(tx), worker: Some(worker), stats }
    }

    /// Queues `alert` for every sink without waiting; false (and counted) when the queue is
    /// full.
    pub fn notify(&self, alert: AlertMessage) -> bool {
        let Some(tx) = &self.tx else { return false };
        match tx.try_send(alert) {
            Ok(()) => true,
            Err(TrySendError::Full(a) | TrySendError::Disconnected(a)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(id = %a.id, "alert sinks are behind: alert dropped (it is still on the alerts topic)");
                false
            }
        }
    }

    pub fn stats(&self) -> &NotifyStats {
        &self.stats
    }

    /// Delivers what is queued, then stops; returns the final counts.
    pub fn close(mut self) -> Arc<NotifyStats> {
        self.shutdown();
        self.stats.clone()
    }

    fn shutdown(&mut self) {
        drop(self.tx.take());
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn deliver(rx: Receiver<AlertMessage>, mut sinks: Vec<Box<dyn AlertSink>>, attempts: u32, stats: &NotifyStats) {
    for alert in rx {
        for sink in &mut sinks {
            let mut backoff = Duration::from_millis(200);
            for attempt in 1..=attempts {
                match sink.send(&alert) {
                    Ok(()) => {
                        stats.delivered.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Err(e) if attempt == attempts => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(id = %alert.id, error = %e, attempts, "alert not delivered");
                    }
                    Err(e) => {
                        tracing::warn!(id = %alert.id, error = %e, attempt, "alert delivery failed; retrying");
                        std::thread::sleep(backoff);
                        backoff *= 2;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Fails its first `fail` sends, then records.
    struct Flaky {
        fail: u32,
        got: Arc<Mutex<Vec<String>>>,
    }

    impl AlertSink for Flaky {
        fn name(&self) -> String {
            "flaky".into()
        }

        fn send(&mut self, alert: &AlertMessage) -> Result<(), NotifyError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(NotifyError::Delivery { sink: self.name(), reason: "down".into() });
            }
            self.got.lock().unwrap().push(alert.id.clone());
            Ok(())
        }
    }

    fn alert(i: u32) -> AlertMessage {
        AlertMessage {
            id: format!("alerts/A/price_drop/{i}"),
            symbol: "A".into(),
            summary: "A price drop".into(),
            json: "{}".into(),
        }
    }

    #[test]
    fn failed_deliveries_are_retried_and_counted() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let n = Notifier::start(vec![Box::new(Flaky { fail: 2, got: got.clone() })], 8, 3);
        assert!(n.notify(alert(1)) && n.notify(alert(2)));
        let stats = n.close();
        assert_eq!(*got.lock().unwrap(), ["alerts/A/price_drop/1", "alerts/A/price_drop/2"]);
        assert_eq!((stats.delivered.load(Ordering::Relaxed), stats.failed.load(Ordering::Relaxed)), (2, 0));

        let never = Notifier::start(vec![Box::new(Flaky { fail: u32::MAX, got })], 8, 2);
        never.notify(alert(3));
        let stats = never.close();
        assert_eq!(stats.failed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        struct Slow;
        impl AlertSink for Slow {
            fn name(&self) -> String {
                "slow".into()
            }
            fn send(&mut self, _: &AlertMessage) -> Result<(), NotifyError> {
                std::thread::sleep(Duration::from_millis(300));
                Ok(())
            }
        }
        let n = Notifier::start(vec![Box::new(Slow)], 2, 1);
        let accepted = (0..10).filter(|&i| n.notify(alert(i))).count();
        assert!((2..10).contains(&accepted), "{accepted}");
        assert_eq!(n.stats().dropped.load(Ordering::Relaxed), 10 - accepted as u64);
    }

    #[test]
    fn a_webhook_is_named_without_its_secret() {
        assert_eq!(redact_url("https://hooks.slack.com/services/T0/B0/XYZ"), "https://hooks.slack.com/…");
        assert_eq!(redact_url("http://user:pw@example.com:8080?key=1"), "http://example.com:8080/…");
        assert_eq!(redact_url("http://127.0.0.1:9"), "http://127.0.0.1:9");
        let hook = Webhook::new("https://hooks.slack.com/services/T0/B0/XYZ", Some("tok".into())).unwrap();
        for shown in [hook.name(), format!("{hook:?}")] {
            assert!(!shown.contains("XYZ") && !shown.contains("tok"), "{shown}");
        }
    }

    #[test]
    fn a_webhook_needs_an_http_url() {
        assert!(Webhook::new("ftp://x", None).is_err());
        assert!(Webhook::new("https://hooks.example.com/T1", None).is_ok());
    }
}
