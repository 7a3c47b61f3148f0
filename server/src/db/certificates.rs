//! Certificate statements, by the SHA-256 of the certificate they name.

use sqlx::AnyExecutor;

/// The stored statement (JSON of a `Signed<CertificateStatement>`) for a certificate.
pub async fn get(
    e: impl AnyExecutor<'_>,
    cert_sha256: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar("SELECT statement FROM certificate_statements WHERE cert_sha256 = $1")
        .bind(cert_sha256)
        .fetch_optional(e)
        .await
}

pub async fn insert(
    e: impl AnyExecutor<'_>,
    cert_sha256: &str,
    statement: &[u8],
    issued_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO certificate_statements (cert_sha256, statement, issued_at) VALUES ($1, $2, $3)",
    )
    .bind(cert_sha256)
    .bind(statement)
    .bind(issued_at)
    .execute(e)
    .await
    .map(|_| ())
}
