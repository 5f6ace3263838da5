//! Secure by default: the operator's paths (`/metrics`, `/readyz`, `/debug/actors`,
//! `/v1/scaling`, the status page) are never served on a public listener. A node is
//! started from each shipped example config (`config/*.toml`, its `[node]` addresses as
//! written, only the ports made free and the backends pointed at this test's), and asked
//! for those paths on both listeners. Every deploy/ config names its admin listener too.

use crate::common::*;
use std::net::SocketAddr;
use votechain::config::Config;

/// The shipped example `file` as a test can start it: its roles and `[node]` addresses as
/// written (ports made free), this test's Kafka, DynamoDB and elections.
fn shipped(env: &TestEnv, file: &str) -> Config {
    let text = std::fs::read_to_string(repo_root().join("config").join(file)).unwrap();
    // The example names the station key by an environment variable; a literal here.
    let text = text.replace(
        "key_env = \"VOTECHAIN_KEY_STATION_FEED\"",
        "key = \"feed-key-1\"",
    );
    let mut cfg = Config::from_toml(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    cfg.node.http_addr.set_port(0);
    if let Some(a) = cfg.node.admin_addr.as_mut() {
        a.set_port(0);
    }
    cfg.node.instance_id = format!("admin-{}", file.trim_end_matches(".toml"));
    cfg.kafka = env.config.kafka.clone();
    cfg.dynamodb = env.config.dynamodb.clone();
    cfg.elections = env.config.elections.clone();
    cfg
}

/// A TOML file as a JSON value (figment reads it, as the node does).
fn toml_value(path: &std::path::Path) -> serde_json::Value {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::file(path))
        .extract()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The status of `GET path` on the listener bound at `addr` (0.0.0.0 reached on loopback).
async fn status(http: &reqwest::Client, addr: SocketAddr, path: &str) -> u16 {
    let addr = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port());
    http.get(format!("http://{addr}{path}"))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_configs_never_serve_the_admin_paths_publicly() {
    let mut env = TestEnv::new("admin", 1, DEMO).await;
    env.config.dynamodb.endpoint = Some(env.dynamo.endpoint.clone());
    let http = reqwest::Client::new();
    for file in ["ingest.toml", "query.toml", "writer.toml"] {
        let cfg = shipped(&env, file);
        assert!(
            !cfg.node.http_addr.ip().is_loopback(),
            "{file} binds its API publicly, as a pod does"
        );
        let node = votechain::runtime::Node::start(cfg).await.expect(file);
        let admin = node.admin_addr.expect("an admin listener");
        assert!(admin.ip().is_loopback(), "{file}: admin on loopback");
        for path in ["/metrics", "/readyz", "/debug/actors", "/v1/scaling", "/"] {
            assert_eq!(
                status(&http, node.http_addr, path).await,
                404,
                "{file} public {path}"
            );
        }
        assert_eq!(
            status(&http, node.http_addr, "/healthz").await,
            200,
            "{file}"
        );
        for path in ["/metrics", "/debug/actors"] {
            assert_eq!(status(&http, admin, path).await, 200, "{file} admin {path}");
        }
        node.shutdown().await;
    }
    // The same node without admin_addr is refused at its config, naming the key.
    let text = std::fs::read_to_string(repo_root().join("config/query.toml")).unwrap();
    let bare: String = text
        .lines()
        .filter(|l| !l.starts_with("admin_addr"))
        .map(|l| format!("{l}\n"))
        .collect();
    let err = Config::from_toml(&bare).unwrap_err().to_string();
    assert!(err.contains("node.admin_addr: not set"), "{err}");
    // dev.toml: loopback only, so one listener may serve everything.
    let dev = toml_value(&repo_root().join("config/dev.toml"));
    let dev_addr: SocketAddr = dev["node"]["http_addr"].as_str().unwrap().parse().unwrap();
    assert!(dev_addr.ip().is_loopback(), "dev listens on loopback only");
}

/// Every role config under deploy/ splits its listeners: the public port and the admin one.
#[test]
fn every_deploy_config_names_its_admin_listener() {
    let mut seen = 0;
    let mut stack = vec![repo_root().join("deploy")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                let v = toml_value(&p);
                if v.get("roles").is_none() {
                    continue;
                }
                let node = v
                    .get("node")
                    .unwrap_or_else(|| panic!("{}: [node]", p.display()));
                assert!(
                    node.get("admin_addr").is_some(),
                    "{}: admin_addr",
                    p.display()
                );
                seen += 1;
            }
        }
    }
    // base (7 roles) and the overlays: 13 when this was written.
    assert!(seen >= 13, "the deploy configs were found ({seen})");
}
