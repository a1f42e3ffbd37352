//! The threads that serve connections: one single-threaded runtime per core.
//!
//! Every accepted connection is handed to one worker and lives there with everything it spawns
//! (its HTTP/2 streams, a WebSocket gateway, a connector link). A Stream between a client and a
//! connector link on the same worker never leaves that thread, and the registry prefers such a
//! link (see `tunnel`). On one multi-threaded runtime the same relay woke another thread for
//! nearly every message: a 64-byte round trip through the server took seven futex calls and two
//! eventfd writes, and about a third more CPU than on one thread.
//!
//! Work that is not tied to a connection (sweeps, the accept loop) stays on the runtime that
//! called [`crate::Server::serve`].

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::runtime::Handle;
use tokio::sync::oneshot;

thread_local! {
    static CURRENT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the worker running the calling code, if it runs on one.
pub fn current() -> Option<usize> {
    CURRENT.with(Cell::get)
}

/// A running set of workers; dropping it stops them, cancelling what still runs there.
pub struct Workers {
    handles: Vec<Handle>,
    stops: Vec<oneshot::Sender<()>>,
    next: AtomicUsize,
}

impl Workers {
    /// One worker per core this process may use.
    pub async fn start() -> std::io::Result<Workers> {
        Workers::start_n(std::thread::available_parallelism().map_or(1, usize::from)).await
    }

    /// Starts `count` workers (at least one).
    pub async fn start_n(count: usize) -> std::io::Result<Workers> {
        let count = count.max(1);
        let mut workers = Workers {
            handles: Vec::with_capacity(count),
            stops: Vec::with_capacity(count),
            next: AtomicUsize::new(0),
        };
        for index in 0..count {
            let (started, handle) = oneshot::channel();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("postern-worker-{index}"))
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = started.send(Err(error));
                            return;
                        }
                    };
                    CURRENT.with(|current| current.set(Some(index)));
                    let _ = started.send(Ok(runtime.handle().clone()));
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            // `workers` stops the ones already started if this one fails.
            workers.stops.push(stop);
            let handle = handle
                .await
                .map_err(|_| std::io::Error::other("a worker thread died while starting"))??;
            workers.handles.push(handle);
        }
        Ok(workers)
    }

    /// How many workers run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether there are none (never, once started).
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Runs `future` on the next worker in turn.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[index].spawn(future);
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_is_spread_over_the_workers_and_knows_where_it_runs() {
        let workers = Workers::start_n(2).await.unwrap();
        assert_eq!(workers.len(), 2);
        assert_eq!(current(), None, "the caller is not a worker");
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (sender, receiver) = oneshot::channel();
            workers.spawn(async move {
                let _ = sender.send((current(), std::thread::current().id()));
            });
            seen.push(receiver.await.unwrap());
        }
        let indexes: Vec<Option<usize>> = seen.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [Some(0), Some(1), Some(0), Some(1)]);
        // A worker is one thread: the same index always runs on the same thread.
        assert_eq!(seen[0].1, seen[2].1);
        assert_eq!(seen[1].1, seen[3].1);
        assert_ne!(seen[0].1, seen[1].1);
    }

    #[tokio::test]
    async fn dropping_the_workers_cancels_their_tasks() {
        let workers = Workers::start_n(1).await.unwrap();
        let (sender, receiver) = oneshot::channel::<()>();
        workers.spawn(async move {
            // Holds the sender until cancelled.
            let _sender = sender;
            std::future::pending::<()>().await;
        });
        drop(workers);
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(5), receiver)
                .await
                .expect("the task was not cancelled")
                .is_err()
        );
    }
}
