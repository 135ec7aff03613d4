//! Alerting (SPEC section 11): which alerts fire and when they notify ([`manager`], pure),
//! what a notification says ([`payload`]), the persistent queue that delivers it in order and
//! retries it across restarts ([`outbox`]), and how one attempt reaches a receiver
//! ([`deliver`]).

pub mod deliver;
pub mod manager;
pub mod outbox;
pub mod payload;
