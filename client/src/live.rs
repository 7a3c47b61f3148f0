//! The client side of `GET /v1/events`: one server-sent event stream, read event by event.
//! The wire format is the small subset the server writes: `id:`, `event:` and `data:` lines,
//! comments (keep-alives), and a blank line to end each event.

use trialog_protocol::api::LiveEvent;

use crate::error::ClientError;

/// An open event stream. `next` gives the following event, or `None` when the server ended
/// the stream (it does so after a while: reconnect from the last id).
#[derive(Debug)]
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
    last_id: Option<i64>,
}

impl EventStream {
    pub(crate) fn new(response: reqwest::Response) -> EventStream {
        EventStream {
            response,
            buffer: String::new(),
            last_id: None,
        }
    }

    /// The last event id the server sent (the stream's opening cursor before any event).
    pub fn last_id(&self) -> Option<i64> {
        self.last_id
    }

    pub async fn next(&mut self) -> Result<Option<LiveEvent>, ClientError> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(id) = block
                    .lines()
                    .find_map(|l| l.strip_prefix("id:"))
                    .and_then(|id| id.trim().parse().ok())
                {
                    self.last_id = Some(id);
                }
                if let Some(event) = parse_block(&block)? {
                    return Ok(Some(event));
                }
            }
            match self.response.chunk().await? {
                Some(bytes) => {
                    let text = String::from_utf8_lossy(&bytes).replace("\r\n", "\n");
                    self.buffer.push_str(&text);
                    // A server that never ends its events cannot make us hold its output.
                    if self.buffer.len() > 1 << 20 {
                        return Err(ClientError::BadResponse(
                            "an event of more than 1 MiB".into(),
                        ));
                    }
                }
                None => return Ok(None),
            }
        }
    }
}

/// One event block: its `data` as a `LiveEvent`; `None` for a comment or keep-alive.
fn parse_block(block: &str) -> Result<Option<LiveEvent>, ClientError> {
    let data: Vec<&str> = block
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(|d| d.strip_prefix(' ').unwrap_or(d))
        .collect();
    if data.is_empty() {
        return Ok(None);
    }
    serde_json::from_str(&data.join("\n"))
        .map(Some)
        .map_err(|e| ClientError::BadResponse(format!("live event: {e}")))
}

#[cfg(test)]
mod tests {
    use super::parse_block;

    #[test]
    fn an_event_block_parses_and_a_keep_alive_is_skipped() {
        let block = "id: 7\nevent: message\ndata: {\"id\":7,\"kind\":\"message\",\"subject\":\"m\",\"case_id\":\"case_8b1e2c1e52a74a7e9d6e0c3c1f0a4b11\",\"reason\":null,\"at\":1}\n\n";
        let e = parse_block(block).unwrap().unwrap();
        assert_eq!(e.id, 7);
        assert_eq!(e.subject, "m");
        assert!(parse_block(":\n\n").unwrap().is_none());
        assert!(parse_block("data: {not json\n\n").is_err());
    }
}
