//! Version vectors in headers and query strings: core's text form (`a=12,b=3`, see
//! `ClusterVersionVector`'s docs), also accepted with `:` (`a:12,b:3`) as the issue writes
//! it. Cluster ids cannot contain `:` or `=`, so both read the same.

use omnirelay_core::replication::ClusterVersionVector;

/// The request and response header carrying a version vector.
pub const VERSION_VECTOR_HEADER: &str = "x-omnirelay-version-vector";
/// The request header choosing the cluster a read should be served by.
pub const PREFERRED_CLUSTER_HEADER: &str = "x-omnirelay-preferred-cluster";

/// `vv` in core's text form.
pub fn format(vv: &ClusterVersionVector) -> String {
    vv.to_string()
}

/// Parses either text form; `what` names the header or parameter in the error.
pub fn parse(text: &str, what: &str) -> Result<ClusterVersionVector, String> {
    text.trim()
        .replace(':', "=")
        .parse()
        .map_err(|e| format!("{what}: {e} (expected origin:seq pairs separated by commas)"))
}
