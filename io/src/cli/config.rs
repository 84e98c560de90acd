//! `omnirelay config ...`: check a node's configuration, or print a complete example.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::config::{self, ENV_PREFIX};

/// Exit status when the configuration (or the command line) is invalid, as clap uses for
/// usage errors: scripts can tell "fix the file" from "something else broke" (1).
pub const EXIT_INVALID: u8 = 2;

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the configuration is valid (validate) or the example was printed
  2  usage error, or the configuration is invalid: every problem is printed on stderr,
     one per line, key (or OMNIRELAY_* variable) first";

/// Configuration commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a node configuration file, with the `OMNIRELAY_<SECTION>_<KEY>` overrides of
    /// the current environment applied, exactly as the node would read it.
    #[command(after_help = EXIT_CODES_HELP)]
    Validate(ValidateArgs),
    /// Print a complete, commented example configuration with every default.
    Example,
}

/// `omnirelay config validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The TOML file.
    pub file: PathBuf,
    /// Check the file alone, ignoring OMNIRELAY_* environment variables.
    #[arg(long)]
    pub ignore_env: bool,
}

/// The process's `OMNIRELAY_*` variables. A name or value that is not UTF-8 is refused by
/// name: replacing its bytes would quietly configure something else (another data dir).
pub fn process_env() -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    for (k, v) in std::env::vars_os() {
        let name = match k.into_string() {
            Ok(name) => name,
            Err(raw) if raw.as_encoded_bytes().starts_with(ENV_PREFIX.as_bytes()) => {
                return Err(format!(
                    "{}: variable name is not UTF-8",
                    raw.to_string_lossy()
                ));
            }
            Err(_) => continue,
        };
        if !name.starts_with(ENV_PREFIX) {
            continue;
        }
        let value = v
            .into_string()
            .map_err(|_| format!("{name}: value is not UTF-8"))?;
        env.insert(name, value);
    }
    Ok(env)
}

/// Runs a configuration command; returns the process's exit code.
pub fn run(command: ConfigCommand) -> ExitCode {
    match command {
        ConfigCommand::Example => {
            print!("{}", config::EXAMPLE);
            ExitCode::SUCCESS
        }
        ConfigCommand::Validate(args) => {
            let env = if args.ignore_env {
                BTreeMap::new()
            } else {
                match process_env() {
                    Ok(env) => env,
                    Err(problem) => {
                        eprintln!("{problem}");
                        return ExitCode::from(EXIT_INVALID);
                    }
                }
            };
            match config::load(&args.file, &env) {
                Ok(loaded) => {
                    println!("ok: {}", loaded.config.summary());
                    ExitCode::SUCCESS
                }
                Err(errors) => {
                    for problem in &errors.problems {
                        eprintln!("{problem}");
                    }
                    ExitCode::from(EXIT_INVALID)
                }
            }
        }
    }
}
