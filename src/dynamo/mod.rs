//! DynamoDB access: the client, the ledger's item layout (`items`), table creation
//! (`tables`), and how errors are classified for retrying (`classify`).
//!
//! Only this module knows attribute names. The ChainWriter writes through
//! [`items`]; `verify` and the receipt endpoint read through it.

pub mod items;
pub mod ledger;
pub mod tables;

use crate::config::DynamoConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

pub use aws_sdk_dynamodb::Client;

/// Builds a DynamoDB client from config: DynamoDB Local (endpoint + dummy credentials)
/// or AWS (default credential chain, e.g. IRSA on EKS).
pub async fn client(cfg: &DynamoConfig) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(cfg.region.clone()));
    if cfg.local_credentials {
        loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "votechain-local"));
    }
    if let Some(ep) = &cfg.endpoint {
        loader = loader.endpoint_url(ep);
    }
    let sdk = loader.load().await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(3))
        .build();
    Client::from_conf(conf)
}

/// Streams client with the same endpoint, region and credentials.
pub async fn streams_client(cfg: &DynamoConfig) -> aws_sdk_dynamodbstreams::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(cfg.region.clone()));
    if cfg.local_credentials {
        loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "votechain-local"));
    }
    if let Some(ep) = &cfg.endpoint {
        loader = loader.endpoint_url(ep);
    }
    aws_sdk_dynamodbstreams::Client::new(&loader.load().await)
}

/// What the caller should do about a failed DynamoDB call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts, connection trouble, transaction conflicts: retry with backoff.
    Retry(&'static str),
    /// A condition we wrote did not hold: someone else wrote first.
    Conditional,
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

/// A readable one-line description of an SDK error (the SDK's Display is terse).
pub fn describe<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(err: &SdkError<E, R>) -> String {
    match err {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("unknown"),
            se.err().message().unwrap_or("no message")
        ),
        other => format!("{other:?}"),
    }
}
