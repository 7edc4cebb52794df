//! The subscription sweep inside `abacus serve`: the webhooks that time, not a request, causes.
//! `subscription.started` when a contract that starts after its activation reaches its start, and
//! `subscription.canceled` when a service ends on its own (a scheduled cancellation taking effect,
//! a fixed term that does not renew). Readers see the new status at once regardless; the sweep
//! sends each event exactly once, however many servers run it: the rows are claimed with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL and every event is recorded on its subscription by a
//! conditional update in the transaction that enqueues it ([`subscriptions::claim_event`]).

use std::sync::Arc;
use std::time::Duration;

use abacus_core::time::Micros;
use abacus_store::Db;
use abacus_store::subscriptions;
use tokio::sync::{Notify, watch};

use crate::problem::ApiResult;
use crate::services::subscriptions::send_due_events;

/// Subscriptions claimed per transaction.
const BATCH: i64 = 100;

/// Sends every time-based subscription event due at `now` that has not been sent. Returns how
/// many it sent (0 when another sweep sent them).
pub async fn sweep(db: &Db, now: Micros) -> ApiResult<usize> {
    sweep_in_batches(db, now, BATCH).await
}

/// [`sweep`], claiming `batch` subscriptions per transaction (tests race sweeps of one).
pub async fn sweep_in_batches(db: &Db, now: Micros, batch: i64) -> ApiResult<usize> {
    let mut sent = 0;
    loop {
        // Reading first keeps an idle SQLite server from taking the write lock every round.
        let mut c = db.read().await?;
        let due = subscriptions::any_events_due(&mut c, now).await?;
        drop(c);
        if !due {
            return Ok(sent);
        }
        let mut tx = db.begin().await?;
        let claimed = subscriptions::due_events(&mut tx, now, batch).await?;
        for d in &claimed {
            sent += send_due_events(&mut tx, d, now).await?;
        }
        tx.commit().await?;
        if (claimed.len() as i64) < batch {
            return Ok(sent);
        }
    }
}

/// Runs [`sweep`] every `every` until stopped.
pub struct Sweeper {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sweeper {
    /// Starts the sweep; `wake` starts a round of webhook deliveries after it sent something.
    pub fn start(db: Db, every: Duration, wake: Arc<Notify>) -> Sweeper {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match sweep(&db, abacus_core::time::now_micros()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(events = n, "subscriptions started or ended");
                        wake.notify_one();
                    }
                    Err(e) => {
                        tracing::warn!(status = %e.status, detail = %e.detail, "the subscription sweep failed")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => break,
                }
            }
        });
        Sweeper { stop, task }
    }

    /// Stops after the round in progress.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}
