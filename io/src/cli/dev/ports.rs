//! Ports for a mesh on loopback (the demo, `dev up`, and the multi-process tests).

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The first port handed out; the kernel's ephemeral range starts at 32768.
const FIRST: u32 = 20_000;
/// How many ports [`free_local_port`] cycles through.
const SPAN: u32 = 12_000;

/// A loopback port nobody listens on right now, below the kernel's ephemeral range.
///
/// A port from `bind(127.0.0.1:0)` is ephemeral: once released, an outgoing connection of
/// the mesh itself (node to node) can take it before the node meant to listen there binds
/// it, and that node then fails to start (seen in CI and in the demo). Below 32768 only
/// another listener can take it. Each process starts at its own offset so concurrent test
/// binaries rarely probe the same ports; within a process a port is handed out once per
/// cycle. `None` when every port of the span is taken.
pub fn free_local_port() -> Option<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let offset = (std::process::id() % 400) * 30;
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (offset + n) % SPAN;
        let port = u16::try_from(port).ok()?;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Some(port);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_not_repeated() {
        let ports: Vec<u16> = (0..50).filter_map(|_| free_local_port()).collect();
        assert_eq!(ports.len(), 50);
        assert!(
            ports.iter().all(|&p| (20_000..32_768).contains(&p)),
            "{ports:?}"
        );
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }

    #[test]
    fn a_port_someone_listens_on_is_skipped() {
        let first = free_local_port().expect("a port");
        let _held = TcpListener::bind(("127.0.0.1", first)).expect("bind it");
        // The next calls walk on from `first`; none may return it while it is held.
        for _ in 0..20 {
            assert_ne!(free_local_port(), Some(first));
        }
    }
}
