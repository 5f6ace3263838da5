//! A DynamoDB Streams topology for tests, served by the fault proxy in front of DynamoDB
//! Local.
//!
//! **What is real and what is simulated.** DynamoDB Local gives every table one stream
//! shard that never closes, never splits and never expires records. Production DynamoDB
//! Streams rolls shards over (about every 4 hours), splits them, keeps records 24 hours,
//! expires iterators after 15 minutes and throttles more than two readers per shard. This
//! layer keeps the records real (it reads them from DynamoDB Local's shard, verbatim: the
//! same sequence numbers, keys and images the projector would get) and simulates only the
//! topology around them:
//!
//! - **Rollover**: every `roll_every_records` records (or `roll_every`), the open shard with
//!   the most records closes (an `EndingSequenceNumber`) and a child opens with the same
//!   key range.
//! - **Split**: every `split_every`-th rollover is a split instead: two children, each with
//!   half the parent's key range (`hash(keys) mod 2m`), as long as fewer than `max_open`
//!   shards are open. A record goes to the one open shard whose key range holds its keys,
//!   so the records of an item stay in order on one lineage.
//! - **Retention**: records older than `retention` are trimmed: an iterator at or after
//!   the checkpoint that would have to pass them answers `TrimmedDataAccessException`;
//!   `TRIM_HORIZON` starts after them. A closed shard whose records all expired leaves
//!   `DescribeStream` (`ResourceNotFoundException` for it afterwards).
//! - **Iterators** expire after `iterator_ttl` (`ExpiredIteratorException`).
//! - **Readers**: beyond `readers_per_shard` readers active on a shard within a second,
//!   `GetRecords` answers `LimitExceededException`.
//! - **Stream age**: `stream_age` makes `CreationRequestDateTime` that much older (a first
//!   start on an old ledger).
//!
//! Not modelled: DynamoDB's own shard sizing, the 4-hour clock, `LATEST` races, the
//! eventual consistency of `DescribeStream`, and per-shard read throughput.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the simulated stream behaves; `Default` is DynamoDB Local's (one shard, forever).
#[derive(Debug, Clone)]
pub struct TopologyConfig {
    pub roll_every_records: Option<usize>,
    pub roll_every: Option<Duration>,
    pub split_every: Option<usize>,
    pub max_open: usize,
    pub retention: Option<Duration>,
    pub iterator_ttl: Duration,
    pub readers_per_shard: Option<usize>,
    pub stream_age: Duration,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            roll_every_records: None,
            roll_every: None,
            split_every: None,
            max_open: 32,
            retention: None,
            iterator_ttl: Duration::from_secs(15 * 60),
            readers_per_shard: Some(2),
            stream_age: Duration::ZERO,
        }
    }
}

/// What the layer did (for assertions and reports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopologyStats {
    pub records: usize,
    pub rollovers: usize,
    pub splits: usize,
    pub open: usize,
    pub listed: usize,
    pub dropped: usize,
    pub trimmed_answers: usize,
    pub gone_answers: usize,
    pub expired_answers: usize,
    pub throttled_answers: usize,
}

struct Rec {
    seq: u128,
    at: Instant,
    json: Value,
}

struct VShard {
    id: String,
    parent: Option<String>,
    modulus: u64,
    rem: u64,
    /// Global record indices, in stream order.
    recs: Vec<usize>,
    start_seq: String,
    end_seq: Option<String>,
    closed_at: Option<Instant>,
    dropped: bool,
    readers: HashMap<u64, Instant>,
}

struct State {
    cfg: TopologyConfig,
    upstream_desc: Option<Value>,
    stream_arn: Option<String>,
    /// The last caller's headers, for the background pull.
    auth: Vec<(String, String)>,
    upstream_iters: HashMap<String, Option<String>>,
    upstream_last_seq: HashMap<String, String>,
    last_pull: Option<Instant>,
    recs: Vec<Rec>,
    shards: Vec<VShard>,
    since_event: usize,
    last_event: Instant,
    events: usize,
    next_reader: u64,
    seq_width: usize,
    stats: TopologyStats,
    epoch: Instant,
}

/// The layer: shared by the proxy's connections.
#[derive(Clone)]
pub struct Topology {
    state: Arc<tokio::sync::Mutex<State>>,
    upstream: String,
    http: reqwest::Client,
}

/// An answer: HTTP status and JSON body (errors in DynamoDB's `__type` format).
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

fn error(code: &str, message: &str) -> Answer {
    Answer {
        status: 400,
        body: json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{code}"), "message": message}),
    }
}

fn ok(body: Value) -> Answer {
    Answer { status: 200, body }
}

fn key_hash(rec: &Value) -> u64 {
    let keys = rec["dynamodb"]["Keys"].to_string();
    let d = Sha256::digest(keys.as_bytes());
    u64::from_be_bytes(d[..8].try_into().expect("8 bytes"))
}

impl Topology {
    /// A layer reading the real records from `upstream` (`http://host:port`). Inside a
    /// tokio runtime it also pulls new records every 50 ms once a caller has named the
    /// stream, so a record's age (retention) runs from about when it was written, not from
    /// when a reader next asked.
    pub fn new(upstream: &str, cfg: TopologyConfig) -> Topology {
        let t = Topology::unstarted(upstream, cfg);
        if tokio::runtime::Handle::try_current().is_ok() {
            let weak = Arc::downgrade(&t.state);
            let (upstream, http) = (t.upstream.clone(), t.http.clone());
            tokio::spawn(async move {
                while let Some(state) = weak.upgrade() {
                    let t = Topology {
                        state,
                        upstream: upstream.clone(),
                        http: http.clone(),
                    };
                    {
                        let mut st = t.state.lock().await;
                        let auth = st.auth.clone();
                        let _ = t.pull(&mut st, &auth).await;
                    }
                    drop(t);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        }
        t
    }

    fn unstarted(upstream: &str, cfg: TopologyConfig) -> Topology {
        let now = Instant::now();
        let root = VShard {
            id: format!("shardId-{:020}-{:08x}", votechain::now_ms(), 0),
            parent: None,
            modulus: 1,
            rem: 0,
            recs: vec![],
            start_seq: String::new(),
            end_seq: None,
            closed_at: None,
            dropped: false,
            readers: HashMap::new(),
        };
        Topology {
            state: Arc::new(tokio::sync::Mutex::new(State {
                cfg,
                upstream_desc: None,
                stream_arn: None,
                auth: vec![],
                upstream_iters: HashMap::new(),
                upstream_last_seq: HashMap::new(),
                last_pull: None,
                recs: vec![],
                shards: vec![root],
                since_event: 0,
                last_event: now,
                events: 0,
                next_reader: 1,
                seq_width: 21,
                stats: TopologyStats::default(),
                epoch: now,
            })),
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Changes the behaviour from now on (records already placed stay where they are).
    pub async fn configure(&self, f: impl FnOnce(&mut TopologyConfig)) {
        f(&mut self.state.lock().await.cfg);
    }

    pub async fn stats(&self) -> TopologyStats {
        let st = self.state.lock().await;
        let mut s = st.stats.clone();
        s.open = st.shards.iter().filter(|v| v.end_seq.is_none()).count();
        s.listed = st.shards.iter().filter(|v| !v.dropped).count();
        s
    }

    /// Drops a closed shard from the stream now (as expiry would).
    pub async fn drop_shard(&self, id: &str) {
        let mut st = self.state.lock().await;
        if let Some(s) = st
            .shards
            .iter_mut()
            .find(|s| s.id == id && s.end_seq.is_some())
        {
            s.dropped = true;
            st.stats.dropped += 1;
        }
    }

    /// Answers one DynamoDB Streams call (`target` is the operation, e.g. `GetRecords`).
    /// `auth` are the caller's headers to reuse upstream (DynamoDB Local does not verify
    /// signatures but reads the access key and region).
    pub async fn answer(&self, target: &str, body: &[u8], auth: &[(String, String)]) -> Answer {
        let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let mut st = self.state.lock().await;
        if let Some(arn) = req["StreamArn"].as_str() {
            st.stream_arn.get_or_insert_with(|| arn.to_string());
        }
        st.auth = auth.to_vec();
        if let Err(e) = self.pull(&mut st, auth).await {
            return Answer {
                status: 500,
                body: json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": format!("topology upstream: {e}")}),
            };
        }
        st.expire();
        match target {
            "DescribeStream" => st.describe(&req),
            "GetShardIterator" => st.iterator(&req),
            "GetRecords" => st.records(&req),
            other => error(
                "UnknownOperationException",
                &format!("{other} is not simulated"),
            ),
        }
    }

    async fn call(
        &self,
        op: &str,
        body: Value,
        auth: &[(String, String)],
    ) -> Result<Value, String> {
        let mut req = self
            .http
            .post(&self.upstream)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDBStreams_20120810.{op}"));
        for (k, v) in auth {
            req = req.header(k.as_str(), v.as_str());
        }
        let r = req
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let v: Value = r.json().await.map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(v)
        } else {
            Err(v["__type"].as_str().unwrap_or("error").to_string())
        }
    }

    /// Reads what DynamoDB Local's shard(s) have beyond what the layer already placed.
    async fn pull(&self, st: &mut State, auth: &[(String, String)]) -> Result<(), String> {
        let Some(arn) = st.stream_arn.clone() else {
            return Ok(());
        };
        if st
            .last_pull
            .is_some_and(|t| t.elapsed() < Duration::from_millis(20))
        {
            return Ok(());
        }
        st.last_pull = Some(Instant::now());
        let d = self
            .call("DescribeStream", json!({"StreamArn": arn}), auth)
            .await?;
        let mut desc = d["StreamDescription"].clone();
        let up_shards: Vec<String> = desc["Shards"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s["ShardId"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(o) = desc.as_object_mut() {
            o.remove("Shards");
            o.remove("LastEvaluatedShardId");
        }
        st.upstream_desc = Some(desc);
        for shard in up_shards {
            for _ in 0..20 {
                let it = match st.upstream_iters.get(&shard).cloned().flatten() {
                    Some(it) => it,
                    None => {
                        let mut r = json!({"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"});
                        if let Some(seq) = st.upstream_last_seq.get(&shard) {
                            r["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                            r["SequenceNumber"] = json!(seq);
                        }
                        let v = self.call("GetShardIterator", r, auth).await?;
                        match v["ShardIterator"].as_str() {
                            Some(it) => it.to_string(),
                            None => break,
                        }
                    }
                };
                let page = match self
                    .call(
                        "GetRecords",
                        json!({"ShardIterator": it, "Limit": 1000}),
                        auth,
                    )
                    .await
                {
                    Ok(p) => p,
                    // DynamoDB Local's stale iterators (trimmed on an empty shard, expired): renew.
                    Err(_) => {
                        st.upstream_iters.insert(shard.clone(), None);
                        break;
                    }
                };
                let recs = page["Records"].as_array().cloned().unwrap_or_default();
                st.upstream_iters.insert(
                    shard.clone(),
                    page["NextShardIterator"].as_str().map(String::from),
                );
                let empty = recs.is_empty();
                for r in recs {
                    if let Some(seq) = r["dynamodb"]["SequenceNumber"].as_str() {
                        st.upstream_last_seq.insert(shard.clone(), seq.to_string());
                    }
                    st.place(r);
                }
                if empty {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl State {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn fmt_seq(&self, n: u128) -> String {
        format!("{n:0width$}", width = self.seq_width)
    }

    /// Appends a real record to the open shard whose key range holds it; rolls or splits.
    fn place(&mut self, json: Value) {
        let Some(seq_s) = json["dynamodb"]["SequenceNumber"].as_str() else {
            return;
        };
        let Ok(seq) = seq_s.parse::<u128>() else {
            return;
        };
        self.seq_width = seq_s.len();
        let h = key_hash(&json);
        let idx = self.recs.len();
        self.recs.push(Rec {
            seq,
            at: Instant::now(),
            json,
        });
        self.stats.records += 1;
        let sid = self
            .shards
            .iter()
            .position(|s| s.end_seq.is_none() && h % s.modulus == s.rem)
            .expect("open shards partition the key space");
        let seq_str = self.fmt_seq(seq);
        let s = &mut self.shards[sid];
        if s.recs.is_empty() && s.start_seq.is_empty() {
            s.start_seq = seq_str;
        }
        s.recs.push(idx);
        self.since_event += 1;
        if self
            .cfg
            .roll_every_records
            .is_some_and(|n| self.since_event >= n)
        {
            self.event();
        }
    }

    /// One topology event: the open shard with the most records rolls over or splits.
    fn event(&mut self) {
        self.since_event = 0;
        self.last_event = Instant::now();
        self.events += 1;
        let open: Vec<usize> = (0..self.shards.len())
            .filter(|&i| self.shards[i].end_seq.is_none())
            .collect();
        let Some(&victim) = open
            .iter()
            .max_by_key(|&&i| (self.shards[i].recs.len(), std::cmp::Reverse(i)))
        else {
            return;
        };
        let split = self
            .cfg
            .split_every
            .is_some_and(|k| self.events.is_multiple_of(k))
            && open.len() < self.cfg.max_open;
        let next_seq = self.fmt_seq(self.recs.last().map_or(1, |r| r.seq + 1));
        let last = self.shards[victim]
            .recs
            .last()
            .map(|&i| self.fmt_seq(self.recs[i].seq));
        let v = &mut self.shards[victim];
        if v.start_seq.is_empty() {
            v.start_seq = next_seq;
        }
        // An empty shard closes with its start as its end.
        v.end_seq = Some(last.unwrap_or_else(|| v.start_seq.clone()));
        v.closed_at = Some(Instant::now());
        let (m, r, parent) = (v.modulus, v.rem, v.id.clone());
        let children = if split {
            self.stats.splits += 1;
            vec![(2 * m, r), (2 * m, r + m)]
        } else {
            self.stats.rollovers += 1;
            vec![(m, r)]
        };
        for (modulus, rem) in children {
            let n = self.shards.len();
            self.shards.push(VShard {
                id: format!("shardId-{:020}-{:08x}", votechain::now_ms(), n),
                parent: Some(parent.clone()),
                modulus,
                rem,
                recs: vec![],
                start_seq: String::new(),
                end_seq: None,
                closed_at: None,
                dropped: false,
                readers: HashMap::new(),
            });
        }
    }

    /// Time-driven rollovers and the drop of closed shards whose records all expired.
    fn expire(&mut self) {
        if self
            .cfg
            .roll_every
            .is_some_and(|d| self.last_event.elapsed() >= d)
        {
            self.event();
        }
        let Some(ret) = self.cfg.retention else {
            return;
        };
        for i in 0..self.shards.len() {
            let s = &self.shards[i];
            let all_expired = s
                .recs
                .last()
                .is_none_or(|&r| self.recs[r].at.elapsed() > ret);
            let closed_long = s.closed_at.is_some_and(|t| t.elapsed() > ret);
            if !s.dropped && closed_long && all_expired {
                self.shards[i].dropped = true;
                self.stats.dropped += 1;
            }
        }
    }

    /// Records of shard `i` at its start that expired.
    fn trim_pos(&self, i: usize) -> usize {
        let Some(ret) = self.cfg.retention else {
            return 0;
        };
        self.shards[i]
            .recs
            .iter()
            .take_while(|&&r| self.recs[r].at.elapsed() > ret)
            .count()
    }

    fn shard(&mut self, id: Option<&str>) -> Result<usize, Answer> {
        match self
            .shards
            .iter()
            .position(|s| Some(s.id.as_str()) == id && !s.dropped)
        {
            Some(i) => Ok(i),
            None => {
                self.stats.gone_answers += 1;
                Err(error(
                    "ResourceNotFoundException",
                    &format!("shard {id:?} not found"),
                ))
            }
        }
    }

    fn describe(&mut self, req: &Value) -> Answer {
        let limit = req["Limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
        let listed: Vec<&VShard> = self.shards.iter().filter(|s| !s.dropped).collect();
        let from = match req["ExclusiveStartShardId"].as_str() {
            Some(id) => listed.iter().position(|s| s.id == id).map_or(0, |p| p + 1),
            None => 0,
        };
        let page: Vec<Value> = listed
            .iter()
            .skip(from)
            .take(limit)
            .map(|s| {
                let mut range = json!({"StartingSequenceNumber": if s.start_seq.is_empty() { self.fmt_seq(self.recs.last().map_or(1, |r| r.seq + 1)) } else { s.start_seq.clone() }});
                if let Some(end) = &s.end_seq {
                    range["EndingSequenceNumber"] = json!(end);
                }
                let mut v = json!({"ShardId": s.id, "SequenceNumberRange": range});
                if let Some(p) = &s.parent {
                    v["ParentShardId"] = json!(p);
                }
                v
            })
            .collect();
        let mut desc = self.upstream_desc.clone().unwrap_or_else(|| json!({}));
        let now_s = votechain::now_ms() as f64 / 1000.0;
        let created = desc["CreationRequestDateTime"].as_f64().unwrap_or(now_s);
        desc["CreationRequestDateTime"] = json!(created - self.cfg.stream_age.as_secs_f64());
        if from + limit < listed.len() {
            desc["LastEvaluatedShardId"] =
                page.last().map_or(Value::Null, |p| p["ShardId"].clone());
        }
        desc["Shards"] = Value::Array(page);
        ok(json!({"StreamDescription": desc}))
    }

    fn iterator(&mut self, req: &Value) -> Answer {
        let i = match self.shard(req["ShardId"].as_str()) {
            Ok(i) => i,
            Err(a) => return a,
        };
        let trim = self.trim_pos(i);
        let after = |strict: bool| {
            let want: u128 = req["SequenceNumber"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let recs = &self.shards[i].recs;
            recs.iter()
                .position(|&r| {
                    if strict {
                        self.recs[r].seq > want
                    } else {
                        self.recs[r].seq >= want
                    }
                })
                .unwrap_or(recs.len())
        };
        let pos = match req["ShardIteratorType"].as_str() {
            Some("TRIM_HORIZON") => trim,
            Some("LATEST") => self.shards[i].recs.len(),
            Some("AFTER_SEQUENCE_NUMBER") => after(true),
            Some("AT_SEQUENCE_NUMBER") => after(false),
            other => return error("ValidationException", &format!("iterator type {other:?}")),
        };
        if pos < trim {
            self.stats.trimmed_answers += 1;
            return error(
                "TrimmedDataAccessException",
                "the requested sequence number is beyond the trim horizon (simulated retention)",
            );
        }
        let reader = self.next_reader;
        self.next_reader += 1;
        ok(json!({"ShardIterator": self.token(reader, i, pos)}))
    }

    fn token(&self, reader: u64, shard: usize, pos: usize) -> String {
        format!("vit|{reader}|{shard}|{pos}|{}", self.now_ms())
    }

    fn records(&mut self, req: &Value) -> Answer {
        let parts: Vec<u64> = req["ShardIterator"]
            .as_str()
            .unwrap_or("")
            .strip_prefix("vit|")
            .unwrap_or("")
            .split('|')
            .filter_map(|p| p.parse().ok())
            .collect();
        let [reader, shard, pos, issued] = parts[..] else {
            return error("ValidationException", "not an iterator of this stream");
        };
        let (i, pos) = (shard as usize, pos as usize);
        if i >= self.shards.len() || self.shards[i].dropped {
            self.stats.gone_answers += 1;
            return error("ResourceNotFoundException", "shard not found (dropped)");
        }
        if self.now_ms().saturating_sub(issued) > self.cfg.iterator_ttl.as_millis() as u64 {
            self.stats.expired_answers += 1;
            return error(
                "ExpiredIteratorException",
                "iterator expired (simulated ttl)",
            );
        }
        if let Some(limit) = self.cfg.readers_per_shard {
            let readers = &mut self.shards[i].readers;
            readers.retain(|_, t| t.elapsed() < Duration::from_secs(1));
            if !readers.contains_key(&reader) && readers.len() >= limit {
                self.stats.throttled_answers += 1;
                return error(
                    "LimitExceededException",
                    "too many readers on this shard (simulated)",
                );
            }
            readers.insert(reader, Instant::now());
        }
        if pos < self.trim_pos(i) {
            self.stats.trimmed_answers += 1;
            return error(
                "TrimmedDataAccessException",
                "records at the iterator were trimmed (simulated retention)",
            );
        }
        let limit = req["Limit"].as_u64().unwrap_or(1000).clamp(1, 1000) as usize;
        let s = &self.shards[i];
        let end = (pos + limit).min(s.recs.len());
        let recs: Vec<Value> = s.recs[pos..end]
            .iter()
            .map(|&r| self.recs[r].json.clone())
            .collect();
        let mut out = json!({"Records": recs});
        if !(s.end_seq.is_some() && end == s.recs.len()) {
            out["NextShardIterator"] = json!(self.token(reader, i, end));
        }
        ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: u128, pk: &str) -> Value {
        json!({"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": pk}}, "SequenceNumber": format!("{seq:021}")}})
    }

    fn state(cfg: TopologyConfig) -> State {
        let t = Topology::unstarted("http://127.0.0.1:1", cfg);
        Arc::try_unwrap(t.state)
            .ok()
            .expect("sole owner")
            .into_inner()
    }

    fn read_all(st: &mut State, shard: &str) -> Result<Vec<u128>, String> {
        let a = st.iterator(&json!({"ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}));
        let mut it = a.body["ShardIterator"]
            .as_str()
            .ok_or(a.body.to_string())?
            .to_string();
        let mut out = vec![];
        loop {
            let a = st.records(&json!({"ShardIterator": it, "Limit": 3}));
            if a.status != 200 {
                return Err(a.body["__type"].to_string());
            }
            for r in a.body["Records"].as_array().unwrap() {
                out.push(
                    r["dynamodb"]["SequenceNumber"]
                        .as_str()
                        .unwrap()
                        .parse()
                        .unwrap(),
                );
            }
            match a.body["NextShardIterator"].as_str() {
                Some(n) if !a.body["Records"].as_array().unwrap().is_empty() => it = n.to_string(),
                Some(_) => return Ok(out),
                None => return Ok(out),
            }
        }
    }

    #[test]
    fn rollovers_and_splits_keep_every_record_exactly_once_in_lineage_order() {
        let mut st = state(TopologyConfig {
            roll_every_records: Some(4),
            split_every: Some(3),
            max_open: 4,
            ..Default::default()
        });
        for i in 1..=200u128 {
            st.place(rec(i, &format!("k{}", i % 17)));
        }
        assert!(
            st.stats.rollovers > 20 && st.stats.splits == 3,
            "{:?}",
            st.stats
        );
        // Every record in exactly one shard; within a shard, in stream order.
        let mut seen = vec![];
        let ids: Vec<String> = st.shards.iter().map(|s| s.id.clone()).collect();
        for id in &ids {
            let got = read_all(&mut st, id).unwrap();
            assert!(got.windows(2).all(|w| w[0] < w[1]));
            seen.extend(got);
        }
        seen.sort();
        assert_eq!(seen, (1..=200).collect::<Vec<_>>());
        // A key's records all sit on one lineage: each child covers part of its parent's range.
        for s in &st.shards {
            if let Some(p) = &s.parent {
                let parent = st.shards.iter().find(|x| &x.id == p).unwrap();
                assert_eq!(s.modulus % parent.modulus, 0);
                assert_eq!(s.rem % parent.modulus, parent.rem);
                assert!(parent.end_seq.is_some());
            }
        }
        assert_eq!(st.shards.iter().filter(|s| s.end_seq.is_none()).count(), 4);
    }

    #[test]
    fn a_closed_shard_ends_and_an_open_one_does_not() {
        let mut st = state(TopologyConfig {
            roll_every_records: Some(5),
            ..Default::default()
        });
        for i in 1..=5u128 {
            st.place(rec(i, "a"));
        }
        let first = st.shards[0].id.clone();
        assert_eq!(read_all(&mut st, &first).unwrap(), vec![1, 2, 3, 4, 5]);
        let d = st.describe(&json!({}));
        let shards = d.body["StreamDescription"]["Shards"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(shards.len(), 2);
        assert_eq!(
            shards[0]["SequenceNumberRange"]["EndingSequenceNumber"],
            json!(format!("{:021}", 5))
        );
        assert_eq!(shards[1]["ParentShardId"], json!(first));
        assert!(
            shards[1]["SequenceNumberRange"]
                .get("EndingSequenceNumber")
                .is_none()
        );
        // AFTER the last record of a closed shard: an empty page and no next iterator.
        let a = st.iterator(&json!({"ShardId": first, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": format!("{:021}", 5)}));
        let it = a.body["ShardIterator"].as_str().unwrap().to_string();
        let a = st.records(&json!({"ShardIterator": it}));
        assert_eq!(a.body["Records"], json!([]));
        assert!(a.body.get("NextShardIterator").is_none());
    }

    #[test]
    fn retention_trims_and_drops() {
        let mut st = state(TopologyConfig {
            roll_every_records: Some(3),
            retention: Some(Duration::from_millis(30)),
            ..Default::default()
        });
        for i in 1..=3u128 {
            st.place(rec(i, "a"));
        }
        let first = st.shards[0].id.clone();
        std::thread::sleep(Duration::from_millis(40));
        st.place(rec(4, "a"));
        // After seq 1: seqs 2 and 3 expired unread.
        let a = st.iterator(&json!({"ShardId": first, "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": format!("{:021}", 1)}));
        assert_eq!(
            a.body["__type"],
            json!("com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException")
        );
        // The whole closed shard expired: it leaves the stream.
        st.expire();
        let a = st.iterator(&json!({"ShardId": first, "ShardIteratorType": "TRIM_HORIZON"}));
        assert_eq!(
            a.body["__type"],
            json!("com.amazonaws.dynamodb.v20120810#ResourceNotFoundException")
        );
        assert_eq!(st.stats.dropped, 1);
    }

    #[test]
    fn a_third_reader_is_throttled_and_iterators_expire() {
        let mut st = state(TopologyConfig {
            iterator_ttl: Duration::from_millis(20),
            ..Default::default()
        });
        st.place(rec(1, "a"));
        let id = st.shards[0].id.clone();
        let its: Vec<String> = (0..3)
            .map(|_| {
                st.iterator(&json!({"ShardId": id, "ShardIteratorType": "TRIM_HORIZON"}))
                    .body["ShardIterator"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(st.records(&json!({"ShardIterator": its[0]})).status, 200);
        assert_eq!(st.records(&json!({"ShardIterator": its[1]})).status, 200);
        let third = st.records(&json!({"ShardIterator": its[2]}));
        assert_eq!(
            third.body["__type"],
            json!("com.amazonaws.dynamodb.v20120810#LimitExceededException")
        );
        std::thread::sleep(Duration::from_millis(30));
        let late = st.records(&json!({"ShardIterator": its[0]}));
        assert_eq!(
            late.body["__type"],
            json!("com.amazonaws.dynamodb.v20120810#ExpiredIteratorException")
        );
    }

    #[test]
    fn describe_pages_by_limit() {
        let mut st = state(TopologyConfig {
            roll_every_records: Some(1),
            ..Default::default()
        });
        for i in 1..=5u128 {
            st.place(rec(i, "a"));
        }
        let mut ids = vec![];
        let mut start: Option<String> = None;
        loop {
            let mut req = json!({"Limit": 2});
            if let Some(s) = &start {
                req["ExclusiveStartShardId"] = json!(s);
            }
            let d = st.describe(&req).body["StreamDescription"].clone();
            ids.extend(
                d["Shards"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["ShardId"].as_str().unwrap().to_string()),
            );
            match d["LastEvaluatedShardId"].as_str() {
                Some(l) => start = Some(l.to_string()),
                None => break,
            }
        }
        assert_eq!(ids.len(), 6);
        assert_eq!(
            ids,
            st.shards.iter().map(|s| s.id.clone()).collect::<Vec<_>>()
        );
    }
}
