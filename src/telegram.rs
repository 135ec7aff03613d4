//! The Telegram command listener (settings `telegram_commands`): the daemon long-polls the
//! Bot API's `getUpdates` and answers the twelve chat commands itself, so the owner can still
//! ask `server` when the orchestrator (which normally reads the chat) is down. The watchdog
//! must not depend on what it watches.
//!
//! Only the listed chats are answered; every other update is dropped and counted
//! (`mission_control_chat_commands_total{channel="telegram",outcome="ignored"}`). `inbox TEXT`
//! adds an inbox item (source `telegram`). The offset of the last update handled is kept in
//! `state/telegram-offset`, so a restart neither loses nor answers twice what was handled. The
//! bot token is part of every URL, so no URL is ever logged or put in an error.

use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use tracing::{debug, warn};

use crate::commands::{Command, parse_line};
use crate::config::TelegramCommands;
use crate::daemon::{Input, Shared};
use crate::redact::redact;
use crate::work::Request;

/// How long one `getUpdates` waits for an update (Telegram's long poll).
const POLL_SECONDS: u64 = 25;
/// After a failed poll, before the next.
const BACKOFF: Duration = Duration::from_secs(5);
/// The file that keeps the next update id.
const OFFSET_FILE: &str = "telegram-offset";
/// The longest chat message read; longer ones are cut.
const MAX_TEXT: usize = 4096;

#[derive(Debug, Deserialize)]
struct Updates {
    ok: bool,
    #[serde(default)]
    result: Vec<Update>,
    description: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
}

#[derive(Debug, Deserialize)]
struct Message {
    chat: Chat,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Chat {
    id: i64,
    username: Option<String>,
}

/// Polls and answers until the task is aborted.
pub async fn listen(shared: Arc<Shared>, settings: TelegramCommands) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(POLL_SECONDS + 10))
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            warn!(error = %e, "cannot start the Telegram command listener");
            return;
        }
    };
    let offset_path = shared.workspace.join("state").join(OFFSET_FILE);
    let mut offset: i64 =
        std::fs::read_to_string(&offset_path).ok().and_then(|t| t.trim().parse().ok()).unwrap_or(0);
    loop {
        let config = shared.config();
        let token = match crate::credentials::Credentials::new(&config.settings, &shared.workspace)
            .resolve(&settings.credential)
        {
            Ok(token) => token,
            Err(e) => {
                warn!(error = %e, "the Telegram command listener has no bot token; retrying");
                tokio::time::sleep(BACKOFF * 6).await;
                continue;
            }
        };
        let base = format!("{}/bot{}", settings.api_base, token.expose_secret());
        let updates = match poll(&http, &base, offset).await {
            Ok(updates) => updates,
            Err(e) => {
                warn!(error = %redact(&e), "Telegram getUpdates failed; retrying");
                tokio::time::sleep(BACKOFF).await;
                continue;
            }
        };
        for update in updates {
            offset = offset.max(update.update_id + 1);
            if let Err(e) = crate::state::write_atomic(&offset_path, offset.to_string().as_bytes()) {
                warn!(error = %e, "cannot keep the Telegram offset");
            }
            let Some(message) = update.message else { continue };
            let allowed = settings.allowed_chat_ids.iter().any(|id| {
                *id == message.chat.id.to_string()
                    || message.chat.username.as_deref().is_some_and(|u| id.trim_start_matches('@') == u)
            });
            let metric = |outcome: &str| {
                shared.metrics.chat_commands_total.with_label_values(&["telegram", outcome]).inc();
            };
            if !allowed {
                debug!(chat = message.chat.id, "ignoring a Telegram update from a chat not listed");
                metric("ignored");
                continue;
            }
            let Some(text) = message.text else { continue };
            let text: String = text.chars().take(MAX_TEXT).collect();
            let reply = answer(&shared, &text).await;
            match send(&http, &base, message.chat.id, &reply).await {
                Ok(()) => metric("answered"),
                Err(e) => {
                    warn!(error = %redact(&e), "cannot answer on Telegram");
                    metric("failed");
                }
            }
        }
    }
}

/// The text of the answer to one message.
async fn answer(shared: &Arc<Shared>, text: &str) -> String {
    let (command, arg) = match parse_line(text) {
        Ok(parsed) => parsed,
        Err(help) => return help,
    };
    if let (Command::Inbox, Some(item)) = (&command, &arg) {
        return add_item(shared, item).await;
    }
    match crate::daemon::chat(shared, command, false).await {
        Some(reply) => reply.text,
        None => "Mission Control is stopping; ask again in a minute.".to_string(),
    }
}

/// `inbox TEXT`: adds the item through the reconciler, like the write API.
async fn add_item(shared: &Arc<Shared>, text: &str) -> String {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let request = Request::AddItem { text: text.to_string(), source: Some("telegram".to_string()) };
    if shared.inputs.send(Input::Work(request, reply)).await.is_err() {
        return "Mission Control is stopping; the item was not added.".to_string();
    }
    match answer.await {
        Ok(Ok(stored)) => match stored.first() {
            Some(event) => format!("Added {} to the inbox.", event.entity_id),
            None => "Nothing was added.".to_string(),
        },
        Ok(Err(crate::web::write::WorkFailure::Refused(e))) => format!("Not added: {e}"),
        Ok(Err(crate::web::write::WorkFailure::NotStored(e))) => format!("Not added: {e}"),
        Err(_) => "Mission Control is stopping; the item was not added.".to_string(),
    }
}

/// One long poll; the error never holds the URL (it holds the token).
async fn poll(http: &reqwest::Client, base: &str, offset: i64) -> Result<Vec<Update>, String> {
    let url = format!("{base}/getUpdates");
    let query = [("offset", offset.to_string()), ("timeout", POLL_SECONDS.to_string())];
    let response = http
        .get(url)
        .query(&query)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    let status = response.status();
    let body =
        response.bytes().await.map_err(|e| format!("reading the answer failed: {}", e.without_url()))?;
    let updates: Updates =
        serde_json::from_slice(&body).map_err(|e| format!("status {status}: not a Bot API answer: {e}"))?;
    if !updates.ok {
        return Err(format!("status {status}: {}", updates.description.unwrap_or_default()));
    }
    Ok(updates.result)
}

/// Sends Markdown; when Telegram cannot parse it, the same text again as plain text.
async fn send(http: &reqwest::Client, base: &str, chat: i64, text: &str) -> Result<(), String> {
    let url = format!("{base}/sendMessage");
    let mut body =
        json!({ "chat_id": chat, "text": text, "parse_mode": "Markdown", "disable_web_page_preview": true });
    for attempt in 0..2 {
        let response = http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("request failed: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status == reqwest::StatusCode::BAD_REQUEST && attempt == 0 {
            if let Some(object) = body.as_object_mut() {
                object.remove("parse_mode");
            }
            continue;
        }
        let answer = response.text().await.unwrap_or_default();
        return Err(format!("status {status}: {}", answer.chars().take(200).collect::<String>()));
    }
    Err("Telegram refused the message".to_string())
}
