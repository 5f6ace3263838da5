//! A fault-injecting HTTP/1.1 proxy in front of DynamoDB (Local): every DynamoDB and
//! DynamoDB Streams call of the system under test goes through it. Per request it may add
//! latency, reset the connection before forwarding (the call never happened) or after
//! forwarding (it happened, the answer is lost: the ambiguous case), or answer
//! `InternalServerError` (500), `ProvisionedThroughputExceededException` or
//! `ThrottlingException` (400) in DynamoDB's own error format, or read the request and
//! never answer (a blackholed connection: only the client's timeout gets it out).
//!
//! With a [`Topology`](super::streams::Topology) attached, it answers the DynamoDB Streams
//! calls itself, presenting DynamoDB Local's one shard as a realistic stream (rollovers,
//! splits, retention, expiring iterators, throttled readers; see `streams.rs` for what is
//! real and what is simulated). Faults apply to those calls too.
//!
//! With a partition-limit model attached (`capacity.rs`), DynamoDB calls beyond a key's or
//! the table's throughput are refused as DynamoDB refuses them.
//!
//! With a meter on (`meter.rs`), it counts the DynamoDB and Streams work of every call as
//! DynamoDB would bill it.
//!
//! It speaks just enough HTTP/1.1 for the AWS SDK: `Content-Length` or chunked bodies,
//! keep-alive connections.

use rand::Rng;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does now; each share is a probability per request (0..=1).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub latency_ms: u64,
    pub latency_share: f64,
    pub reset_before_share: f64,
    pub reset_after_share: f64,
    pub error_share: f64,
    /// Read the request, never answer, hold the connection (a blackholed connection).
    pub blackhole_share: f64,
    /// `InternalServerError`, `ProvisionedThroughputExceededException` or `ThrottlingException`.
    pub error: String,
}

/// Counts of what was injected.
#[derive(Debug, Clone, Default)]
pub struct Injected {
    pub requests: u64,
    pub delayed: u64,
    pub reset_before: u64,
    pub reset_after: u64,
    pub errors: u64,
    pub blackholed: u64,
    /// Calls refused by the partition-limit model.
    pub throttled: u64,
}

#[derive(Clone, Default)]
pub struct Control {
    faults: Arc<Mutex<Faults>>,
    injected: Arc<Mutex<Injected>>,
    topology: Arc<Mutex<Option<super::streams::Topology>>>,
    capacity: Arc<Mutex<Option<super::capacity::Capacity>>>,
    meter: Arc<Mutex<Option<super::meter::Meter>>>,
}

impl Control {
    /// Applies DynamoDB's partition limits (`capacity.rs`) to every call from now on.
    pub fn set_capacity(&self, cfg: super::capacity::CapacityConfig) {
        *self.capacity.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(super::capacity::Capacity::new(cfg));
    }
    /// Removes the partition-limit model.
    pub fn clear_capacity(&self) {
        *self.capacity.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
    /// What the partition-limit model counted (`None` without one).
    pub fn capacity_stats(&self) -> Option<super::capacity::CapacityStats> {
        self.capacity
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.stats.clone())
    }
    /// The model's verdict on one DynamoDB call: `Some(error body)` when throttled.
    fn throttle(&self, op: &str, body: &[u8]) -> Option<serde_json::Value> {
        let mut guard = self.capacity.lock().unwrap_or_else(|e| e.into_inner());
        let cap = guard.as_mut()?;
        let req: serde_json::Value = serde_json::from_slice(body).ok()?;
        let charges = cap.charges(op, &req);
        if charges.is_empty() {
            return None;
        }
        let n = req["TransactItems"].as_array().map_or(1, |a| a.len());
        let refused = cap.admit(&charges, std::time::Instant::now()).err()?;
        drop(guard);
        self.count(|i| i.throttled += 1);
        Some(super::capacity::throttled(op, n, refused))
    }
    /// Meters every call forwarded from now on (from zero).
    pub fn start_meter(&self) {
        *self.meter.lock().unwrap_or_else(|e| e.into_inner()) = Some(Default::default());
    }
    /// What the meter counted so far (`None` without one).
    pub fn metered(&self) -> Option<super::meter::Metered> {
        self.meter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|m| m.seen.clone())
    }
    /// Meters one forwarded call and its answer (raw HTTP messages).
    fn meter(&self, req: &[u8], resp: &[u8]) {
        let mut guard = self.meter.lock().unwrap_or_else(|e| e.into_inner());
        let Some(m) = guard.as_mut() else {
            return;
        };
        let answer = serde_json::from_slice(&body_of(resp)).unwrap_or(serde_json::Value::Null);
        if let Some((op, body, _)) = amz_call(req, "DynamoDB_20120810.") {
            let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
            m.dynamodb(&op, &body, &answer);
        } else if let Some((op, _, _)) = amz_call(req, "DynamoDBStreams_20120810.") {
            m.streams(&op, &answer);
        }
    }
    /// Answers DynamoDB Streams calls from `t` from now on.
    pub fn set_topology(&self, t: super::streams::Topology) {
        *self.topology.lock().unwrap_or_else(|e| e.into_inner()) = Some(t);
    }
    fn topology(&self) -> Option<super::streams::Topology> {
        self.topology
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    pub fn set(&self, f: Faults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = f;
    }
    /// Changes some faults, leaving the others as they are (faults overlap on a timeline).
    pub fn update(&self, f: impl FnOnce(&mut Faults)) {
        f(&mut self.faults.lock().unwrap_or_else(|e| e.into_inner()));
    }
    pub fn clear(&self) {
        self.set(Faults::default());
    }
    pub fn injected(&self) -> Injected {
        self.injected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn now(&self) -> Faults {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
    fn count(&self, f: impl FnOnce(&mut Injected)) {
        f(&mut self.injected.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

pub struct FaultProxy {
    pub endpoint: String,
    pub control: Control,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Listens on 127.0.0.1 (a free port) and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<FaultProxy> {
        let up = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let control = Control::default();
        let c = control.clone();
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (c, up) = (c.clone(), up.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, &up, c).await;
                });
            }
        });
        Ok(FaultProxy {
            endpoint,
            control,
            task,
        })
    }
}

/// One HTTP message: head (with the final CRLFCRLF) and body, as raw bytes.
async fn read_message<R: AsyncBufReadExt + Unpin>(r: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    let mut content_length = 0usize;
    let mut chunked = false;
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        raw.extend_from_slice(&line);
        let l = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(v) = l.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if l.starts_with("transfer-encoding:") && l.contains("chunked") {
            chunked = true;
        }
        if line == b"\r\n" {
            break;
        }
    }
    if chunked {
        loop {
            line.clear();
            r.read_until(b'\n', &mut line).await?;
            raw.extend_from_slice(&line);
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&line)
                    .trim()
                    .split(';')
                    .next()
                    .unwrap_or("0"),
                16,
            )
            .unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).await?;
            raw.extend_from_slice(&chunk);
            if size == 0 {
                break;
            }
        }
    } else {
        let mut body = vec![0; content_length];
        r.read_exact(&mut body).await?;
        raw.extend_from_slice(&body);
    }
    Ok(Some(raw))
}

fn reset(sock: TcpStream) {
    // SO_LINGER 0: close with RST, as a broken network would. (Deprecated because a
    // non-zero linger blocks on drop; zero never does.)
    #[allow(deprecated)]
    let _ = sock.set_linger(Some(Duration::ZERO));
    drop(sock);
}

async fn serve(client: TcpStream, upstream: &str, c: Control) -> std::io::Result<()> {
    let mut client = BufReader::new(client);
    let mut up: Option<BufReader<TcpStream>> = None;
    while let Some(req) = read_message(&mut client).await? {
        let f = c.now();
        c.count(|i| i.requests += 1);
        let roll = |share: f64| share > 0.0 && rand::rng().random_bool(share.min(1.0));
        if roll(f.latency_share) {
            c.count(|i| i.delayed += 1);
            tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
        }
        if roll(f.reset_before_share) {
            c.count(|i| i.reset_before += 1);
            reset(client.into_inner());
            return Ok(());
        }
        if roll(f.blackhole_share) {
            c.count(|i| i.blackholed += 1);
            // Hold it until the client gives up and closes (its attempt timeout).
            let mut buf = [0u8; 1024];
            while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
            return Ok(());
        }
        if roll(f.error_share) && !f.error.is_empty() {
            c.count(|i| i.errors += 1);
            let status = if f.error == "InternalServerError" {
                "500 Internal Server Error"
            } else {
                "400 Bad Request"
            };
            let body = format!(
                "{{\"__type\":\"com.amazonaws.dynamodb.v20120810#{}\",\"message\":\"injected by votechain chaos\"}}",
                f.error
            );
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-ErrorType: {}\r\nx-amzn-RequestId: chaos\r\nContent-Length: {}\r\n\r\n{body}",
                f.error,
                body.len()
            );
            client.get_mut().write_all(resp.as_bytes()).await?;
            continue;
        }
        if let Some((op, body, _)) = amz_call(&req, "DynamoDB_20120810.")
            && let Some(err) = c.throttle(&op, &body)
        {
            let body = err.to_string();
            let resp = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: capacity\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            client.get_mut().write_all(resp.as_bytes()).await?;
            continue;
        }
        if let Some(t) = c.topology()
            && let Some((op, body, auth)) = amz_call(&req, "DynamoDBStreams_20120810.")
        {
            let a = t.answer(&op, &body, &auth).await;
            let body = a.body.to_string();
            let status = match a.status {
                200 => "200 OK",
                500 => "500 Internal Server Error",
                _ => "400 Bad Request",
            };
            let kind = a.body["__type"]
                .as_str()
                .and_then(|t| t.rsplit('#').next())
                .map(|k| format!("x-amzn-ErrorType: {k}\r\n"))
                .unwrap_or_default();
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/x-amz-json-1.0\r\n{kind}x-amzn-RequestId: topology\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if roll(f.reset_after_share) {
                c.count(|i| i.reset_after += 1);
                reset(client.into_inner());
                return Ok(());
            }
            client.get_mut().write_all(resp.as_bytes()).await?;
            continue;
        }
        // Forward on this client's upstream connection (opened on demand, reopened after errors).
        let resp = async {
            if up.is_none() {
                up = Some(BufReader::new(TcpStream::connect(upstream).await?));
            }
            let u = up.as_mut().expect("just set");
            u.get_mut().write_all(&req).await?;
            read_message(u)
                .await?
                .ok_or_else(|| std::io::Error::other("upstream closed"))
        }
        .await;
        let resp = match resp {
            Ok(r) => r,
            Err(_) => {
                reset(client.into_inner());
                return Ok(());
            }
        };
        c.meter(&req, &resp);
        if roll(f.reset_after_share) {
            c.count(|i| i.reset_after += 1);
            reset(client.into_inner());
            return Ok(());
        }
        client.get_mut().write_all(&resp).await?;
    }
    Ok(())
}

/// Header name and value.
type Header = (String, String);

/// A request to the service whose `X-Amz-Target` starts with `prefix` (e.g.
/// `DynamoDBStreams_20120810.`): its operation, JSON body and the headers to reuse upstream.
fn amz_call(raw: &[u8], prefix: &str) -> Option<(String, Vec<u8>, Vec<Header>)> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut op = None;
    let mut chunked = false;
    let mut auth = vec![];
    for line in head.lines().skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
        match k.as_str() {
            "x-amz-target" => op = v.strip_prefix(prefix).map(String::from),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "authorization" | "x-amz-date" | "x-amz-security-token" => auth.push((k, v)),
            _ => {}
        }
    }
    let body = &raw[split + 4..];
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    Some((op?, body, auth))
}

/// The body of a raw HTTP message (de-chunked), empty without one.
fn body_of(raw: &[u8]) -> Vec<u8> {
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return vec![];
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let body = &raw[split + 4..];
    if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = vec![];
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size_s = String::from_utf8_lossy(&b[..nl]);
        let size =
            usize::from_str_radix(size_s.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < nl + 2 + size {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_calls_are_recognised_with_their_body() {
        let raw = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDBStreams_20120810.GetRecords\r\nAuthorization: AWS4 x\r\nContent-Length: 2\r\n\r\n{}";
        let streams = "DynamoDBStreams_20120810.";
        let (op, body, auth) = amz_call(raw, streams).unwrap();
        assert_eq!(op, "GetRecords");
        assert_eq!(body, b"{}");
        assert_eq!(
            auth,
            vec![("authorization".to_string(), "AWS4 x".to_string())]
        );
        let ddb = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\n\r\n{}";
        assert!(amz_call(ddb, streams).is_none());
        assert_eq!(amz_call(ddb, "DynamoDB_20120810.").unwrap().0, "GetItem");
        let chunked = b"POST / HTTP/1.1\r\nX-Amz-Target: DynamoDBStreams_20120810.DescribeStream\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(amz_call(chunked, streams).unwrap().1, b"{}");
    }
}
