//! What can stop a benchmark run before it reports.

use trialog_client::ClientError;
use trialog_server::OperatorError;
use trialog_server::operator_key::OperatorKeyError;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the server: {0}")]
    Server(String),
    #[error("setup: {what}: {source}")]
    Client {
        what: String,
        #[source]
        source: ClientError,
    },
    #[error("operator: {0}")]
    Operator(#[from] OperatorError),
    #[error("operator key: {0}")]
    OperatorKey(#[from] OperatorKeyError),
    #[error("setup: {0}")]
    Setup(String),
    #[error("sealing a bilan: {0}")]
    Seal(String),
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Names the setup step a client call was for, so a failed setup says where it stopped.
pub trait Context<T> {
    fn context(self, what: impl Into<String>) -> Result<T, BenchError>;
}

impl<T> Context<T> for Result<T, ClientError> {
    fn context(self, what: impl Into<String>) -> Result<T, BenchError> {
        self.map_err(|source| BenchError::Client {
            what: what.into(),
            source,
        })
    }
}
