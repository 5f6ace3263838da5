//! DynamoDB access: the client, the ledger's item layout (`items`), table creation
//! (`tables`), and how errors are classified for retrying (`classify`).
//!
//! `caps` is ingest's vote-cap table (not the ledger). Only this module knows attribute names. The ChainWriter writes through
//! [`items`]; `verify` and the receipt endpoint read through it.

pub mod caps;
pub mod items;
pub mod ledger;

use crate::config::DynamoConfig;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use aws_sdk_dynamodb::Client;

/// The item at `key` in `table`, read strongly consistent; `None` when there is none. The
/// caller maps the error into its own (every reader here reads consistently: each decides
/// from what it reads).
pub async fn get_consistent(
    db: &Client,
    table: &str,
    key: items::Item,
) -> Result<
    Option<items::Item>,
    SdkError<aws_sdk_dynamodb::operation::get_item::GetItemError, HttpResponse>,
> {
    let out = db
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await?;
    Ok(out.item)
}

/// The SDK settings both clients share: region, endpoint, credentials, timeouts, and the
/// one HTTPS client stack (hyper 1 + rustls with ring; see [`https_client`]). Without
/// timeouts a half-open connection would stall a caller (a ChainWriter, a partition)
/// forever; with them the attempt fails as `ErrorClass::Retry("timeout")` and is retried.
async fn sdk_config(cfg: &DynamoConfig) -> aws_config::SdkConfig {
    use aws_config::timeout::TimeoutConfig;
    use std::time::Duration;
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(cfg.connect_timeout_ms))
        .operation_attempt_timeout(Duration::from_millis(cfg.attempt_timeout_ms))
        .operation_timeout(Duration::from_millis(cfg.operation_timeout_ms))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(cfg.region.clone()))
        .timeout_config(timeouts)
        .http_client(https_client());
    if cfg.local_credentials {
        loader = loader.credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "votechain-local",
        ));
    }
    if let Some(ep) = &cfg.endpoint {
        loader = loader.endpoint_url(ep);
    }
    loader.load().await
}

/// The SDK's default HTTPS client, but with rustls' ring provider instead of aws-lc (a C
/// library with a long build): hyper 1, rustls 0.23, the proxy from the environment
/// (`HTTPS_PROXY`, `NO_PROXY`) as the SDK's own default does. Credential providers (IRSA,
/// SSO, IMDS) use it too, so the process has one HTTP/TLS stack for AWS.
fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::{Builder, ConnectorBuilder, proxy::ProxyConfig, tls};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut conn = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ));
        conn.set_connector_settings(settings.cloned());
        if let Some(c) = components {
            conn.set_sleep_impl(c.sleep_impl());
        }
        conn.set_proxy_config(Some(ProxyConfig::from_env()));
        conn.build()
    })
}

/// Builds a DynamoDB client from config: DynamoDB Local (endpoint + dummy credentials)
/// or AWS (default credential chain, e.g. IRSA on EKS).
pub async fn client(cfg: &DynamoConfig) -> Client {
    let sdk = sdk_config(cfg).await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(3))
        .build();
    Client::from_conf(conf)
}

/// Streams client with the same endpoint, region and credentials.
pub async fn streams_client(cfg: &DynamoConfig) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::new(&sdk_config(cfg).await)
}

/// What the caller should do about a failed DynamoDB call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, connection trouble, transaction conflicts: retry with backoff.
    Retry(&'static str),
    /// A condition we wrote did not hold: someone else wrote first.
    Conditional,
    /// The table, stream or shard does not exist (`ResourceNotFoundException`).
    NotFound,
    /// The table is being created, updated or deleted (`ResourceInUseException`).
    InUse,
    /// Anything else (bad request, missing table, access denied): retrying will not help.
    Fatal,
}

/// Error codes DynamoDB answers for load rather than for a bad request.
pub fn retryable_code(code: &str) -> Option<&'static str> {
    Some(match code {
        "ProvisionedThroughputExceededException" => "throughput_exceeded",
        "ThrottlingException" | "ThrottlingError" => "throttling",
        "RequestLimitExceeded" => "request_limit",
        "TransactionConflictException" | "TransactionConflict" => "transaction_conflict",
        "TransactionInProgressException" => "transaction_in_progress",
        "InternalServerError" | "InternalFailure" | "ServiceUnavailable" => "server_error",
        _ => return None,
    })
}

/// Classifies any SDK error by its transport outcome and error code.
pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> ErrorClass {
    match err {
        SdkError::TimeoutError(_) => ErrorClass::Retry("timeout"),
        SdkError::DispatchFailure(_) => ErrorClass::Retry("dispatch"),
        SdkError::ResponseError(_) => ErrorClass::Retry("response"),
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or_default();
            if code == "ConditionalCheckFailedException" {
                ErrorClass::Conditional
            } else if code == "ResourceNotFoundException" {
                ErrorClass::NotFound
            } else if code == "ResourceInUseException" {
                ErrorClass::InUse
            } else if let Some(kind) = retryable_code(code) {
                ErrorClass::Retry(kind)
            } else if se.raw().status().as_u16() >= 500 {
                ErrorClass::Retry("server_error")
            } else {
                ErrorClass::Fatal
            }
        }
        _ => ErrorClass::Fatal,
    }
}

/// The cancellation reason codes of a cancelled `TransactWriteItems`, one per action in
/// order (`None` for an action that did not fail); empty for any other error.
pub fn cancellation_codes(
    err: &SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        HttpResponse,
    >,
) -> Vec<String> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as T;
    match err.as_service_error() {
        Some(T::TransactionCanceledException(tc)) => tc
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_string())
            .collect(),
        _ => vec![],
    }
}

/// A readable one-line description of an SDK error (the SDK's Display is terse).
pub fn describe<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    match err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("unknown"),
            se.err().message().unwrap_or("no message")
        ),
        other => format!("{other:?}"),
    }
}
