//! Waking tasks at instants, more precisely than tokio's timer: its wheel counts whole
//! milliseconds and its driver parks in whole milliseconds, so a sleep ends up to a few
//! milliseconds late. A live run's function calls are due at exact instants and its send
//! skew is a health figure, so one thread sleeps (a futex wait, microseconds) until the
//! earliest instant asked for and wakes its task. Real time only: never in a simulation.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Instant;

use tokio::sync::oneshot;

type Wake = (Instant, oneshot::Sender<()>);

/// A handle on the pacing thread (which ends with the last handle).
#[derive(Clone)]
pub struct Pacer {
    asks: mpsc::Sender<Wake>,
}

impl Pacer {
    pub fn start() -> Self {
        let (asks, rx) = mpsc::channel::<Wake>();
        let spawned = std::thread::Builder::new()
            .name("bookingsim-pacer".into())
            .spawn(move || run(&rx));
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no pacing thread: tokio's timer paces instead");
        }
        Pacer { asks }
    }

    /// Returns at `at` (or at once if it has passed).
    pub async fn until(&self, at: tokio::time::Instant) {
        let (tx, rx) = oneshot::channel();
        if self.asks.send((at.into_std(), tx)).is_err() || rx.await.is_err() {
            simkit::time::sleep_until(at).await;
        }
    }
}

#[allow(clippy::disallowed_methods)] // reason: real time is what a pacer is for (live runs only)
fn run(asks: &mpsc::Receiver<Wake>) {
    let mut due: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut waiting: BTreeMap<u64, oneshot::Sender<()>> = BTreeMap::new();
    let mut next_id = 0u64;
    loop {
        let now = Instant::now();
        while let Some(Reverse((at, id))) = due.peek().copied()
            && at <= now
        {
            due.pop();
            if let Some(tx) = waiting.remove(&id) {
                let _ = tx.send(());
            }
        }
        let asked = match due.peek() {
            Some(Reverse((at, _))) => asks.recv_timeout(at.saturating_duration_since(now)),
            None => asks.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match asked {
            Ok((at, tx)) => {
                next_id += 1;
                due.push(Reverse((at, next_id)));
                waiting.insert(next_id, tx);
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) if due.is_empty() => return,
            Err(RecvTimeoutError::Disconnected) => {
                if let Some(Reverse((at, _))) = due.peek() {
                    std::thread::sleep(at.saturating_duration_since(Instant::now()));
                }
            }
        }
    }
}
