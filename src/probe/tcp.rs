//! The `tcp` probe: success means a connection to `host:port` opens within the timeout.
//! The connection is closed at once; nothing is sent.

use tokio::net::TcpStream;

use super::{Started, timeout_error};
use crate::config::TcpProbe;
use crate::state::Observation;

pub(super) async fn run(spec: &TcpProbe) -> Observation {
    let started = Started::now();
    let error = match tokio::time::timeout(spec.timeout, TcpStream::connect(&spec.address)).await {
        Ok(Ok(_stream)) => None,
        Ok(Err(e)) => Some(known_io_error(&e).map_or_else(|| e.to_string(), str::to_string)),
        Err(_elapsed) => Some(timeout_error(spec.timeout)),
    };
    started.finish("tcp", error)
}

/// Short, lower-case texts for the connection failures an operator sees most.
pub(super) fn known_io_error(error: &std::io::Error) -> Option<&'static str> {
    use std::io::ErrorKind;
    Some(match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset => "connection reset",
        ErrorKind::ConnectionAborted => "connection aborted",
        ErrorKind::TimedOut => "connection timed out",
        ErrorKind::HostUnreachable => "host unreachable",
        ErrorKind::NetworkUnreachable => "network unreachable",
        ErrorKind::AddrNotAvailable => "address not available",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn open_port_succeeds() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let observation = run(&TcpProbe { address, timeout: Duration::from_secs(5) }).await;
        assert_eq!(observation.kind, "tcp");
        assert_eq!(observation.ok, Some(true), "{:?}", observation.error);
        assert!(observation.error.is_none());
        assert!(observation.latency_seconds.is_some_and(|l| l < 5.0));
    }

    #[tokio::test]
    async fn closed_port_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let observation = run(&TcpProbe { address, timeout: Duration::from_secs(5) }).await;
        assert_eq!(observation.ok, Some(false));
        assert_eq!(observation.error.as_deref(), Some("connection refused"));
    }
}
