//! The `omnirelay mesh` binary against the control Router served on 127.0.0.1:0 with the
//! in-memory test backend: table and JSON output, live failover progress and summary,
//! and exit codes 0 done / 1 refused / 2 usage / 3 unreachable (issue #7, "CLI").

mod control_support;

use std::net::SocketAddr;
use std::process::{Command, Output};
use std::sync::Arc;

use control_support::{ADMIN_TOKEN, OPERATE_TOKEN, READ_TOKEN, TestMesh};
use omnirelay_io::control::model::{ClustersSnapshot, FailoverStatus, FailoverView, PeersPage};

/// The control API on a loopback port, for as long as this value lives.
struct Served {
    addr: SocketAddr,
    mesh: Arc<TestMesh>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve() -> Served {
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, mesh, _) = control_support::router(dir.path());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            addr_tx
                .send(listener.local_addr().expect("addr"))
                .expect("send addr");
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
    });
    let addr = addr_rx.recv().expect("server address");
    Served {
        addr,
        mesh,
        _dir: dir,
        stop: Some(stop),
        thread: Some(thread),
    }
}

impl Served {
    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Runs `omnirelay mesh --endpoint <this> --token <token> <args>`.
    fn run(&self, token: Option<&str>, args: &[&str]) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_omnirelay"));
        command
            .arg("mesh")
            .args(["--endpoint", &self.endpoint()])
            .args(args)
            .env_remove("OMNIRELAY_TOKEN")
            .env_remove("OMNIRELAY_ENDPOINT");
        if let Some(token) = token {
            // The documented way: the token from the environment, not the command line.
            command.env("OMNIRELAY_TOKEN", token);
        }
        command.output().expect("run omnirelay")
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

#[track_caller]
fn assert_exit(output: &Output, expected: i32) {
    assert_eq!(
        code(output),
        expected,
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
}

const FAST: [&str; 2] = ["--poll-interval-ms", "10"];

#[test]
fn clusters_list_prints_one_row_per_cluster_and_exits_0() {
    let server = serve();
    let out = server.run(Some(READ_TOKEN), &["clusters", "list"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("CLUSTER"), "{text}");
    for cluster in control_support::CLUSTERS {
        assert!(
            text.lines().any(|l| l.starts_with(cluster)),
            "{cluster} missing:\n{text}"
        );
    }
    assert!(text.contains("orders=active/v1"), "{text}");
}

#[test]
fn json_output_is_the_api_document_itself() {
    let server = serve();
    let out = server.run(Some(READ_TOKEN), &["--output", "json", "clusters", "list"]);
    assert_exit(&out, 0);
    let snapshot: ClustersSnapshot = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(snapshot.registry_revision, server.mesh.revision());
}

#[test]
fn promote_shows_every_step_live_and_ends_with_a_summary() {
    let server = serve();
    let mut args = vec![
        "clusters",
        "promote",
        "--namespace",
        "orders",
        "--to",
        "us-east",
        "--ticket",
        "CHG-7",
    ];
    args.extend(FAST);
    let out = server.run(Some(OPERATE_TOKEN), &args);
    assert_exit(&out, 0);
    let text = stdout(&out);
    let mut at = 0;
    for step in [
        "preflight",
        "drain",
        "catch_up",
        "promote",
        "publish",
        "done",
    ] {
        let found = text[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step} not shown in order:\n{text}"));
        at += found;
    }
    for expected in [
        "summary: us-east is now active for orders",
        "duration:",
        "lag at promotion:  0 entries",
        "writes at risk:    none",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }
    assert_eq!(server.mesh.active_of("orders"), "us-east");
}

#[test]
fn promote_with_json_output_prints_only_the_final_failover_on_stdout() {
    let server = serve();
    let mut args = vec![
        "--output",
        "json",
        "namespaces",
        "migrate",
        "payments",
        "--to",
        "us-east",
    ];
    args.extend(FAST);
    let out = server.run(Some(OPERATE_TOKEN), &args);
    assert_exit(&out, 0);
    let view: FailoverView = serde_json::from_str(&stdout(&out)).expect("one json document");
    assert_eq!(view.status, FailoverStatus::Succeeded);
    assert!(view.summary.is_some());
    assert!(stderr(&out).contains("catch_up"), "progress goes to stderr");
}

#[test]
fn a_forced_emergency_needs_admin_and_reports_the_writes_at_risk() {
    let server = serve();
    let mut args = vec![
        "clusters",
        "promote",
        "--namespace",
        "orders",
        "--to",
        "us-east",
        "--emergency",
        "--force",
    ];
    args.extend(FAST);
    let denied = server.run(Some(OPERATE_TOKEN), &args);
    assert_exit(&denied, 1);
    assert!(
        stderr(&denied).contains("mesh.admin"),
        "{}",
        stderr(&denied)
    );
    assert_eq!(server.mesh.active_of("orders"), "eu-west");

    let out = server.run(Some(ADMIN_TOKEN), &args);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("writes at risk:    3 writes (eu-west origin_seq 1001..=1003"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_preflight_refusal_exits_1_and_prints_the_failed_check() {
    let server = serve();
    let out = server.run(
        Some(OPERATE_TOKEN),
        &[
            "clusters",
            "promote",
            "--namespace",
            "orders",
            "--to",
            control_support::LAGGING_CLUSTER,
        ],
    );
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("preflight_refused") && err.contains("failed check lag_under_threshold"),
        "{err}"
    );
}

#[test]
fn a_dry_run_prints_preflight_and_changes_nothing() {
    let server = serve();
    let before = server.mesh.revision();
    let out = server.run(
        Some(OPERATE_TOKEN),
        &[
            "clusters",
            "promote",
            "--namespace",
            "orders",
            "--to",
            "us-east",
            "--dry-run",
        ],
    );
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("lag_under_threshold"),
        "{}",
        stdout(&out)
    );
    assert_eq!(server.mesh.revision(), before);
    assert_eq!(server.mesh.active_of("orders"), "eu-west");
}

#[test]
fn usage_errors_exit_2() {
    let server = serve();
    let cases: [&[&str]; 5] = [
        &["clusters", "promote", "--namespace", "orders"],
        &[
            "clusters",
            "promote",
            "--namespace",
            "orders",
            "--to",
            "us-east",
            "--force",
        ],
        &["--output", "yaml", "clusters", "list"],
        &["clusters", "explode"],
        // Well-formed for clap, refused by the API as a bad request.
        &[
            "clusters",
            "promote",
            "--namespace",
            "Orders!",
            "--to",
            "us-east",
        ],
    ];
    for args in cases {
        let out = server.run(Some(ADMIN_TOKEN), args);
        assert_exit(&out, 2);
    }
    let https = Command::new(env!("CARGO_BIN_EXE_omnirelay"))
        .args([
            "mesh",
            "--endpoint",
            "https://127.0.0.1:1",
            "clusters",
            "list",
        ])
        .output()
        .expect("run");
    assert_exit(&https, 2);
    assert!(stderr(&https).contains("--ca"));
}

#[test]
fn an_unreachable_endpoint_exits_3() {
    // A port that was just free: nothing listens there now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_omnirelay"))
        .args([
            "mesh",
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
            "clusters",
            "list",
        ])
        .env("OMNIRELAY_TOKEN", READ_TOKEN)
        .output()
        .expect("run");
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("unreachable"), "{}", stderr(&out));
}

#[test]
fn a_missing_or_insufficient_credential_is_a_refusal_exit_1() {
    let server = serve();
    let anonymous = server.run(None, &["clusters", "list"]);
    assert_exit(&anonymous, 1);
    assert!(stderr(&anonymous).contains("unauthenticated"));
    let reader = server.run(Some(READ_TOKEN), &["failovers", "cancel", "fo-1"]);
    assert_exit(&reader, 1);
    assert!(stderr(&reader).contains("forbidden"));
}

#[test]
fn peers_list_passes_filters_and_pages_to_the_api() {
    let server = serve();
    let out = server.run(
        Some(READ_TOKEN),
        &[
            "peers",
            "list",
            "--cluster",
            "ap-south",
            "--status",
            "suspect",
        ],
    );
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert_eq!(
        text.lines().filter(|l| l.contains("ap-south")).count(),
        1,
        "{text}"
    );
    assert!(text.contains("1 peers in all"), "{text}");
    let out = server.run(
        Some(READ_TOKEN),
        &[
            "--output",
            "json",
            "peers",
            "list",
            "--page",
            "2",
            "--page-size",
            "4",
        ],
    );
    assert_exit(&out, 0);
    let page: PeersPage = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!((page.page, page.peers.len(), page.total), (2, 4, 9));
    let unknown = server.run(Some(READ_TOKEN), &["peers", "list", "--cluster", "mars"]);
    assert_exit(&unknown, 1);
}

#[test]
fn leaders_status_watch_prints_the_table_then_each_leadership_change() {
    let server = serve();
    let out = server.run(Some(READ_TOKEN), &["leaders", "status", "--watch"]);
    assert_exit(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("CLUSTER"), "{text}");
    assert!(
        text.contains("eu-west: leader (none) term 5 fencing token 4"),
        "{text}"
    );
    assert!(
        text.contains("eu-west: leader n2 term 5 fencing token 5"),
        "{text}"
    );
}

#[test]
fn replication_status_prints_health_and_exits_1_when_unhealthy() {
    let server = serve();
    let out = server.run(Some(READ_TOKEN), &["replication", "status"]);
    assert_exit(&out, 0);
    assert!(stdout(&out).starts_with("healthy"), "{}", stdout(&out));
    server.mesh.set_unhealthy();
    let out = server.run(Some(READ_TOKEN), &["replication", "status"]);
    assert_exit(&out, 1);
    assert!(stdout(&out).starts_with("unhealthy"));
}

#[test]
fn failovers_list_show_approve_and_cancel_round_trip() {
    let server = serve();
    let created = server.run(
        Some(OPERATE_TOKEN),
        &[
            "clusters",
            "promote",
            "--namespace",
            "orders",
            "--to",
            "us-east",
            "--approver",
            "admin",
            "--no-wait",
        ],
    );
    assert_exit(&created, 0);
    assert!(
        stdout(&created).contains("awaiting_approval"),
        "{}",
        stdout(&created)
    );

    let list = server.run(Some(READ_TOKEN), &["failovers", "list"]);
    assert_exit(&list, 0);
    assert!(
        stdout(&list).lines().any(|l| l.starts_with("fo-1")),
        "{}",
        stdout(&list)
    );

    let denied = server.run(Some(OPERATE_TOKEN), &["failovers", "approve", "fo-1"]);
    assert_exit(&denied, 1);
    let approved = server.run(
        Some(ADMIN_TOKEN),
        &["failovers", "approve", "fo-1", "--comment", "CAB ok"],
    );
    assert_exit(&approved, 0);
    assert!(
        stdout(&approved).contains("approved by token:admin"),
        "{}",
        stdout(&approved)
    );

    let show = server.run(Some(READ_TOKEN), &["failovers", "show", "fo-1"]);
    assert_exit(&show, 0);
    assert!(stdout(&show).contains("lag_under_threshold"));

    let cancelled = server.run(Some(OPERATE_TOKEN), &["failovers", "cancel", "fo-1"]);
    assert_exit(&cancelled, 0);
    assert!(stdout(&cancelled).contains("cancelled"));
    let again = server.run(Some(OPERATE_TOKEN), &["failovers", "cancel", "fo-1"]);
    assert_exit(&again, 1);
    let unknown = server.run(Some(READ_TOKEN), &["failovers", "show", "fo-404"]);
    assert_exit(&unknown, 1);
}

#[test]
fn failback_moves_a_namespace_home_after_a_promotion() {
    let server = serve();
    let mut promote = vec![
        "clusters",
        "promote",
        "--namespace",
        "orders",
        "--to",
        "us-east",
    ];
    promote.extend(FAST);
    assert_exit(&server.run(Some(OPERATE_TOKEN), &promote), 0);
    let mut failback = vec!["clusters", "failback", "--namespace", "orders"];
    failback.extend(FAST);
    let out = server.run(Some(OPERATE_TOKEN), &failback);
    assert_exit(&out, 0);
    assert!(
        stdout(&out).contains("failback orders us-east -> eu-west"),
        "{}",
        stdout(&out)
    );
    assert_eq!(server.mesh.active_of("orders"), "eu-west");
}
