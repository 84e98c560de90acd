//! `omnirelay config validate|example`, run as the built binary: exit 0 with `ok:` on a
//! good file, exit 2 with every problem on its own line, key first, on a bad one.

mod config_fixture;

use std::path::Path;
use std::process::{Command, Output};

use config_fixture::{Fixture, example_with};
use omnirelay_io::config::EXAMPLE;

/// The binary with no inherited `OMNIRELAY_*` variables, plus `env`.
fn omnirelay(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omnirelay"));
    cmd.args(args).current_dir(cwd);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OMNIRELAY_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run omnirelay")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn validate_prints_ok_and_exits_0_for_a_valid_file() {
    let fx = Fixture::new();
    fx.write(EXAMPLE);
    let out = omnirelay(&["config", "validate", "node.toml"], fx.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("ok: n1 (voter of us-east, region us-east-1)"),
        "{stdout}"
    );
}

#[test]
fn validate_exits_2_and_prints_every_problem_key_first() {
    let fx = Fixture::new();
    fx.write(
        &example_with("heartbeat_ms = 50", "heartbeat_ms = 400").replacen(
            "control = \"127.0.0.1:9090\"",
            "control = \"127.0.0.1:8080\"",
            1,
        ),
    );
    let out = omnirelay(&["config", "validate", "node.toml"], fx.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("consensus.heartbeat_ms: ")),
        "{stderr}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("listen.control: ")),
        "{stderr}"
    );
    assert!(text(&out.stdout).is_empty());
}

#[test]
fn validate_exits_2_naming_a_wrongly_typed_key() {
    let fx = Fixture::new();
    fx.write(&example_with(
        "election_timeout_min_ms = 150",
        "election_timeout_min_ms = \"x\"",
    ));
    let out = omnirelay(&["config", "validate", "node.toml"], fx.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "consensus.election_timeout_min_ms: invalid type: string \"x\", expected u64"
    );
}

#[test]
fn validate_applies_the_environment_and_refuses_unknown_variables() {
    let fx = Fixture::new();
    fx.write(EXAMPLE);
    let out = omnirelay(
        &["config", "validate", "node.toml"],
        fx.dir.path(),
        &[
            ("OMNIRELAY_GOSSIP_PROFILE", "mesh"),
            ("OMNIRELAY_GOSIP_SEEDS", "x:1"),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("OMNIRELAY_GOSIP_SEEDS: "));

    let out = omnirelay(
        &["config", "validate", "node.toml"],
        fx.dir.path(),
        &[("OMNIRELAY_GOSSIP_PROFILE", "mesh")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("gossip mesh"));

    let out = omnirelay(
        &["config", "validate", "--ignore-env", "node.toml"],
        fx.dir.path(),
        &[("OMNIRELAY_GOSIP_SEEDS", "x:1")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn validate_exits_2_naming_an_unreadable_file() {
    let fx = Fixture::new();
    let out = omnirelay(&["config", "validate", "absent.toml"], fx.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("absent.toml: cannot read"));
}

#[test]
fn example_prints_the_complete_example_config() {
    let fx = Fixture::new();
    let out = omnirelay(&["config", "example"], fx.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), EXAMPLE);
    // What it printed validates next to the certificates it refers to.
    std::fs::write(fx.dir.path().join("printed.toml"), &out.stdout).unwrap();
    let out = omnirelay(&["config", "validate", "printed.toml"], fx.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn help_documents_the_exit_codes() {
    let fx = Fixture::new();
    for args in [
        &["config", "--help"][..],
        &["config", "validate", "--help"][..],
    ] {
        let out = omnirelay(args, fx.dir.path(), &[]);
        assert_eq!(out.status.code(), Some(0));
        let help = text(&out.stdout);
        assert!(
            help.contains("Exit codes:") && help.contains("  2  "),
            "{help}"
        );
    }
    let out = omnirelay(&["config", "validate"], fx.dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2), "a usage error exits 2 too");
}

/// Replacing a non-UTF-8 byte would quietly configure another value (another data dir);
/// the variable is refused by name instead (found by review).
#[cfg(unix)]
#[test]
fn validate_refuses_a_variable_whose_value_is_not_utf8() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let fx = Fixture::new();
    fx.write(EXAMPLE);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_omnirelay"));
    cmd.args(["config", "validate", "node.toml"])
        .current_dir(fx.dir.path());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OMNIRELAY_") {
            cmd.env_remove(k);
        }
    }
    cmd.env(
        "OMNIRELAY_NODE_DATA_DIR",
        OsStr::from_bytes(b"/srv/omni\xffdata"),
    );
    let out = cmd.output().expect("run omnirelay");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).starts_with("OMNIRELAY_NODE_DATA_DIR: value is not UTF-8"),
        "{}",
        text(&out.stderr)
    );
}
