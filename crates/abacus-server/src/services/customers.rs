//! Customer operations shared by `/accounts` (v1) and `/customers` (v2).

use abacus_core::customer::{Customer, CustomerInput, CustomerPatch};
use abacus_core::time::now_micros;
use abacus_core::validation::Naming;
use abacus_store::customers::{self, AliasConflict, ListFilter, Sort};
use abacus_store::{Connection, StoreError, Tx, events};

use crate::problem::{ApiError, ApiResult};

const WHAT: &str = "Customer";

/// The id of the customer `id_or_alias` names, or 404.
pub async fn resolve(
    c: &mut impl Connection,
    org_id: &str,
    id_or_alias: &str,
) -> ApiResult<String> {
    customers::resolve(c, org_id, id_or_alias)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id_or_alias))
}

pub async fn get(c: &mut impl Connection, org_id: &str, id_or_alias: &str) -> ApiResult<Customer> {
    let id = resolve(c, org_id, id_or_alias).await?;
    customers::get(c, org_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id_or_alias))
}

pub async fn create(
    tx: &mut Tx,
    org_id: &str,
    input: CustomerInput,
    naming: Naming,
) -> ApiResult<Customer> {
    let state = input.validate(naming, &[]).map_err(ApiError::invalid)?;
    events::lock_org(tx, org_id, true).await?;
    check_aliases(tx, org_id, None, &state.aliases).await?;
    let customer = customers::insert(tx, org_id, &state, now_micros())
        .await
        .map_err(alias_race)?;
    count_waiting_events(tx, org_id, &customer).await?;
    Ok(customer)
}

/// Events sent for this customer's id or aliases before it had them were kept unmatched; they
/// are attributed and counted now.
async fn count_waiting_events(tx: &mut Tx, org_id: &str, customer: &Customer) -> ApiResult<()> {
    let names: Vec<String> = std::iter::once(customer.id.clone())
        .chain(customer.aliases.iter().cloned())
        .collect();
    let claimed = events::claim_unmatched(tx, org_id, &customer.id, &names).await?;
    let refs: Vec<(&str, &abacus_core::metering::usage::RawEvent)> =
        claimed.iter().map(|e| (customer.id.as_str(), e)).collect();
    abacus_store::usage::record(tx, org_id, &refs).await?;
    Ok(())
}

pub async fn update(
    tx: &mut Tx,
    org_id: &str,
    id_or_alias: &str,
    patch: CustomerPatch,
    naming: Naming,
) -> ApiResult<Customer> {
    events::lock_org(tx, org_id, true).await?;
    let current = get(tx, org_id, id_or_alias).await?;
    let contact_ids: Vec<String> = current.contacts.iter().map(|c| c.id.clone()).collect();
    let state = patch
        .apply_to(&current)
        .validate(naming, &contact_ids)
        .map_err(ApiError::invalid)?;
    if state.currency.code() != current.currency {
        refuse_if_dependents(tx, org_id, &current.id, "change the currency of").await?;
    }
    check_aliases(tx, org_id, Some(&current.id), &state.aliases).await?;
    let customer = customers::update(tx, org_id, &current.id, &state, now_micros())
        .await
        .map_err(alias_race)?;
    count_waiting_events(tx, org_id, &customer).await?;
    Ok(customer)
}

/// Soft-deletes a customer and releases its aliases; 409 while subscriptions or invoices refer
/// to it.
pub async fn delete(tx: &mut Tx, org_id: &str, id_or_alias: &str) -> ApiResult<String> {
    // Serialised with subscription writes, so none is created for a customer being deleted.
    abacus_store::subscriptions::lock(tx, org_id).await?;
    let id = resolve(tx, org_id, id_or_alias).await?;
    refuse_if_dependents(tx, org_id, &id, "delete").await?;
    customers::soft_delete(tx, org_id, &id, now_micros()).await?;
    Ok(id)
}

pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Customer>, i64)> {
    Ok(customers::list(c, org_id, filter, sort, limit, offset).await?)
}

async fn refuse_if_dependents(tx: &mut Tx, org_id: &str, id: &str, action: &str) -> ApiResult<()> {
    let found = customers::dependents(tx, org_id, id).await?;
    if found.is_empty() {
        Ok(())
    } else {
        Err(ApiError::conflict(format!(
            "Cannot {action} customer '{id}': it has {}",
            found.join(" and ")
        )))
    }
}

async fn check_aliases(
    tx: &mut Tx,
    org_id: &str,
    owner: Option<&str>,
    aliases: &[String],
) -> ApiResult<()> {
    match customers::check_aliases(tx, org_id, owner, aliases).await? {
        None => Ok(()),
        Some(conflict) => Err(alias_error(aliases, conflict)),
    }
}

fn alias_error(aliases: &[String], conflict: AliasConflict) -> ApiError {
    let (alias, detail) = match conflict {
        AliasConflict::TakenByAlias(a) => {
            let d = format!("The alias '{a}' is already used by another customer");
            (a, d)
        }
        AliasConflict::IsCustomerId(a) => {
            let d = format!("The alias '{a}' is the id of another customer");
            (a, d)
        }
    };
    let field = format!(
        "aliases[{}]",
        aliases.iter().position(|x| *x == alias).unwrap_or(0)
    );
    ApiError::conflict(format!("{field}: {detail}")).with_field(&field)
}

/// A concurrent request took an alias between the check and the insert (PostgreSQL only; SQLite
/// serialises writers).
fn alias_race(e: StoreError) -> ApiError {
    match e {
        StoreError::Unique(what) if what.starts_with("alias:") => {
            let alias = what.trim_start_matches("alias:");
            ApiError::conflict(format!(
                "The alias '{alias}' is already used by another customer"
            ))
        }
        other => other.into(),
    }
}
