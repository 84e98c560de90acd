//! Replication ordering between clusters: version vectors, the applier, conflicts, lag.
