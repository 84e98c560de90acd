//! The tokio shells around the core: transport, storage, APIs. (Built by the node issue.)

pub mod storage;
