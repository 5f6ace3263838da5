//! `votechain actors`: shows the live supervision tree of a running node (its
//! `/debug/actors`), one actor a line, indented by depth, with restart counts.

use anyhow::Result;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
}

pub async fn run(a: Args) -> Result<ExitCode> {
    let url = format!("{}/debug/actors", a.url.trim_end_matches('/'));
    let v: serde_json::Value = reqwest::get(url).await?.error_for_status()?.json().await?;
    let mut out = String::new();
    render(&v, 0, &mut out);
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn render(v: &serde_json::Value, depth: usize, out: &mut String) {
    let restarts = v["restarts"].as_u64().unwrap_or(0);
    let name = v["name"].as_str().unwrap_or("?");
    let kind = v["kind"].as_str().unwrap_or("?");
    let status = v["status"].as_str().unwrap_or("?");
    let note = if restarts > 0 {
        format!(" (restarts: {restarts})")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "{}{name} [{kind}] {status}{note}\n",
        "  ".repeat(depth)
    ));
    for c in v["children"].as_array().into_iter().flatten() {
        render(c, depth + 1, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_renders_indented_with_restarts() {
        let v = serde_json::json!({"name": "root", "kind": "supervisor", "status": "running", "restarts": 0,
            "children": [{"name": "writer-0", "kind": "chain_writer", "status": "running", "restarts": 2, "children": []}]});
        let mut out = String::new();
        render(&v, 0, &mut out);
        assert_eq!(
            out,
            "root [supervisor] running\n  writer-0 [chain_writer] running (restarts: 2)\n"
        );
    }
}
