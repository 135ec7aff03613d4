//! The `telegram` receiver: the Bot API's `sendMessage` on `api_base` (the public Bot API
//! unless configured), a short plain-text message an owner reads on a phone.
//!
//! Plain text, no `parse_mode`: an entity id or a message full of `_` and `*` cannot break
//! the formatting, because there is none. Telegram takes at most 4096 characters, counted in
//! UTF-16 code units, so the text is measured that way (never fewer than its chars) and the
//! alert's message, the only part that can be long, is cut to fit. The bot token is part of
//! the URL path, so the URL is never logged nor put in an error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::{DeliveryContext, DeliveryError, cut, detail, read_answer, request_error, retry_after_header};
use crate::alert::payload::{Notification, NotificationStatus};
use crate::metrics::level_name;
use crate::redact::redact;

/// The longest text sent, in UTF-16 code units: under Telegram's 4096.
const MAX_TEXT: usize = 4095;

pub(super) async fn send(
    api_base: &str,
    credential: &str,
    chat_id: &str,
    n: &Notification,
    cx: &DeliveryContext,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    let token = cx.credentials.resolve(credential)?;
    let url = format!("{}/bot{}/sendMessage", api_base.trim_end_matches('/'), token.expose_secret());
    // A numeric id goes as a number, a `@channel` name as a string; the Bot API takes both.
    let chat = chat_id.parse::<i64>().map_or_else(|_| json!(chat_id), |id| json!(id));
    let body = json!({ "chat_id": chat, "text": text(n), "disable_web_page_preview": true });
    let response = cx
        .http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(request_error)?;
    let status = response.status();
    let header_wait = retry_after_header(&response, now);
    let answer = read_answer(response).await;
    let parsed: Option<Answer> = serde_json::from_slice(&answer).ok();
    if status.is_success() && parsed.as_ref().is_none_or(|a| a.ok) {
        return Ok(());
    }
    let parameters = parsed.as_ref().and_then(|a| a.parameters.as_ref());
    let retry_after = parameters.and_then(|p| p.retry_after).map(Duration::from_secs).or(header_wait);
    let detail = match parsed.as_ref().and_then(|a| a.description.as_deref()) {
        Some(description) => cut(&redact(description), 200),
        None => detail(status, &answer),
    };
    let detail = match parameters.and_then(|p| p.migrate_to_chat_id) {
        Some(id) => format!("{detail} (the group is now chat {id}; set chat_id to it)"),
        None => detail,
    };
    Err(DeliveryError::Refused { status: status.as_u16(), detail, retry_after })
}

/// The Bot API's answer, as far as it matters here.
#[derive(Deserialize)]
struct Answer {
    ok: bool,
    description: Option<String>,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
    migrate_to_chat_id: Option<i64>,
}

/// The message: what, how bad, why, since when, what to do.
///
/// ```text
/// STALE routine/daily-status
/// Overdue: no signal since 06:59; expected by 07:00 + 15m grace
/// since 2026-11-25 07:15 UTC
/// runbook: Daily status
/// http://mc.example/mission-control
/// ```
fn text(n: &Notification) -> String {
    let alert = &n.alert;
    let fired = level_name(n.firing_level()).to_uppercase();
    let stamp = |at: DateTime<Utc>| at.format("%Y-%m-%d %H:%M UTC").to_string();
    let head = match n.status {
        NotificationStatus::Firing => format!("{fired} {}", n.entity()),
        NotificationStatus::Resolved => format!("RESOLVED {} (was {fired})", n.entity()),
    };
    let body = match (alert.reason.is_empty(), alert.message.is_empty()) {
        (_, true) => alert.reason.clone(),
        (true, false) => alert.message.clone(),
        (false, false) => format!("{}: {}", alert.reason, alert.message),
    };
    let mut tail = vec![match (n.status, alert.ends_at) {
        (NotificationStatus::Resolved, Some(end)) => {
            format!("from {} to {}", stamp(alert.starts_at), stamp(end))
        }
        _ => format!("since {}", stamp(alert.starts_at)),
    }];
    tail.extend(n.runbook.as_ref().map(|r| format!("runbook: {r}")));
    tail.extend(n.dashboard_url.clone());

    // Redacted part by part, before measuring: a mask changes the length, and a secret cut in
    // half would no longer match its pattern.
    let head = redact(&head).into_owned();
    let tail: Vec<String> = tail.iter().map(|line| redact(line).into_owned()).collect();
    let fixed = units(&head) + tail.iter().map(|line| units(line) + 1).sum::<usize>() + 1;
    let body = cut_units(&redact(&body), MAX_TEXT.saturating_sub(fixed));
    let text = [vec![head, body], tail]
        .concat()
        .into_iter()
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    // Only a pathological runbook could still be too long; the limit is Telegram's, not ours.
    cut_units(&text, MAX_TEXT)
}

/// Length as Telegram counts it: UTF-16 code units.
fn units(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// `text` in at most `max` UTF-16 units, cut at a char boundary and ended with `…` when cut.
fn cut_units(text: &str, max: usize) -> String {
    if units(text) <= max {
        return text.to_string();
    }
    let mut used = 0;
    let mut end = 0;
    for (at, c) in text.char_indices() {
        // One unit is kept for the `…`.
        if used + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        end = at + c.len_utf8();
    }
    if max == 0 { String::new() } else { format!("{}…", &text[..end]) }
}

#[cfg(test)]
mod tests {
    use super::super::deliver;
    use super::super::testing::{closed_port, context, receiver, serve, set_credential};
    use super::*;
    use crate::alert::payload::tests::{firing, resolved};
    use crate::config::ReceiverTarget;

    const TOKEN: &str = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr";

    fn telegram(api_base: &str, credential: &str) -> crate::config::Receiver {
        let target = ReceiverTarget::Telegram {
            credential: credential.to_string(),
            chat_id: "-100424242".to_string(),
            api_base: api_base.to_string(),
        };
        receiver("phone", target)
    }

    #[tokio::test]
    async fn fake_bot_api_receives_chat_id_and_text() {
        let (base, log) = serve(200, &[], r#"{"ok":true,"result":{"message_id":1}}"#).await;
        set_credential("deliver_test_tg_ok", TOKEN);
        deliver(&telegram(&base, "deliver_test_tg_ok"), &firing("phone"), &context(), Utc::now())
            .await
            .expect("delivered");
        let received = log.lock().unwrap()[0].clone();
        assert_eq!(received.path, format!("/bot{TOKEN}/sendMessage"));
        assert_eq!(
            received.json(),
            json!({"chat_id": -100424242, "disable_web_page_preview": true, "text":
                "STALE routine/daily-status\nOverdue: no signal since 06:59; expected by 07:00 + 15m grace\n\
                 since 2026-11-25 07:15 UTC\nrunbook: Daily status\nhttp://mc.example/mission-control"})
        );
        assert!(received.json().get("parse_mode").is_none());
    }

    #[test]
    fn resolved_text_says_what_it_was_and_for_how_long() {
        let mut n = resolved("phone");
        (n.runbook, n.dashboard_url) = (None, None);
        assert_eq!(
            text(&n),
            "RESOLVED routine/daily-status (was STALE)\n\
             Overdue: no signal since 06:59; expected by 07:00 + 15m grace\n\
             from 2026-11-25 07:15 UTC to 2026-11-25 08:02 UTC"
        );
    }

    #[tokio::test]
    async fn a_long_message_is_cut_under_4096_characters() {
        let (base, log) = serve(200, &[], r#"{"ok":true}"#).await;
        set_credential("deliver_test_tg_long", TOKEN);
        let mut n = firing("phone");
        n.alert.message = "x".repeat(10_000);
        deliver(&telegram(&base, "deliver_test_tg_long"), &n, &context(), Utc::now())
            .await
            .expect("delivered");
        let text = log.lock().unwrap()[0].json()["text"].as_str().unwrap().to_string();
        assert!(text.chars().count() < 4096, "{} chars", text.chars().count());
        assert!(text.chars().count() > 4000, "only the excess is cut");
        assert!(text.contains("x…\nsince 2026-11-25 07:15 UTC\nrunbook: Daily status"), "the tail survives");
    }

    #[test]
    fn cuts_count_utf16_units_and_keep_char_boundaries() {
        let mut n = firing("phone");
        n.alert.message = "é😀".repeat(3000);
        let cut = text(&n);
        assert!(units(&cut) <= MAX_TEXT, "{}", units(&cut));
        assert!(cut.ends_with("http://mc.example/mission-control"));
        assert_eq!(cut_units("abcdef", 4), "abc…");
        assert_eq!(cut_units("a😀b", 3), "a…", "a surrogate pair is never split");
        assert_eq!(cut_units("abc", 3), "abc");
        assert_eq!(cut_units("abc", 0), "");
    }

    #[tokio::test]
    async fn too_many_requests_gives_retry_after_from_the_body() {
        let answer = r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#;
        let (base, _log) = serve(429, &[], answer).await;
        set_credential("deliver_test_tg_429", TOKEN);
        let err = deliver(&telegram(&base, "deliver_test_tg_429"), &firing("phone"), &context(), Utc::now())
            .await
            .unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        assert!(!err.is_permanent());
        assert_eq!(err.to_string(), "refused with http status 429: Too Many Requests: retry after 3");
        assert_token_absent(&err);
    }

    #[tokio::test]
    async fn chat_not_found_is_permanent() {
        let answer = r#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#;
        let (base, _log) = serve(400, &[], answer).await;
        set_credential("deliver_test_tg_400", TOKEN);
        let err = deliver(&telegram(&base, "deliver_test_tg_400"), &firing("phone"), &context(), Utc::now())
            .await
            .unwrap_err();
        assert!(err.is_permanent());
        assert_eq!(err.retry_after(), None);
        assert_eq!(err.to_string(), "refused with http status 400: Bad Request: chat not found");
        assert_token_absent(&err);
    }

    #[tokio::test]
    async fn the_token_is_in_no_error_of_any_kind() {
        set_credential("deliver_test_tg_errors", TOKEN);
        let r = telegram(&closed_port().await, "deliver_test_tg_errors");
        let err = deliver(&r, &firing("phone"), &context(), Utc::now()).await.unwrap_err();
        assert!(err.to_string().starts_with("cannot reach the receiver: "), "{err}");
        assert_token_absent(&err);

        let (base, _log) = serve(502, &[], "<html>bad gateway</html>").await;
        let err =
            deliver(&telegram(&base, "deliver_test_tg_errors"), &firing("phone"), &context(), Utc::now())
                .await
                .unwrap_err();
        assert_eq!(err.to_string(), "refused with http status 502: <html>bad gateway</html>");
        assert_token_absent(&err);
    }

    #[tokio::test]
    async fn missing_token_names_the_credential_and_is_not_permanent() {
        let (base, log) = serve(200, &[], r#"{"ok":true}"#).await;
        let err =
            deliver(&telegram(&base, "deliver_test_tg_missing"), &firing("phone"), &context(), Utc::now())
                .await
                .unwrap_err();
        assert!(err.to_string().starts_with("credential deliver_test_tg_missing: not set"), "{err}");
        assert!(!err.is_permanent());
        assert!(log.lock().unwrap().is_empty());
    }

    fn assert_token_absent(err: &DeliveryError) {
        let secret_part = TOKEN.split_once(':').unwrap().1;
        for text in [err.to_string(), format!("{err:?}")] {
            assert!(!text.contains(secret_part) && !text.contains("/bot"), "{text}");
        }
    }
}
