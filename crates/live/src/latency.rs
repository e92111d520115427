//! Latency accounting: processing (receive → emit) and end to end (the input record's Kafka
//! timestamp, i.e. when the feed produced it → emit), as percentiles per stats window and
//! over the whole run.

use std::fmt::Write as _;

use crate::LiveSummary;

/// Percentiles of one window (or of the run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub samples: usize,
    pub processing_p50_us: f64,
    pub processing_p99_us: f64,
    pub e2e_p50_ms: f64,
    pub e2e_p99_ms: f64,
    pub e2e_max_ms: f64,
}

/// Samples of the current window, plus a bounded reservoir for the run's totals.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    processing_ns: Vec<i64>,
    e2e_ns: Vec<i64>,
    all_processing_ns: Vec<i64>,
    all_e2e_ns: Vec<i64>,
    seen: u64,
}

/// Every n-th sample goes to the run's totals once this many are kept.
const RUN_SAMPLES: usize = 1 << 20;

fn percentile(sorted: &[i64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[rank] as f64
}

fn summarise(processing: &mut [i64], e2e: &mut [i64]) -> Option<LatencySummary> {
    if processing.is_empty() {
        return None;
    }
    processing.sort_unstable();
    e2e.sort_unstable();
    Some(LatencySummary {
        samples: processing.len(),
        processing_p50_us: percentile(processing, 0.5) / 1e3,
        processing_p99_us: percentile(processing, 0.99) / 1e3,
        e2e_p50_ms: percentile(e2e, 0.5) / 1e6,
        e2e_p99_ms: percentile(e2e, 0.99) / 1e6,
        e2e_max_ms: e2e.last().map_or(f64::NAN, |&x| x as f64 / 1e6),
    })
}

impl LatencyWindow {
    pub fn record(&mut self, processing_ns: i64, e2e_ns: Option<i64>) {
        self.processing_ns.push(processing_ns);
        if let Some(e) = e2e_ns {
            self.e2e_ns.push(e);
        }
        self.seen += 1;
        let stride = (self.seen as usize / RUN_SAMPLES).max(1) as u64;
        if self.seen.is_multiple_of(stride) && self.all_processing_ns.len() < 2 * RUN_SAMPLES {
            self.all_processing_ns.push(processing_ns);
            if let Some(e) = e2e_ns {
                self.all_e2e_ns.push(e);
            }
        }
    }

    /// The window's percentiles; starts a new window.
    pub fn take_window(&mut self) -> Option<LatencySummary> {
        let summary = summarise(&mut self.processing_ns, &mut self.e2e_ns);
        self.processing_ns.clear();
        self.e2e_ns.clear();
        summary
    }

    /// Percentiles over the run so far.
    pub fn total(&self) -> Option<LatencySummary> {
        summarise(&mut self.all_processing_ns.clone(), &mut self.all_e2e_ns.clone())
    }
}

/// The runner's counters and last window as Prometheus text.
pub(crate) fn prometheus(summary: &LiveSummary, rate: f64, window: Option<&LatencySummary>) -> String {
    let mut text = String::new();
    for (name, help, value) in [
        ("tickloop_live_records_total", "Input records processed.", summary.records),
        ("tickloop_live_features_total", "Feature records published.", summary.features),
        ("tickloop_live_alerts_total", "Alerts published.", summary.alerts),
        ("tickloop_live_dead_letters_total", "Records sent to the dead-letter topic.", summary.dead_letters),
        ("tickloop_live_checkpoints_total", "Checkpoints (flush, save state, commit).", summary.checkpoints),
        (
            "tickloop_live_checkpoints_deferred_total",
            "Checkpoints put off while the broker was unreachable.",
            summary.checkpoints_deferred,
        ),
        ("tickloop_live_broker_errors_total", "Transient broker errors ridden out.", summary.broker_errors),
    ] {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    let _ = writeln!(text, "# TYPE tickloop_live_records_per_second gauge\ntickloop_live_records_per_second {rate}");
    let _ = writeln!(
        text,
        "# HELP tickloop_live_consumer_lag Records not yet processed on this member's partitions.\n# TYPE tickloop_live_consumer_lag gauge\ntickloop_live_consumer_lag {}",
        summary.consumer_lag
    );
    if let Some(w) = window {
        let _ = writeln!(text, "# TYPE tickloop_live_e2e_latency_ms gauge");
        for (q, v) in [("0.5", w.e2e_p50_ms), ("0.99", w.e2e_p99_ms), ("1", w.e2e_max_ms)] {
            let _ = writeln!(text, "tickloop_live_e2e_latency_ms{{quantile=\"{q}\"}} {v}");
        }
        let _ = writeln!(text, "# TYPE tickloop_live_processing_latency_us gauge");
        for (q, v) in [("0.5", w.processing_p50_us), ("0.99", w.processing_p99_us)] {
            let _ = writeln!(text, "tickloop_live_processing_latency_us{{quantile=\"{q}\"}} {v}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_window_then_a_fresh_window() {
        let mut w = LatencyWindow::default();
        for i in 1..=100 {
            w.record(i * 1000, Some(i * 1_000_000));
        }
        let s = w.take_window().unwrap();
        assert_eq!(s.samples, 100);
        assert_eq!((s.e2e_p50_ms, s.e2e_p99_ms, s.e2e_max_ms), (51.0, 99.0, 100.0));
        assert_eq!(s.processing_p50_us, 51.0);
        assert!(w.take_window().is_none());
        assert_eq!(w.total().unwrap().samples, 100);
    }

    #[test]
    fn prometheus_text_has_counters_lag_and_quantiles() {
        let summary = LiveSummary { records: 7, consumer_lag: 42, ..LiveSummary::default() };
        let mut w = LatencyWindow::default();
        w.record(1000, Some(2_000_000));
        let text = prometheus(&summary, 3.5, w.take_window().as_ref());
        assert!(text.contains("tickloop_live_records_total 7\n"));
        assert!(text.contains("tickloop_live_consumer_lag 42\n"));
        assert!(text.contains("tickloop_live_e2e_latency_ms{quantile=\"0.99\"} 2\n"), "{text}");
    }
}
