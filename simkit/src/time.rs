//! Timers that say when they are due. Every sleep and timeout of a simulated component goes
//! through here (clippy refuses tokio's own), so the simulation's driver knows the earliest
//! instant anything is due and can advance straight to it over idle time instead of
//! polling every host every tick (see `sim::world`). Outside a simulation they are tokio's
//! timers and nothing is recorded.
//!
//! Deadlines are kept per thread (one simulation runs on one thread), in the simulation's
//! global time (`turmoil::sim_elapsed`), which every host shares even though each host's
//! `tokio::time::Instant` counts from its own start.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

/// Deadline (simulation time) -> how many timers are due then.
type Books = BTreeMap<Duration, u32>;

thread_local! {
    /// Every host's timers.
    static DUE: RefCell<Books> = const { RefCell::new(BTreeMap::new()) };
    /// Each host's own (a step may leave out a host with nothing due: `turmoil::Sim::step_lazy`).
    static DUE_ON: RefCell<BTreeMap<IpAddr, Books>> = const { RefCell::new(BTreeMap::new()) };
}

/// A deadline on the books while it lives: (host, deadline).
#[derive(Debug)]
struct Due(Option<(Option<IpAddr>, Duration)>);

fn enter(books: &mut Books, at: Duration) {
    *books.entry(at).or_default() += 1;
}

fn leave(books: &mut Books, at: Duration) {
    if let Some(n) = books.get_mut(&at) {
        *n -= 1;
        if *n == 0 {
            books.remove(&at);
        }
    }
}

impl Due {
    fn new(deadline: Instant) -> Self {
        let Some(elapsed) = turmoil::sim_elapsed() else {
            return Due(None);
        };
        let at = elapsed + deadline.saturating_duration_since(Instant::now());
        let host = turmoil::current_host_addr();
        DUE.with(|d| enter(&mut d.borrow_mut(), at));
        if let Some(host) = host {
            DUE_ON.with(|d| enter(d.borrow_mut().entry(host).or_default(), at));
        }
        Due(Some((host, at)))
    }
}

impl Drop for Due {
    fn drop(&mut self) {
        if let Some((host, at)) = self.0.take() {
            DUE.with(|d| leave(&mut d.borrow_mut(), at));
            if let Some(host) = host {
                DUE_ON.with(|d| {
                    if let Some(books) = d.borrow_mut().get_mut(&host) {
                        leave(books, at);
                    }
                });
            }
        }
    }
}

/// The earliest deadline of a timer alive on this thread, in simulation time.
pub fn earliest_due() -> Option<Duration> {
    DUE.with(|d| d.borrow().keys().next().copied())
}

/// The earliest deadline of a timer alive on `host`, in simulation time.
pub fn earliest_due_on(host: IpAddr) -> Option<Duration> {
    DUE_ON.with(|d| d.borrow().get(&host)?.keys().next().copied())
}

/// Forgets every deadline on this thread (a new simulation starts on it).
pub fn forget_all() {
    DUE.with(|d| d.borrow_mut().clear());
    DUE_ON.with(|d| d.borrow_mut().clear());
}

/// `tokio::time::sleep_until`, on the books.
#[allow(clippy::disallowed_methods)] // reason: the one place tokio's timers are used
pub async fn sleep_until(deadline: Instant) {
    let _due = Due::new(deadline);
    tokio::time::sleep_until(deadline).await;
}

/// `tokio::time::sleep`, on the books.
pub async fn sleep(duration: Duration) {
    sleep_until(Instant::now() + duration).await;
}

/// `tokio::time::timeout`, on the books while it runs.
#[allow(clippy::disallowed_methods)] // reason: the one place tokio's timers are used
pub async fn timeout<F: Future>(
    duration: Duration,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let deadline = Instant::now() + duration;
    let _due = Due::new(deadline);
    tokio::time::timeout_at(deadline, future).await
}

/// hyper's timer (connection pools, header timeouts), on the books.
#[derive(Debug, Clone, Copy, Default)]
pub struct HyperTimer;

/// One of hyper's sleeps.
struct HyperSleep {
    inner: Pin<Box<tokio::time::Sleep>>,
    due: Due,
}

impl HyperSleep {
    #[allow(clippy::disallowed_methods)] // reason: the one place tokio's timers are used
    fn new(deadline: Instant) -> Self {
        HyperSleep {
            due: Due::new(deadline),
            inner: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }
}

impl Future for HyperSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep::new(Instant::now() + duration))
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep::new(deadline.into()))
    }

    fn now(&self) -> std::time::Instant {
        Instant::now().into()
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        if let Some(mut sleep) = sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            let deadline = Instant::from(new_deadline);
            sleep.due = Due::new(deadline);
            sleep.inner.as_mut().reset(deadline);
        }
    }
}

/// `tokio::time::interval` (its first tick at once, missed ticks in a burst), on the books.
pub struct Interval {
    inner: tokio::time::Interval,
    next: Instant,
}

/// Ticks every `period`, the first at once.
#[allow(clippy::disallowed_methods)] // reason: the one place tokio's timers are used
pub fn interval(period: Duration) -> Interval {
    Interval {
        inner: tokio::time::interval(period),
        next: Instant::now(),
    }
}

impl Interval {
    /// Waits for the next tick; returns the instant it was due.
    pub async fn tick(&mut self) -> Instant {
        let _due = Due::new(self.next);
        let at = self.inner.tick().await;
        self.next = at + self.inner.period();
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Inside a simulation every live timer is on the books at its deadline in simulation
    /// time, and leaves them when it fires, is dropped or its future wins.
    #[test]
    fn live_timers_are_on_the_books_until_they_end() {
        forget_all();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let mut sim = turmoil::Builder::new()
            .simulation_duration(Duration::from_secs(60))
            .build();
        sim.client("a", async move {
            let note = |what: &str| {
                log.lock()
                    .unwrap()
                    .push((what.to_owned(), earliest_due().map(|d| d.as_millis())));
            };
            sleep(Duration::from_millis(500)).await;
            note("after a sleep");
            let mut long = Box::pin(sleep(Duration::from_secs(30)));
            let _ = timeout(Duration::from_millis(100), &mut long).await;
            note("a 30-s sleep outlived a timeout");
            drop(long);
            note("dropped");
            let quick = timeout(Duration::from_secs(5), async { 7 }).await;
            assert_eq!(quick.ok(), Some(7));
            note("a timeout whose future won");
            let mut every = interval(Duration::from_secs(2));
            every.tick().await;
            every.tick().await;
            note("two ticks");
            Ok(())
        });
        let probe = seen.clone();
        sim.client("b", async move {
            // Another host's view, in simulation time: the first host's 100-ms timeout.
            sleep(Duration::from_millis(550)).await;
            probe
                .lock()
                .unwrap()
                .push(("b".into(), earliest_due().map(|d| d.as_millis())));
            Ok(())
        });
        sim.run().unwrap();
        let seen = seen.lock().unwrap().clone();
        let at = |what: &str| seen.iter().find(|(w, _)| w == what).unwrap().1;
        assert_eq!(at("after a sleep"), Some(550), "b's own sleep is due then");
        assert_eq!(at("b"), Some(600), "a's timeout, seen from another host");
        assert_eq!(at("a 30-s sleep outlived a timeout"), Some(30_500));
        assert_eq!(at("dropped"), None);
        assert_eq!(at("a timeout whose future won"), None);
        assert_eq!(at("two ticks"), None);
        assert_eq!(earliest_due(), None);
    }

    #[tokio::test]
    async fn outside_a_simulation_nothing_is_recorded() {
        forget_all();
        let _ = timeout(Duration::from_millis(1), sleep(Duration::from_secs(5))).await;
        let mut every = interval(Duration::from_millis(1));
        every.tick().await;
        assert_eq!(earliest_due(), None);
    }
}
