//! `GET /api/v1/events/stream`: the event log as server-sent events, live.
//!
//! Each event is sent as `id: <seq>`, `event: <type>`, `data: <the event as JSON>`, so a
//! browser's `EventSource` resumes by itself: on reconnecting it sends `Last-Event-ID`, and the
//! stream first replays the log after that seq, then follows the writer's broadcast. The
//! subscription is taken before the log is read, so every event is either in what was read or
//! in what is broadcast afterwards; an event at or below the last seq already handled is
//! skipped, so none is sent twice. A subscriber that falls behind the broadcast (`Lagged`) reads
//! the log again from where it was, so none is lost either. Without `Last-Event-ID`,
//! `?since_seq=` or `?since=`, the stream starts with the events written after it opened.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tokio::sync::{broadcast, watch};

use super::api::{hidden, parse_event_query};
use super::{ApiError, AppState};
use crate::events::{Event, EventFilter, read_events};

/// Events read from the log per step of a replay, so a long replay holds little in memory.
const REPLAY_PAGE: usize = 1000;
/// A comment line this often keeps proxies and browsers from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let query = parse_event_query(query, Utc::now())?;
    let mut filter = query.filter;
    // The header wins over the query: a reconnecting EventSource repeats the URL it opened.
    if let Some(value) = headers.get("last-event-id") {
        match value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(seq) => filter.since_seq = Some(seq),
            None => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_parameter",
                    "Last-Event-ID: expected the seq of an event (a whole number)",
                ));
            }
        }
    }
    let replay = filter.since_seq.is_some() || filter.since.is_some();
    let cursor = match filter.since_seq {
        Some(seq) => seq,
        // Live only: a re-read after `Lagged` starts about here, not at the beginning. Read
        // before subscribing, so every event broadcast afterwards lies above it. Taken from the
        // seq the publication announces, not by parsing the published state: opening thousands
        // of streams must not parse the whole live state each time.
        None if !replay => *app.shared.published_seq.borrow(),
        None => 0,
    };
    // Subscribe before the log is read: see the module documentation.
    let subscription = app.shared.writer.subscribe();
    let closing = app.closing.subscribe();
    let follower = Follower {
        app,
        filter,
        subscription,
        closing,
        cursor,
        replay,
        pending: VecDeque::new(),
        done: false,
    };
    let events = futures_util::stream::unfold(follower, |mut f| async move {
        let event = f.next().await?;
        Some((Ok::<_, Infallible>(to_sse(&event)), f))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")).into_response())
}

/// One stream's position in the log.
struct Follower {
    app: AppState,
    /// Since, types and entity; the seq cursor is `cursor`.
    filter: EventFilter,
    subscription: broadcast::Receiver<std::sync::Arc<Event>>,
    closing: watch::Receiver<bool>,
    /// Every event at or below this seq has been handled (sent, or found not to match).
    cursor: u64,
    /// The log must be read after `cursor` before following the broadcast again.
    replay: bool,
    pending: VecDeque<Event>,
    done: bool,
}

impl Follower {
    /// The next event to send, or `None` when the stream ends (shutdown, or the log cannot be
    /// read: the client reconnects with `Last-Event-ID` and loses nothing).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.done || *self.closing.borrow() {
                return None;
            }
            if self.replay {
                self.read_page().await;
                continue;
            }
            tokio::select! {
                _ = self.closing.wait_for(|closing| *closing) => return None,
                received = self.subscription.recv() => match received {
                    Ok(event) if event.seq <= self.cursor => {}
                    Ok(event) => {
                        self.cursor = event.seq;
                        if self.filter.matches(&event) && !hidden(&self.app.shared.config(), &event) {
                            return Some(std::sync::Arc::unwrap_or_clone(event));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        tracing::debug!(skipped, "event stream lagged; re-reading the log");
                        self.replay = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }

    /// Reads the next page of matching events after `cursor` from the log.
    async fn read_page(&mut self) {
        let state_dir = self.app.shared.workspace.join("state");
        let filter =
            EventFilter { since_seq: Some(self.cursor), limit: Some(REPLAY_PAGE), ..self.filter.clone() };
        match tokio::task::spawn_blocking(move || read_events(&state_dir, &filter)).await {
            Ok(Ok(page)) => {
                self.replay = page.len() == REPLAY_PAGE;
                let config = self.app.shared.config();
                if let Some(last) = page.last() {
                    self.cursor = last.seq;
                }
                self.pending.extend(page.into_iter().filter(|e| !hidden(&config, e)));
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the event log for a stream; closing it");
                self.done = true;
            }
            Err(_) => self.done = true,
        }
    }
}

fn to_sse(event: &Event) -> SseEvent {
    // A type comes from the log file; a line break in it would break the framing (and axum
    // panics on one), so it is replaced.
    let kind: String = event.kind.chars().map(|c| if c.is_control() { '_' } else { c }).collect();
    // JSON escapes line breaks inside strings, so the data is one line.
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_string());
    SseEvent::default().id(event.seq.to_string()).event(kind).data(data)
}
