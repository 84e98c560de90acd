//! Every control API route, shared by the in-memory (control_api.rs) and real-mesh
//! (control_real_mesh.rs) suites so that a route added to one list is in both.

use hyper::Method;
use serde_json::{Value, json};

/// Every route with a method and, for a POST, a body; `create` is the failover to create.
pub fn all_routes(create: Value) -> Vec<(Method, &'static str, Option<Value>)> {
    vec![
        (Method::GET, "/control/clusters", None),
        (Method::GET, "/control/peers", None),
        (Method::GET, "/control/leaders", None),
        (Method::GET, "/control/events/leadership", None),
        (Method::GET, "/control/failovers", None),
        (Method::GET, "/control/failovers/fo-1", None),
        (Method::POST, "/control/failovers", Some(create)),
        (
            Method::POST,
            "/control/failovers/fo-1/approve",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/control/failovers/fo-1/cancel",
            Some(json!({})),
        ),
        (Method::GET, "/control/state-diff", None),
        (Method::GET, "/control/audit", None),
        (Method::GET, "/v1/replication/health", None),
        (Method::GET, "/metrics", None),
    ]
}
