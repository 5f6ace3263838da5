//! The capacity model of `docs/capacity.md`: from the work one vote costs (measured by
//! `votechain bench --capacity`, [`WorkReport`]) to chains, partitions, pods, DynamoDB
//! units, stream shards, MSK brokers and the cost per million votes, for a sustained rate
//! over an election day. Pure arithmetic, every rule stated in [`Plan::markdown`]; the
//! prices are constants with their source and the date they were read.

use crate::bench::{TableWork, WorkReport};
use std::fmt::Write as _;

/// DynamoDB's write units per partition (and so per partition key) per second.
pub const KEY_WCU: f64 = 1000.0;
/// Share of a limit the plan uses (headroom for bursts and uneven hashing).
pub const HEADROOM: f64 = 0.7;
/// vCPUs of one pod, and the share of them the plan uses.
pub const POD_VCPU: f64 = 2.0;
/// Pods of each role at least: one can fail or be rolled while the other serves.
pub const MIN_PODS: u32 = 2;
/// Kafka partitions per chain: chains hash onto partitions, so with about as many
/// partitions as chains some ChainWriters carry two and a throttled one holds the other
/// back (docs/performance.md).
pub const PARTITIONS_PER_CHAIN: u32 = 4;
/// Replication factor of the Kafka topics on MSK.
pub const KAFKA_RF: u32 = 3;
/// Partition replicas per broker (AWS's guidance for m5/m7g.large brokers).
pub const REPLICAS_PER_BROKER: u32 = 1000;
/// Ingress per broker the plan allows, bytes/s (write traffic before replication): our
/// conservative assumption for an m7g.large, not an AWS figure (AWS gives a formula).
pub const BROKER_INGRESS: f64 = 20.0e6;
/// DynamoDB's default per-table on-demand quota, units/s each way (can be raised).
pub const TABLE_QUOTA: f64 = 40_000.0;
/// An election day.
pub const DAY_HOURS: f64 = 12.0;
/// DynamoDB's partition size limit, bytes (a partition per 10 GB of items).
pub const PARTITION_BYTES: f64 = 10.0e9;

/// On-demand prices, us-east-1, USD.
#[derive(Debug, Clone)]
pub struct Prices {
    pub per_million_wru: f64,
    pub per_million_rru: f64,
    pub per_100k_stream_reads: f64,
    pub gb_month: f64,
    pub broker_hour: f64,
    pub broker_type: &'static str,
    pub broker_storage_gb_month: f64,
    /// Where each figure comes from, with the date read.
    pub sources: &'static [&'static str],
}

pub const PRICES: Prices = Prices {
    per_million_wru: 0.625,
    per_million_rru: 0.125,
    per_100k_stream_reads: 0.02,
    gb_month: 0.25,
    broker_hour: 0.204,
    broker_type: "kafka.m7g.large",
    broker_storage_gb_month: 0.10,
    sources: &[
        "DynamoDB on-demand, $0.625 per million WRU and $0.125 per million RRU (Standard table class, US East): after AWS's 50 % on-demand price cut of November 2024 (announced at https://aws.amazon.com/about-aws/whats-new/2024/11/amazon-dynamo-db-reduces-prices-on-demand-throughput-global-tables/); the figures as read on 2026-11-27 in https://airbyte.com/data-engineering-resources/dynamodb-pricing (dated 2025-07-21, third-party), because the stored copy of https://aws.amazon.com/dynamodb/pricing/on-demand/ lacks its price table. The pre-cut AWS text ($1.25 and $0.25) is exactly double.",
        "DynamoDB storage $0.25 per GB-month after the first 25 GB, Streams $0.02 per 100,000 read request units after 2.5 million a month free (each GetRecords call is one): AWS's pricing text as copied in a third-party repository, read 2026-11-27.",
        "MSK kafka.m7g.large $0.204 per broker-hour (kafka.m5.large $0.21), storage $0.10 per GB-month, US East (N. Virginia): third-party copies read 2026-11-27; not confirmed on https://aws.amazon.com/msk/pricing/.",
        "AWS's own pages: 1,000 WCU and 3,000 RCU per partition (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html); 40,000 read and 40,000 write request units per on-demand table by default, a quota that can be raised (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode-max-throughput.html); at most 2 readers per Streams shard, GetRecords at most 1,000 records or 1 MB; 1,000 partition replicas per m5.large/m7g.large broker recommended and CPU under 60 % (https://docs.aws.amazon.com/msk/latest/developerguide/bestpractices.html). Read 2026-11-27.",
        "Not from AWS: one stream shard per table partition (AWS publishes no rule; third-party pages say one to one), and the 20 MB/s of ingress a broker is given here (AWS publishes a sizing formula, not a figure per broker size; 20 MB/s is a conservative assumption of ours for an m7g.large with replication factor 3).",
        "Check every price on the live AWS pages before quoting a budget: prices change, and the model's rules are in crates/tools/src/capacity.rs.",
    ],
};

/// The plan for one sustained rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub votes_per_s: f64,
    pub chains: u32,
    pub partitions: u32,
    pub ingest_pods: u32,
    pub writer_pods: u32,
    pub projector_pods: u32,
    pub publisher_pods: u32,
    pub wcu_per_s: f64,
    /// The ledger table's share (the quota is per table).
    pub ledger_wcu_per_s: f64,
    pub rcu_per_s: f64,
    pub ledger_gb_per_day: f64,
    pub table_partitions: u32,
    pub stream_reads_per_s: f64,
    pub kafka_bytes_per_s: f64,
    pub brokers: u32,
    /// USD per million votes, by part.
    pub cost_dynamodb_writes: f64,
    pub cost_dynamodb_reads: f64,
    pub cost_streams: f64,
    pub cost_storage_month: f64,
    pub cost_brokers: f64,
}

impl Plan {
    pub fn cost_per_million(&self) -> f64 {
        self.cost_dynamodb_writes
            + self.cost_dynamodb_reads
            + self.cost_streams
            + self.cost_storage_month
            + self.cost_brokers
    }
}

fn ceil(x: f64) -> u32 {
    x.ceil().max(1.0) as u32
}

fn pods(w: &WorkReport, role: &str, rate: f64) -> u32 {
    let ms = w.cpu_ms_per_vote.get(role).copied().unwrap_or(0.0);
    ceil(rate * ms / 1000.0 / (POD_VCPU * HEADROOM)).max(MIN_PODS)
}

fn sum(rows: &[TableWork], f: impl Fn(&TableWork) -> f64) -> f64 {
    rows.iter().map(f).sum()
}

/// The plan for `rate` votes/s sustained over an election day, priced at `p`.
pub fn plan(w: &WorkReport, rate: f64, p: &Prices) -> Plan {
    let chain_rate = KEY_WCU * HEADROOM / w.chain_key_wcu().max(1e-9);
    let chains = ceil(rate / chain_rate);
    let partitions = chains * PARTITIONS_PER_CHAIN;
    let (ingest, writer, projector, publisher) = (
        pods(w, "ingest", rate),
        pods(w, "writer", rate).min(partitions),
        pods(w, "projector", rate),
        pods(w, "publisher", rate),
    );
    let all_pods = (ingest + writer + projector + publisher) as f64;
    // Fixed work per second was measured on one node running every role: counted once per
    // pod, an over-estimate (a pod runs one role).
    let wcu = rate * sum(&w.per_vote, |t| t.wcu) + all_pods * sum(&w.idle_per_s, |t| t.wcu);
    let rcu = rate * sum(&w.per_vote, |t| t.rcu) + all_pods * sum(&w.idle_per_s, |t| t.rcu);
    let ledger_bytes = sum(&w.per_vote, |t| {
        if t.table == "ledger" {
            t.bytes_written
        } else {
            0.0
        }
    });
    let votes_day = rate * DAY_HOURS * 3600.0;
    let ledger_gb = votes_day * ledger_bytes / 1e9;
    let table_partitions = ceil(
        (wcu / KEY_WCU)
            .max(rcu / 3000.0)
            .max(ledger_gb * 1e9 / PARTITION_BYTES),
    );
    let per_vote_reads: f64 = w
        .stream_calls_per_vote
        .get("GetRecords")
        .copied()
        .unwrap_or(0.0);
    // Each shard is also polled while idle (the idle figure is one node on one shard).
    let stream_reads = rate * per_vote_reads
        + table_partitions as f64 * projector as f64 * w.stream_calls_idle_per_s;
    let kafka_per_vote: f64 = w.kafka.values().map(|(_, b)| b).sum();
    let kafka_bytes = rate * kafka_per_vote;
    let brokers = ceil((2 * partitions * KAFKA_RF) as f64 / REPLICAS_PER_BROKER as f64)
        .max(ceil(kafka_bytes * KAFKA_RF as f64 / BROKER_INGRESS))
        .max(KAFKA_RF);
    let million = 1e6;
    let per_m = |units_per_s: f64| units_per_s / rate * million;
    let day_votes_m = votes_day / million;
    Plan {
        votes_per_s: rate,
        chains,
        partitions,
        ingest_pods: ingest,
        writer_pods: writer,
        projector_pods: projector,
        publisher_pods: publisher,
        wcu_per_s: wcu,
        ledger_wcu_per_s: rate
            * sum(
                &w.per_vote,
                |t| if t.table == "ledger" { t.wcu } else { 0.0 },
            ),
        rcu_per_s: rcu,
        ledger_gb_per_day: ledger_gb,
        table_partitions,
        stream_reads_per_s: stream_reads,
        kafka_bytes_per_s: kafka_bytes,
        brokers,
        cost_dynamodb_writes: per_m(wcu) * p.per_million_wru / million,
        cost_dynamodb_reads: per_m(rcu) * p.per_million_rru / million,
        cost_streams: per_m(stream_reads) * p.per_100k_stream_reads / 1e5,
        cost_storage_month: ledger_gb * p.gb_month / day_votes_m,
        cost_brokers: brokers as f64 * DAY_HOURS * p.broker_hour / day_votes_m,
    }
}

/// `docs/capacity.md`.
pub fn markdown(w: &WorkReport, plans: &[Plan], p: &Prices, command: &str) -> String {
    let mut s = String::new();
    let _ = write!(s, "{}", derivation(w, p, command));
    s.push_str("\n## The plans\n\n| | ");
    for pl in plans {
        let _ = write!(s, "{} votes/s | ", pl.votes_per_s);
    }
    s.push_str("\n| --- |");
    s.push_str(&" ---: |".repeat(plans.len()));
    s.push('\n');
    let line = |s: &mut String, name: &str, f: &dyn Fn(&Plan) -> String| {
        let _ = write!(s, "| {name} |");
        for pl in plans {
            let _ = write!(s, " {} |", f(pl));
        }
        s.push('\n');
    };
    line(&mut s, "chains", &|p| p.chains.to_string());
    line(
        &mut s,
        "Kafka partitions (`votes`, `vote-audit` each)",
        &|p| p.partitions.to_string(),
    );
    line(&mut s, "ingest pods", &|p| p.ingest_pods.to_string());
    line(&mut s, "writer pods", &|p| p.writer_pods.to_string());
    line(&mut s, "projector pods", &|p| p.projector_pods.to_string());
    line(&mut s, "publisher pods", &|p| p.publisher_pods.to_string());
    line(&mut s, "DynamoDB write units/s", &|p| {
        format!("{:.0}", p.wcu_per_s)
    });
    line(&mut s, "DynamoDB read units/s", &|p| {
        format!("{:.0}", p.rcu_per_s)
    });
    line(
        &mut s,
        "within the default table quota (40,000 units/s each way)?",
        &|p| {
            let fits = p.ledger_wcu_per_s <= TABLE_QUOTA && p.rcu_per_s <= TABLE_QUOTA;
            if fits {
                "yes".into()
            } else {
                "**no: ask AWS for more, or split the ledger by election**".into()
            }
        },
    );
    line(&mut s, "ledger GB per election day", &|p| {
        format!("{:.1}", p.ledger_gb_per_day)
    });
    line(&mut s, "ledger partitions ≈ stream shards", &|p| {
        p.table_partitions.to_string()
    });
    line(&mut s, "Streams GetRecords/s", &|p| {
        format!("{:.0}", p.stream_reads_per_s)
    });
    line(&mut s, "Kafka ingress MB/s (before replication)", &|p| {
        format!("{:.1}", p.kafka_bytes_per_s / 1e6)
    });
    line(&mut s, &format!("MSK brokers ({})", p.broker_type), &|p| {
        p.brokers.to_string()
    });
    line(&mut s, "**USD per million votes**", &|p| {
        format!("**{:.2}**", p.cost_per_million())
    });
    line(&mut s, "… DynamoDB writes", &|p| {
        format!("{:.2}", p.cost_dynamodb_writes)
    });
    line(&mut s, "… DynamoDB reads", &|p| {
        format!("{:.3}", p.cost_dynamodb_reads)
    });
    line(&mut s, "… Streams", &|p| format!("{:.4}", p.cost_streams));
    line(&mut s, "… storage, one month", &|p| {
        format!("{:.4}", p.cost_storage_month)
    });
    line(&mut s, "… MSK brokers, the day", &|p| {
        format!("{:.3}", p.cost_brokers)
    });
    s
}

fn derivation(w: &WorkReport, p: &Prices, command: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Capacity model\n\nProduced by `{command}`, not typed by hand: the per-vote figures below were measured in that run, the plans are arithmetic on them (`crates/tools/src/capacity.rs`, unit-tested).\n\n- machine: {}\n- measured: {} votes offered at {:.0} votes/s over HTTP to one node running every role ({} chains, {} partitions), {:.1} s from the first vote to the last published; DynamoDB Local behind the fault proxy's meter (`crates/tools/src/chaos/meter.rs`), Apache Kafka (one KRaft node)",
        w.machine, w.votes, w.offered_per_s, w.chains, w.partitions, w.seconds
    );
    s.push_str("\n## Measured: work per vote\n\nUnits as DynamoDB bills them (a write `ceil(KB)`, doubled in a transaction; a read `ceil(4 KB)`, halved when eventually consistent). The idle node's work per second, times the loaded window, is subtracted first.\n\n| table | item kind | write units | read units | items written | bytes written |\n| --- | --- | ---: | ---: | ---: | ---: |\n");
    for t in &w.per_vote {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.0} |",
            t.table, t.kind, t.wcu, t.rcu, t.items_written, t.bytes_written
        );
    }
    let (wcu, rcu, bytes) = WorkReport::sum(&w.per_vote);
    let _ = writeln!(
        s,
        "| **all** | | **{wcu:.3}** | **{rcu:.3}** | | **{bytes:.0}** |"
    );
    s.push_str("\nIdle work per second of a node running every role (leases, registrations, sync scans, the LagMonitor, the publisher's polls):\n\n| table | item kind | write units/s | read units/s |\n| --- | --- | ---: | ---: |\n");
    for t in &w.idle_per_s {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} |",
            t.table, t.kind, t.wcu, t.rcu
        );
    }
    s.push_str("\nDynamoDB Streams and Kafka:\n\n| what | per vote |\n| --- | ---: |\n");
    for (op, n) in &w.stream_calls_per_vote {
        let _ = writeln!(s, "| Streams {op} calls | {n:.4} |");
    }
    let _ = writeln!(
        s,
        "| stream records read | {:.3} |",
        w.stream_records_per_vote
    );
    for (topic, (n, b)) in &w.kafka {
        let _ = writeln!(
            s,
            "| Kafka `{topic}`: records / bytes (key, value, headers) | {n:.3} / {b:.0} |"
        );
    }
    let _ = writeln!(
        s,
        "\nStreams calls of the idle node: {:.1}/s (one shard). Public reads: a results request {:.1} read units, a receipt lookup {:.1}.\n",
        w.stream_calls_idle_per_s, w.results_rcu, w.receipt_rcu
    );
    s.push_str("Process CPU per vote, each role alone on a backlog (for ingest it includes the in-process HTTP load client; Kafka and DynamoDB Local, separate processes, excluded):\n\n| role | CPU ms per vote |\n| --- | ---: |\n");
    for (r, ms) in &w.cpu_ms_per_vote {
        let _ = writeln!(s, "| {r} | {ms:.3} |");
    }
    let _ = writeln!(
        s,
        "\n## Rules\n\n- **Chains.** A chain's vote items and its log share one partition key, {KEY_WCU:.0} write units/s at most on DynamoDB. Measured: {:.3} units per vote on that key, so a chain carries {:.0} votes/s at {:.0} % of the limit. Chains = rate / that, rounded up.",
        w.chain_key_wcu(),
        KEY_WCU * HEADROOM / w.chain_key_wcu().max(1e-9),
        HEADROOM * 100.0
    );
    let _ = writeln!(
        s,
        "- **Kafka partitions** = {PARTITIONS_PER_CHAIN} × chains (chains hash onto partitions; fewer makes ChainWriters carry several chains and a throttled one holds the others back: docs/performance.md)."
    );
    let _ = writeln!(
        s,
        "- **Pods** (ingest, writer, projector, publisher) = rate × CPU per vote / ({POD_VCPU:.0} vCPU × {:.0} %), rounded up, at least {MIN_PODS} of each (one fails or rolls while the other serves); writers at most one per partition. The CPU figures are this machine's, an upper bound (see above).",
        HEADROOM * 100.0
    );
    let _ = writeln!(
        s,
        "- **DynamoDB units/s** = rate × units per vote, plus the idle node's ledger units/s per chain (it served {} chains) × chains, plus its other units/s × pods (an over-estimate: a pod runs one role, the idle node ran all).",
        w.idle_chains
    );
    let _ = writeln!(
        s,
        "- **Storage**: {:.0} ledger bytes stored per vote (a Scan after the run: items plus 100 bytes each, partial tiles once). **Ledger partitions** = the most of write units / 1,000, read units / 3,000 and a day's ledger / 10 GB. DynamoDB Streams has about one shard per partition (AWS does not publish the exact rule); **GetRecords/s** = rate × calls per vote + shards × projector pods × the idle polls.",
        w.stored_bytes_per_vote
    );
    let _ = writeln!(
        s,
        "- **MSK brokers** = the most of {KAFKA_RF} (the replication factor), partition replicas (2 topics × partitions × {KAFKA_RF}) / {REPLICAS_PER_BROKER}, and Kafka ingress × {KAFKA_RF} / {:.0} MB/s.",
        BROKER_INGRESS / 1e6
    );
    let _ = writeln!(
        s,
        "- **Cost per million votes** = units per vote × price (on-demand), plus a month of the day's ledger storage and the brokers for a {DAY_HOURS:.0}-hour day, divided by the day's votes. Compute (EKS/EC2 for the pods), data transfer, backups and the Kafka brokers' storage are not priced. Vote caps (`ingest.key_max_votes`) are off, as by default: with one, each vote also costs a two-item transaction in the caps table (4 write units), not in these plans.\n\nPrices (us-east-1, on-demand): ${} per million write request units, ${} per million read request units, ${} per 100,000 Streams read requests, ${} per GB-month, {} ${} per broker-hour.\n",
        p.per_million_wru,
        p.per_million_rru,
        p.per_100k_stream_reads,
        p.gb_month,
        p.broker_type,
        p.broker_hour
    );
    for src in p.sources {
        let _ = writeln!(s, "- {src}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn work() -> WorkReport {
        let t = |table: &str, kind: &str, wcu: f64, bytes: f64| TableWork {
            table: table.into(),
            kind: kind.into(),
            wcu,
            rcu: 0.0,
            items_written: 1.0,
            bytes_written: bytes,
        };
        WorkReport {
            machine: "test".into(),
            votes: 1000,
            offered_per_s: 100.0,
            seconds: 10.0,
            chains: 8,
            partitions: 8,
            per_vote: vec![
                t("ledger", "ELECTION", 2.0, 500.0),
                t("ledger", "VOTEID", 2.0, 100.0),
            ],
            idle_per_s: vec![],
            stream_calls_per_vote: BTreeMap::from([("GetRecords".into(), 0.01)]),
            stream_records_per_vote: 2.0,
            stream_calls_idle_per_s: 0.0,
            kafka: BTreeMap::from([("votes".into(), (1.0, 400.0))]),
            cpu_ms_per_vote: BTreeMap::from([("writer".into(), 0.14), ("ingest".into(), 0.07)]),
            results_rcu: 1.0,
            receipt_rcu: 2.0,
            idle_chains: 8,
            stored_bytes_per_vote: 800.0,
        }
    }

    #[test]
    fn a_chain_carries_its_key_limit_with_headroom() {
        // 2 WCU a vote on the chain's key: 1000 * 0.7 / 2 = 350 votes/s a chain.
        let p = plan(&work(), 1000.0, &PRICES);
        assert_eq!(p.chains, 3);
        assert_eq!(p.partitions, 12);
        let p = plan(&work(), 350.0, &PRICES);
        assert_eq!(p.chains, 1);
    }

    #[test]
    fn pods_follow_cpu_per_vote() {
        // One 2-vCPU pod at 70 % is 1.4 vCPU: 19k votes/s * 0.14 ms = 2.66 vCPU of writer
        // fit 2 pods, 21k (2.94) do not.
        let p = plan(&work(), 19_000.0, &PRICES);
        assert_eq!(p.writer_pods, 2);
        let p = plan(&work(), 21_000.0, &PRICES);
        assert_eq!(p.writer_pods, 3);
        // Never fewer than two of a role.
        let p = plan(&work(), 10.0, &PRICES);
        assert_eq!((p.writer_pods, p.ingest_pods), (MIN_PODS, MIN_PODS));
    }

    #[test]
    fn write_cost_per_million_votes_is_units_per_vote_times_the_price() {
        // 4 WCU a vote: 4 million WRU per million votes at $0.625 per million.
        let p = plan(&work(), 1000.0, &PRICES);
        assert!(
            (p.cost_dynamodb_writes - 2.5).abs() < 1e-9,
            "{}",
            p.cost_dynamodb_writes
        );
        assert!((p.wcu_per_s - 4000.0).abs() < 1e-9);
    }

    #[test]
    fn brokers_cover_replicas_and_ingress() {
        // 100k votes/s: 286 chains, 1144 partitions, two topics, RF 3: 6864 replicas.
        let p = plan(&work(), 100_000.0, &PRICES);
        assert_eq!(p.chains, 286);
        assert_eq!(p.brokers, 7);
        assert!(p.brokers >= KAFKA_RF);
    }
}
