//! The chaos layer: the real io shells under turmoil's simulated network and clock.
//!
//! - [`net`]: the io transport's [`Network`](omnirelay_io::transport::Network) over turmoil.

pub mod net;
