//! Every control route and every `omnirelay mesh` verb against a REAL local mesh: two
//! clusters x three in-process `NodeRuntime`s on loopback, each serving the real
//! `NodeBackend` through `control::serve_control` over mutual TLS (issue #7, "Done when" 1;
//! ARCHITECTURE.md, io `control`, "Planned failover", "Emergency failover"). One mesh
//! serves every test (`real_mesh::shared`); each test that moves something owns a
//! namespace. Failover policy of that mesh: a change ticket and an approval required (an
//! `approver` named in the request counts as one only from mesh.admin), no cooldown. "No credential" is a
//! certificate of the mesh CA that grants no role, without a token: a client with no
//! certificate at all is refused at the TLS handshake and never reaches HTTP (CLI exit 3).
//!
//! | route / verb / refusal | test |
//! |---|---|
//! | GET /control/clusters, ETag, If-None-Match -> 304 | `clusters_carry_the_registry_revision_as_etag_and_a_match_answers_304` |
//! | GET /control/clusters lag to and from every other cluster | `a_control_voter_lists_lag_to_and_from_every_other_cluster` |
//! | GET /control/peers, filters, pages, unknown cluster 404, bad filter 400 | `peers_filter_page_and_refuse_unknown_clusters_and_bad_filters` |
//! | GET /control/leaders | `leaders_name_one_leader_per_cluster_and_the_control_group` |
//! | GET /control/events/leadership (SSE) | `the_leadership_stream_opens_with_the_current_leaders` |
//! | POST /control/failovers planned, ticket, approver (operate: only expected; admin: recorded), 201 + Location; GET /control/failovers/{id}; cancel after promotion 409; failback | `a_planned_failover_with_an_approver_runs_to_done_then_fails_back` |
//! | approve (admin), operate approving 403, second failover of a moving namespace 409, double approval 409 | `an_awaiting_failover_blocks_others_and_is_approved_once_by_an_admin` |
//! | cancel before promotion; read cancelling 403; cancel twice 409 | `a_failover_awaiting_approval_is_cancelled_and_changes_nothing` |
//! | POST emergency (operate) | `an_emergency_failover_promotes_and_reports_what_is_at_risk` |
//! | POST emergency forced: operate 403 (audited), admin 201 | `forcing_an_emergency_needs_admin` |
//! | POST migration | `a_migration_moves_the_namespace_for_good` |
//! | POST dry_run | `a_dry_run_passes_preflight_and_changes_nothing` |
//! | unknown namespace / cluster 404, malformed JSON 400 (create, approve, empty body), body over limit 413, invalid names / missing target / force on planned 400, preflight 422 (target already active, ticket missing), unknown failover 404, malformed id 400, each refusal audited | `bad_input_is_a_4xx_with_a_json_error_naming_the_problem` |
//! | unknown route / method: JSON error | `an_unknown_route_or_method_gets_a_json_error` |
//! | no credential 401, unknown token 401 (every route), audited | `every_route_refuses_a_caller_without_credentials_and_audits_it` |
//! | read role on every mutating route 403, audited | `the_read_role_is_refused_every_mutation_and_each_denial_is_audited` |
//! | tokens of each role; certificate role | `each_token_grants_its_role` |
//! | GET /control/state-diff with quarantined writes past an emergency cutoff | `writes_cut_off_by_an_emergency_are_reported_at_risk_and_listed_in_the_state_diff` |
//! | GET /control/state-diff (empty, unknown namespace 404) | `state_diff_of_a_healthy_mesh_is_empty_and_filters_by_namespace` |
//! | GET /v1/replication/health (healthy) | `replication_health_reports_role_region_wal_and_remote_lag` |
//! | GET /v1/replication/health 503 (unhealthy), SSE change event, a stopped node's routes 503 `unavailable`, CLI exit 3 on it, `replication status` exit 1 | `a_cluster_without_quorum_is_unhealthy_and_its_leadership_change_streams` (own mesh) |
//! | POST /control/failovers refused 422 within the cooldown | `a_namespace_moved_within_the_cooldown_is_refused_by_preflight` (own mesh) |
//! | GET /v1/replication/health degraded (a remote past the lag limit), CLI prints it | `a_remote_cluster_lagging_past_the_limit_is_degraded` (own mesh) |
//! | GET /metrics (prometheus-parse) | `metrics_parse_as_prometheus_text_with_the_contract_names` |
//! | GET /control/audit: refusals and mutations, paging | `the_audit_route_serves_refusals_and_mutations_in_pages` |
//! | CLI `clusters list`, `peers list` (filters), `leaders status`, `replication status`, `failovers list`, table and json | `cli_read_verbs_print_tables_and_json` |
//! | CLI `leaders status --watch` | `cli_leaders_watch_prints_the_leaders_then_streams_events` |
//! | CLI `clusters promote` planned with --ticket, live progress while awaiting approval, `failovers show`, `clusters failback` (table) | `cli_planned_promote_waits_for_approval_then_fails_back_with_zero_writes_at_risk` |
//! | CLI `clusters promote --dry-run`, `namespaces migrate --dry-run` | `cli_dry_runs_change_nothing` |
//! | CLI `--emergency --force`: operate exit 1, admin exit 0 | `cli_forced_emergency_needs_admin` |
//! | CLI `failovers approve` (operate exit 1, admin 0, twice exit 1) | `cli_approve_is_admin_only_and_once` |
//! | CLI `failovers cancel` | `cli_cancel_stops_a_pending_failover` |
//! | CLI `namespaces migrate` | `cli_migrate_moves_the_namespace` |
//! | CLI exit 1: preflight, RBAC, no role, unknown namespace | `cli_refusals_exit_1_and_leave_the_namespace_in_place` |
//! | CLI exit 2 (usage, malformed id), exit 3 (unreachable, no certificate) | `cli_usage_errors_exit_2_and_unreachable_endpoints_exit_3` |
//! | the planned-promote walk-through (moved from control_node_cli.rs) | `a_planned_promote_through_the_cli_moves_the_namespace_and_loses_no_write` |
//!
//! Not produced on the real mesh: a non-empty `divergent_namespaces` in /control/state-diff
//! (clusters with equal version vectors whose digests differ: only a bug makes one; the
//! comparison is tested in core/tests/node_divergence.rs, and the healthy mesh's empty list
//! here).

mod control_routes;
mod node_support;
mod real_mesh;

use std::io::BufRead;
use std::process::Stdio;
use std::time::Duration;

use hyper::{Method, StatusCode};
use node_support::{eventually, write, write_accepted};
use omnirelay_io::audit::{AuditOutcome, AuditPage};
use omnirelay_io::control::model::{
    ClustersSnapshot, FailoverKind, FailoverList, FailoverStatus, FailoverView, LeaderView,
    LeadershipEvent, PeerStatus, PeersPage, ReplicationHealth, StateDiff,
};
use real_mesh::{
    ADMIN, ADMIN_TOKEN, ControlledMesh, NO_CREDENTIAL, OPERATE, OPERATE_TOKEN, READ, READ_TOKEN,
    Who, active_of, assert_exit, placement_of, shared, token,
};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(60);

fn planned(namespace: &str, to: &str) -> Value {
    json!({"kind": "planned", "namespace": namespace, "target_cluster": to, "ticket": "CHG-7"})
}

/// Preflight checks that pass once the mesh has settled (lag reports flow): a refusal on
/// one of them is retried, any other answer is returned.
const SETTLING: [&str; 3] = ["lag_known", "lag_under_threshold", "target_healthy"];

/// POSTs a failover on `node` as `who`, retrying while preflight only waits for the mesh.
async fn create(m: &ControlledMesh, node: u64, who: Who, body: Value) -> real_mesh::Reply {
    eventually("preflight to settle", LONG, || {
        let body = body.clone();
        async move {
            let reply = m.post(node, who, "/control/failovers", body).await;
            let settling = reply.status == StatusCode::UNPROCESSABLE_ENTITY
                && reply
                    .error()
                    .checks
                    .iter()
                    .any(|c| !c.passed && SETTLING.contains(&c.name.as_str()));
            (!settling).then_some(reply)
        }
    })
    .await
}

/// Polls `GET /control/failovers/{id}` until the failover ends.
async fn follow(m: &ControlledMesh, node: u64, id: &str) -> FailoverView {
    eventually("the failover to end", LONG, || async {
        let reply = m.get(node, READ, &format!("/control/failovers/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let view: FailoverView = reply.json();
        view.status.is_terminal().then_some(view)
    })
    .await
}

/// Waits until `node` sees `namespace` active on `cluster`.
async fn active_on(m: &ControlledMesh, node: u64, namespace: &str, cluster: &str) {
    eventually("the placement to reach the node", LONG, || async {
        let snapshot = m.clusters(node).await;
        (active_of(&snapshot, namespace).as_deref() == Some(cluster)).then_some(())
    })
    .await;
}

fn refused_by(records: &[omnirelay_io::audit::AuditRecord], who: &str, what: &str) -> bool {
    records
        .iter()
        .any(|r| r.who == who && r.what == what && r.outcome == AuditOutcome::Refused)
}

// ---- reads ----

#[test]
fn clusters_carry_the_registry_revision_as_etag_and_a_match_answers_304() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        // Other tests move their namespaces meanwhile: retry until no change came between.
        let etag = eventually("a 304 for an unchanged revision", LONG, || async {
            let first = m.get(2, READ, "/control/clusters").await;
            assert_eq!(first.status, StatusCode::OK);
            let snapshot: ClustersSnapshot = first.json();
            let etag = first.headers["etag"].to_str().expect("etag").to_owned();
            assert_eq!(etag, format!("\"r{}\"", snapshot.registry_revision));
            assert_eq!(snapshot.clusters.len(), 2);
            let again = m
                .call(
                    2,
                    READ,
                    Method::GET,
                    "/control/clusters",
                    &[("if-none-match", &etag)],
                    None,
                )
                .await;
            (again.status == StatusCode::NOT_MODIFIED).then(|| {
                assert!(again.body.is_empty());
                assert_eq!(again.headers["etag"], etag.as_str());
                etag
            })
        })
        .await;
        // Our own failover raises the revision: the old tag no longer matches.
        let mut body = planned("r-etag", "b");
        body["approver"] = json!("cab");
        let view: FailoverView = create(m, 2, ADMIN, body).await.json();
        assert_eq!(
            follow(m, 2, &view.id).await.status,
            FailoverStatus::Succeeded
        );
        let stale = eventually("a newer revision", LONG, || async {
            let reply = m
                .call(
                    2,
                    READ,
                    Method::GET,
                    "/control/clusters",
                    &[("if-none-match", &etag)],
                    None,
                )
                .await;
            (reply.status == StatusCode::OK).then_some(reply)
        })
        .await;
        assert_ne!(stale.headers["etag"], etag.as_str());

        // Lag is reported by the node that streams it: cluster a's leader, towards b.
        let leader = node_support::leader_of(&m.handles(&[1, 2, 3])).await;
        let id = leader.status().await.expect("status").id.0;
        eventually("lag from a to b on a's leader", LONG, || async {
            let snapshot = m.clusters(id).await;
            snapshot
                .clusters
                .iter()
                .find(|c| c.id == "a")
                .is_some_and(|c| c.lag.iter().any(|l| l.peer == "b"))
                .then_some(())
        })
        .await;
    });
}

/// Issue #7: `/control/clusters` carries "replication lag to and from every other
/// cluster". Each direction is measured by its source's leader and reported to the control
/// voters, so a control voter (n1) knows both directions of every pair.
#[test]
fn a_control_voter_lists_lag_to_and_from_every_other_cluster() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        eventually("both directions of a<->b on n1", LONG, || async {
            let snapshot = m.clusters(1).await;
            let both = |cluster: &str, peer: &str| {
                snapshot
                    .clusters
                    .iter()
                    .find(|c| c.id == cluster)
                    .and_then(|c| c.lag.iter().find(|l| l.peer == peer))
                    .is_some_and(|l| l.to_peer.is_some() && l.from_peer.is_some())
            };
            (both("a", "b") && both("b", "a")).then_some(())
        })
        .await;
        // The table shows both directions (`peer:to<-from`), neither unknown.
        let out = m.cli(1, READ, &["clusters", "list"]).await;
        assert_exit(&out, 0);
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(table.contains("b:") && table.contains("a:"), "{table}");
        assert!(!table.contains('?'), "{table}");
    });
}

#[test]
fn peers_filter_page_and_refuse_unknown_clusters_and_bad_filters() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        // Gossip: n3 knows at least its own cluster's other members.
        let all: PeersPage = eventually("gossip members of cluster a", LONG, || async {
            let page: PeersPage = m.get(3, READ, "/control/peers").await.json();
            (page.peers.iter().filter(|p| p.cluster == "a").count() >= 2).then_some(page)
        })
        .await;
        let total = usize::try_from(all.total).expect("total");
        assert_eq!(all.peers.len(), total, "one page holds them all by default");
        let count = |cluster: &str| all.peers.iter().filter(|p| p.cluster == cluster).count();
        for cluster in ["a", "b"] {
            let page: PeersPage = m
                .get(3, READ, &format!("/control/peers?cluster={cluster}"))
                .await
                .json();
            assert!(page.peers.iter().all(|p| p.cluster == cluster));
            assert_eq!(page.peers.len(), count(cluster));
        }
        let voters: PeersPage = m.get(3, READ, "/control/peers?role=voter").await.json();
        assert!(voters.peers.iter().all(|p| p.role == "voter"));
        assert_eq!(
            voters.peers.len(),
            total,
            "no witness or learner in this mesh"
        );
        let witnesses: PeersPage = m.get(3, READ, "/control/peers?role=witness").await.json();
        assert_eq!(witnesses.total, 0);
        let alive: PeersPage = m
            .get(3, READ, "/control/peers?status=alive&cluster=a")
            .await
            .json();
        assert!(!alive.peers.is_empty());
        assert!(
            alive
                .peers
                .iter()
                .all(|p| p.status == PeerStatus::Alive && p.cluster == "a")
        );
        let mut seen = Vec::new();
        for page in 1..=u32::try_from(total.div_ceil(2)).expect("pages") {
            let p: PeersPage = m
                .get(3, READ, &format!("/control/peers?page={page}&page_size=2"))
                .await
                .json();
            assert_eq!((p.page, p.page_size, p.total), (page, 2, all.total));
            seen.extend(p.peers.into_iter().map(|p| p.node));
        }
        let expected: Vec<String> = all.peers.into_iter().map(|p| p.node).collect();
        assert_eq!(seen, expected, "pages cover every member once, in order");

        let unknown = m.get(3, READ, "/control/peers?cluster=mars").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown.error().code, "unknown_cluster");
        for bad in [
            "/control/peers?status=sleepy",
            "/control/peers?page=0",
            "/control/peers?page_size=100000",
            "/control/peers?role=king",
            "/control/peers?colour=red",
        ] {
            let reply = m.get(3, READ, bad).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(reply.error().code, "invalid_query", "{bad}");
        }
    });
}

#[test]
fn leaders_name_one_leader_per_cluster_and_the_control_group() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let leaders: Vec<LeaderView> = eventually("known leaders", LONG, || async {
            let leaders: Vec<LeaderView> = m.get(4, READ, "/control/leaders").await.json();
            leaders
                .iter()
                .all(|l| l.leader.is_some())
                .then_some(leaders)
        })
        .await;
        let clusters: Vec<&str> = leaders.iter().map(|l| l.cluster.as_str()).collect();
        assert_eq!(clusters, ["b", omnirelay_io::control::CONTROL_GROUP]);
        let b = &leaders[0];
        assert!(["n4", "n5", "n6"].contains(&b.leader.as_deref().unwrap_or("")));
        assert!(b.term >= 1);
        assert_eq!(b.fencing_token, b.term);
    });
}

/// Reads SSE `leadership` events from `response` until those read satisfy `enough`, or
/// panics after `LONG`.
async fn read_events(
    response: hyper::Response<hyper::body::Incoming>,
    enough: impl Fn(&[LeadershipEvent]) -> bool,
) -> Vec<LeadershipEvent> {
    use http_body_util::BodyExt;
    let mut body = response.into_body();
    let mut text = String::new();
    let mut events = Vec::new();
    tokio::time::timeout(LONG, async {
        while !enough(&events) {
            let frame = body.frame().await.expect("stream open").expect("frame");
            if let Some(data) = frame.data_ref() {
                text.push_str(&String::from_utf8_lossy(data));
            }
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                if !block.lines().any(|l| l == "event: leadership") {
                    continue;
                }
                for line in block.lines() {
                    if let Some(data) = line.strip_prefix("data:") {
                        events.push(serde_json::from_str(data.trim()).expect("event JSON"));
                    }
                }
            }
        }
    })
    .await
    .expect("leadership events in time");
    events
}

#[test]
fn the_leadership_stream_opens_with_the_current_leaders() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let response = m
            .open(
                1,
                READ,
                Method::GET,
                "/control/events/leadership",
                &[],
                None,
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let events = read_events(response, |e| e.len() >= 2).await;
        assert_eq!(events[0].cluster, "a");
        assert_eq!(events[1].cluster, omnirelay_io::control::CONTROL_GROUP);
        assert!(events.iter().all(|e| e.fencing_token == e.term));
    });
}

#[test]
fn state_diff_of_a_healthy_mesh_is_empty_and_filters_by_namespace() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let reply = m.get(5, READ, "/control/state-diff?namespace=orders").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let diff: StateDiff = reply.json();
        assert!(diff.quarantined.is_empty(), "nothing failed over in orders");
        let unknown = m.get(5, READ, "/control/state-diff?namespace=nope").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.text());
        assert_eq!(unknown.error().code, "unknown_namespace");
    });
}

#[test]
fn replication_health_reports_role_region_wal_and_remote_lag() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let leader = node_support::leader_of(&m.handles(&[4, 5, 6])).await;
        let id: u64 = leader.status().await.expect("status").id.0;
        let health: ReplicationHealth = eventually("a remote lag report", LONG, || async {
            let reply = m.get(id, READ, "/v1/replication/health").await;
            let health: ReplicationHealth = reply.json();
            (reply.status == StatusCode::OK && !health.remotes.is_empty()).then_some(health)
        })
        .await;
        assert_eq!(health.cluster, "b");
        assert_eq!(health.region, "region-b");
        assert_eq!(health.node, format!("n{id}"));
        assert_eq!(health.remotes[0].cluster, "a");
        assert!(health.wal.commit_index <= health.wal.last_index);
        assert!(health.wal.size_bytes > 0, "the leader's WAL holds entries");
    });
}

#[test]
fn metrics_parse_as_prometheus_text_with_the_contract_names() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        // Cluster a's leader streams to b, so it exports the lag series too.
        let leader = node_support::leader_of(&m.handles(&[1, 2, 3])).await;
        let id = leader.status().await.expect("status").id.0;
        eventually("every contract series with a sample", LONG, || async {
            let reply = m.get(id, READ, "/metrics").await;
            assert_eq!(reply.status, StatusCode::OK);
            let content_type = reply.headers["content-type"].to_str().unwrap_or("");
            assert!(content_type.starts_with("text/plain"), "{content_type}");
            let text = reply.text();
            let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
                .expect("the exposition parses as Prometheus text");
            let lag_to_b = |name: &str| {
                scrape.samples.iter().any(|s| {
                    s.metric == name
                        && s.labels.get("cluster") == Some("a")
                        && s.labels.get("peer_cluster") == Some("b")
                })
            };
            let present = |name: &str| scrape.samples.iter().any(|s| s.metric == name);
            (lag_to_b("mesh_replication_lag_seconds")
                && lag_to_b("mesh_replication_lag_entries")
                && present("mesh_gossip_members")
                && present("mesh_cluster_state")
                && present("mesh_replication_status"))
            .then_some(())
        })
        .await;
    });
}

// ---- failovers ----

#[test]
fn a_planned_failover_with_an_approver_runs_to_done_then_fails_back() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let before = m.clusters(1).await;
        let mut body = planned("r-planned", "b");
        body["approver"] = json!("change-board");
        let reply = create(m, 1, OPERATE, body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let view: FailoverView = reply.json();
        assert_eq!(
            reply.headers["location"],
            format!("/control/failovers/{}", view.id).as_str()
        );
        assert_eq!(view.ticket.as_deref(), Some("CHG-7"));
        // An operator naming an approver does not approve: the named one is expected to.
        assert_eq!(view.status, FailoverStatus::AwaitingApproval);
        assert_eq!(view.approver.as_deref(), Some("change-board"));
        assert_eq!(view.approved_by, None);
        let approve = format!("/control/failovers/{}/approve", view.id);
        let approved = m.post(1, ADMIN, &approve, json!({})).await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
        let done = follow(m, 1, &view.id).await;
        assert_eq!(done.status, FailoverStatus::Succeeded, "{done:?}");
        let summary = done.summary.as_ref().expect("summary");
        assert_eq!(summary.writes_at_risk, None, "planned: zero loss");
        assert!(!done.trail.is_empty(), "the audit trail of its steps");
        active_on(m, 1, "r-planned", "b").await;
        let version_before = placement_of(&before, "r-planned")[0].failover_version;
        assert!(summary.failover_version > version_before);

        // Too late to cancel once promoted.
        let cancel = m
            .post(
                1,
                OPERATE,
                &format!("/control/failovers/{}/cancel", view.id),
                json!({}),
            )
            .await;
        assert_eq!(cancel.status, StatusCode::CONFLICT, "{}", cancel.text());
        assert_eq!(cancel.error().code, "conflicting_state");

        // Failback without a target returns to the cluster it failed away from. An admin
        // may record an approval given elsewhere (a change board) with the request.
        let back = create(
            m,
            1,
            ADMIN,
            json!({"kind": "failback", "namespace": "r-planned", "approver": "change-board", "ticket": "CHG-8"}),
        )
        .await;
        assert_eq!(back.status, StatusCode::CREATED, "{}", back.text());
        let back: FailoverView = back.json();
        assert_eq!(back.approved_by.as_deref(), Some("change-board"));
        assert_eq!(back.kind, FailoverKind::Failback);
        assert_eq!(back.target_cluster, "a");
        assert_eq!(
            follow(m, 1, &back.id).await.status,
            FailoverStatus::Succeeded
        );
        active_on(m, 1, "r-planned", "a").await;

        let records = m.audit(1);
        assert!(records.iter().any(|r| {
            r.what == "failover.create"
                && r.target == "namespace/r-planned"
                && r.outcome == AuditOutcome::Accepted
                && r.reason
                    .as_deref()
                    .is_some_and(|t| t.contains("ticket=CHG-7"))
        }));
        assert!(refused_by(&records, "cert:ops-operate", "failover.cancel"));
    });
}

#[test]
fn an_awaiting_failover_blocks_others_and_is_approved_once_by_an_admin() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let reply = create(m, 2, token(OPERATE_TOKEN), planned("r-approve", "b")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let view: FailoverView = reply.json();
        assert_eq!(view.status, FailoverStatus::AwaitingApproval);
        assert_eq!(view.requested_by, "token:ci-operate");

        let second = m
            .post(2, ADMIN, "/control/failovers", planned("r-approve", "b"))
            .await;
        assert_eq!(second.status, StatusCode::CONFLICT);
        let error = second.error();
        assert_eq!(error.code, "namespace_already_moving");
        assert!(error.message.contains("r-approve") && error.message.contains(&view.id));

        let approve = format!("/control/failovers/{}/approve", view.id);
        let denied = m.post(2, OPERATE, &approve, json!({})).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        assert!(refused_by(
            &m.audit(2),
            "cert:ops-operate",
            "failover.approve"
        ));

        let approved = m
            .post(2, ADMIN, &approve, json!({"comment": "CAB ok"}))
            .await;
        assert_eq!(approved.status, StatusCode::OK, "{}", approved.text());
        let approved: FailoverView = approved.json();
        assert_eq!(approved.approved_by.as_deref(), Some("cert:ops-admin"));
        let again = m.post(2, token(ADMIN_TOKEN), &approve, json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
        assert_eq!(again.error().code, "conflicting_state");
        let records = m.audit(2);
        assert!(records.iter().any(|r| r.who == "cert:ops-admin"
            && r.what == "failover.approve"
            && r.outcome == AuditOutcome::Accepted
            && r.reason.as_deref().is_some_and(|t| t.contains("CAB ok"))));
        assert!(records.iter().any(|r| r.who == "token:ci-admin"
            && r.what == "failover.approve"
            && r.outcome == AuditOutcome::Refused));

        assert_eq!(
            follow(m, 2, &view.id).await.status,
            FailoverStatus::Succeeded
        );
        active_on(m, 2, "r-approve", "b").await;
    });
}

#[test]
fn a_failover_awaiting_approval_is_cancelled_and_changes_nothing() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let reply = create(m, 3, OPERATE, planned("r-cancel", "b")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let view: FailoverView = reply.json();
        let cancel = format!("/control/failovers/{}/cancel", view.id);
        let denied = m.post(3, READ, &cancel, json!({})).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        let cancelled = m
            .post(3, OPERATE, &cancel, json!({"comment": "wrong window"}))
            .await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text());
        let cancelled = follow(m, 3, &view.id).await;
        assert_eq!(cancelled.status, FailoverStatus::Cancelled);
        let twice = m.post(3, OPERATE, &cancel, json!({})).await;
        assert_eq!(twice.status, StatusCode::CONFLICT, "{}", twice.text());
        let snapshot = m.clusters(3).await;
        assert_eq!(
            active_of(&snapshot, "r-cancel").as_deref(),
            Some("a"),
            "{:?}",
            placement_of(&snapshot, "r-cancel")
        );
        let records = m.audit(3);
        assert!(records.iter().any(|r| {
            r.what == "failover.cancel"
                && r.outcome == AuditOutcome::Accepted
                && r.reason
                    .as_deref()
                    .is_some_and(|t| t.contains("wrong window"))
        }));
        assert!(refused_by(&records, "cert:ops-reader", "failover.cancel"));
    });
}

#[test]
fn an_emergency_failover_promotes_and_reports_what_is_at_risk() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        write_accepted(&m.handles(&[1, 2, 3]), write("r-emergency", "k", "v")).await;
        let reply = create(
            m,
            4,
            OPERATE,
            json!({"kind": "emergency", "namespace": "r-emergency", "target_cluster": "b"}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let view: FailoverView = reply.json();
        assert_eq!(view.kind, FailoverKind::Emergency);
        let done = follow(m, 4, &view.id).await;
        assert_eq!(done.status, FailoverStatus::Succeeded, "{done:?}");
        let summary = done.summary.expect("summary");
        // The exact range it reports is the one it may lose (ARCHITECTURE.md, invariant 6);
        // a live, caught-up source loses nothing.
        if let Some(risk) = &summary.writes_at_risk {
            assert_eq!(risk.origin_cluster, "a");
            assert!(risk.from_seq <= risk.to_seq + 1);
        }
        active_on(m, 4, "r-emergency", "b").await;
    });
}

/// ARCHITECTURE.md, "Emergency failover": the promotion reports the exact range of the old
/// active's writes the new active had not applied, and those are quarantined, never
/// applied over newer writes, and listed in /control/state-diff.
#[test]
fn writes_cut_off_by_an_emergency_are_reported_at_risk_and_listed_in_the_state_diff() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let a = m.handles(&[1, 2, 3]);
        write_accepted(&a, write("r-quarantine", "k0", "v")).await;
        // Keep cluster a writing while the emergency promotes b: the writes a commits after
        // b froze its stream are past the cutoff.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let a = a.clone();
            tokio::spawn(async move {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    i += 1;
                    let leader = node_support::leader_of(&a).await;
                    let _ = leader
                        .write(write("r-quarantine", &format!("k{i}"), "v"))
                        .await;
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let reply = create(
            m,
            1,
            OPERATE,
            json!({"kind": "emergency", "namespace": "r-quarantine", "target_cluster": "b"}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let view: FailoverView = reply.json();
        let done = follow(m, 1, &view.id).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.await.expect("writer");
        assert_eq!(done.status, FailoverStatus::Succeeded, "{done:?}");
        let risk = done
            .summary
            .as_ref()
            .and_then(|s| s.writes_at_risk.clone())
            .expect("writes at risk: a kept writing past the cutoff");
        assert_eq!(risk.origin_cluster, "a");
        let ranges = eventually("quarantined writes in the state diff", LONG, || async {
            let mut ranges = Vec::new();
            for id in 1..=6 {
                let diff: StateDiff = m
                    .get(id, READ, "/control/state-diff?namespace=r-quarantine")
                    .await
                    .json();
                ranges.extend(diff.quarantined);
            }
            (!ranges.is_empty()).then_some(ranges)
        })
        .await;
        for range in &ranges {
            assert_eq!(range.namespace, "r-quarantine");
            assert_eq!(range.origin_cluster, "a");
            assert!(
                range.failover_version < done.summary.as_ref().expect("summary").failover_version
            );
            assert!(
                range.from_seq >= risk.from_seq,
                "only writes past the cutoff are quarantined: {range:?} vs {risk:?}"
            );
        }
    });
}

#[test]
fn forcing_an_emergency_needs_admin() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let forced =
            json!({"kind": "emergency", "namespace": "r-forced", "target_cluster": "b", "force": true});
        let denied = m
            .post(5, token(OPERATE_TOKEN), "/control/failovers", forced.clone())
            .await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.text());
        assert!(denied.error().message.contains("mesh.admin"));
        assert!(refused_by(
            &m.audit(5),
            "token:ci-operate",
            "failover.create --force"
        ));
        let reply = create(m, 5, ADMIN, forced).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let view: FailoverView = reply.json();
        assert!(view.force);
        assert_eq!(follow(m, 5, &view.id).await.status, FailoverStatus::Succeeded);
    });
}

#[test]
fn a_migration_moves_the_namespace_for_good() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let reply = create(
            m,
            6,
            ADMIN,
            json!({"kind": "migration", "namespace": "r-migrate", "target_cluster": "b", "ticket": "CHG-10",
                   "approver": "cab", "reason": "region consolidation"}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
        let view: FailoverView = reply.json();
        assert_eq!(view.kind, FailoverKind::Migration);
        assert_eq!(
            follow(m, 6, &view.id).await.status,
            FailoverStatus::Succeeded
        );
        active_on(m, 6, "r-migrate", "b").await;
    });
}

#[test]
fn a_dry_run_passes_preflight_and_changes_nothing() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let before = placement_of(&m.clusters(1).await, "r-dry");
        let reply = create(
            m,
            1,
            OPERATE,
            json!({"kind": "planned", "namespace": "r-dry", "target_cluster": "b", "dry_run": true, "ticket": "CHG-11"}),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let view: FailoverView = reply.json();
        assert_eq!(view.status, FailoverStatus::DryRun);
        assert_eq!((view.source_cluster.as_str(), view.target_cluster.as_str()), ("a", "b"));
        assert!(view.preflight.iter().all(|c| c.passed));
        let list: FailoverList = m.get(1, READ, "/control/failovers").await.json();
        assert!(list.failovers.iter().all(|f| f.namespace != "r-dry"));
        assert_eq!(placement_of(&m.clusters(1).await, "r-dry"), before);
        assert!(m.audit(1).iter().any(|r| r.what == "failover.dry_run"
            && r.target == "namespace/r-dry"
            && r.outcome == AuditOutcome::Accepted));
    });
}

#[test]
fn bad_input_is_a_4xx_with_a_json_error_naming_the_problem() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let unknown_ns = m
            .post(2, OPERATE, "/control/failovers", planned("nope", "b"))
            .await;
        assert_eq!(unknown_ns.status, StatusCode::NOT_FOUND, "{}", unknown_ns.text());
        assert_eq!(unknown_ns.error().code, "unknown_namespace");
        assert!(unknown_ns.error().message.contains("nope"));
        let unknown_cluster = m
            .post(2, OPERATE, "/control/failovers", planned("r-refused", "mars"))
            .await;
        assert_eq!(unknown_cluster.status, StatusCode::NOT_FOUND);
        assert_eq!(unknown_cluster.error().code, "unknown_cluster");
        assert!(unknown_cluster.error().message.contains("mars"));

        let post_raw = |bytes: Vec<u8>| {
            m.call(2, OPERATE, Method::POST, "/control/failovers", &[], Some(bytes))
        };
        let malformed = post_raw(b"{\"kind\": \"planned\",".to_vec()).await;
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.error().code, "malformed_json");
        let wrong_kind = post_raw(br#"{"kind": "sideways", "namespace": "r-refused"}"#.to_vec()).await;
        assert_eq!(wrong_kind.status, StatusCode::BAD_REQUEST);
        assert!(wrong_kind.error().message.contains("sideways"));
        let mut huge = planned("r-refused", "b");
        huge["reason"] = json!("x".repeat(70 * 1024));
        let too_large = post_raw(serde_json::to_vec(&huge).expect("json")).await;
        assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.error().code, "body_too_large");

        let invalid = m
            .post(
                2,
                ADMIN,
                "/control/failovers",
                json!({"kind": "planned", "namespace": "r-refused", "target_cluster": "b", "force": true}),
            )
            .await;
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
        assert_eq!(invalid.error().code, "force_not_allowed");

        // Checked before the node is asked: names, a target where the kind needs one.
        for (body, code) in [
            (planned("Bad Name!", "b"), "invalid_namespace"),
            (planned("r-refused", "Bad Cluster!"), "invalid_cluster"),
            (
                json!({"kind": "planned", "namespace": "r-refused"}),
                "missing_target_cluster",
            ),
        ] {
            let reply = m.post(2, OPERATE, "/control/failovers", body).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
            assert_eq!(reply.error().code, code);
        }
        let empty = post_raw(Vec::new()).await;
        assert_eq!(empty.status, StatusCode::BAD_REQUEST);
        assert_eq!(empty.error().code, "malformed_json");
        let approve_garbage = m
            .call(
                2,
                ADMIN,
                Method::POST,
                "/control/failovers/fo-1/approve",
                &[],
                Some(b"[1, 2".to_vec()),
            )
            .await;
        assert_eq!(approve_garbage.status, StatusCode::BAD_REQUEST);
        assert_eq!(approve_garbage.error().code, "malformed_json");
        // Each refusal of a mutation is audited with its code.
        let records = m.audit(2);
        for code in ["malformed_json", "body_too_large", "invalid_cluster"] {
            assert!(
                records.iter().any(|r| r.outcome == AuditOutcome::Refused
                    && r.reason.as_deref().is_some_and(|t| t.starts_with(code))),
                "{code} audited"
            );
        }

        // Policy requires a change ticket on every failover but an emergency.
        let no_ticket = m
            .post(
                2,
                OPERATE,
                "/control/failovers",
                json!({"kind": "planned", "namespace": "r-refused", "target_cluster": "b"}),
            )
            .await;
        assert_eq!(no_ticket.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", no_ticket.text());
        assert!(
            no_ticket
                .error()
                .checks
                .iter()
                .any(|c| c.name == "ticket_present" && !c.passed)
        );

        let preflight = m
            .post(2, OPERATE, "/control/failovers", planned("r-refused", "a"))
            .await;
        assert_eq!(preflight.status, StatusCode::UNPROCESSABLE_ENTITY);
        let error = preflight.error();
        assert_eq!(error.code, "preflight_refused");
        assert!(
            error
                .checks
                .iter()
                .any(|c| c.name == "target_not_active" && !c.passed)
        );

        let unknown_id = m.get(2, READ, "/control/failovers/fo-999999").await;
        assert_eq!(unknown_id.status, StatusCode::NOT_FOUND, "{}", unknown_id.text());
        assert_eq!(unknown_id.error().code, "unknown_failover");
        for path in [
            "/control/failovers/not-an-id",
            "/control/failovers/fo-x/approve",
            "/control/failovers/fo-/cancel",
        ] {
            let reply = if path.ends_with("approve") || path.ends_with("cancel") {
                m.post(2, ADMIN, path, json!({})).await
            } else {
                m.get(2, READ, path).await
            };
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {}", reply.text());
            assert_eq!(reply.error().code, "invalid_request", "{path}");
        }
        assert_eq!(active_of(&m.clusters(2).await, "r-refused").as_deref(), Some("a"));
    });
}

#[test]
fn an_unknown_route_or_method_gets_a_json_error() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let route = m.get(3, READ, "/control/nothing-here").await;
        assert_eq!(route.status, StatusCode::NOT_FOUND);
        assert_eq!(route.error().code, "no_such_route");
        let method = m
            .call(3, ADMIN, Method::DELETE, "/control/clusters", &[], None)
            .await;
        assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(method.error().code, "method_not_allowed");
    });
}

// ---- authentication and roles ----

#[test]
fn every_route_refuses_a_caller_without_credentials_and_audits_it() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        for who in [NO_CREDENTIAL, token("not-a-token")] {
            for (method, path, body) in control_routes::all_routes(planned("r-refused", "b")) {
                let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
                let reply = m.call(4, who, method.clone(), path, &[], body).await;
                assert_eq!(
                    reply.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} as {who:?}"
                );
                assert_eq!(reply.error().code, "unauthenticated");
                assert!(reply.headers.contains_key("www-authenticate"));
            }
        }
        let records = m.audit(4);
        for (method, path, _) in control_routes::all_routes(planned("r-refused", "b")) {
            let what = format!("{method} {path}");
            assert!(refused_by(&records, "anonymous", &what), "{what} audited");
            assert!(
                refused_by(&records, "token:unknown", &what),
                "{what} audited"
            );
        }
        assert!(
            records.iter().all(|r| !r.who.contains("not-a-token")
                && !r.reason.as_deref().unwrap_or("").contains("not-a-token")),
            "the audit log never holds a presented token"
        );
    });
}

#[test]
fn the_read_role_is_refused_every_mutation_and_each_denial_is_audited() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        for who in [READ, token(READ_TOKEN)] {
            for (method, path, body) in control_routes::all_routes(planned("r-refused", "b")) {
                let body = body.map(|b| serde_json::to_vec(&b).expect("json"));
                let is_read = method == Method::GET;
                if is_read {
                    continue;
                }
                let reply = m.call(5, who, method, path, &[], body).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{path} as {who:?}");
                assert_eq!(reply.error().code, "forbidden");
            }
        }
        let records = m.audit(5);
        for who in ["cert:ops-reader", "token:ci-read"] {
            for what in ["failover.create", "failover.approve", "failover.cancel"] {
                assert!(refused_by(&records, who, what), "{who} {what} audited");
            }
        }
    });
}

#[test]
fn each_token_grants_its_role() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        for t in [READ_TOKEN, OPERATE_TOKEN, ADMIN_TOKEN] {
            let reply = m.get(6, token(t), "/control/leaders").await;
            assert_eq!(reply.status, StatusCode::OK);
        }
        // A wrong scheme is refused even with a real token.
        let basic = m
            .call(
                6,
                NO_CREDENTIAL,
                Method::GET,
                "/control/leaders",
                &[("authorization", &format!("Basic {ADMIN_TOKEN}"))],
                None,
            )
            .await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
        // Operate may create (dry run) but not approve; admin may approve (404: no such id).
        let dry = create(
            m,
            6,
            token(OPERATE_TOKEN),
            json!({"kind": "planned", "namespace": "r-refused", "target_cluster": "b", "dry_run": true, "ticket": "CHG-12"}),
        )
        .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.text());
        let approve = "/control/failovers/fo-999999/approve";
        let denied = m.post(6, token(OPERATE_TOKEN), approve, json!({})).await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        let admitted = m.post(6, token(ADMIN_TOKEN), approve, json!({})).await;
        assert_eq!(admitted.status, StatusCode::NOT_FOUND, "{}", admitted.text());
    });
}

#[test]
fn the_audit_route_serves_refusals_and_mutations_in_pages() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        // One refusal and one accepted mutation of our own on n6.
        let denied = m
            .post(6, READ, "/control/failovers", planned("r-refused", "b"))
            .await;
        assert_eq!(denied.status, StatusCode::FORBIDDEN);
        let dry = create(
            m,
            6,
            ADMIN,
            json!({"kind": "migration", "namespace": "r-refused", "target_cluster": "b", "dry_run": true, "ticket": "CHG-13"}),
        )
        .await;
        assert_eq!(dry.status, StatusCode::OK, "{}", dry.text());

        let mut from = 0;
        let mut records = Vec::new();
        loop {
            let page: AuditPage = m
                .get(6, READ, &format!("/control/audit?from={from}&limit=5"))
                .await
                .json();
            assert!(page.records.len() <= 5);
            if page.records.is_empty() {
                break;
            }
            from = page.next;
            records.extend(page.records);
        }
        assert_eq!(records, m.audit(6)[..records.len()].to_vec());
        assert!(refused_by(&records, "cert:ops-reader", "failover.create"));
        assert!(records.iter().any(|r| r.who == "cert:ops-admin"
            && r.what == "failover.dry_run"
            && r.outcome == AuditOutcome::Accepted));
        let bad = m.get(6, READ, "/control/audit?limit=0").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    });
}

// ---- CLI ----

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn cli_read_verbs_print_tables_and_json() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let out = m.cli(1, READ, &["clusters", "list"]).await;
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("region-a") && stdout(&out).contains("region-b"));
        let out = m
            .cli(1, READ, &["--output", "json", "clusters", "list"])
            .await;
        assert_exit(&out, 0);
        let snapshot: ClustersSnapshot = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(snapshot.clusters.len(), 2);

        let out = m
            .cli(
                2,
                READ,
                &[
                    "--output",
                    "json",
                    "peers",
                    "list",
                    "--cluster",
                    "b",
                    "--role",
                    "voter",
                    "--status",
                    "alive",
                    "--page-size",
                    "2",
                ],
            )
            .await;
        assert_exit(&out, 0);
        let page: PeersPage = serde_json::from_slice(&out.stdout).expect("json");
        assert!(page.peers.len() <= 2 && page.peers.iter().all(|p| p.cluster == "b"));
        let out = m.cli(2, READ, &["peers", "list"]).await;
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("n1"));

        let out = m
            .cli(3, READ, &["--output", "json", "leaders", "status"])
            .await;
        assert_exit(&out, 0);
        let leaders: Vec<LeaderView> = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(leaders[0].cluster, "a");
        let out = m.cli(3, READ, &["leaders", "status"]).await;
        assert_exit(&out, 0);

        let out = m
            .cli(4, READ, &["--output", "json", "replication", "status"])
            .await;
        assert_exit(&out, 0);
        let health: ReplicationHealth = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(health.cluster, "b");
        let out = m.cli(4, READ, &["replication", "status"]).await;
        assert_exit(&out, 0);

        let out = m
            .cli(5, READ, &["--output", "json", "failovers", "list"])
            .await;
        assert_exit(&out, 0);
        let _: FailoverList = serde_json::from_slice(&out.stdout).expect("json");
        let out = m.cli(5, READ, &["failovers", "list"]).await;
        assert_exit(&out, 0);
    });
}

#[test]
fn cli_leaders_watch_prints_the_leaders_then_streams_events() {
    let s = shared();
    let mut child = s
        .mesh
        .cli_command(
            2,
            READ,
            &["--output", "json", "leaders", "status", "--watch"],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn omnirelay");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    // The leaders document first (pretty JSON), then one compact event per line: read until
    // the first event, within a bound, then stop the watcher.
    let mut event = None;
    while event.is_none() {
        let line = rx.recv_timeout(LONG).expect("a line from the watcher");
        event = serde_json::from_str::<LeadershipEvent>(&line).ok();
    }
    child.kill().expect("kill the watcher");
    let _ = child.wait();
    let event = event.expect("an event");
    assert!(["a", omnirelay_io::control::CONTROL_GROUP].contains(&event.cluster.as_str()));
    assert_eq!(event.fencing_token, event.term);
}

/// Runs a promote/migrate/failback through the CLI until preflight stops waiting for the
/// mesh to settle; returns the final output.
async fn cli_failover(
    m: &ControlledMesh,
    node: u64,
    who: Who,
    args: &[&str],
) -> std::process::Output {
    eventually(
        "the CLI failover past a settling preflight",
        LONG,
        || async {
            let out = m.cli(node, who, args).await;
            let settling = out.status.code() == Some(1)
                && SETTLING
                    .iter()
                    .any(|c| stderr(&out).contains(&format!("failed check {c}")));
            (!settling).then_some(out)
        },
    )
    .await
}

#[test]
fn cli_planned_promote_waits_for_approval_then_fails_back_with_zero_writes_at_risk() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let promote = |dry_run: bool| {
            let mut args = vec![
                "--output",
                "json",
                "clusters",
                "promote",
                "--namespace",
                "c-promote",
                "--to",
                "b",
                "--ticket",
                "CHG-9",
                "--approver",
                "ops-admin",
                "--poll-interval-ms",
                "50",
            ];
            if dry_run {
                args.push("--dry-run");
            }
            args
        };
        // Preflight passes first (the mesh has settled), then the real promote follows the
        // failover live while it waits for the admin's approval.
        assert_exit(&cli_failover(m, 3, OPERATE, &promote(true)).await, 0);
        let mut command = m.cli_command(3, OPERATE, &promote(false));
        let promoting = tokio::task::spawn_blocking(move || command.output().expect("run"));
        let pending = eventually("the promote to await approval", LONG, || async {
            let list: FailoverList = m.get(3, READ, "/control/failovers").await.json();
            // The expected approver is a note of the node that took the request (n3), made
            // once core answered it: a list racing that answer may not show it yet.
            list.failovers.into_iter().find(|f| {
                f.namespace == "c-promote"
                    && f.status == FailoverStatus::AwaitingApproval
                    && f.approver.as_deref() == Some("ops-admin")
            })
        })
        .await;
        let out = m
            .cli(3, ADMIN, &["failovers", "approve", &pending.id])
            .await;
        assert_exit(&out, 0);
        let out = promoting.await.expect("promote");
        assert_exit(&out, 0);
        let view: FailoverView = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(view.id, pending.id);
        assert_eq!(view.status, FailoverStatus::Succeeded);
        assert_eq!(view.ticket.as_deref(), Some("CHG-9"));
        assert_eq!(view.approved_by.as_deref(), Some("cert:ops-admin"));
        assert_eq!(view.summary.expect("summary").writes_at_risk, None);
        let progress = stderr(&out);
        assert!(progress.contains("waiting for approval"), "{progress}");
        assert!(
            progress.contains(&view.id),
            "progress on stderr: {progress}"
        );

        let out = m.cli(4, READ, &["failovers", "show", &view.id]).await;
        assert_exit(&out, 0);
        assert!(stdout(&out).contains(&view.id));

        let out = cli_failover(
            m,
            3,
            ADMIN,
            &[
                "clusters",
                "failback",
                "--namespace",
                "c-promote",
                "--ticket",
                "CHG-15",
                "--approver",
                "cab",
                "--poll-interval-ms",
                "50",
            ],
        )
        .await;
        assert_exit(&out, 0);
        // The table output: live steps, then the summary.
        let text = stdout(&out);
        assert!(text.contains("failover fo-"), "{text}");
        assert!(
            text.contains("summary: a is now active for c-promote"),
            "{text}"
        );
        assert!(text.contains("writes at risk:    none"), "{text}");
        active_on(m, 3, "c-promote", "a").await;
    });
}

#[test]
fn cli_dry_runs_change_nothing() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let before = placement_of(&m.clusters(1).await, "c-dry");
        let out = cli_failover(
            m,
            1,
            OPERATE,
            &[
                "--output",
                "json",
                "clusters",
                "promote",
                "--namespace",
                "c-dry",
                "--to",
                "b",
                "--dry-run",
                "--ticket",
                "CHG-16",
            ],
        )
        .await;
        assert_exit(&out, 0);
        let view: FailoverView = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(view.status, FailoverStatus::DryRun);
        let out = cli_failover(
            m,
            1,
            OPERATE,
            &[
                "namespaces",
                "migrate",
                "c-dry",
                "--to",
                "b",
                "--dry-run",
                "--ticket",
                "CHG-14",
            ],
        )
        .await;
        assert_exit(&out, 0);
        assert!(stdout(&out).contains("nothing changed"));
        assert_eq!(placement_of(&m.clusters(1).await, "c-dry"), before);
    });
}

#[test]
fn cli_forced_emergency_needs_admin() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let args = [
            "--output",
            "json",
            "clusters",
            "promote",
            "--namespace",
            "c-emergency",
            "--to",
            "b",
            "--emergency",
            "--force",
            "--poll-interval-ms",
            "50",
        ];
        let out = m.cli(2, token(OPERATE_TOKEN), &args).await;
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("mesh.admin"), "{}", stderr(&out));
        assert_eq!(
            active_of(&m.clusters(2).await, "c-emergency").as_deref(),
            Some("a")
        );
        let out = cli_failover(m, 2, token(ADMIN_TOKEN), &args).await;
        assert_exit(&out, 0);
        let view: FailoverView = serde_json::from_slice(&out.stdout).expect("json");
        assert!(view.force && view.status == FailoverStatus::Succeeded);
        active_on(m, 2, "c-emergency", "b").await;
    });
}

/// Starts a failover through the CLI without waiting; it awaits approval (policy).
async fn cli_pending(m: &ControlledMesh, namespace: &str) -> FailoverView {
    let out = cli_failover(
        m,
        5,
        OPERATE,
        &[
            "--output",
            "json",
            "clusters",
            "promote",
            "--namespace",
            namespace,
            "--to",
            "b",
            "--no-wait",
            "--ticket",
            "CHG-17",
        ],
    )
    .await;
    assert_exit(&out, 0);
    let view: FailoverView = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(view.status, FailoverStatus::AwaitingApproval);
    view
}

#[test]
fn cli_approve_is_admin_only_and_once() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let view = cli_pending(m, "c-approve").await;
        let out = m
            .cli(5, READ, &["--output", "json", "failovers", "list"])
            .await;
        assert_exit(&out, 0);
        let list: FailoverList = serde_json::from_slice(&out.stdout).expect("json");
        assert!(list.failovers.iter().any(|f| f.id == view.id));

        let out = m.cli(5, OPERATE, &["failovers", "approve", &view.id]).await;
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("mesh.admin"));
        let out = m
            .cli(
                5,
                ADMIN,
                &[
                    "--output",
                    "json",
                    "failovers",
                    "approve",
                    &view.id,
                    "--comment",
                    "ok",
                ],
            )
            .await;
        assert_exit(&out, 0);
        let approved: FailoverView = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(approved.approved_by.as_deref(), Some("cert:ops-admin"));
        let out = m.cli(5, ADMIN, &["failovers", "approve", &view.id]).await;
        assert_exit(&out, 1);
        assert_eq!(
            follow(m, 5, &view.id).await.status,
            FailoverStatus::Succeeded
        );
        let out = m
            .cli(
                5,
                READ,
                &["--output", "json", "failovers", "show", &view.id],
            )
            .await;
        assert_exit(&out, 0);
    });
}

#[test]
fn cli_cancel_stops_a_pending_failover() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let view = cli_pending(m, "c-cancel").await;
        let out = m.cli(6, READ, &["failovers", "cancel", &view.id]).await;
        assert_exit(&out, 1);
        let out = m
            .cli(
                6,
                OPERATE,
                &["--output", "json", "failovers", "cancel", &view.id],
            )
            .await;
        assert_exit(&out, 0);
        assert_eq!(
            follow(m, 6, &view.id).await.status,
            FailoverStatus::Cancelled
        );
        assert_eq!(
            active_of(&m.clusters(6).await, "c-cancel").as_deref(),
            Some("a")
        );
    });
}

#[test]
fn cli_migrate_moves_the_namespace() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let out = cli_failover(
            m,
            1,
            ADMIN,
            &[
                "--output",
                "json",
                "namespaces",
                "migrate",
                "--ticket",
                "CHG-18",
                "c-migrate",
                "--to",
                "b",
                "--approver",
                "cab",
                "--poll-interval-ms",
                "50",
            ],
        )
        .await;
        assert_exit(&out, 0);
        let view: FailoverView = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(view.kind, FailoverKind::Migration);
        assert_eq!(view.status, FailoverStatus::Succeeded);
        active_on(m, 1, "c-migrate", "b").await;
    });
}

#[test]
fn cli_refusals_exit_1_and_leave_the_namespace_in_place() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let before = placement_of(&m.clusters(4).await, "c-refused");
        // Preflight: already active.
        let out = m
            .cli(
                4,
                ADMIN,
                &[
                    "clusters",
                    "promote",
                    "--namespace",
                    "c-refused",
                    "--to",
                    "a",
                ],
            )
            .await;
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("already active"), "{}", stderr(&out));
        // RBAC: a reader may list but not promote.
        let out = m
            .cli(
                4,
                READ,
                &[
                    "clusters",
                    "promote",
                    "--namespace",
                    "c-refused",
                    "--to",
                    "b",
                ],
            )
            .await;
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("mesh.operate"));
        // A certificate without a role gets nothing without a token, and its token's role with one.
        let out = m.cli(4, NO_CREDENTIAL, &["clusters", "list"]).await;
        assert_exit(&out, 1);
        let out = m.cli(4, token(READ_TOKEN), &["clusters", "list"]).await;
        assert_exit(&out, 0);
        // Unknown namespace: named in the refusal.
        let out = m
            .cli(
                4,
                ADMIN,
                &["clusters", "promote", "--namespace", "nope", "--to", "b"],
            )
            .await;
        assert_exit(&out, 1);
        assert!(stderr(&out).contains("nope"));
        let out = m.cli(4, READ, &["failovers", "show", "fo-999999"]).await;
        assert_exit(&out, 1);
        assert_eq!(placement_of(&m.clusters(4).await, "c-refused"), before);
        assert!(refused_by(
            &m.audit(4),
            "cert:ops-reader",
            "failover.create"
        ));
    });
}

#[test]
fn cli_usage_errors_exit_2_and_unreachable_endpoints_exit_3() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let out = m
            .cli(1, ADMIN, &["clusters", "promote", "--namespace", "x"])
            .await;
        assert_exit(&out, 2);
        let out = m
            .cli(
                1,
                ADMIN,
                &[
                    "clusters",
                    "promote",
                    "--namespace",
                    "x",
                    "--to",
                    "b",
                    "--force",
                ],
            )
            .await;
        assert_exit(&out, 2);
        let out = m.cli(1, ADMIN, &["failovers", "frobnicate"]).await;
        assert_exit(&out, 2);
        // The API calls a malformed failover id a bad request: a usage error.
        let out = m.cli(1, READ, &["failovers", "show", "not-an-id"]).await;
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("not-an-id"));

        // Nothing listens on this port.
        let closed = node_support::free_port();
        let tls = m.tls_dir();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_omnirelay"));
        command
            .args(["mesh", "--endpoint", &format!("https://127.0.0.1:{closed}")])
            .arg("--ca")
            .arg(tls.join("ca.pem"))
            .args(["clusters", "list"])
            .env_remove("OMNIRELAY_TOKEN")
            .env_remove("OMNIRELAY_ENDPOINT");
        let out = command.output().expect("run omnirelay");
        assert_exit(&out, 3);
        // A client without a certificate is refused at the TLS handshake: it never reaches
        // HTTP, so it is unreachable (3), with a hint.
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_omnirelay"));
        command
            .args(["mesh", "--endpoint", &format!("https://{}", m.control[&1])])
            .arg("--ca")
            .arg(tls.join("ca.pem"))
            .args(["clusters", "list"])
            .env("OMNIRELAY_TOKEN", ADMIN_TOKEN)
            .env_remove("OMNIRELAY_ENDPOINT");
        let out = command.output().expect("run omnirelay");
        assert_exit(&out, 3);
    });
}

#[test]
fn a_planned_promote_through_the_cli_moves_the_namespace_and_loses_no_write() {
    let s = shared();
    s.run(async {
        let m = &s.mesh;
        let a = m.handles(&[1, 2, 3]);
        for i in 0..20 {
            write_accepted(&a, write("orders", &format!("k{i}"), "before")).await;
        }
        // n5 neither leads cluster a nor (usually) the control group: the CLI's calls are
        // forwarded by core to the control leader.
        let out = cli_failover(
            m,
            5,
            ADMIN,
            &[
                "--output",
                "json",
                "clusters",
                "promote",
                "--namespace",
                "orders",
                "--to",
                "b",
                "--ticket",
                "CHG-1",
                "--approver",
                "cab",
                "--poll-interval-ms",
                "50",
            ],
        )
        .await;
        assert_exit(&out, 0);
        let view: FailoverView = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(view.status, FailoverStatus::Succeeded);
        let summary = view.summary.as_ref().expect("summary");
        assert_eq!(summary.writes_at_risk, None, "planned failover: zero loss");
        assert_eq!(summary.lag_at_promotion.entries, 0);
        assert_eq!(view.requested_by, "cert:ops-admin");
        active_on(m, 5, "orders", "b").await;

        // Every write acknowledged before the move is readable on the new active.
        let b = m.handles(&[4, 5, 6]);
        let read = b[0]
            .read(
                omnirelay_core::NamespaceId::new("orders").expect("namespace"),
                Default::default(),
                1000,
            )
            .await
            .expect("read");
        assert_eq!(read.events.len(), 20, "no acknowledged write lost");

        // The control leader appended the failover's steps to its audit log.
        let steps = eventually("the step audit lines", LONG, || async {
            let steps: usize = (1..=6)
                .map(|id| {
                    m.audit(id)
                        .iter()
                        .filter(|r| {
                            r.what == "failover.step.done" && r.target.starts_with(&view.id)
                        })
                        .count()
                })
                .sum();
            (steps >= 1).then_some(steps)
        })
        .await;
        assert!(steps >= 1);
    });
}

// ---- a mesh of its own: a cluster that loses its quorum ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_without_quorum_is_unhealthy_and_its_leadership_change_streams() {
    let mut m = ControlledMesh::start(&[], None).await;
    let first = node_support::leader_of(&m.handles(&[1, 2, 3])).await;
    let first = first.status().await.expect("status").id.0;
    let watched = (1..=3).find(|id| *id != first).expect("a follower");
    let stream = m
        .open(
            watched,
            READ,
            Method::GET,
            "/control/events/leadership",
            &[],
            None,
        )
        .await;
    // Stop cluster a's leader: the two others elect a new one, and the stream says so.
    m.running.remove(&first).expect("running").shutdown().await;
    let old_leader = format!("n{first}");
    let events = read_events(stream, |events| {
        events.iter().skip(1).any(|e| {
            e.cluster == "a" && e.leader.is_some() && e.leader.as_deref() != Some(&old_leader)
        })
    })
    .await;
    let elected = events
        .iter()
        .skip(1)
        .find(|e| {
            e.cluster == "a" && e.leader.is_some() && e.leader.as_deref() != Some(&old_leader)
        })
        .expect("the new leader's event");
    assert!(
        elected.term > events[0].term,
        "a new leader has a higher term: {events:?}"
    );
    assert_eq!(elected.fencing_token, elected.term);

    // Stop the rest of cluster a but `watched`: alone, it has no leader and cannot replicate.
    for id in (1..=3).filter(|id| *id != watched && *id != first) {
        m.running.remove(&id).expect("running").shutdown().await;
    }
    let health: ReplicationHealth = eventually("503 unhealthy", LONG, || async {
        let reply = m.get(watched, READ, "/v1/replication/health").await;
        (reply.status == StatusCode::SERVICE_UNAVAILABLE).then(|| reply.json())
    })
    .await;
    assert_eq!(
        health.status,
        omnirelay_io::control::model::Health::Unhealthy
    );
    let out = m.cli(watched, READ, &["replication", "status"]).await;
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("unhealthy"));

    // A stopped node's control API still answers, with 503 and a JSON error; the CLI
    // calls that unreachable (3).
    let stopped = m.get(first, READ, "/control/clusters").await;
    assert_eq!(stopped.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(stopped.error().code, "unavailable");
    let out = m.cli(first, READ, &["clusters", "list"]).await;
    assert_exit(&out, 3);
    m.stop().await;
}

/// ARCHITECTURE.md, "Planned failover": preflight refuses a namespace that moved less than
/// the cooldown ago.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_moved_within_the_cooldown_is_refused_by_preflight() {
    let m = ControlledMesh::start_with_policy(&[], None, |p| {
        p.cooldown = Duration::from_secs(3600);
    })
    .await;
    real_mesh::settle_for(&m, &[("orders", "b")]).await;
    let moved = create(
        &m,
        1,
        ADMIN,
        json!({"kind": "planned", "namespace": "orders", "target_cluster": "b",
               "ticket": "CHG-20", "approver": "cab"}),
    )
    .await;
    assert_eq!(moved.status, StatusCode::CREATED, "{}", moved.text());
    let moved: FailoverView = moved.json();
    assert_eq!(
        follow(&m, 1, &moved.id).await.status,
        FailoverStatus::Succeeded
    );
    let back = m
        .post(
            1,
            ADMIN,
            "/control/failovers",
            json!({"kind": "failback", "namespace": "orders", "ticket": "CHG-21", "approver": "cab"}),
        )
        .await;
    assert_eq!(
        back.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        back.text()
    );
    let error = back.error();
    assert_eq!(error.code, "preflight_refused");
    assert!(
        error
            .checks
            .iter()
            .any(|c| c.name == "cooldown_passed" && !c.passed),
        "{error:?}"
    );
    m.stop().await;
}

/// Issue #7, `/v1/replication/health`: a remote cluster lagging past the limits makes the
/// node `degraded` (still 200: it serves), named per remote cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_cluster_lagging_past_the_limit_is_degraded() {
    let mut m = ControlledMesh::start_with_policy(&[], None, |p| p.max_lag_entries = 2).await;
    real_mesh::settle_for(&m, &[]).await;
    // Cluster b stops: nothing a writes from now on is acknowledged by it.
    for id in 4..=6 {
        m.running.remove(&id).expect("running").shutdown().await;
    }
    let a = m.handles(&[1, 2, 3]);
    for i in 0..5 {
        write_accepted(&a, write("orders", &format!("k{i}"), "v")).await;
    }
    let leader = node_support::leader_of(&a).await;
    let id = leader.status().await.expect("status").id.0;
    let health: ReplicationHealth = eventually("a degraded remote", LONG, || async {
        let reply = m.get(id, READ, "/v1/replication/health").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        let health: ReplicationHealth = reply.json();
        (health.status == omnirelay_io::control::model::Health::Degraded).then_some(health)
    })
    .await;
    let b = health
        .remotes
        .iter()
        .find(|r| r.cluster == "b")
        .expect("remote b");
    assert_eq!(b.health, omnirelay_io::control::model::Health::Degraded);
    assert!(b.lag.entries > 2, "{b:?}");
    let out = m.cli(id, READ, &["replication", "status"]).await;
    assert_exit(&out, 0);
    assert!(stdout(&out).contains("degraded"), "{}", stdout(&out));
    m.stop().await;
}
