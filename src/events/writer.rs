//! [`EventWriter`]: group commit for the daemon, and a broadcast of what is stored.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};

use super::log::{Appended, EventLog};
use super::{Event, EventLogError, NewEvent};

/// Requests waiting for the writer thread; callers wait for room beyond it (backpressure).
const WRITER_QUEUE: usize = 16 * 1024;
/// Bounds one batch so a flood of appends still gets answers in reasonable slices.
const MAX_BATCH_EVENTS: usize = 16 * 1024;
/// Subscribers further behind than this see `RecvError::Lagged` and should re-read the log.
const BROADCAST_CAPACITY: usize = 4096;

struct Request {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<Arc<Event>>, EventLogError>>,
}

/// Group commit for the daemon: concurrent callers queue their events; one thread drains
/// everything queued, stores it with one [`EventLog::append`] (one fsync), and answers each
/// caller once its events are on disk. Stored events, and events other processes stored
/// (noticed at the next batch or [`EventWriter::catch_up`]), are broadcast to subscribers in
/// seq order.
///
/// In the daemon, write only through the writer: appends through another clone of its
/// [`EventLog`] are not broadcast. A caller that stops waiting does not cancel its events.
/// The thread ends once every clone of the writer is dropped and the queue is written.
#[derive(Debug, Clone)]
pub struct EventWriter {
    requests: mpsc::Sender<Request>,
    stored: broadcast::Sender<Arc<Event>>,
    path: Arc<PathBuf>,
}

impl EventWriter {
    /// Starts the writer thread (a plain thread: file I/O and fsync block). Needs no runtime.
    pub fn spawn(log: EventLog) -> EventWriter {
        let (requests, queue) = mpsc::channel(WRITER_QUEUE);
        let (stored, _) = broadcast::channel(BROADCAST_CAPACITY);
        let path = Arc::new(log.path().to_path_buf());
        let broadcast = stored.clone();
        std::thread::Builder::new()
            .name("event-writer".to_string())
            .spawn(move || run_writer(log, queue, broadcast))
            .map(drop)
            // As std::thread::spawn does: failing to start a thread means the process is out of
            // resources, and the daemon cannot record anything without it.
            .unwrap_or_else(|e| panic!("cannot start the event writer thread: {e}"));
        EventWriter { requests, stored, path }
    }

    /// Stores one event; resolves once it is on disk.
    pub async fn append(&self, event: NewEvent) -> Result<Arc<Event>, EventLogError> {
        self.append_many(vec![event])
            .await?
            .pop()
            .ok_or_else(|| EventLogError::WriterStopped { path: self.path.to_path_buf() })
    }

    /// Stores events with consecutive seqs; resolves once they are on disk.
    pub async fn append_many(&self, events: Vec<NewEvent>) -> Result<Vec<Arc<Event>>, EventLogError> {
        let stopped = || EventLogError::WriterStopped { path: self.path.to_path_buf() };
        let (reply, answer) = oneshot::channel();
        self.requests.send(Request { events, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Looks for events other processes (CLI commands) stored and broadcasts them; for the
    /// daemon to call when the state directory changes or on a timer.
    pub async fn catch_up(&self) -> Result<(), EventLogError> {
        self.append_many(Vec::new()).await.map(drop)
    }

    /// Events as they are stored. A subscriber that falls behind gets `Lagged` and should
    /// re-read the log from the last seq it saw; so should one that sees a gap in seq.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.stored.subscribe()
    }
}

fn run_writer(log: EventLog, mut queue: mpsc::Receiver<Request>, stored: broadcast::Sender<Arc<Event>>) {
    while let Some(first) = queue.blocking_recv() {
        let mut count = first.events.len();
        let mut batch = vec![first];
        while count < MAX_BATCH_EVENTS {
            match queue.try_recv() {
                Ok(request) => {
                    count += request.events.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        let mut events = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(batch.len());
        for request in batch {
            replies.push((request.events.len(), request.reply));
            events.extend(request.events);
        }
        match log.append_batch(events) {
            Ok(Appended { foreign, stored: written }) => {
                // Shared, not copied, with every subscriber and the caller.
                let written: Vec<Arc<Event>> = written.into_iter().map(Arc::new).collect();
                if stored.receiver_count() > 0 {
                    for event in foreign.into_iter().map(Arc::new).chain(written.iter().cloned()) {
                        // Err only means every subscriber left meanwhile.
                        let _ = stored.send(event);
                    }
                }
                let mut written = written.into_iter();
                for (n, reply) in replies {
                    // Err only means the caller stopped waiting; its events are stored anyway.
                    let _ = reply.send(Ok(written.by_ref().take(n).collect()));
                }
            }
            Err(e) => {
                for (_, reply) in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
    }
}
