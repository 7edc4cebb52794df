//! The running server: state, start-up (migrations, bootstrap key), and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use abacus_store::{Db, DbOptions};
use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::ingest::Ingestor;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<ServeConfig>,
    pub ingestor: Ingestor,
    /// Starts a round of webhook deliveries at once (after this process enqueued some).
    pub webhooks_wake: Arc<tokio::sync::Notify>,
}

pub struct App {
    pub addr: SocketAddr,
    pub state: AppState,
    /// The key created by the bootstrap of a new database, when there was one.
    pub bootstrap_key: Option<String>,
    listener: TcpListener,
}

impl App {
    /// Connects, migrates, bootstraps the first organization if needed, and binds the listener.
    pub async fn build(
        database_url: &str,
        db_options: &DbOptions,
        config: ServeConfig,
    ) -> anyhow::Result<App> {
        let db = Db::connect(database_url, db_options)
            .await
            .context("connecting to the database")?;
        db.migrate().await.context("applying migrations")?;
        let bootstrap_key = match crate::auth::bootstrap(&db, config.bootstrap_api_key.as_deref())
            .await?
        {
            Some((org, key)) => {
                tracing::info!(org_id = %org.id, "created the first organization and its API key");
                config.bootstrap_api_key.is_none().then_some(key)
            }
            None => None,
        };
        let listener = TcpListener::bind(&config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let addr = listener.local_addr()?;
        let ingestor = Ingestor::start(db.clone(), config.sqlite_settle_events.max(1));
        Ok(App {
            addr,
            state: AppState {
                db,
                config: Arc::new(config),
                ingestor,
                webhooks_wake: Arc::new(tokio::sync::Notify::new()),
            },
            bootstrap_key,
            listener,
        })
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::api::router(self.state.clone());
        let webhooks = crate::webhooks::Worker::start(
            self.state.db.clone(),
            crate::webhooks::Settings::from_config(&self.state.config),
            self.state.webhooks_wake.clone(),
        );
        let overdue = crate::services::invoices::OverdueSweeper::start(
            self.state.db.clone(),
            std::time::Duration::from_millis(self.state.config.invoices_overdue_poll_ms.max(10)),
            self.state.webhooks_wake.clone(),
        );
        let subscriptions = crate::services::subscription_sweep::Sweeper::start(
            self.state.db.clone(),
            std::time::Duration::from_millis(self.state.config.subscriptions_sweep_poll_ms.max(10)),
            self.state.webhooks_wake.clone(),
        );
        let billing = crate::services::billing::Scheduler::start(
            self.state.db.clone(),
            std::time::Duration::from_millis(self.state.config.billing_poll_ms.max(10)),
            self.state.config.billing(),
            self.state.webhooks_wake.clone(),
        );
        tracing::info!(addr = %self.addr, backend = ?self.state.db.backend(), "Abacus is listening");
        axum::serve(self.listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        billing.stop().await;
        subscriptions.stop().await;
        overdue.stop().await;
        webhooks.stop().await;
        self.state.ingestor.stop().await;
        self.state.db.close().await;
        tracing::info!("Abacus stopped");
        Ok(())
    }
}

/// A future that resolves on SIGINT or SIGTERM. The handlers are installed when this is called,
/// so a signal that arrives before the future is first polled is not lost.
#[cfg(unix)]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}

#[cfg(not(unix))]
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown requested; finishing in-flight requests");
    }
}
