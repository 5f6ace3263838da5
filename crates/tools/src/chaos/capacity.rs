//! A partition-limit model for the fault proxy: DynamoDB's throughput limits, applied to
//! DynamoDB Local, which has none (every table shares one SQLite writer).
//!
//! **Modelled.** Per partition-key value, write and read units per second (DynamoDB: 1,000
//! WCU and 3,000 RCU per partition, so at most that per key); a table-wide cap (on-demand
//! tables: 40,000 each by default); every limit times `scale`, so a measure can sit well
//! below what DynamoDB Local itself can do. Units as DynamoDB counts them: a write is
//! `ceil(item bytes / 1 KB)` WCU, a strongly consistent read `ceil(bytes / 4 KB)` RCU (half
//! for an eventually consistent one), and twice that inside a transaction. A request that
//! would exceed a bucket is refused whole, in DynamoDB's own format:
//! `ProvisionedThroughputExceededException` for a key, `ThrottlingException` for the table,
//! and `TransactionCanceledException` with the reason `ThrottlingError` on the throttled
//! action for `TransactWriteItems` / `TransactGetItems`.
//!
//! Burst capacity is modelled as DynamoDB describes it: a bucket banks up to
//! `burst_seconds` (300) of unused capacity. A bucket starts, at its key's first use, with
//! one second of its rate (a new key lands on a partition with capacity), so over a run the
//! units admitted on a key never exceed its rate times the run's length plus one second. A
//! request larger than a bucket can hold passes when the bucket is full and leaves it in
//! debt, repaid at the rate before anything else passes.
//!
//! **Not modelled.** Adaptive capacity and split-for-heat (DynamoDB eventually
//! gives a hot key its own partition, never beyond the per-key limit), partitions shared by
//! several keys (each key is its own partition here, the best case), and the sizes of
//! `UpdateItem` results (charged on the request's key and values, a lower bound). `Query`
//! and `Scan` count against the table cap only, by the bytes they return.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Instant;

/// The limits; `Default` is DynamoDB's, unscaled.
#[derive(Debug, Clone)]
pub struct CapacityConfig {
    pub key_wcu: f64,
    pub key_rcu: f64,
    pub table_wcu: f64,
    pub table_rcu: f64,
    /// Multiplies every limit.
    pub scale: f64,
    /// Seconds of unused capacity a bucket banks (DynamoDB's burst capacity: 300). A bucket
    /// starts at its first use with one second of its rate.
    pub burst_seconds: f64,
    /// Tables the model applies to (exact names); empty: every table.
    pub tables: Vec<String>,
    /// Attribute names that hold a table's partition key (the first present is used).
    pub key_attributes: Vec<String>,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            key_wcu: 1000.0,
            key_rcu: 3000.0,
            table_wcu: 40_000.0,
            table_rcu: 40_000.0,
            scale: 1.0,
            burst_seconds: 300.0,
            tables: vec![],
            key_attributes: vec!["pk".into(), "leaseKey".into()],
        }
    }
}

/// What the model counted (for reports: units per vote, throttles).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CapacityStats {
    pub write_requests: u64,
    pub wcu: f64,
    pub items_written: u64,
    pub bytes_written: u64,
    pub rcu: f64,
    pub throttled_key: u64,
    pub throttled_table: u64,
    pub hottest_key_wcu: f64,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Refills at `rate`, up to `cap`.
    fn level(&mut self, rate: f64, cap: f64, now: Instant) -> f64 {
        self.tokens = (self.tokens + rate * now.duration_since(self.at).as_secs_f64()).min(cap);
        self.at = now;
        self.tokens
    }

    /// Whether `units` may pass now: the bucket holds them, or it is full and they are more
    /// than it can ever hold (then the bucket goes into debt, repaid at `rate` before
    /// anything else passes, so the average never exceeds the rate).
    fn admits(&mut self, units: f64, rate: f64, cap: f64, now: Instant) -> bool {
        self.level(rate, cap, now) >= units.min(cap)
    }
}

/// One action's charge: its table, partition key, write or read units.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub table: String,
    pub key: Option<String>,
    pub wcu: f64,
    pub rcu: f64,
    pub bytes: u64,
}

/// The model's state; the proxy holds it behind a mutex (no await inside).
pub struct Capacity {
    pub cfg: CapacityConfig,
    buckets: HashMap<(String, String, bool), Bucket>,
    per_key_wcu: HashMap<String, f64>,
    pub stats: CapacityStats,
}

/// DynamoDB's size of an attribute value (names counted by the caller).
fn value_size(v: &Value) -> u64 {
    let Some(o) = v.as_object() else {
        return 0;
    };
    o.iter()
        .map(|(t, x)| match t.as_str() {
            "S" | "B" => x.as_str().map_or(0, |s| s.len() as u64),
            // Numbers: about one byte per two digits, plus one.
            "N" => x.as_str().map_or(1, |s| s.len() as u64 / 2 + 1),
            "BOOL" | "NULL" => 1,
            "SS" | "NS" | "BS" => x.as_array().map_or(0, |a| {
                a.iter()
                    .map(|s| s.as_str().map_or(0, |s| s.len() as u64))
                    .sum()
            }),
            "L" => {
                3 + x
                    .as_array()
                    .map_or(0, |a| a.iter().map(|e| 1 + value_size(e)).sum())
            }
            "M" => 3 + x.as_object().map_or(0, item_size),
            _ => 0,
        })
        .sum()
}

pub(crate) fn item_size(item: &serde_json::Map<String, Value>) -> u64 {
    item.iter()
        .map(|(k, v)| k.len() as u64 + value_size(v))
        .sum()
}

pub(crate) fn units(bytes: u64, per: u64) -> f64 {
    bytes.div_ceil(per).max(1) as f64
}

impl Capacity {
    pub fn new(cfg: CapacityConfig) -> Capacity {
        Capacity {
            cfg,
            buckets: HashMap::new(),
            per_key_wcu: HashMap::new(),
            stats: CapacityStats::default(),
        }
    }

    fn applies(&self, table: &str) -> bool {
        self.cfg.tables.is_empty() || self.cfg.tables.iter().any(|t| t == table)
    }

    fn key_of(&self, item: &Value) -> Option<String> {
        let m = item.as_object()?;
        self.cfg.key_attributes.iter().find_map(|a| {
            let v = m.get(a)?.as_object()?;
            v.values().next()?.as_str().map(String::from)
        })
    }

    /// The charges of one request (`op` without the `DynamoDB_20120810.` prefix), before it
    /// is sent. Reads of unknown size are charged one unit.
    pub fn charges(&self, op: &str, req: &Value) -> Vec<Charge> {
        let table = |v: &Value| v["TableName"].as_str().unwrap_or("").to_string();
        let write = |t: String, key_src: &Value, size_src: &[&Value], tx: bool| {
            let bytes: u64 = size_src
                .iter()
                .filter_map(|v| v.as_object())
                .map(item_size)
                .sum();
            let w = units(bytes, 1024) * if tx { 2.0 } else { 1.0 };
            Charge {
                table: t,
                key: self.key_of(key_src),
                wcu: w,
                rcu: 0.0,
                bytes,
            }
        };
        let read = |t: String, key_src: &Value, consistent: bool, tx: bool| Charge {
            table: t,
            key: self.key_of(key_src),
            wcu: 0.0,
            rcu: if tx {
                2.0
            } else if consistent {
                1.0
            } else {
                0.5
            },
            bytes: 0,
        };
        let out = match op {
            "PutItem" => vec![write(table(req), &req["Item"], &[&req["Item"]], false)],
            "UpdateItem" => vec![write(
                table(req),
                &req["Key"],
                &[&req["Key"], &req["ExpressionAttributeValues"]],
                false,
            )],
            "DeleteItem" => vec![write(table(req), &req["Key"], &[&req["Key"]], false)],
            "GetItem" => vec![read(
                table(req),
                &req["Key"],
                req["ConsistentRead"].as_bool() == Some(true),
                false,
            )],
            "TransactWriteItems" => req["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| {
                    let (kind, body) = a.as_object()?.iter().next()?;
                    let key_src = if kind == "Put" {
                        &body["Item"]
                    } else {
                        &body["Key"]
                    };
                    let size: Vec<&Value> = match kind.as_str() {
                        "Put" => vec![&body["Item"]],
                        "Update" => vec![&body["Key"], &body["ExpressionAttributeValues"]],
                        _ => vec![&body["Key"]],
                    };
                    Some(write(table(body), key_src, &size, true))
                })
                .collect(),
            "TransactGetItems" => req["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| read(table(&a["Get"]), &a["Get"]["Key"], true, true))
                .collect(),
            "BatchGetItem" => req["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(t, spec)| {
                    let consistent = spec["ConsistentRead"].as_bool() == Some(true);
                    spec["Keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(move |k| (t.clone(), k.clone(), consistent))
                })
                .map(|(t, k, c)| read(t, &k, c, false))
                .collect(),
            "BatchWriteItem" => req["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(t, reqs)| {
                    reqs.as_array()
                        .into_iter()
                        .flatten()
                        .map(move |r| (t.clone(), r.clone()))
                })
                .map(|(t, r)| match r.get("PutRequest") {
                    Some(p) => write(t, &p["Item"], &[&p["Item"]], false),
                    None => write(
                        t,
                        &r["DeleteRequest"]["Key"],
                        &[&r["DeleteRequest"]["Key"]],
                        false,
                    ),
                })
                .collect(),
            "Query" | "Scan" => vec![Charge {
                table: table(req),
                key: None,
                wcu: 0.0,
                rcu: 1.0,
                bytes: 0,
            }],
            _ => vec![],
        };
        out.into_iter().filter(|c| self.applies(&c.table)).collect()
    }

    /// Admits the request (consuming its units) or says which of its charges is throttled
    /// and whether by its key (`true`) or its table.
    pub fn admit(&mut self, charges: &[Charge], now: Instant) -> Result<(), (usize, bool)> {
        let s = self.cfg.scale;
        let (kw, kr, tw, tr) = (
            self.cfg.key_wcu * s,
            self.cfg.key_rcu * s,
            self.cfg.table_wcu * s,
            self.cfg.table_rcu * s,
        );
        let burst = self.cfg.burst_seconds.max(1.0);
        // Needs per bucket (a transaction may touch a key twice).
        let mut need: HashMap<(String, String, bool), f64> = HashMap::new();
        for c in charges {
            for (write, units) in [(true, c.wcu), (false, c.rcu)] {
                if units <= 0.0 {
                    continue;
                }
                if let Some(k) = &c.key {
                    *need.entry((c.table.clone(), k.clone(), write)).or_default() += units;
                }
                *need
                    .entry((c.table.clone(), String::new(), write))
                    .or_default() += units;
            }
        }
        for ((table, key, write), units) in &need {
            let rate = match (key.is_empty(), *write) {
                (false, true) => kw,
                (false, false) => kr,
                (true, true) => tw,
                (true, false) => tr,
            };
            let b = self
                .buckets
                .entry((table.clone(), key.clone(), *write))
                .or_insert(Bucket {
                    tokens: rate,
                    at: now,
                });
            let cap = rate * burst;
            if !b.admits(*units, rate, cap, now) {
                let by_key = !key.is_empty();
                if by_key {
                    self.stats.throttled_key += 1;
                } else {
                    self.stats.throttled_table += 1;
                }
                let idx = charges
                    .iter()
                    .position(|c| {
                        &c.table == table && (key.is_empty() || c.key.as_deref() == Some(key))
                    })
                    .unwrap_or(0);
                return Err((idx, by_key));
            }
        }
        for ((table, key, write), units) in need {
            if let Some(b) = self.buckets.get_mut(&(table, key.clone(), write)) {
                b.tokens -= units;
            }
            if write && !key.is_empty() {
                let e = self.per_key_wcu.entry(key).or_default();
                *e += units;
                self.stats.hottest_key_wcu = self.stats.hottest_key_wcu.max(*e);
            }
        }
        if charges.iter().any(|c| c.wcu > 0.0) {
            self.stats.write_requests += 1;
        }
        for c in charges {
            self.stats.wcu += c.wcu;
            self.stats.rcu += c.rcu;
            if c.wcu > 0.0 {
                self.stats.items_written += 1;
                self.stats.bytes_written += c.bytes;
            }
        }
        Ok(())
    }
}

/// The error answer for a throttled request, as DynamoDB gives it.
pub fn throttled(op: &str, n_actions: usize, (idx, by_key): (usize, bool)) -> Value {
    let msg = if by_key {
        "Throughput exceeds the current capacity for one or more partition keys (votechain partition-limit model)"
    } else {
        "Throughput exceeds the current capacity of your table (votechain partition-limit model)"
    };
    if op.starts_with("Transact") {
        let reasons: Vec<Value> = (0..n_actions)
            .map(|i| {
                if i == idx {
                    json!({"Code": "ThrottlingError", "Message": msg})
                } else {
                    json!({"Code": "None"})
                }
            })
            .collect();
        let codes: Vec<&str> = (0..n_actions)
            .map(|i| if i == idx { "ThrottlingError" } else { "None" })
            .collect();
        return json!({
            "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
            "CancellationReasons": reasons,
        });
    }
    let kind = if by_key {
        "ProvisionedThroughputExceededException"
    } else {
        "ThrottlingException"
    };
    json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"), "message": msg})
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn put(table: &str, pk: &str, pad: usize) -> Value {
        json!({"TableName": table, "Item": {"pk": {"S": pk}, "sk": {"S": "x"}, "pad": {"S": "p".repeat(pad)}}})
    }

    #[test]
    fn units_follow_dynamodb_sizes_and_transactions_double_them() {
        let c = Capacity::new(CapacityConfig::default());
        assert_eq!(c.charges("PutItem", &put("t", "a", 10))[0].wcu, 1.0);
        assert_eq!(c.charges("PutItem", &put("t", "a", 1500))[0].wcu, 2.0);
        let tx = json!({"TransactItems": [
            {"Put": put("t", "chain-0", 300)},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "ckpt"}}, "ExpressionAttributeValues": {":n": {"N": "5"}}}},
        ]});
        let got = c.charges("TransactWriteItems", &tx);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].wcu, got[0].key.as_deref()), (2.0, Some("chain-0")));
        assert_eq!((got[1].wcu, got[1].key.as_deref()), (2.0, Some("ckpt")));
        let get = json!({"TableName": "t", "Key": {"pk": {"S": "a"}}, "ConsistentRead": true});
        assert_eq!(c.charges("GetItem", &get)[0].rcu, 1.0);
    }

    #[test]
    fn a_hot_key_is_throttled_at_its_limit_and_others_are_not() {
        let mut c = Capacity::new(CapacityConfig {
            scale: 0.5, // 500 WCU/s per key
            ..Default::default()
        });
        let t0 = Instant::now();
        let hot = c.charges("PutItem", &put("t", "hot", 10));
        // A new key starts with one second of its rate.
        for i in 0..500 {
            assert!(c.admit(&hot, t0).is_ok(), "write {i}");
        }
        assert_eq!(c.admit(&hot, t0), Err((0, true)));
        // Another key is unaffected.
        let cold = c.charges("PutItem", &put("t", "cold", 10));
        assert!(c.admit(&cold, t0).is_ok());
        // Sustained: about 500 per second get through, whatever is offered.
        let mut ok = 0;
        for i in 0..20_000 {
            if c.admit(&hot, t0 + Duration::from_micros(i * 100)).is_ok() {
                ok += 1;
            }
        }
        assert!((980..=1020).contains(&ok), "{ok} in 2 s");
        // Unused capacity is banked, up to burst_seconds.
        let later = t0 + Duration::from_secs(12);
        let mut banked = 0;
        while c.admit(&hot, later).is_ok() {
            banked += 1;
        }
        assert!((4_900..=5_100).contains(&banked), "{banked}");
    }

    #[test]
    fn at_a_small_scale_the_largest_transaction_still_passes() {
        // 10 WCU/s per key banking 1 s: a 49-vote transaction on one key (98 WCU) passes when
        // the bucket is full, into debt, or a writer's batch could never commit.
        let mut c = Capacity::new(CapacityConfig {
            scale: 0.01,
            burst_seconds: 1.0,
            ..Default::default()
        });
        let t0 = Instant::now();
        let big: Vec<Charge> = (0..49)
            .map(|_| Charge {
                table: "t".into(),
                key: Some("chain-0".into()),
                wcu: 2.0,
                rcu: 0.0,
                bytes: 500,
            })
            .collect();
        assert!(c.admit(&big, t0).is_ok());
        // The debt (88 units) is repaid at 10/s before the bucket is full again (9.8 s).
        assert!(c.admit(&big, t0 + Duration::from_secs(9)).is_err());
        assert!(c.admit(&big, t0 + Duration::from_millis(9_900)).is_ok());
    }

    #[test]
    fn the_table_cap_binds_many_keys() {
        let mut c = Capacity::new(CapacityConfig {
            table_wcu: 200.0,
            burst_seconds: 1.0,
            ..Default::default()
        });
        let t0 = Instant::now();
        for i in 0..200 {
            let r = c.admit(&c.charges("PutItem", &put("t", &format!("k{i}"), 1)), t0);
            assert!(r.is_ok(), "{i}: {r:?}");
        }
        let r = c.admit(&c.charges("PutItem", &put("t", "k9", 1)), t0);
        assert_eq!(r, Err((0, false)));
        // Tables outside the model pass.
        let c = Capacity::new(CapacityConfig {
            tables: vec!["ledger".into()],
            ..Default::default()
        });
        assert!(c.charges("PutItem", &put("other", "k", 1)).is_empty());
        assert_eq!(c.charges("PutItem", &put("ledger", "k", 1)).len(), 1);
    }

    #[test]
    fn a_throttled_transaction_names_its_action() {
        let v = throttled("TransactWriteItems", 3, (1, true));
        let codes: Vec<&str> = v["CancellationReasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Code"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["None", "ThrottlingError", "None"]);
        assert!(
            v["__type"]
                .as_str()
                .unwrap()
                .ends_with("#TransactionCanceledException")
        );
        let v = throttled("PutItem", 1, (0, false));
        assert!(
            v["__type"]
                .as_str()
                .unwrap()
                .ends_with("#ThrottlingException")
        );
    }
}
