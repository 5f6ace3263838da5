//! Tool commands (`bench`, `chaos`, `client`, `loadgen`) are not in this binary: they live
//! in `votechain-tools`, which no deploy image carries. `votechain bench ...` runs
//! `votechain-tools bench ...` from beside this executable (or from `PATH`), the way git
//! and cargo run their external subcommands, so the command line stays the same.

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// The subcommands `votechain-tools` provides.
pub const TOOL_COMMANDS: [&str; 4] = ["bench", "chaos", "client", "loadgen"];

/// The tools binary: beside this executable, else on `PATH`.
fn tools_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe()
        .ok()?
        .with_file_name("votechain-tools");
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("votechain-tools"))
            .find(|f| f.is_file())
    })
}

pub fn run(args: Vec<OsString>) -> Result<ExitCode> {
    let name = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !TOOL_COMMANDS.contains(&name.as_str()) {
        bail!("unknown command '{name}'; see `votechain --help`");
    }
    let Some(bin) = tools_binary() else {
        bail!(
            "`votechain {name}` is a tool command, provided by the votechain-tools binary, which was not found beside this \
             executable nor on PATH: build it with `cargo build -p votechain-tools`, in the same profile as this binary (`--release` beside a release build); production images do not carry it"
        );
    };
    let status = std::process::Command::new(&bin)
        .args(&args)
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    Ok(ExitCode::from(
        status.code().unwrap_or(1).clamp(0, 255) as u8
    ))
}
