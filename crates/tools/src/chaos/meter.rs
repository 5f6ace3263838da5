//! Metering for the fault proxy: the DynamoDB and DynamoDB Streams work of the system under
//! test, counted as DynamoDB bills it, by table and by item kind. `votechain bench
//! --capacity` divides it by the votes of a run for `docs/capacity.md`.
//!
//! An item's kind is its partition key's prefix up to the first `#` when that prefix is
//! upper case (`ELECTION`: votes, `VOTEID`: markers, `CHECKPOINT`, `LOG`, `RESULTS`), else
//! `item` (the lease table's `leaseKey`s).
//!
//! - **Writes** are charged from the request, as the partition-limit model charges them
//!   (`capacity.rs`): `ceil(item bytes / 1 KB)` write units, twice inside a transaction. A
//!   conditional write that fails is charged too, as DynamoDB charges it.
//! - **Reads** are charged from the answer: `ceil(bytes / 4 KB)` per item returned by
//!   GetItem, BatchGetItem and TransactGetItems (twice in a transaction), and for Query and
//!   Scan the returned items' sizes summed, then rounded up to 4 KB. An eventually
//!   consistent read costs half. A read that returns nothing still costs one unit (half).
//! - Item sizes follow DynamoDB's rule (attribute names plus values) applied to the JSON
//!   on the wire; `UpdateItem` is charged on its key and values (a lower bound: DynamoDB
//!   charges the larger of the item before and after).
//! - **DynamoDB Streams**: calls by operation and the records GetRecords returned (each
//!   GetRecords call is one streams read request unit on the price list).
//!
//! Streams calls answered by a simulated topology (`streams.rs`) are not metered.

use super::capacity::{Capacity, CapacityConfig, item_size, units};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// The work on one (table, kind).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Work {
    /// Actions: a transaction's items count one each.
    pub calls: u64,
    pub wcu: f64,
    pub rcu: f64,
    pub items_written: u64,
    pub bytes_written: u64,
    pub items_read: u64,
}

impl Work {
    fn minus(&self, o: &Work) -> Work {
        Work {
            calls: self.calls.saturating_sub(o.calls),
            wcu: (self.wcu - o.wcu).max(0.0),
            rcu: (self.rcu - o.rcu).max(0.0),
            items_written: self.items_written.saturating_sub(o.items_written),
            bytes_written: self.bytes_written.saturating_sub(o.bytes_written),
            items_read: self.items_read.saturating_sub(o.items_read),
        }
    }
}

/// Everything metered so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metered {
    /// By (table, kind).
    pub tables: BTreeMap<(String, String), Work>,
    /// DynamoDB Streams calls by operation.
    pub stream_calls: BTreeMap<String, u64>,
    /// Records returned by GetRecords.
    pub stream_records: u64,
}

impl Metered {
    /// What was metered since `earlier` (a snapshot of the same meter).
    pub fn since(&self, earlier: &Metered) -> Metered {
        let none = Work::default();
        Metered {
            tables: self
                .tables
                .iter()
                .map(|(k, w)| (k.clone(), w.minus(earlier.tables.get(k).unwrap_or(&none))))
                .collect(),
            stream_calls: self
                .stream_calls
                .iter()
                .map(|(k, n)| {
                    let before = earlier.stream_calls.get(k).copied().unwrap_or(0);
                    (k.clone(), n.saturating_sub(before))
                })
                .collect(),
            stream_records: self.stream_records.saturating_sub(earlier.stream_records),
        }
    }

    /// The sum over the kinds of `table`.
    pub fn table(&self, table: &str) -> Work {
        let mut sum = Work::default();
        for ((t, _), w) in &self.tables {
            if t == table {
                sum.calls += w.calls;
                sum.wcu += w.wcu;
                sum.rcu += w.rcu;
                sum.items_written += w.items_written;
                sum.bytes_written += w.bytes_written;
                sum.items_read += w.items_read;
            }
        }
        sum
    }
}

/// The meter: the model's charging rules without its limits.
pub struct Meter {
    charger: Capacity,
    pub seen: Metered,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            charger: Capacity::new(CapacityConfig::default()),
            seen: Metered::default(),
        }
    }
}

/// An item's kind (module doc).
pub fn kind(pk: Option<&str>) -> String {
    match pk.and_then(|k| k.split_once('#')) {
        Some((p, _)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_uppercase()) => p.into(),
        _ => "item".into(),
    }
}

fn pk_of(item: &Value) -> Option<&str> {
    item["pk"]["S"].as_str()
}

fn size(item: &Value) -> u64 {
    item.as_object().map_or(0, item_size)
}

impl Meter {
    fn work(&mut self, table: &str, kind: String) -> &mut Work {
        self.seen.tables.entry((table.into(), kind)).or_default()
    }

    /// One DynamoDB call (`op` without its `DynamoDB_20120810.` prefix) and its answer.
    pub fn dynamodb(&mut self, op: &str, req: &Value, resp: &Value) {
        for c in self.charger.charges(op, req) {
            if c.wcu > 0.0 {
                let w = self.work(&c.table, kind(c.key.as_deref()));
                w.calls += 1;
                w.wcu += c.wcu;
                w.items_written += 1;
                w.bytes_written += c.bytes;
            }
        }
        let table = req["TableName"].as_str().unwrap_or("").to_string();
        let factor = |consistent: bool| if consistent { 1.0 } else { 0.5 };
        let consistent = req["ConsistentRead"].as_bool() == Some(true);
        match op {
            "GetItem" => {
                let item = &resp["Item"];
                let k = kind(pk_of(item).or_else(|| pk_of(&req["Key"])));
                let w = self.work(&table, k);
                w.calls += 1;
                w.rcu += units(size(item), 4096) * factor(consistent);
                w.items_read += u64::from(item.is_object());
            }
            "Query" | "Scan" => {
                let items = resp["Items"].as_array().cloned().unwrap_or_default();
                let bytes = items.iter().map(size).sum();
                let k = kind(items.first().and_then(pk_of));
                let w = self.work(&table, k);
                w.calls += 1;
                w.rcu += units(bytes, 4096) * factor(consistent);
                w.items_read += items.len() as u64;
            }
            "BatchGetItem" => {
                let spec = req["RequestItems"].as_object().cloned().unwrap_or_default();
                let got = resp["Responses"].as_object().cloned().unwrap_or_default();
                for (t, items) in got {
                    let c = spec
                        .get(&t)
                        .is_some_and(|s| s["ConsistentRead"].as_bool() == Some(true));
                    for item in items.as_array().into_iter().flatten() {
                        let w = self.work(&t, kind(pk_of(item)));
                        w.calls += 1;
                        w.rcu += units(size(item), 4096) * factor(c);
                        w.items_read += 1;
                    }
                }
            }
            "TransactGetItems" => {
                let asked = req["TransactItems"].as_array().cloned().unwrap_or_default();
                let got = resp["Responses"].as_array().cloned().unwrap_or_default();
                for (i, a) in asked.iter().enumerate() {
                    let item = got.get(i).map_or(&Value::Null, |r| &r["Item"]);
                    let t = a["Get"]["TableName"].as_str().unwrap_or("").to_string();
                    let k = kind(pk_of(item).or_else(|| pk_of(&a["Get"]["Key"])));
                    let w = self.work(&t, k);
                    w.calls += 1;
                    w.rcu += 2.0 * units(size(item), 4096);
                    w.items_read += u64::from(item.is_object());
                }
            }
            _ => {}
        }
    }

    /// One DynamoDB Streams call and its answer.
    pub fn streams(&mut self, op: &str, resp: &Value) {
        *self.seen.stream_calls.entry(op.into()).or_default() += 1;
        if op == "GetRecords" {
            self.seen.stream_records += resp["Records"].as_array().map_or(0, |r| r.len() as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &str) -> Value {
        json!({ "S": v })
    }

    #[test]
    fn kinds_are_upper_case_key_prefixes() {
        assert_eq!(kind(Some("ELECTION#e#0")), "ELECTION");
        assert_eq!(kind(Some("VOTEID#e#x")), "VOTEID");
        assert_eq!(kind(Some("worker#p-0")), "item");
        assert_eq!(kind(Some("shardId-0001")), "item");
        assert_eq!(kind(None), "item");
    }

    #[test]
    fn a_transaction_is_charged_twice_per_item_and_by_kind() {
        let mut m = Meter::default();
        let big = "x".repeat(1500);
        let req = json!({"TransactItems": [
            {"Put": {"TableName": "l", "Item": {"pk": s("ELECTION#e#0"), "d": s(&big)}}},
            {"Put": {"TableName": "l", "Item": {"pk": s("VOTEID#e#v"), "sk": s("-")}}},
        ]});
        m.dynamodb("TransactWriteItems", &req, &json!({}));
        let votes = &m.seen.tables[&("l".into(), "ELECTION".into())];
        assert_eq!((votes.wcu, votes.items_written, votes.calls), (4.0, 1, 1));
        assert!(votes.bytes_written > 1500);
        assert_eq!(m.seen.tables[&("l".into(), "VOTEID".into())].wcu, 2.0);
        assert_eq!(m.seen.table("l").wcu, 6.0);
    }

    #[test]
    fn reads_are_charged_from_the_answer() {
        let mut m = Meter::default();
        let item = json!({"pk": s("ELECTION#e#0"), "d": s(&"y".repeat(5000))});
        let q = json!({"TableName": "l", "ConsistentRead": true});
        m.dynamodb("Query", &q, &json!({"Items": [item.clone(), item.clone()]}));
        let w = &m.seen.tables[&("l".into(), "ELECTION".into())];
        // 2 x ~5 KB summed, then rounded up to 4 KB: 3 units, consistent.
        assert_eq!((w.rcu, w.items_read), (3.0, 2));
        let g = json!({"TableName": "l", "Key": {"pk": s("RESULTS#e")}});
        m.dynamodb("GetItem", &g, &json!({}));
        let r = &m.seen.tables[&("l".into(), "RESULTS".into())];
        assert_eq!(
            (r.rcu, r.items_read),
            (0.5, 0),
            "a miss still costs half a unit"
        );
    }

    #[test]
    fn since_subtracts_a_snapshot() {
        let mut m = Meter::default();
        let put = json!({"TableName": "r", "Item": {"pk": s("RESULTS#e")}});
        m.dynamodb("PutItem", &put, &json!({}));
        m.streams("GetRecords", &json!({"Records": [{}, {}]}));
        let before = m.seen.clone();
        m.dynamodb("PutItem", &put, &json!({}));
        m.streams("GetRecords", &json!({"Records": [{}]}));
        let d = m.seen.since(&before);
        assert_eq!(d.table("r").wcu, 1.0);
        assert_eq!((d.stream_calls["GetRecords"], d.stream_records), (1, 1));
    }
}
