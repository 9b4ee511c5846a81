//! Independent simulations on every core: each turmoil simulation lives on its own thread.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads at most, whatever `--jobs` says.
pub const MAX_JOBS: usize = 256;

/// `f` over `items` on `jobs` threads, one item per thread at a time; `progress(done, total)`
/// after each. Results come back in the items' order, whatever order they finished in; an
/// item whose `f` panics gets the panic as its error, and the others go on.
pub fn map<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    f: impl Fn(&T) -> Result<R, String> + Sync,
) -> Vec<Result<R, String>> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<R, String>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    std::thread::scope(|scope| {
        // More threads than items is waste, and thousands would exhaust the machine.
        for _ in 0..jobs.clamp(1, items.len().clamp(1, MAX_JOBS)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = crate::pipeline::isolated(|| f(item));
                    results.lock().expect("no worker panics")[i] = Some(r);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, items.len());
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panics")
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_item_that_panics_fails_alone() {
        let items: Vec<u32> = (0..6).collect();
        let out = super::map(&items, 3, &|_, _| {}, |i| {
            assert!(*i != 3, "item three is broken");
            Ok(i * 10)
        });
        assert_eq!(out.len(), 6);
        for (i, r) in out.iter().enumerate() {
            if i == 3 {
                let e = r.as_ref().unwrap_err();
                assert!(
                    e.contains("panicked") && e.contains("item three is broken"),
                    "{e}"
                );
            } else {
                assert_eq!(r.as_ref().unwrap(), &(i as u32 * 10));
            }
        }
    }
}
