//! Benchmarks that print figures. They start a real `abacus` server (the release binary next to
//! this one) over a fresh database and drive it over HTTP.
//!
//! ```text
//! cargo build --release -p abacus-server -p abacus-bench
//! target/release/abacus-bench ingest --backend sqlite --events 2000000
//! ABACUS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres target/release/abacus-bench ingest --backend postgres
//! target/release/abacus-bench usage --backend sqlite --events 10000000
//! target/release/abacus-bench billing --backend sqlite --subscriptions 10000
//! ```
//!
//! `billing` needs no server binary: it runs the billing scheduler in process.

// The server's allocator, so the in-process measurements (the ingest ceilings, the billing run)
// allocate as `abacus serve` does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod billing;
mod load;
mod server;

use abacus_store::Backend;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "abacus-bench",
    about = "Abacus benchmarks: throughput, latency and memory, printed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Sqlite => Backend::Sqlite,
            BackendArg::Postgres => Backend::Postgres,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Ingestion over HTTP: unique events in batches of 100 from many connections, then the same
    /// number of events stored straight through the store (the ceiling).
    Ingest {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        /// Event timestamps are spread over this many hours before now: 1 is live traffic;
        /// 720 is a month of late or backfilled events (one rollup bucket per event).
        #[arg(long, default_value_t = 1)]
        spread_hours: i64,
        /// Skip the direct store measurements.
        #[arg(long)]
        no_ceiling: bool,
    },
    /// Usage-query latency (one customer, one metric, one calendar month) over a database holding
    /// `events` events.
    Usage {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 10_000)]
        events: u64,
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
    },
    /// A billing run: `subscriptions` subscriptions (a fixed fee in advance, two metered prices
    /// in arrears) with a month of usage, all closed by one round of the billing scheduler.
    Billing {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 10_000)]
        subscriptions: usize,
        /// Usage events per subscription over the month.
        #[arg(long, default_value_t = 10)]
        events_per_subscription: u64,
        /// Also print the time spent in each SQL statement during the run (adds overhead).
        #[arg(long)]
        profile_sql: bool,
        /// Claim loops side by side on PostgreSQL (`ABACUS_BILLING_WORKERS`; SQLite runs one).
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Subscriptions with `auto_issue_invoices`: every invoice is issued in the run (number,
        /// PDF, webhook event) instead of left a draft.
        #[arg(long)]
        auto_issue: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.command {
            Command::Ingest {
                backend,
                events,
                connections,
                customers,
                spread_hours,
                no_ceiling,
            } => {
                load::ingest(
                    backend.into(),
                    events,
                    connections,
                    customers,
                    spread_hours,
                    !no_ceiling,
                )
                .await
            }
            Command::Usage {
                backend,
                events,
                customers,
                queries,
            } => load::usage(backend.into(), events, customers, queries).await,
            Command::Billing {
                backend,
                subscriptions,
                events_per_subscription,
                profile_sql,
                workers,
                auto_issue,
            } => {
                billing::billing(
                    backend.into(),
                    subscriptions,
                    events_per_subscription,
                    profile_sql,
                    workers,
                    auto_issue,
                )
                .await
            }
        }
    })
}
