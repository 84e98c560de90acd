//! The node's time: core `Instant`s are nanoseconds since the Unix epoch (so events'
//! `written_at` cross the wire unchanged, see `io::convert`), advanced by tokio's monotonic
//! clock from one wall-clock reading at start, so a wall-clock step never moves them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use omnirelay_core::Instant;

/// Maps between core `Instant`s and tokio instants.
#[derive(Clone, Copy, Debug)]
pub struct NodeClock {
    start: tokio::time::Instant,
    start_unix_nanos: u64,
}

impl NodeClock {
    /// A clock anchored at the wall clock now.
    pub fn from_wall_clock() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        NodeClock::anchored(nanos)
    }

    /// A clock whose current instant is `unix_nanos` (the simulator passes its own epoch).
    pub fn anchored(unix_nanos: u64) -> Self {
        NodeClock {
            start: tokio::time::Instant::now(),
            start_unix_nanos: unix_nanos,
        }
    }

    /// Now, as core counts it.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.unix_nanos())
    }

    /// Now, in nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> u64 {
        let elapsed = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.start_unix_nanos.saturating_add(elapsed)
    }

    /// The tokio instant at which core's `at` falls due (now, if it is past).
    pub fn deadline(&self, at: Instant) -> tokio::time::Instant {
        let offset = at.as_nanos().saturating_sub(self.start_unix_nanos);
        self.start + Duration::from_nanos(offset)
    }
}
