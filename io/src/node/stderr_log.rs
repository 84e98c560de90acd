//! A minimal `tracing` subscriber for the node process: one line per event on stderr,
//! `<unix seconds>.<millis> LEVEL target: message key=value ...`, at or above a level.
//! Spans are not tracked (the node logs with fields, not spans).

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Writes events at or above `level` to stderr.
#[derive(Debug)]
pub struct StderrLog {
    level: Level,
    next_span: AtomicU64,
}

impl StderrLog {
    /// A logger for `level` and above.
    pub fn new(level: Level) -> Self {
        StderrLog {
            level,
            next_span: AtomicU64::new(1),
        }
    }

    /// The level named by `text` (`error`, `warn`, `info`, `debug`, `trace`), if any.
    pub fn parse_level(text: &str) -> Option<Level> {
        text.trim().parse().ok()
    }

    /// Installs a logger as the process's default; `RUST_LOG` picks the level (default
    /// `info`). Returns false if a subscriber was already installed.
    pub fn install_from_env() -> bool {
        let level = std::env::var("RUST_LOG")
            .ok()
            .and_then(|t| StderrLog::parse_level(&t))
            .unwrap_or(Level::INFO);
        tracing::subscriber::set_global_default(StderrLog::new(level)).is_ok()
    }
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Level orders TRACE > DEBUG > ... > ERROR (more verbose is greater).
        *metadata.level() <= self.level
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed).max(1))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let meta = event.metadata();
        let mut line = Line(format!(
            "{}.{:03} {:>5} {}:",
            now.as_secs(),
            now.subsec_millis(),
            meta.level(),
            meta.target()
        ));
        event.record(&mut line);
        line.0.push('\n');
        let _ = std::io::stderr().lock().write_all(line.0.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
