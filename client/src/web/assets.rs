//! Assets embedded in the binary: nothing is read from disk or fetched from elsewhere.

use axum::http::header;
use axum::response::IntoResponse;

const STYLE: &str = include_str!("assets/style.css");

/// `GET /assets/style.css`. Served with the same headers as every page (no caching:
/// it is read from memory, and `no-store` keeps one rule for every response).
pub async fn style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE)
}

const INBOX_JS: &str = include_str!("assets/inbox.js");

/// `GET /assets/inbox.js`: the inbox's refresh without reloading and the print button. The
/// pages work without it.
pub async fn inbox_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        INBOX_JS,
    )
}

const COMPOSE_JS: &str = include_str!("assets/compose.js");

/// `GET /assets/compose.js`: the compose page's convenience script (the page works
/// without it).
pub async fn compose_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        COMPOSE_JS,
    )
}
