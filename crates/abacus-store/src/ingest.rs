//! The exactly-once ingestion path: deduplicate, attribute, store, and count, in one transaction.

use std::collections::BTreeMap;

use abacus_core::metering::event::ValidEvent;
use abacus_core::metering::usage::RawEvent;
use abacus_core::time::Micros;

use crate::db::Connection;
use crate::error::StoreResult;
use crate::events::{self, NewEvent, Stored};
use crate::{tail, usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now; `matched` when its account named a customer.
    Stored { matched: bool },
    /// Its unique id was already stored (earlier, or earlier in this batch); `matched` tells
    /// whether the stored event is attributed to a customer.
    Duplicate { matched: bool },
}

/// Stores a batch of one organization's events and counts the new ones in every metric's
/// rollups (on SQLite, once the tail they join is settled). Run it in a write transaction: it
/// commits or fails as a whole. On SQLite, the transaction that brings the tail to
/// [`tail::LIMIT`] settles it too, so the tail stays bounded without anything else settling it.
pub async fn ingest(
    c: &mut impl Connection,
    org_id: &str,
    batch: &[&ValidEvent],
    received_at: Micros,
) -> StoreResult<Vec<Outcome>> {
    let outcomes = ingest_unbounded(c, org_id, batch, received_at).await?;
    if matches!(c.conn(), crate::Conn::Sqlite(_)) {
        let pending = tail::pending(c).await?;
        if pending >= tail::LIMIT {
            tracing::debug!(
                pending,
                "the tail is at its limit: settling it in the ingest transaction"
            );
            tail::settle(c).await?;
        }
    }
    Ok(outcomes)
}

/// [`ingest`] without its bound on the tail, for a caller that settles the tail itself (the
/// server's writer, which waits for the pass it has prepared instead of settling anew).
pub async fn ingest_unbounded(
    c: &mut impl Connection,
    org_id: &str,
    batch: &[&ValidEvent],
    received_at: Micros,
) -> StoreResult<Vec<Outcome>> {
    events::lock_org(c, org_id, false).await?;
    let postgres = matches!(c.conn(), crate::Conn::Postgres(_));

    // The first occurrence of a unique id in the batch is the one stored.
    let mut first: std::collections::HashMap<&str, usize> =
        std::collections::HashMap::with_capacity(batch.len());
    let mut unique: Vec<usize> = Vec::with_capacity(batch.len());
    for (i, e) in batch.iter().enumerate() {
        if let std::collections::hash_map::Entry::Vacant(v) = first.entry(e.unique_id.as_str()) {
            v.insert(i);
            unique.push(i);
        }
    }
    // Sorted by unique id so concurrent PostgreSQL transactions lock rows in one order (SQLite
    // has one writer).
    if postgres {
        unique.sort_by(|a, b| batch[*a].unique_id.cmp(&batch[*b].unique_id));
    }

    let mut accounts: Vec<&str> = unique.iter().map(|i| batch[*i].account.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let customers = events::resolve_accounts(c, org_id, &accounts).await?;

    let rows: Vec<NewEvent<'_>> = unique
        .iter()
        .map(|i| {
            let e = batch[*i];
            NewEvent {
                unique_id: &e.unique_id,
                account: &e.account,
                customer_id: customers.get(e.account.as_str()).map(String::as_str),
                event_name: &e.event_name,
                ts: e.ts,
                received_at,
                properties: e.stored_properties(),
            }
        })
        .collect();
    let stored = events::insert(c, org_id, &rows).await?;

    let mut outcomes = vec![Outcome::Duplicate { matched: false }; batch.len()];
    let mut fresh: Vec<(&str, RawEvent)> = Vec::new();
    for ((i, row), result) in unique.iter().zip(&rows).zip(&stored) {
        match result {
            Stored::Duplicate { matched } => {
                outcomes[*i] = Outcome::Duplicate { matched: *matched }
            }
            Stored::New { seq } => {
                outcomes[*i] = Outcome::Stored {
                    matched: row.customer_id.is_some(),
                };
                if postgres && let Some(customer) = row.customer_id {
                    let e = batch[*i];
                    let raw = RawEvent {
                        seq: *seq,
                        ts: e.ts,
                        event_name: e.event_name.clone(),
                        properties: e.properties.clone(),
                    };
                    fresh.push((customer, raw));
                }
            }
        }
    }
    // Later copies within the batch share the first copy's fate, and count as resends of it.
    let mut copies: BTreeMap<&str, i32> = BTreeMap::new();
    for (i, e) in batch.iter().enumerate() {
        let f = first[e.unique_id.as_str()];
        if f != i {
            outcomes[i] = match outcomes[f] {
                Outcome::Stored { matched } | Outcome::Duplicate { matched } => {
                    Outcome::Duplicate { matched }
                }
            };
            *copies.entry(e.unique_id.as_str()).or_default() += 1;
        }
    }
    if !copies.is_empty() {
        let copies: Vec<(&str, i32)> = copies.into_iter().collect();
        events::add_duplicates(c, org_id, &copies).await?;
    }
    // PostgreSQL counts new events in the rollups here; SQLite when it settles its tail (`tail`).
    if postgres {
        let refs: Vec<(&str, &RawEvent)> = fresh.iter().map(|(c, e)| (*c, e)).collect();
        usage::record(c, org_id, &refs).await?;
    }
    Ok(outcomes)
}
