//! Runbooks that are never run rot (issue #7, "Runbooks"): the `sh` blocks of every
//! runbook must parse as `omnirelay mesh` command lines, and the steps of
//! `planned-failover.md` run, as written, against the control API on loopback.

mod control_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use omnirelay_io::cli::mesh::MeshArgs;

const RUNBOOKS: [&str; 4] = [
    "planned-failover.md",
    "emergency-failover.md",
    "failback.md",
    "split-brain-recovery.md",
];

fn runbook(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runbooks")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ```sh blocks of `text`, optionally only those under the `## <section>` heading.
fn sh_blocks(text: &str, section: Option<&str>) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current_section = String::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(open) = block.as_mut() {
            if line.trim_start() == "```" {
                blocks.push((current_section.clone(), block.take().unwrap_or_default()));
            } else {
                open.push_str(line.trim_start());
                open.push('\n');
            }
        } else if line.trim_start() == "```sh" {
            block = Some(String::new());
        } else if let Some(heading) = line.strip_prefix("## ") {
            current_section = heading.trim().to_owned();
        }
    }
    blocks
        .into_iter()
        .filter(|(s, _)| section.is_none_or(|want| s == want))
        .map(|(_, b)| b)
        .collect()
}

/// Splits a command line the way the runbooks write them: words, double-quoted strings,
/// `"$VAR"` and `"${VAR:-default}"` expanded from `vars`.
fn words(line: &str, vars: &[(&str, &str)]) -> Vec<String> {
    let mut expanded = line.to_owned();
    for (name, value) in vars {
        for form in [format!("${{{name}:-"), format!("${{{name}:?")] {
            while let Some(start) = expanded.find(&form) {
                let end = expanded[start..]
                    .find('}')
                    .map(|e| start + e + 1)
                    .unwrap_or(expanded.len());
                expanded.replace_range(start..end, value);
            }
        }
        expanded = expanded.replace(&format!("${name}"), value);
    }
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in expanded.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    out.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        out.push(word);
    }
    out
}

#[derive(Debug, Parser)]
struct Mesh {
    #[command(flatten)]
    mesh: MeshArgs,
}

#[test]
fn every_mesh_command_in_every_runbook_parses() {
    let vars = [
        ("NS", "orders"),
        ("TARGET", "us-east"),
        ("KEEP", "us-east"),
        ("TICKET", "CHG-1"),
        ("FAILOVER_ID", "fo-1"),
    ];
    let mut checked = 0;
    for name in RUNBOOKS {
        let text = runbook(name);
        assert!(
            text.contains("```mermaid\nsequenceDiagram"),
            "{name} has no sequence diagram"
        );
        assert!(
            text.contains("## Roll back"),
            "{name} has no roll back section"
        );
        assert!(text.contains("mesh_"), "{name} names no metric to watch");
        for block in sh_blocks(&text, None) {
            for line in block.lines().filter(|l| l.starts_with("omnirelay mesh")) {
                let argv = words(line, &vars);
                let parsed = Mesh::try_parse_from(argv.iter().skip(1));
                assert!(
                    parsed.is_ok(),
                    "{name}: {line}\n{}",
                    parsed.err().map(|e| e.to_string()).unwrap_or_default()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 20,
        "only {checked} commands found: is the extraction broken?"
    );
}

#[test]
fn the_planned_failover_steps_run_as_written_and_move_the_namespace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (router, mesh, _) = control_support::router(dir.path());
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
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
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
    });
    let addr = addr_rx.recv().expect("address");

    let script = sh_blocks(&runbook("planned-failover.md"), Some("Steps")).join("\n");
    assert!(
        script.contains("clusters promote"),
        "no promote in the steps:\n{script}"
    );
    let bin_dir: PathBuf = Path::new(env!("CARGO_BIN_EXE_omnirelay"))
        .parent()
        .expect("bin dir")
        .to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("PATH", path)
        .env("OMNIRELAY_ENDPOINT", format!("http://{addr}"))
        .env("OMNIRELAY_TOKEN", control_support::OPERATE_TOKEN)
        .env("NS", "orders")
        .env("TARGET", "us-east")
        .env("TICKET", "CHG-42")
        .output()
        .expect("run bash");
    let _ = stop.send(());
    let _ = server.join();
    assert!(
        out.status.success(),
        "runbook steps failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mesh.active_of("orders"), "us-east");
    assert!(String::from_utf8_lossy(&out.stdout).contains("writes at risk:    none"));
}
