//! `omnirelay node --config FILE` as the built binary: a configuration error exits 2 naming
//! the key before anything is opened (issue #6, "Done when"); SIGTERM stops a running node
//! gracefully with exit 0.

mod node_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use node_support::TestMesh;

fn omnirelay(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omnirelay"));
    cmd.current_dir(cwd);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OMNIRELAY_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run_node(mesh: &TestMesh, text: &str) -> Output {
    std::fs::write(mesh.dir.path().join("bad.toml"), text).unwrap();
    omnirelay(mesh.dir.path())
        .args(["node", "--config", "bad.toml"])
        .output()
        .expect("run omnirelay")
}

#[test]
fn a_node_without_a_mesh_section_exits_2_naming_the_key() {
    let mesh = TestMesh::two_clusters_of_three();
    let text = mesh.config_text(1);
    let without_mesh = text.split("[mesh]").next().unwrap();
    let out = run_node(&mesh, without_mesh);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("mesh: missing")),
        "{stderr}"
    );
    assert!(!mesh.data_dir(1).exists(), "nothing was opened");
}

#[test]
fn a_namespace_placed_on_an_unknown_cluster_exits_2_naming_the_key() {
    let mesh = TestMesh::two_clusters_of_three();
    let text = mesh.config_text(1).replace(
        "namespaces = [{ name = \"orders\", active = \"a\" }]",
        "namespaces = [{ name = \"orders\", active = \"nowhere\" }]",
    );
    let out = run_node(&mesh, &text);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("mesh.namespaces[0].active: nowhere is not a cluster")),
        "{stderr}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_a_running_node_gracefully_with_exit_0() {
    let mesh = TestMesh::two_clusters_of_three();
    std::fs::write(mesh.dir.path().join("n1.toml"), mesh.config_text(1)).unwrap();
    let mut child = omnirelay(mesh.dir.path())
        .args(["node", "--config", "n1.toml"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn omnirelay node");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains("node started") => break,
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("the node never said it started: {seen:#?}");
            }
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(exit.code(), Some(0), "{rest:#?}");
    assert!(
        rest.iter().any(|l| l.contains("stop requested")),
        "{rest:#?}"
    );
    assert!(
        mesh.data_dir(1).join("cluster").is_dir(),
        "the cluster log was opened"
    );
    assert!(
        mesh.data_dir(1).join("control").is_dir(),
        "n1 votes in the control group"
    );
}
