//! `votechain dlq list`: the records the ChainWriter dead-lettered, one a line: where they
//! came from on `votes`, why, when, which election and vote_id; the count per reason last
//! (it matches `votechain_writer_dead_letters_total{reason}` summed over the writers' life).
//! The choice is shown only with `--show-choice`: a dead-lettered ballot is still a ballot.

use anyhow::Result;
use std::process::ExitCode;
use std::time::Duration;
use votechain::dlq::{self, DeadLetter};

#[derive(clap::Subcommand)]
pub enum DlqCmd {
    /// Lists dead-lettered records (without their choice unless --show-choice).
    List {
        /// Only records with this reason (e.g. conflict, unknown_candidate).
        #[arg(long)]
        reason: Option<String>,
        /// Also print each record's candidate and region.
        #[arg(long)]
        show_choice: bool,
        #[command(flatten)]
        target: super::Target,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: DlqCmd) -> Result<ExitCode> {
    let DlqCmd::List {
        reason,
        show_choice,
        target,
        json,
    } = cmd;
    let (cfg, _) = target.open().await?;
    let base = votechain::kafka::base_config(&cfg.kafka);
    let all = dlq::read_all(&base, &cfg.kafka.dead_letter_topic, Duration::from_secs(3)).await?;
    let shown: Vec<&DeadLetter> = all
        .iter()
        .filter(|d| reason.as_ref().is_none_or(|r| &d.reason == r))
        .collect();
    if json {
        let rows: Vec<serde_json::Value> = shown.iter().map(|d| as_json(d, show_choice)).collect();
        let counts = dlq::count_by_reason(&all);
        super::print_json(&serde_json::json!({"records": rows, "count_by_reason": counts}))?;
        return Ok(ExitCode::SUCCESS);
    }
    for d in &shown {
        println!("{}", line(d, show_choice));
    }
    for (r, n) in dlq::count_by_reason(&all) {
        println!("{r}: {n}");
    }
    Ok(ExitCode::SUCCESS)
}

fn as_json(d: &DeadLetter, show_choice: bool) -> serde_json::Value {
    let mut v = serde_json::to_value(d).expect("serializes");
    if let (true, Some((c, r))) = (show_choice, &d.choice) {
        v["candidate_id"] = c.clone().into();
        v["region_id"] = r.clone().into();
    }
    v
}

fn line(d: &DeadLetter, show_choice: bool) -> String {
    let opt = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let at = d.at_ms.map(|t| t.to_string()).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "votes {} {} at_ms={at} election={} vote_id={}",
        d.source,
        d.reason,
        opt(&d.election_id),
        opt(&d.vote_id)
    );
    if let (true, Some((c, r))) = (show_choice, &d.choice) {
        out.push_str(&format!(" candidate={c} region={r}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter() -> DeadLetter {
        DeadLetter {
            dlq_partition: 0,
            dlq_offset: 7,
            reason: "conflict".into(),
            source: "3/41".into(),
            at_ms: Some(1),
            election_id: Some("e".into()),
            vote_id: Some("v".into()),
            choice: Some(("alice".into(), "north".into())),
        }
    }

    #[test]
    fn the_choice_is_shown_only_when_asked() {
        let d = letter();
        assert!(
            !line(&d, false).contains("alice") && !as_json(&d, false).to_string().contains("alice")
        );
        assert!(line(&d, true).contains("candidate=alice region=north"));
        assert_eq!(as_json(&d, true)["candidate_id"], "alice");
        assert_eq!(
            line(&d, false),
            "votes 3/41 conflict at_ms=1 election=e vote_id=v"
        );
    }
}
