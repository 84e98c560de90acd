//! Every control route driven through the Router (tower `oneshot`) against the in-memory
//! test backend: happy paths, every refusal path, RBAC denials, and the audit trail they
//! leave (issue #7, "Control API"; ARCHITECTURE.md, io `control` and `audit`).

mod control_routes;
mod control_support;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use control_support::{ADMIN_TOKEN, NOW_MS, OPERATE_TOKEN, READ_TOKEN};
use http_body_util::BodyExt;
use omnirelay_io::audit::{AuditLog, AuditOutcome, AuditPage, AuditRecord};
use omnirelay_io::control::model::{
    ClustersSnapshot, ErrorBody, FailoverList, FailoverStatus, FailoverStep, FailoverView,
    LeaderView, LeadershipEvent, PeersPage, ReplicationHealth, StateDiff,
};
use omnirelay_io::control::{CertificateCaller, ControlRole};
use serde_json::{Value, json};
use tower::ServiceExt;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json<T: serde::de::DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: status {} body {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn error(&self) -> ErrorBody {
        self.json()
    }
}

async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible router");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(bytes) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    builder.body(body).expect("request")
}

async fn get(router: &Router, path: &str, token: &str) -> Reply {
    send(router, request(Method::GET, path, Some(token), None)).await
}

async fn post(router: &Router, path: &str, token: &str, body: Value) -> Reply {
    let bytes = serde_json::to_vec(&body).expect("json");
    send(
        router,
        request(Method::POST, path, Some(token), Some(bytes)),
    )
    .await
}

fn audit(log: &AuditLog) -> Vec<AuditRecord> {
    log.read(0, 1000).expect("audit read").records
}

fn planned(namespace: &str, to: &str) -> Value {
    json!({"kind": "planned", "namespace": namespace, "target_cluster": to, "ticket": "CHG-1"})
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

// ---- authentication and authorisation ----

#[tokio::test]
async fn every_route_refuses_a_caller_without_credentials_with_401_and_audits_it() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let routes = control_routes::all_routes(planned("orders", "us-east"));
    for (method, path, body) in &routes {
        let body = body.as_ref().map(|b| serde_json::to_vec(b).expect("json"));
        let reply = send(&router, request(method.clone(), path, None, body)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(reply.error().code, "unauthenticated");
    }
    let records = audit(&log);
    assert_eq!(records.len(), routes.len(), "one audit record per refusal");
    assert!(
        records
            .iter()
            .all(|r| r.outcome == AuditOutcome::Refused && r.who == "anonymous")
    );
    assert!(records.iter().all(|r| r.at_unix_ms == NOW_MS));
}

#[tokio::test]
async fn an_unknown_bearer_token_is_refused_and_the_audit_log_never_holds_a_token() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let reply = get(&router, "/control/clusters", "guessed-token").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.headers.get(header::WWW_AUTHENTICATE).is_some(),
        "a 401 names its scheme"
    );
    // A valid token in a malformed header is not accepted either.
    let mut bad = request(Method::GET, "/control/clusters", None, None);
    bad.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Token {ADMIN_TOKEN}").parse().expect("header"),
    );
    assert_eq!(send(&router, bad).await.status, StatusCode::UNAUTHORIZED);
    // The scheme itself is case-insensitive (RFC 9110 11.1).
    let mut lower = request(Method::GET, "/control/clusters", None, None);
    lower.headers_mut().insert(
        header::AUTHORIZATION,
        format!("bearer {READ_TOKEN}").parse().expect("header"),
    );
    assert_eq!(send(&router, lower).await.status, StatusCode::OK);
    // Accepted calls are logged by token name, never by the secret.
    post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await;
    let text = std::fs::read_to_string(log.path()).expect("audit file");
    for secret in ["guessed-token", ADMIN_TOKEN, OPERATE_TOKEN] {
        assert!(!text.contains(secret), "audit log leaked {secret}");
    }
    assert_eq!(audit(&log)[0].who, "token:unknown");
}

#[tokio::test]
async fn the_read_role_reads_every_read_route() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await;
    for (method, path, _) in control_routes::all_routes(planned("orders", "us-east")) {
        if method == Method::GET {
            let reply = get(&router, path, READ_TOKEN).await;
            assert_eq!(reply.status, StatusCode::OK, "GET {path}");
        }
    }
}

#[tokio::test]
async fn the_read_role_cannot_create_approve_or_cancel_a_failover_and_each_denial_is_audited() {
    let dir = tempdir();
    let (router, mesh, log) = control_support::router(dir.path());
    let before = mesh.revision();
    for (method, path, body) in control_routes::all_routes(planned("orders", "us-east")) {
        if method == Method::POST {
            let reply = post(&router, path, READ_TOKEN, body.expect("post body")).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "POST {path}");
            assert_eq!(reply.error().code, "forbidden");
        }
    }
    assert_eq!(mesh.revision(), before, "nothing changed");
    let records = audit(&log);
    assert_eq!(records.len(), 3);
    assert!(
        records
            .iter()
            .all(|r| r.outcome == AuditOutcome::Refused && r.who == "token:reader")
    );
}

#[tokio::test]
async fn the_operate_role_cannot_approve_or_force_but_can_create_and_cancel() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let mut gated = planned("orders", "us-east");
    gated["approver"] = json!("alice");
    let created = post(&router, "/control/failovers", OPERATE_TOKEN, gated).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.json::<FailoverView>().id;

    let approve = post(
        &router,
        &format!("/control/failovers/{id}/approve"),
        OPERATE_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(approve.status, StatusCode::FORBIDDEN);
    assert!(
        approve.error().message.contains("mesh.admin"),
        "{:?}",
        approve.error()
    );

    let forced = json!({"kind": "emergency", "namespace": "payments", "target_cluster": "us-east", "force": true});
    let reply = post(&router, "/control/failovers", OPERATE_TOKEN, forced).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let cancel = post(
        &router,
        &format!("/control/failovers/{id}/cancel"),
        OPERATE_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert_eq!(
        cancel.json::<FailoverView>().status,
        FailoverStatus::Cancelled
    );

    let outcomes: Vec<(String, AuditOutcome)> = audit(&log)
        .into_iter()
        .map(|r| (r.what, r.outcome))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("failover.create".into(), AuditOutcome::Accepted),
            ("failover.approve".into(), AuditOutcome::Refused),
            ("failover.create --force".into(), AuditOutcome::Refused),
            ("failover.cancel".into(), AuditOutcome::Accepted),
        ]
    );
}

#[tokio::test]
async fn the_admin_role_can_force_an_emergency_failover() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let forced = json!({"kind": "emergency", "namespace": "payments", "target_cluster": "us-east", "force": true});
    let reply = post(&router, "/control/failovers", ADMIN_TOKEN, forced).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let view: FailoverView = reply.json();
    assert!(view.force);
    assert_eq!(view.requested_by, "token:admin");
}

#[tokio::test]
async fn a_client_certificate_role_is_used_instead_of_any_bearer_token() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let mut req = request(
        Method::POST,
        "/control/failovers",
        Some(ADMIN_TOKEN),
        Some(serde_json::to_vec(&planned("orders", "us-east")).expect("json")),
    );
    req.extensions_mut().insert(CertificateCaller {
        name: "ops-laptop".into(),
        role: ControlRole::Read,
    });
    let reply = send(&router, req).await;
    assert_eq!(
        reply.status,
        StatusCode::FORBIDDEN,
        "the certificate's read role wins"
    );
    assert_eq!(audit(&log)[0].who, "cert:ops-laptop");

    let mut req = request(Method::GET, "/control/clusters", None, None);
    req.extensions_mut().insert(CertificateCaller {
        name: "ops-laptop".into(),
        role: ControlRole::Read,
    });
    assert_eq!(send(&router, req).await.status, StatusCode::OK);
}

// ---- clusters, peers, leaders, events ----

#[tokio::test]
async fn clusters_carry_an_etag_from_the_registry_revision_and_a_match_answers_304() {
    let dir = tempdir();
    let (router, mesh, _) = control_support::router(dir.path());
    let first = get(&router, "/control/clusters", READ_TOKEN).await;
    assert_eq!(first.status, StatusCode::OK);
    let snapshot: ClustersSnapshot = first.json();
    assert_eq!(snapshot.registry_revision, mesh.revision());
    assert_eq!(snapshot.clusters.len(), 3);
    assert!(
        snapshot.clusters.iter().all(|c| c.lag.len() == 2),
        "lag to and from every other cluster"
    );
    let etag = first.headers.get(header::ETAG).expect("etag").clone();

    let mut again = request(Method::GET, "/control/clusters", Some(READ_TOKEN), None);
    again
        .headers_mut()
        .insert(header::IF_NONE_MATCH, etag.clone());
    let cached = send(&router, again).await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    assert_eq!(cached.headers.get(header::ETAG), Some(&etag));

    // A promotion bumps the revision: the old tag no longer matches.
    let id = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await
    .json::<FailoverView>()
    .id;
    for _ in 0..6 {
        get(&router, &format!("/control/failovers/{id}"), READ_TOKEN).await;
    }
    let mut stale = request(Method::GET, "/control/clusters", Some(READ_TOKEN), None);
    stale
        .headers_mut()
        .insert(header::IF_NONE_MATCH, etag.clone());
    let fresh = send(&router, stale).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_ne!(fresh.headers.get(header::ETAG), Some(&etag));
}

#[tokio::test]
async fn peers_filter_by_cluster_role_and_status_and_page_through_the_rest() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let all: PeersPage = get(&router, "/control/peers", READ_TOKEN).await.json();
    assert_eq!(all.total, 9);

    let eu: PeersPage = get(&router, "/control/peers?cluster=eu-west", READ_TOKEN)
        .await
        .json();
    assert_eq!(eu.total, 3);
    assert!(eu.peers.iter().all(|p| p.cluster == "eu-west"));

    let learners: PeersPage = get(&router, "/control/peers?role=learner", READ_TOKEN)
        .await
        .json();
    assert_eq!(learners.total, 3);
    let suspect: PeersPage = get(&router, "/control/peers?status=suspect", READ_TOKEN)
        .await
        .json();
    assert_eq!(suspect.total, 1);
    assert_eq!(suspect.peers[0].cluster, "ap-south");

    let mut seen = Vec::new();
    for page in 1..=3 {
        let p: PeersPage = get(
            &router,
            &format!("/control/peers?page={page}&page_size=4"),
            READ_TOKEN,
        )
        .await
        .json();
        assert_eq!(p.total, 9);
        seen.extend(p.peers.into_iter().map(|p| p.node));
    }
    let mut expected: Vec<String> = all.peers.into_iter().map(|p| p.node).collect();
    assert_eq!(
        seen,
        expected.clone(),
        "pages cover every peer once, in order"
    );
    expected.dedup();
    assert_eq!(seen.len(), expected.len());
}

#[tokio::test]
async fn peers_refuse_an_unknown_cluster_with_404_and_bad_filters_with_400() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let unknown = get(&router, "/control/peers?cluster=mars", READ_TOKEN).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error().code, "unknown_cluster");
    for bad in [
        "/control/peers?status=sleepy",
        "/control/peers?page=0",
        "/control/peers?page_size=100000",
        "/control/peers?page=two",
        "/control/peers?role=king",
        "/control/peers?colour=red",
    ] {
        let reply = get(&router, bad, READ_TOKEN).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(reply.error().code, "invalid_query", "{bad}");
    }
}

#[tokio::test]
async fn leaders_list_every_cluster_with_term_and_fencing_token() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let leaders: Vec<LeaderView> = get(&router, "/control/leaders", READ_TOKEN).await.json();
    assert_eq!(leaders.len(), 3);
    assert!(
        leaders
            .iter()
            .all(|l| l.leader.is_some() && l.fencing_token == l.term)
    );
}

#[tokio::test]
async fn leadership_changes_stream_as_server_sent_events() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let reply = get(&router, "/control/events/leadership", READ_TOKEN).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let text = String::from_utf8(reply.body).expect("utf-8");
    let events: Vec<LeadershipEvent> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).expect("event json"))
        .collect();
    assert_eq!(text.matches("event: leadership").count(), 2);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].leader.as_deref(), Some("n2"));
    assert_eq!(events[1].fencing_token, 5);
}

// ---- failovers ----

#[tokio::test]
async fn a_created_failover_is_201_with_its_location_and_reports_each_step_to_done() {
    let dir = tempdir();
    let (router, mesh, log) = control_support::router(dir.path());
    let reply = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let view: FailoverView = reply.json();
    assert_eq!(
        reply
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok()),
        Some(format!("/control/failovers/{}", view.id).as_str())
    );
    let mut steps = vec![view.step];
    let mut last = view;
    while !last.status.is_terminal() {
        last = get(
            &router,
            &format!("/control/failovers/{}", last.id),
            READ_TOKEN,
        )
        .await
        .json();
        steps.push(last.step);
    }
    assert_eq!(
        steps,
        vec![
            FailoverStep::Preflight,
            FailoverStep::Drain,
            FailoverStep::CatchUp,
            FailoverStep::Promote,
            FailoverStep::Publish,
            FailoverStep::Done
        ]
    );
    assert_eq!(last.status, FailoverStatus::Succeeded);
    assert_eq!(last.trail.len(), 6, "the trail records every step");
    assert_eq!(mesh.active_of("orders"), "us-east");
    let list: FailoverList = get(&router, "/control/failovers", READ_TOKEN).await.json();
    assert_eq!(list.failovers.len(), 1);
    let record = &audit(&log)[0];
    assert_eq!(record.what, "failover.create");
    assert_eq!(record.target, "namespace/orders");
    assert!(
        record
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("ticket=CHG-1")),
        "{record:?}"
    );
}

#[tokio::test]
async fn a_dry_run_reports_preflight_and_changes_nothing() {
    let dir = tempdir();
    let (router, mesh, log) = control_support::router(dir.path());
    let mut body = planned("orders", "us-east");
    body["dry_run"] = json!(true);
    let reply = post(&router, "/control/failovers", OPERATE_TOKEN, body).await;
    assert_eq!(reply.status, StatusCode::OK);
    let view: FailoverView = reply.json();
    assert_eq!(view.status, FailoverStatus::DryRun);
    assert!(view.preflight.iter().all(|c| c.passed));
    let list: FailoverList = get(&router, "/control/failovers", READ_TOKEN).await.json();
    assert!(list.failovers.is_empty());
    assert_eq!(mesh.active_of("orders"), "eu-west");
    assert_eq!(audit(&log)[0].what, "failover.dry_run");
}

#[tokio::test]
async fn a_second_failover_of_a_namespace_already_moving_is_409() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let first = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let second = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    let error = second.error();
    assert_eq!(error.code, "namespace_already_moving");
    assert!(
        error.message.contains("orders") && error.message.contains("fo-1"),
        "{error:?}"
    );
    assert_eq!(audit(&log)[1].outcome, AuditOutcome::Refused);
}

#[tokio::test]
async fn an_unknown_namespace_or_target_cluster_is_404_naming_it() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let reply = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("invoices", "us-east"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().code, "unknown_namespace");
    assert!(reply.error().message.contains("invoices"));

    let reply = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "mars"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().code, "unknown_cluster");

    let reply = get(&router, "/control/failovers/fo-99", READ_TOKEN).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error().code, "unknown_failover");
}

#[tokio::test]
async fn malformed_json_is_400_with_a_message_naming_the_problem() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let cases: [(&[u8], &str); 6] = [
        (b"{\"kind\": \"planned\",", "EOF"),
        (
            b"{\"kind\": \"sideways\", \"namespace\": \"orders\"}",
            "sideways",
        ),
        (b"{\"kind\": \"planned\"}", "namespace"),
        (
            b"{\"kind\": \"planned\", \"namespace\": \"orders\", \"target\": \"x\"}",
            "target",
        ),
        (b"\"just a string\"", "FailoverRequest"),
        (b"", "empty"),
    ];
    for (body, named) in cases {
        let reply = send(
            &router,
            request(
                Method::POST,
                "/control/failovers",
                Some(OPERATE_TOKEN),
                Some(body.to_vec()),
            ),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{}",
            String::from_utf8_lossy(body)
        );
        let error = reply.error();
        assert_eq!(error.code, "malformed_json");
        assert!(
            error.message.contains(named),
            "{named:?} not named in {error:?}"
        );
    }
    assert_eq!(
        audit(&log).len(),
        cases.len(),
        "each refused mutation is audited"
    );
}

#[tokio::test]
async fn semantically_invalid_requests_are_400_before_reaching_the_node() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let cases = [
        (
            json!({"kind": "planned", "namespace": "orders"}),
            "missing_target_cluster",
        ),
        (
            json!({"kind": "planned", "namespace": "Orders!", "target_cluster": "us-east"}),
            "invalid_namespace",
        ),
        (
            json!({"kind": "planned", "namespace": "orders", "target_cluster": "us-east", "force": true}),
            "force_not_allowed",
        ),
        (
            json!({"kind": "planned", "namespace": "orders", "target_cluster": "eu-west"}),
            "invalid_request",
        ),
    ];
    for (body, code) in cases {
        let reply = post(&router, "/control/failovers", ADMIN_TOKEN, body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{code}");
        assert_eq!(reply.error().code, code);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_a_json_error() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let mut body = planned("orders", "us-east");
    body["reason"] = json!("x".repeat(70 * 1024));
    let reply = post(&router, "/control/failovers", OPERATE_TOKEN, body).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error().code, "body_too_large");
    assert_eq!(audit(&log)[0].outcome, AuditOutcome::Refused);
}

#[tokio::test]
async fn a_preflight_refusal_is_422_listing_the_failed_check() {
    let dir = tempdir();
    let (router, mesh, _) = control_support::router(dir.path());
    let reply = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", control_support::LAGGING_CLUSTER),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = reply.error();
    assert_eq!(error.code, "preflight_refused");
    let failed: Vec<&str> = error
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, vec!["lag_under_threshold"]);
    assert_eq!(mesh.active_of("orders"), "eu-west");
}

#[tokio::test]
async fn an_approval_is_recorded_once_and_a_second_one_conflicts() {
    let dir = tempdir();
    let (router, _, log) = control_support::router(dir.path());
    let mut gated = planned("orders", "us-east");
    gated["approver"] = json!("admin");
    let view: FailoverView = post(&router, "/control/failovers", OPERATE_TOKEN, gated)
        .await
        .json();
    assert_eq!(view.status, FailoverStatus::AwaitingApproval);
    let path = format!("/control/failovers/{}/approve", view.id);
    let approved = post(&router, &path, ADMIN_TOKEN, json!({"comment": "CAB ok"})).await;
    assert_eq!(approved.status, StatusCode::OK);
    let approved: FailoverView = approved.json();
    assert_eq!(approved.status, FailoverStatus::Running);
    assert_eq!(approved.approved_by.as_deref(), Some("token:admin"));
    // An empty body is a valid approval too; but this one has nothing left to approve.
    let again = send(
        &router,
        request(Method::POST, &path, Some(ADMIN_TOKEN), None),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let records = audit(&log);
    assert_eq!(records[1].what, "failover.approve");
    assert!(
        records[1]
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("CAB ok"))
    );
    assert_eq!(records[2].outcome, AuditOutcome::Refused);
}

#[tokio::test]
async fn cancel_stops_a_failover_before_promotion_and_refuses_after_it() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let view: FailoverView = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await
    .json();
    let cancel = format!("/control/failovers/{}/cancel", view.id);
    assert_eq!(
        post(&router, &cancel, OPERATE_TOKEN, json!({}))
            .await
            .status,
        StatusCode::OK
    );

    let view: FailoverView = post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("payments", "us-east"),
    )
    .await
    .json();
    for _ in 0..3 {
        get(
            &router,
            &format!("/control/failovers/{}", view.id),
            READ_TOKEN,
        )
        .await;
    }
    let late = post(
        &router,
        &format!("/control/failovers/{}/cancel", view.id),
        OPERATE_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert_eq!(late.error().code, "conflicting_state");

    let unknown = post(
        &router,
        "/control/failovers/fo-42/cancel",
        OPERATE_TOKEN,
        json!({}),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let bad = send(
        &router,
        request(
            Method::POST,
            "/control/failovers/fo-1/cancel",
            Some(OPERATE_TOKEN),
            Some(b"{nope".to_vec()),
        ),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

// ---- state-diff, health, metrics, audit, unknown routes ----

#[tokio::test]
async fn state_diff_lists_quarantined_events_and_filters_by_a_known_namespace() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let diff: StateDiff = get(&router, "/control/state-diff", READ_TOKEN).await.json();
    assert_eq!(diff.quarantined.len(), 1);
    let payments: StateDiff = get(
        &router,
        "/control/state-diff?namespace=payments",
        READ_TOKEN,
    )
    .await
    .json();
    assert!(payments.quarantined.is_empty());
    let unknown = get(
        &router,
        "/control/state-diff?namespace=invoices",
        READ_TOKEN,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error().code, "unknown_namespace");
}

#[tokio::test]
async fn replication_health_is_200_when_healthy_and_503_when_unhealthy() {
    let dir = tempdir();
    let (router, mesh, _) = control_support::router(dir.path());
    let healthy = get(&router, "/v1/replication/health", READ_TOKEN).await;
    assert_eq!(healthy.status, StatusCode::OK);
    assert_eq!(healthy.json::<ReplicationHealth>().wal.last_index, 2048);
    mesh.set_unhealthy();
    let sick = get(&router, "/v1/replication/health", READ_TOKEN).await;
    assert_eq!(sick.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(sick.json::<Value>()["status"], "unhealthy");
}

#[tokio::test]
async fn metrics_are_served_as_parseable_prometheus_text() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let reply = get(&router, "/metrics", READ_TOKEN).await;
    assert_eq!(reply.status, StatusCode::OK);
    let content_type = reply
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    assert!(content_type.is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
    let text = String::from_utf8(reply.body).expect("utf-8");
    let scrape =
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("parses");
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "mesh_replication_lag_entries")
    );
}

#[tokio::test]
async fn the_audit_route_pages_through_what_the_mutations_wrote() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    post(
        &router,
        "/control/failovers",
        OPERATE_TOKEN,
        planned("orders", "us-east"),
    )
    .await;
    post(
        &router,
        "/control/failovers",
        READ_TOKEN,
        planned("payments", "us-east"),
    )
    .await;
    post(
        &router,
        "/control/failovers/fo-1/cancel",
        OPERATE_TOKEN,
        json!({}),
    )
    .await;
    let first: AuditPage = get(&router, "/control/audit?limit=2", READ_TOKEN)
        .await
        .json();
    assert_eq!(first.records.len(), 2);
    let rest: AuditPage = get(
        &router,
        &format!("/control/audit?from={}", first.next),
        READ_TOKEN,
    )
    .await
    .json();
    let whats: Vec<String> = first
        .records
        .iter()
        .chain(&rest.records)
        .map(|r| r.what.clone())
        .collect();
    assert_eq!(
        whats,
        vec!["failover.create", "failover.create", "failover.cancel"]
    );
    assert_eq!(first.records[1].outcome, AuditOutcome::Refused);
    assert_eq!(
        get(&router, "/control/audit?limit=0", READ_TOKEN)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn an_unknown_route_or_method_gets_a_json_error() {
    let dir = tempdir();
    let (router, _, _) = control_support::router(dir.path());
    let missing = get(&router, "/control/nothing", READ_TOKEN).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error().code, "no_such_route");
    let wrong = send(
        &router,
        request(Method::DELETE, "/control/clusters", Some(ADMIN_TOKEN), None),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.error().code, "method_not_allowed");
}
