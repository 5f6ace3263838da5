//! Configs for one machine, shared by the integration tests, the chaos runner and the
//! bench (test tooling, so it lives here and not in the node's `config`).

/// The `[node]`, `[kafka]` and `[dynamodb]` sections of a config for one machine: HTTP on a
/// free loopback port, the given Kafka bootstrap, DynamoDB Local at `dynamodb_endpoint`, and
/// tables named after `table` (`{table}`, `{table}-leases`, `{table}-results`). Callers put
/// their `roles = [...]` line before it and their own sections after it.
pub fn local_toml(
    instance: &str,
    bootstrap: &str,
    dynamodb_endpoint: &str,
    table: &str,
    partitions: u32,
) -> String {
    format!(
        r#"[node]
instance_id = "{instance}"
http_addr = "127.0.0.1:0"
shutdown_grace_ms = 8000
[kafka]
bootstrap_servers = "{bootstrap}"
partitions = {partitions}
[dynamodb]
endpoint = "{dynamodb_endpoint}"
local_credentials = true
ledger_table = "{table}"
lease_table = "{table}-leases"
results_table = "{table}-results"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use votechain::config::Config;

    #[test]
    fn local_toml_names_every_table_after_the_ledger() {
        let text = format!(
            "roles = [\"query\"]\n{}",
            local_toml("t1", "127.0.0.1:9092", "http://127.0.0.1:8000", "t-x", 4)
        );
        let c = Config::from_toml(&text).expect("valid");
        assert_eq!(
            (
                c.dynamodb.ledger_table.as_str(),
                c.dynamodb.lease_table.as_str(),
                c.dynamodb.results_table.as_str()
            ),
            ("t-x", "t-x-leases", "t-x-results")
        );
        assert_eq!((c.kafka.partitions, c.node.instance_id.as_str()), (4, "t1"));
        assert_eq!(
            c.dynamodb.endpoint.as_deref(),
            Some("http://127.0.0.1:8000")
        );
    }
}
