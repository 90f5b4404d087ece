//! A single-waiter wake-up flag for tasks of one executor (no locks, no allocation).

use std::cell::Cell;
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// Lets one task sleep until another task on the same core says there is work.
#[derive(Default)]
pub struct Notify {
    flag: Cell<bool>,
    waker: Cell<Option<Waker>>,
}

impl Notify {
    /// Marks work as available and wakes the waiter, if any.
    pub fn notify(&self) {
        self.flag.set(true);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Whether `notify` was called and the waiter has not run since.
    pub fn is_pending(&self) -> bool {
        self.flag.get()
    }

    /// Waits until `notify` was called since the last wait returned.
    pub async fn wait(&self) {
        poll_fn(|cx| {
            if self.flag.replace(false) {
                Poll::Ready(())
            } else {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}
