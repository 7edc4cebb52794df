//! `abacus events import FILE`: bulk loading of NDJSON or CSV events through the same
//! exactly-once path as `POST /events` (validation, deduplication by `unique_id`, attribution,
//! rollups), in transactions of `batch` events. Re-running an import is safe: what was stored
//! already comes back as duplicates.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use abacus_core::metering::event::{
    EventFields, EventLimits, RejectedEvent, Spelling, V1_NAMES, ValidEvent,
};
use abacus_core::time::now_micros;
use abacus_store::Db;
use abacus_store::ingest::{self, Outcome};
use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

impl Format {
    /// From the file's extension (`.csv`, else NDJSON).
    pub fn guess(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::Ndjson,
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub ingested: u64,
    pub unmatched: u64,
    pub duplicates: u64,
    pub failed: u64,
}

/// Unique ids may be as long as v1 allows.
const LIMITS: EventLimits = EventLimits {
    max_unique_id_len: 255,
};

/// Imports `path` for organization `org_id`; failures go to `failures` as NDJSON lines
/// (`{"line", "unique_id", "code", "reason"}`).
pub async fn import(
    db: &Db,
    org_id: &str,
    path: &Path,
    format: Format,
    batch: usize,
    failures: &Path,
    progress: bool,
) -> anyhow::Result<Summary> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = if progress {
        ProgressBar::new(size)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let reader = BufReader::new(bar.wrap_read(file));
    let mut failed_out = std::io::BufWriter::new(
        File::create(failures).with_context(|| format!("creating {}", failures.display()))?,
    );
    let mut summary = Summary::default();
    let mut pending: Vec<(u64, ValidEvent)> = Vec::with_capacity(batch);
    let now = now_micros();
    for record in records(reader, format)? {
        let (line, object) = record?;
        summary.lines += 1;
        let judged = match object {
            Ok(o) => EventFields::from_object(o, Spelling::Camel).validate(V1_NAMES, LIMITS, now),
            Err(reason) => Err(RejectedEvent {
                unique_id: None,
                code: "malformed_line",
                reason,
            }),
        };
        match judged {
            Ok(e) => pending.push((line, e)),
            Err(r) => {
                summary.failed += 1;
                write_failure(&mut failed_out, line, r)?;
            }
        }
        if pending.len() >= batch {
            store(db, org_id, &mut pending, &mut summary, &mut failed_out).await?;
            bar.set_message(format!(
                "{} ingested, {} duplicates, {} failed",
                summary.ingested, summary.duplicates, summary.failed
            ));
        }
    }
    store(db, org_id, &mut pending, &mut summary, &mut failed_out).await?;
    failed_out.flush()?;
    bar.finish_with_message(format!(
        "{} ingested, {} duplicates, {} failed",
        summary.ingested, summary.duplicates, summary.failed
    ));
    Ok(summary)
}

fn write_failure(out: &mut impl Write, line: u64, r: RejectedEvent) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}",
        json!({"line": line, "unique_id": r.unique_id, "code": r.code, "reason": r.reason})
    )?;
    Ok(())
}

async fn store(
    db: &Db,
    org_id: &str,
    pending: &mut Vec<(u64, ValidEvent)>,
    summary: &mut Summary,
    failures: &mut impl Write,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let refs: Vec<&ValidEvent> = pending.iter().map(|(_, e)| e).collect();
    let mut tx = db.begin().await?;
    let outcomes = ingest::ingest(&mut tx, org_id, &refs, now_micros()).await?;
    tx.commit().await?;
    for ((line, e), outcome) in pending.iter().zip(outcomes) {
        match outcome {
            Outcome::Stored { matched: true } => summary.ingested += 1,
            Outcome::Duplicate { .. } => summary.duplicates += 1,
            Outcome::Stored { matched: false } => {
                summary.unmatched += 1;
                let reason = format!(
                    "no customer has the id or alias '{}'; kept, and counted once it exists",
                    e.account
                );
                write_failure(
                    failures,
                    *line,
                    RejectedEvent {
                        unique_id: Some(e.unique_id.clone()),
                        code: "unknown_account",
                        reason,
                    },
                )?;
            }
        }
    }
    pending.clear();
    Ok(())
}

type Record = anyhow::Result<(u64, Result<Map<String, Value>, String>)>;

/// The file's events as JSON objects, with their line (or record) numbers. A line that is not an
/// object is an `Err` reason; an unreadable file is an error.
fn records(
    reader: impl Read + 'static,
    format: Format,
) -> anyhow::Result<Box<dyn Iterator<Item = Record>>> {
    Ok(match format {
        Format::Ndjson => Box::new(BufReader::new(reader).lines().enumerate().filter_map(
            |(i, line)| {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => return Some(Err(e.into())),
                };
                if line.trim().is_empty() {
                    return None;
                }
                let parsed = match serde_json::from_str::<Value>(&line) {
                    Ok(Value::Object(o)) => Ok(o),
                    Ok(_) => Err("the line is not a JSON object".to_string()),
                    Err(e) => Err(format!("malformed JSON: {e}")),
                };
                Some(Ok((i as u64 + 1, parsed)))
            },
        )),
        Format::Csv => {
            let mut csv = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
            let headers: Vec<String> = csv
                .headers()?
                .iter()
                .map(|h| h.trim().to_string())
                .collect();
            if !headers.iter().any(|h| h == "unique_id" || h == "uniqueId") {
                bail!(
                    "the CSV header must name the columns: unique_id, account, event_name, timestamp, properties"
                );
            }
            Box::new(csv.into_records().enumerate().map(move |(i, rec)| {
                let rec = rec?;
                let mut o = Map::new();
                let mut bad = None;
                for (h, v) in headers.iter().zip(rec.iter()) {
                    if v.is_empty() {
                        continue;
                    }
                    let value = if h == "properties" {
                        match serde_json::from_str::<Value>(v) {
                            Ok(p) => p,
                            Err(e) => {
                                bad = Some(format!("the properties column is not JSON: {e}"));
                                continue;
                            }
                        }
                    } else {
                        Value::String(v.to_string())
                    };
                    o.insert(h.clone(), value);
                }
                // Line numbers count the header.
                Ok((i as u64 + 2, bad.map_or(Ok(o), Err)))
            }))
        }
    })
}

/// Where failures go when the operator names no file: beside the input.
pub fn default_failures_path(input: &Path) -> PathBuf {
    let mut name = input
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".failures.ndjson");
    input.with_file_name(name)
}
