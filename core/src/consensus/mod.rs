//! Raft inside a cluster: election, fencing terms, the replicated cluster log.
