//! Group commit for event ingestion.
//!
//! Handlers hand validated events to the [`Ingestor`] and wait for the answer. Writer tasks take
//! every job waiting in the queue (up to [`MAX_BATCH_EVENTS`] events), store them in ONE
//! transaction, and answer each job once that transaction has committed: an event is acknowledged
//! only when it is durable, and a thousand small requests cost a handful of commits instead of a
//! thousand. SQLite gets one writer (it has one write lock anyway); PostgreSQL several.
//!
//! If a combined transaction fails, each job is retried alone, so one job's failure is never
//! another's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use abacus_core::metering::event::ValidEvent;
use abacus_core::time::{Micros, now_micros};
use abacus_store::ingest::{self, Outcome};
use abacus_store::tail;
use abacus_store::{Backend, Db, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Events per combined transaction, at most.
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Jobs waiting in the queue before handlers wait for room.
const QUEUE: usize = 256;
/// SQLite: a writer with nothing to do for this long settles the events stored since the last
/// settling (`abacus_store::tail`), so reads on a quiet database scan no tail.
const SETTLE_WHEN_IDLE: Duration = Duration::from_millis(500);
/// SQLite: a tail whose oldest event is this old is settled after the next write even while
/// writes keep coming, so a steady trickle of events never leaves readers a long tail to scan.
const SETTLE_WITHIN: Duration = Duration::from_secs(5);

struct Job {
    org_id: String,
    events: Vec<ValidEvent>,
    reply: oneshot::Sender<StoreResult<Vec<Outcome>>>,
}

#[derive(Clone)]
pub struct Ingestor {
    queue: mpsc::Sender<Job>,
    stop: std::sync::Arc<watch::Sender<bool>>,
    writers: std::sync::Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Ingestor {
    /// Starts the writers for `db`; on SQLite, a tail of `settle_at` events gets a settling pass
    /// prepared beside the writer.
    pub fn start(db: Db, settle_at: i64) -> Ingestor {
        let writers = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 4,
        };
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
        let (stop, stopping) = watch::channel(false);
        let writers = (0..writers)
            .map(|_| {
                tokio::spawn(run_writer(
                    db.clone(),
                    rx.clone(),
                    stopping.clone(),
                    settle_at,
                ))
            })
            .collect();
        Ingestor {
            queue: tx,
            stop: std::sync::Arc::new(stop),
            writers: std::sync::Arc::new(std::sync::Mutex::new(writers)),
        }
    }

    /// Stops the writers once the requests are served, before the database closes. On SQLite
    /// the last writer settles the tail first, so the next start finds none to settle.
    pub async fn stop(&self) {
        self.stop.send_replace(true);
        let writers = std::mem::take(&mut *self.writers.lock().expect("writers lock"));
        for w in writers {
            let _ = w.await;
        }
    }

    /// Stores one request's events; returns once they are committed.
    pub async fn submit(&self, org_id: &str, events: Vec<ValidEvent>) -> StoreResult<Vec<Outcome>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            org_id: org_id.to_string(),
            events,
            reply,
        };
        self.queue
            .send(job)
            .await
            .map_err(|_| StoreError::Config("the ingestion queue is closed".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Config("the ingestion writer stopped".into()))?
    }
}

/// Takes every job waiting (up to [`MAX_BATCH_EVENTS`] events) and stores them together, until
/// the queue closes. On SQLite it also keeps the tail settled (`abacus_store::tail`).
async fn run_writer(
    db: Db,
    rx: std::sync::Arc<tokio::sync::Mutex<mpsc::Receiver<Job>>>,
    mut stopping: watch::Receiver<bool>,
    settle_at: i64,
) {
    let sqlite = db.backend() == Backend::Sqlite;
    // SQLite: events may have been stored since the tail was last settled (at start-up too: an
    // earlier process may have left a tail).
    let mut tail = sqlite;
    let mut pass = BackgroundPass::default();
    loop {
        let jobs = {
            let mut rx = rx.lock().await;
            let idle = async {
                if tail {
                    tokio::time::sleep(SETTLE_WHEN_IDLE).await
                } else {
                    std::future::pending().await
                }
            };
            let stopped = async {
                let _ = stopping.wait_for(|stop| *stop).await;
            };
            let first = tokio::select! {
                job = rx.recv() => job.ok_or(Wake::Stop),
                _ = stopped => Err(Wake::Stop),
                _ = idle => Err(Wake::Idle),
            };
            let first = match first {
                Ok(job) => job,
                Err(Wake::Stop) => break,
                Err(Wake::Idle) => {
                    pass.finish(&db).await;
                    settle(&db).await;
                    tail = false;
                    continue;
                }
            };
            let mut jobs = vec![first];
            let mut n = jobs[0].events.len();
            while n < MAX_BATCH_EVENTS {
                match rx.try_recv() {
                    Ok(job) => {
                        n += job.events.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
        write(&db, jobs).await;
        if !sqlite {
            continue;
        }
        tail = true;
        if pass.is_finished() {
            pass.finish(&db).await;
        }
        match tail_needs(&db, settle_at, pass.is_running()).await {
            TailNeeds::Settle => {
                settle(&db).await;
                tail = false;
            }
            TailNeeds::Pass => pass.start(&db),
            TailNeeds::Finish => {
                tracing::debug!(
                    "the tail is long or old: the writer waits for the pass being prepared"
                );
                pass.finish(&db).await
            }
            TailNeeds::Nothing => {}
        }
    }
    pass.finish(&db).await;
    if tail {
        settle(&db).await;
    }
}

/// Why a writer waiting for jobs woke without one.
enum Wake {
    /// The server is stopping (or the queue closed).
    Stop,
    /// No job came for [`SETTLE_WHEN_IDLE`] with a tail to settle.
    Idle,
}

/// SQLite: a settling pass being prepared on a read connection while the writer goes on; the
/// writer applies it in a transaction of its own once it is ready. What the writer then holds
/// the write lock for is the rollup upserts and the `event_index` insert; reading the tail back
/// and folding it (about half of a pass) happens on another core. A pass that went stale in
/// the meantime (a claim or a new metric) is dropped, and the next one covers its events.
#[derive(Default)]
struct BackgroundPass(Option<(JoinHandle<StoreResult<Option<tail::Prepared>>>, Instant)>);

impl BackgroundPass {
    fn start(&mut self, db: &Db) {
        let db = db.clone();
        let task = tokio::spawn(async move {
            // One snapshot: the tail it reads is the tail it covers.
            let mut tx = db.read_tx().await?;
            tail::prepare(&mut tx).await
        });
        self.0 = Some((task, Instant::now()));
    }

    fn is_running(&self) -> bool {
        self.0.is_some()
    }

    fn is_finished(&self) -> bool {
        self.0.as_ref().is_some_and(|(h, _)| h.is_finished())
    }

    /// Waits for the pass being prepared, if any, and applies it.
    async fn finish(&mut self, db: &Db) {
        let Some((handle, started)) = self.0.take() else {
            return;
        };
        let pass = match handle.await {
            Ok(Ok(Some(pass))) => pass,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "preparing a settling pass failed; the next one covers its events");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the settling pass task failed");
                return;
            }
        };
        let ready = Instant::now();
        let run = async {
            let mut tx = db.begin().await?;
            let applied = tail::apply(&mut tx, &pass).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(applied)
        };
        let outcome = run.await;
        let (events, ready_after, apply_ms) = (
            pass.len(),
            (ready - started).as_millis(),
            ready.elapsed().as_millis(),
        );
        match outcome {
            Ok(true) => {
                tracing::debug!(
                    events,
                    ready_after,
                    apply_ms,
                    "applied a prepared settling pass"
                )
            }
            Ok(false) => {
                tracing::debug!(events, ready_after, "a prepared settling pass went stale")
            }
            Err(e) => {
                tracing::warn!(error = %e, "applying a settling pass failed; the next one covers its events")
            }
        }
    }
}

async fn write(db: &Db, jobs: Vec<Job>) {
    if jobs.len() > 1 {
        match write_together(db, &jobs).await {
            Ok(mut results) => {
                for job in jobs.into_iter().rev() {
                    let outcomes = results.pop().expect("one result per job");
                    let _ = job.reply.send(Ok(outcomes));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = jobs.len(), "combined ingest failed; retrying each job alone")
            }
        }
    }
    for job in jobs {
        let result = write_together(db, std::slice::from_ref(&job))
            .await
            .map(|mut r| r.pop().expect("one result"));
        let _ = job.reply.send(result);
    }
}

/// Stores every job in one transaction; returns each job's outcomes in job order.
async fn write_together(db: &Db, jobs: &[Job]) -> StoreResult<Vec<Vec<Outcome>>> {
    let received_at = now_micros();
    // One ingest call per organization, over the concatenation of its jobs' events.
    let mut by_org: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        by_org.entry(job.org_id.as_str()).or_default().push(i);
    }
    let mut results: Vec<Vec<Outcome>> = vec![Vec::new(); jobs.len()];
    let mut tx = db.begin().await?;
    for (org, members) in by_org {
        let events: Vec<&ValidEvent> = members
            .iter()
            .flat_map(|i| jobs[*i].events.iter())
            .collect();
        // The writer bounds the tail itself (`TailNeeds`).
        let mut outcomes = ingest::ingest_unbounded(&mut tx, org, &events, received_at)
            .await?
            .into_iter();
        for i in members {
            results[i] = outcomes.by_ref().take(jobs[i].events.len()).collect();
        }
    }
    tx.commit().await?;
    Ok(results)
}

/// SQLite: what the tail calls for after a write.
#[derive(Debug, PartialEq)]
enum TailNeeds {
    Nothing,
    /// Its oldest event is [`SETTLE_WITHIN`] old, or it is at its bound (see [`needs`]), and no
    /// pass is being prepared: settle it now.
    Settle,
    /// It is long: have a pass prepared beside the writer.
    Pass,
    /// The same with a pass being prepared: wait for that pass and apply it before writing more.
    /// Settling anew instead would take longer and leave the pass stale, its work wasted.
    Finish,
}

/// Reads the tail's age and length from one read connection.
async fn tail_needs(db: &Db, settle_at: i64, preparing: bool) -> TailNeeds {
    let read = async {
        let mut c = db.read().await?;
        let oldest = tail::oldest(&mut c).await?;
        Ok::<_, StoreError>((oldest, tail::pending(&mut c).await?))
    };
    match read.await {
        Ok((oldest, pending)) => needs(now_micros(), oldest, pending, settle_at, preparing),
        Err(e) => {
            tracing::warn!(error = %e, "reading the age and length of the tail failed");
            TailNeeds::Nothing
        }
    }
}

/// What a tail of `pending` events, the oldest received at `oldest`, calls for at `now`. A pass
/// starts at `settle_at` events and must be applied by a third more: [`tail::TAIL`] and
/// [`tail::LIMIT`] by default, and never past the limit.
fn needs(
    now: Micros,
    oldest: Option<Micros>,
    pending: i64,
    settle_at: i64,
    preparing: bool,
) -> TailNeeds {
    let old = oldest.is_some_and(|received_at| {
        u64::try_from(now.saturating_sub(received_at))
            .is_ok_and(|age| age >= SETTLE_WITHIN.as_micros() as u64)
    });
    let limit = settle_at.saturating_add(settle_at / 3).min(tail::LIMIT);
    match (old || pending >= limit, preparing) {
        (true, true) => TailNeeds::Finish,
        (true, false) => TailNeeds::Settle,
        (false, false) if pending >= settle_at => TailNeeds::Pass,
        (false, _) => TailNeeds::Nothing,
    }
}

async fn settle(db: &Db) {
    let run = async {
        let mut tx = db.begin().await?;
        tail::settle(&mut tx).await?;
        tx.commit().await
    };
    if let Err(e) = run.await {
        tracing::warn!(error = %e, "settling the newest events failed; retried after the next write");
    }
}

#[cfg(test)]
mod tests {
    use super::{SETTLE_WITHIN, TailNeeds, needs};
    use abacus_store::tail::{LIMIT, TAIL};

    #[test]
    fn what_a_tail_needs() {
        let now = 1_000_000_000_000;
        let fresh = Some(now - 1_000);
        let old = Some(now - SETTLE_WITHIN.as_micros() as i64);
        // Short and fresh: nothing. Long: a pass, unless one is being prepared.
        assert_eq!(needs(now, fresh, 10, TAIL, false), TailNeeds::Nothing);
        assert_eq!(needs(now, fresh, TAIL, TAIL, false), TailNeeds::Pass);
        assert_eq!(needs(now, fresh, TAIL, TAIL, true), TailNeeds::Nothing);
        // Old or at the limit: settled now, or the pass being prepared is applied first.
        assert_eq!(needs(now, old, 10, TAIL, false), TailNeeds::Settle);
        assert_eq!(needs(now, old, 10, TAIL, true), TailNeeds::Finish);
        assert_eq!(needs(now, fresh, LIMIT, TAIL, false), TailNeeds::Settle);
        assert_eq!(needs(now, fresh, LIMIT, TAIL, true), TailNeeds::Finish);
        // A lower threshold lowers the bound with it (a third more).
        assert_eq!(needs(now, fresh, 65, 50, true), TailNeeds::Nothing);
        assert_eq!(needs(now, fresh, 66, 50, true), TailNeeds::Finish);
        // A threshold set above the limit: the limit still bounds the tail.
        assert_eq!(
            needs(now, fresh, LIMIT, LIMIT * 2, false),
            TailNeeds::Settle
        );
        // No tail.
        assert_eq!(needs(now, None, 0, TAIL, false), TailNeeds::Nothing);
    }
}
