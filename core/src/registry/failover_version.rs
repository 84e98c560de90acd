//! Failover versions unique per cluster: Temporal's `initial_version + k × increment`.

use crate::ClusterId;
use crate::replication::FailoverVersion;

use super::RegistryError;

/// The mesh-wide scheme that makes every failover version name exactly one cluster.
///
/// Each cluster owns a distinct `initial_version` in `1..increment`; the versions it may
/// be promoted to are `initial_version + k × increment`. So two clusters can never be
/// promoted to the same version, even by two operators racing without a registry quorum
/// (`--force`), and any version tells which cluster it was minted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct FailoverVersionScheme {
    increment: u64,
}

impl FailoverVersionScheme {
    /// A scheme with room for `increment - 1` clusters.
    pub fn new(increment: u64) -> Result<Self, RegistryError> {
        if increment < 2 {
            return Err(RegistryError::BadIncrement(increment));
        }
        Ok(FailoverVersionScheme { increment })
    }

    /// The increment.
    pub fn increment(self) -> u64 {
        self.increment
    }

    /// Whether `initial` is a usable initial version in this scheme.
    pub fn valid_initial(self, initial: u64) -> bool {
        (1..self.increment).contains(&initial)
    }

    /// The smallest version above `current` that belongs to the cluster with `initial`.
    pub fn next_for(
        self,
        current: FailoverVersion,
        cluster: &ClusterId,
        initial: u64,
    ) -> Result<FailoverVersion, RegistryError> {
        if !self.valid_initial(initial) {
            return Err(RegistryError::BadInitialVersion {
                cluster: cluster.clone(),
                initial,
                increment: self.increment,
            });
        }
        let base = current.0 - current.0 % self.increment;
        let next = base.checked_add(initial).and_then(|candidate| {
            if candidate > current.0 {
                Some(candidate)
            } else {
                candidate.checked_add(self.increment)
            }
        });
        next.map(FailoverVersion)
            .ok_or_else(|| RegistryError::VersionExhausted(cluster.clone()))
    }

    /// The initial version (and so the cluster) that minted `version`.
    pub fn initial_of(self, version: FailoverVersion) -> u64 {
        version.0 % self.increment
    }
}

impl Default for FailoverVersionScheme {
    /// Room for 99 clusters.
    fn default() -> Self {
        FailoverVersionScheme { increment: 100 }
    }
}
