//! The `webhook` receiver: POSTs the JSON of SPEC section 11 to a URL, with an optional
//! bearer credential; any 2xx answer means delivered.

use chrono::{DateTime, Utc};

use super::{DeliveryContext, DeliveryError, post_json, webhook_json};
use crate::alert::payload::Notification;

pub(super) async fn send(
    url: &str,
    credential: Option<&str>,
    n: &Notification,
    cx: &DeliveryContext,
    now: DateTime<Utc>,
) -> Result<(), DeliveryError> {
    post_json(cx, url, credential, webhook_json(n, now), now).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::deliver;
    use super::super::testing::{closed_port, context, receiver, serve, set_credential};
    use super::*;
    use crate::alert::payload::tests::{firing, resolved};
    use crate::config::ReceiverTarget;

    fn webhook(url: &str, credential: Option<&str>) -> crate::config::Receiver {
        receiver(
            "ops",
            ReceiverTarget::Webhook { url: url.to_string(), credential: credential.map(str::to_string) },
        )
    }

    fn sent_at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T07:15:02Z").unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn posts_the_spec_body_with_the_bearer_credential() {
        let (base, log) = serve(204, &[], "").await;
        set_credential("deliver_test_webhook_bearer", "hook-secret-value-1");
        let r = webhook(&format!("{base}/hooks/mc"), Some("deliver_test_webhook_bearer"));
        deliver(&r, &firing("ops"), &context(), sent_at()).await.expect("delivered");

        let received = log.lock().unwrap()[0].clone();
        assert_eq!(received.path, "/hooks/mc");
        assert_eq!(received.header("authorization").as_deref(), Some("Bearer hook-secret-value-1"));
        assert_eq!(received.header("content-type").as_deref(), Some("application/json"));
        assert_eq!(
            received.json(),
            serde_json::json!({"version":"1","receiver":"ops","status":"firing",
             "notification_id":"0123456789abcdef0123456789abcdef","alert":{
             "id":"stale-or-failed/routine/daily-status","rule":"stale-or-failed",
             "entity_type":"routine","entity_id":"daily-status","level":"stale","previous_level":"healthy",
             "reason":"Overdue","message":"no signal since 06:59; expected by 07:00 + 15m grace",
             "starts_at":"2026-11-25T07:15:00Z","ends_at":null,"labels":{"team":"ops"}},
             "sent_at":"2026-11-25T07:15:02Z"})
        );
    }

    #[tokio::test]
    async fn without_a_credential_no_authorization_is_sent() {
        let (base, log) = serve(200, &[], "ok").await;
        deliver(&webhook(&base, None), &resolved("ops"), &context(), sent_at()).await.expect("delivered");
        let received = log.lock().unwrap()[0].clone();
        assert_eq!(received.header("authorization"), None);
        assert_eq!(received.json()["status"], "resolved");
        assert_eq!(received.json()["alert"]["ends_at"], "2026-11-25T08:02:00Z");
    }

    #[tokio::test]
    async fn a_secret_in_the_message_is_redacted_before_it_is_sent() {
        let (base, log) = serve(200, &[], "").await;
        let mut n = firing("ops");
        n.alert.message = "probe said: Authorization: Bearer abcdefgh12345678".to_string();
        deliver(&webhook(&base, None), &n, &context(), sent_at()).await.expect("delivered");
        let body = log.lock().unwrap()[0].json();
        assert_eq!(body["alert"]["message"], "probe said: Authorization: [REDACTED]");
    }

    #[tokio::test]
    async fn server_error_is_a_retryable_error_quoting_the_answer() {
        let (base, _log) = serve(500, &[], "database is down\nstack trace...").await;
        let err = deliver(&webhook(&base, None), &firing("ops"), &context(), sent_at()).await.unwrap_err();
        assert_eq!(err.to_string(), "refused with http status 500: database is down");
        assert!(!err.is_permanent());
        assert_eq!(err.retry_after(), None);
    }

    #[tokio::test]
    async fn retry_after_is_honoured_on_503_in_seconds_and_as_a_date() {
        let (base, _log) = serve(503, &[("retry-after", "7")], "").await;
        let err = deliver(&webhook(&base, None), &firing("ops"), &context(), sent_at()).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        assert_eq!(err.to_string(), "refused with http status 503: service unavailable");

        let (base, _log) = serve(429, &[("retry-after", "Wed, 25 Nov 2026 07:16:02 GMT")], "").await;
        let err = deliver(&webhook(&base, None), &firing("ops"), &context(), sent_at()).await.unwrap_err();
        assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (target, target_log) = serve(200, &[], "").await;
        let location: &'static str = Box::leak(format!("{target}/elsewhere").into_boxed_str());
        let (base, _log) = serve(307, &[("location", location)], "").await;
        set_credential("deliver_test_webhook_redirect", "redirect-secret-value");
        let r = webhook(&base, Some("deliver_test_webhook_redirect"));
        let err = deliver(&r, &firing("ops"), &context(), sent_at()).await.unwrap_err();
        assert!(err.to_string().starts_with("refused with http status 307"), "{err}");
        assert!(target_log.lock().unwrap().is_empty(), "the redirect was followed");
    }

    #[tokio::test]
    async fn unreachable_receiver_says_why() {
        let err = deliver(&webhook(&closed_port().await, None), &firing("ops"), &context(), sent_at())
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("cannot reach the receiver: "), "{text}");
        assert!(text.to_lowercase().contains("connection refused"), "{text}");
        assert!(!err.is_permanent());
    }

    #[tokio::test]
    async fn missing_credential_names_it_and_is_not_permanent() {
        let (base, log) = serve(200, &[], "").await;
        let r = webhook(&base, Some("deliver_test_webhook_missing"));
        let err = deliver(&r, &firing("ops"), &context(), sent_at()).await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("credential deliver_test_webhook_missing: not set"), "{text}");
        assert!(text.contains("MC_CRED_DELIVER_TEST_WEBHOOK_MISSING"), "{text}");
        assert!(!err.is_permanent(), "the credential may be set before the next retry");
        assert!(log.lock().unwrap().is_empty(), "nothing is sent without the credential");
    }
}
