//! Deterministic simulation of OmniRelay Mesh. (Built by the model-simulator issue.)
#![forbid(unsafe_code)]
