//! The control API over mutual TLS: the certificate's identity becomes the caller's role
//! (the `CertificateCaller` extension), and the CLI reaches it with --ca/--cert/--key
//! (issue #7: "mTLS or a bearer token").

mod control_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use omnirelay_core::{ClusterId, NodeId};
use omnirelay_io::audit::AuditLog;
use omnirelay_io::control::{CertificateRoles, ControlRole, serve_mtls};
use omnirelay_io::tls::{Identity, MeshCa, Role, TlsMaterial};

struct Pki {
    ca: PathBuf,
    alice: (PathBuf, PathBuf),
    bob: (PathBuf, PathBuf),
    stranger: (PathBuf, PathBuf),
    server: TlsMaterial,
}

fn operator(name: &str) -> Identity {
    Identity::Operator {
        name: ClusterId::new(name).expect("name"),
    }
}

fn pki(dir: &Path) -> Pki {
    let ca = MeshCa::generate("control test mesh").expect("ca");
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.cert_pem()).expect("write ca");
    let loopback = [IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let node = Identity::Node {
        node: NodeId(1),
        cluster: ClusterId::new("eu-west").expect("id"),
        role: Role::Voter,
    };
    let server = ca
        .issue(&node, &["localhost".into()], &loopback)
        .expect("server cert");
    let server = TlsMaterial::from_pem(
        ca.cert_pem().as_bytes(),
        server.cert_pem.as_bytes(),
        server.key_pem.as_bytes(),
    )
    .expect("server material");
    let issue = |ca: &MeshCa, name: &str| {
        ca.issue(&operator(name), &[], &[])
            .expect("operator cert")
            .write(dir, name)
            .expect("write operator cert")
    };
    let other = MeshCa::generate("someone else's mesh").expect("other ca");
    Pki {
        ca: ca_path,
        alice: issue(&ca, "alice"),
        bob: issue(&ca, "bob"),
        stranger: issue(&other, "mallory"),
        server,
    }
}

struct Served {
    addr: SocketAddr,
    audit: Arc<AuditLog>,
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

fn serve(dir: &Path, pki: &Pki) -> Served {
    let (router, _, audit) = control_support::router(dir);
    let tls = pki.server.server_config().expect("server config");
    let roles = CertificateRoles::new().operator("alice", ControlRole::Admin);
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
                .expect("send");
            serve_mtls(listener, tls, roles, router, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
    });
    Served {
        addr: addr_rx.recv().expect("address"),
        audit,
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn cli(
    served: &Served,
    pki: &Pki,
    cert: &(PathBuf, PathBuf),
    token: Option<&str>,
    args: &[&str],
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_omnirelay"));
    command
        .arg("mesh")
        .args(["--endpoint", &format!("https://{}", served.addr)])
        .arg("--ca")
        .arg(&pki.ca)
        .arg("--cert")
        .arg(&cert.0)
        .arg("--key")
        .arg(&cert.1)
        .args(args)
        .env_remove("OMNIRELAY_TOKEN");
    if let Some(token) = token {
        command.env("OMNIRELAY_TOKEN", token);
    }
    command.output().expect("run omnirelay")
}

#[track_caller]
fn assert_exit(output: &Output, expected: i32) {
    assert_eq!(
        output.status.code(),
        Some(expected),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn an_operator_certificate_carries_its_role_without_any_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let served = serve(dir.path(), &pki);
    assert_exit(
        &cli(&served, &pki, &pki.alice, None, &["clusters", "list"]),
        0,
    );
    // Forcing needs mesh.admin: alice's certificate grants it.
    let forced = cli(
        &served,
        &pki,
        &pki.alice,
        None,
        &[
            "clusters",
            "promote",
            "--namespace",
            "orders",
            "--to",
            "us-east",
            "--emergency",
            "--force",
            "--poll-interval-ms",
            "10",
        ],
    );
    assert_exit(&forced, 0);
    let records = served.audit.read(0, 100).expect("audit").records;
    assert_eq!(records.last().map(|r| r.who.as_str()), Some("cert:alice"));
}

#[test]
fn a_certificate_without_a_role_falls_back_to_the_bearer_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let served = serve(dir.path(), &pki);
    let anonymous = cli(&served, &pki, &pki.bob, None, &["clusters", "list"]);
    assert_exit(&anonymous, 1);
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("unauthenticated"));
    let reader = cli(
        &served,
        &pki,
        &pki.bob,
        Some(control_support::READ_TOKEN),
        &["clusters", "list"],
    );
    assert_exit(&reader, 0);
    let denied = cli(
        &served,
        &pki,
        &pki.bob,
        Some(control_support::READ_TOKEN),
        &["failovers", "cancel", "fo-1"],
    );
    assert_exit(&denied, 1);
}

#[test]
fn a_certificate_from_another_ca_is_refused_as_unreachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki(dir.path());
    let served = serve(dir.path(), &pki);
    let out = cli(
        &served,
        &pki,
        &pki.stranger,
        Some(control_support::ADMIN_TOKEN),
        &["clusters", "list"],
    );
    assert_exit(&out, 3);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate refused by server"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        served.audit.read(0, 10).expect("audit").records.is_empty(),
        "no request got through"
    );
}
