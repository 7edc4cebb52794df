//! The `abacus` command line.

use abacus_core::time::{format_micros, now_micros};
use abacus_store::{Db, DbOptions, api_keys, orgs};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::app::{App, shutdown_signal};
use crate::config::{DatabaseArgs, ServeConfig};

#[derive(Debug, Parser)]
#[command(
    name = "abacus",
    version,
    about = "Abacus: usage-based billing that speaks the Alguna API"
)]
pub struct Cli {
    #[command(flatten)]
    pub db: DatabaseArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(ServeConfig),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage API keys.
    #[command(subcommand)]
    ApiKeys(ApiKeysCommand),
    /// Usage events.
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Import events from an NDJSON file (one event object per line) or a CSV file (header:
    /// unique_id, account, event_name, timestamp, properties as a JSON object), exactly once.
    Import {
        file: std::path::PathBuf,
        /// The file's format (default: from the extension; `.csv` is CSV, anything else NDJSON).
        #[arg(long, value_enum)]
        format: Option<crate::import::Format>,
        /// The organization the events belong to (default: the only organization).
        #[arg(long)]
        org: Option<String>,
        /// Where failed events are written, one JSON object per line (default: FILE.failures.ndjson).
        #[arg(long)]
        failures: Option<std::path::PathBuf>,
        /// Events per transaction.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeysCommand {
    /// Create a key and print it (shown only this once).
    Create {
        /// A name to recognise the key by.
        #[arg(long, default_value = "cli")]
        name: String,
        /// The organization the key belongs to (default: the only organization).
        #[arg(long, conflicts_with = "new_org")]
        org: Option<String>,
        /// Create a new organization with this name and give the key to it.
        #[arg(long)]
        new_org: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        #[arg(long)]
        org: Option<String>,
    },
    /// Revoke a key by its id (the part before the dot).
    Revoke { key_id: String },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    crate::telemetry::init();
    let db_options = DbOptions {
        max_connections: cli.db.db_max_connections,
    };
    match cli.command {
        Command::Serve(config) => {
            let shutdown = shutdown_signal();
            let app = App::build(&cli.db.database_url, &db_options, config).await?;
            if let Some(key) = &app.bootstrap_key {
                println!(
                    "Created the first organization. Its API key (shown only once):\n\n    {key}\n"
                );
            }
            println!("Abacus is listening on http://{}", app.addr);
            app.run_until(shutdown).await
        }
        Command::Migrate => {
            let db = connect(&cli.db.database_url, &db_options).await?;
            println!("Database is up to date ({:?}).", db.backend());
            db.close().await;
            Ok(())
        }
        Command::Events(EventsCommand::Import {
            file,
            format,
            org,
            failures,
            batch,
        }) => {
            let db = connect(&cli.db.database_url, &db_options).await?;
            let org_id = match org {
                Some(id) => {
                    orgs::get(&mut db.read().await?, &id)
                        .await?
                        .with_context(|| format!("no organization '{id}'"))?
                        .id
                }
                None => only_org(&db).await?,
            };
            let failures = failures.unwrap_or_else(|| crate::import::default_failures_path(&file));
            let format = format.unwrap_or_else(|| crate::import::Format::guess(&file));
            let s = crate::import::import(
                &db,
                &org_id,
                &file,
                format,
                batch.clamp(1, 50_000),
                &failures,
                true,
            )
            .await?;
            db.close().await;
            println!(
                "Imported {}: {} records, {} ingested, {} duplicates, {} unmatched (kept until the account exists), {} failed.",
                file.display(),
                s.lines,
                s.ingested,
                s.duplicates,
                s.unmatched,
                s.failed
            );
            if s.failed + s.unmatched > 0 {
                println!("Reasons: {}", failures.display());
            }
            Ok(())
        }
        Command::ApiKeys(cmd) => {
            let db = connect(&cli.db.database_url, &db_options).await?;
            let result = api_keys_command(&db, cmd).await;
            db.close().await;
            result
        }
    }
}

async fn connect(url: &str, options: &DbOptions) -> anyhow::Result<Db> {
    let db = Db::connect(url, options)
        .await
        .context("connecting to the database")?;
    db.migrate().await.context("applying migrations")?;
    Ok(db)
}

async fn only_org(db: &Db) -> anyhow::Result<String> {
    only_org_in(&mut db.read().await?).await
}

async fn only_org_in(c: &mut impl abacus_store::Connection) -> anyhow::Result<String> {
    match orgs::list(c).await?.as_slice() {
        [] => bail!("there is no organization yet: start the server once, or pass --new-org NAME"),
        [only] => Ok(only.id.clone()),
        _ => bail!("there are several organizations: pass --org ID"),
    }
}

async fn api_keys_command(db: &Db, cmd: ApiKeysCommand) -> anyhow::Result<()> {
    match cmd {
        ApiKeysCommand::Create { name, org, new_org } => {
            let mut tx = db.begin().await?;
            let org_id = match (org, new_org) {
                (_, Some(new_name)) => {
                    let org = orgs::Organization {
                        id: orgs::new_id(),
                        name: new_name,
                        time_zone: "UTC".into(),
                        created_at: now_micros(),
                    };
                    orgs::insert(&mut tx, &org).await?;
                    println!("Created organization {} ({})", org.id, org.name);
                    org.id
                }
                (Some(id), None) => {
                    orgs::get(&mut tx, &id)
                        .await?
                        .with_context(|| format!("no organization '{id}'"))?
                        .id
                }
                (None, None) => only_org_in(&mut tx).await?,
            };
            let (record, key) = crate::auth::create_key(&mut tx, &org_id, &name, None).await?;
            tx.commit().await?;
            println!(
                "Created API key {} for organization {org_id} (shown only once):\n\n    {key}\n",
                record.id
            );
            Ok(())
        }
        ApiKeysCommand::List { org } => {
            let mut conn = db.read().await?;
            let keys = api_keys::list(&mut conn, org.as_deref()).await?;
            println!(
                "{:<22} {:<28} {:<16} {:<28} {:<28} STATUS",
                "KEY ID", "ORGANIZATION", "NAME", "CREATED", "LAST USED"
            );
            for k in keys {
                let status = match k.revoked_at {
                    Some(t) => format!("revoked {}", format_micros(t)),
                    None => "active".into(),
                };
                println!(
                    "{:<22} {:<28} {:<16} {:<28} {:<28} {status}",
                    k.id,
                    k.org_id,
                    k.name,
                    format_micros(k.created_at),
                    k.last_used_at
                        .map(format_micros)
                        .unwrap_or_else(|| "never".into()),
                );
            }
            Ok(())
        }
        ApiKeysCommand::Revoke { key_id } => {
            let mut tx = db.begin().await?;
            let found = api_keys::revoke(&mut tx, &key_id, now_micros()).await?;
            tx.commit().await?;
            if !found {
                bail!("no API key '{key_id}'");
            }
            println!("Revoked API key {key_id}.");
            Ok(())
        }
    }
}
