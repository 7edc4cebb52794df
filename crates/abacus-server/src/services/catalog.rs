//! Catalog operations: tags, products, bundles and plans. Each write takes the organization's
//! catalog lock, looks up what the input names ([`refs`]), lets the core check every rule at once
//! and stores the result.

use std::collections::HashMap;

use abacus_core::catalog::{
    Bundle, BundleInput, Plan, PlanInput, Product, ProductInput, ProductPatch, ProductPriceInput,
    Refs, Tag, TagInput, normalize_bundle_id,
};
use abacus_core::time::now_micros;
use abacus_core::validation::Naming;
use abacus_store::{Connection, Tx, bundles, plans, products, tags};

use crate::problem::{ApiError, ApiResult};

/// Looks up the metrics, tags, products and bundles an input names.
pub async fn refs(
    c: &mut impl Connection,
    org_id: &str,
    metric_ids: &[String],
    tag_ids: &[String],
    product_ids: &[String],
    bundle_ids: &[String],
) -> ApiResult<Refs> {
    let metrics = products::usable_metrics(c, org_id, metric_ids)
        .await?
        .into_iter()
        .collect();
    let tags = tags::by_ids(c, org_id, tag_ids)
        .await?
        .into_iter()
        .map(|t| (t.id, t.spec.entity_types))
        .collect();
    let products = products::by_ids(c, org_id, product_ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p.spec))
        .collect();
    let bundles = bundles::by_ids(c, org_id, bundle_ids)
        .await?
        .into_iter()
        .map(|b| (b.id.clone(), b.spec()))
        .collect();
    Ok(Refs {
        metrics,
        tags,
        products,
        bundles,
    })
}

// ---- tags

pub async fn create_tag(tx: &mut Tx, org_id: &str, input: TagInput) -> ApiResult<Tag> {
    let spec = input.validate(Naming::Snake).map_err(ApiError::invalid)?;
    products::lock_catalog(tx, org_id).await?;
    if tags::name_taken(tx, org_id, &spec.name).await? {
        return Err(ApiError::conflict(format!(
            "name: a tag named '{}' already exists",
            spec.name
        ))
        .with_field("name"));
    }
    Ok(tags::insert(tx, org_id, &spec, now_micros()).await?)
}

pub async fn get_tag(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Tag> {
    tags::get(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Tag", id))
}

/// Deletes a tag and takes it off the products and plans it labels.
pub async fn delete_tag(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<String> {
    products::lock_catalog(tx, org_id).await?;
    if !tags::delete(tx, org_id, id, now_micros()).await? {
        return Err(ApiError::not_found("Tag", id));
    }
    Ok(id.to_string())
}

// ---- products

pub async fn create_product(
    tx: &mut Tx,
    org_id: &str,
    input: ProductInput,
    naming: Naming,
) -> ApiResult<Product> {
    products::lock_catalog(tx, org_id).await?;
    let refs = refs(tx, org_id, &input.metric_ids, &input.tag_ids, &[], &[]).await?;
    let spec = input.validate(naming, &refs).map_err(ApiError::invalid)?;
    Ok(products::insert(tx, org_id, &spec, now_micros()).await?)
}

pub async fn get_product(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Product> {
    products::get(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Product", id))
}

pub async fn update_product(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    patch: ProductPatch,
    naming: Naming,
) -> ApiResult<Product> {
    products::lock_catalog(tx, org_id).await?;
    let current = get_product(tx, org_id, id).await?;
    let input = patch
        .apply_to(&current.spec, naming)
        .map_err(ApiError::invalid)?;
    // Metrics were checked at creation and cannot change; an archived metric does not make the
    // product invalid.
    let mut refs = refs(tx, org_id, &[], &input.tag_ids, &[], &[]).await?;
    refs.metrics.extend(current.spec.metric_ids.iter().cloned());
    let spec = input.validate(naming, &refs).map_err(ApiError::invalid)?;
    products::update(tx, org_id, id, &spec, now_micros())
        .await?
        .ok_or_else(|| ApiError::not_found("Product", id))
}

/// Soft-deletes a product; 409 while a table in `products::DEPENDENTS` uses it.
pub async fn delete_product(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<String> {
    products::lock_catalog(tx, org_id).await?;
    // Subscription writes check the products they price under this lock; subscriptions whose
    // service has ended are recorded as canceled first, so they no longer hold the product.
    abacus_store::subscriptions::lock(tx, org_id).await?;
    abacus_store::subscriptions::settle_ended(tx, org_id, now_micros()).await?;
    let product = get_product(tx, org_id, id).await?;
    let found = products::dependents(tx, org_id, &product.id).await?;
    if !found.is_empty() {
        return Err(ApiError::conflict(format!(
            "Cannot delete product '{id}': it is used by {}",
            found.join(" and ")
        )));
    }
    products::soft_delete(tx, org_id, id, now_micros()).await?;
    Ok(product.id)
}

/// The products that `prices` name, by id (deleted ones included: a stored price keeps its
/// product's description).
pub async fn products_of(
    c: &mut impl Connection,
    org_id: &str,
    ids: impl IntoIterator<Item = String>,
) -> ApiResult<HashMap<String, Product>> {
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids.dedup();
    Ok(products::by_ids(c, org_id, &ids)
        .await?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect())
}

// ---- bundles

/// A bundle by its id (`bnd_…`, or the same id written `bun_…`).
pub async fn get_bundle(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Bundle> {
    bundles::get(c, org_id, &normalize_bundle_id(id))
        .await?
        .ok_or_else(|| ApiError::not_found("Bundle", id))
}

fn price_products(prices: &[ProductPriceInput]) -> Vec<String> {
    prices.iter().map(|p| p.product_id.clone()).collect()
}

pub async fn create_bundle(tx: &mut Tx, org_id: &str, input: BundleInput) -> ApiResult<Bundle> {
    products::lock_catalog(tx, org_id).await?;
    let refs = refs(tx, org_id, &[], &[], &price_products(&input.prices), &[]).await?;
    let spec = input
        .validate(Naming::Snake, &refs)
        .map_err(ApiError::invalid)?;
    Ok(bundles::insert(tx, org_id, &spec, now_micros()).await?)
}

/// What a bundle update changes: left-out fields keep their value; `prices` replaces the set.
#[derive(Debug, Default)]
pub struct BundleUpdate {
    pub name: Option<String>,
    pub description: abacus_core::customer::Patch<String>,
    pub currency: abacus_core::customer::Patch<String>,
    pub prices: Option<Vec<ProductPriceInput>>,
}

pub async fn update_bundle(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    update: BundleUpdate,
) -> ApiResult<Bundle> {
    use abacus_core::customer::Patch;
    products::lock_catalog(tx, org_id).await?;
    let current = get_bundle(tx, org_id, id).await?;
    let patch = |p: Patch<String>, cur: Option<String>| match p {
        Patch::Absent => cur,
        Patch::Null => None,
        Patch::Value(v) => Some(v),
    };
    let replace_prices = update.prices.is_some();
    let input = BundleInput {
        name: update.name.unwrap_or(current.name.clone()),
        description: patch(update.description, current.description.clone()),
        currency: patch(update.currency, current.currency.clone()),
        prices: update
            .prices
            .unwrap_or_else(|| current.spec().prices.into_iter().map(Into::into).collect()),
    };
    let refs = refs(tx, org_id, &[], &[], &price_products(&input.prices), &[]).await?;
    let spec = input
        .validate(Naming::Snake, &refs)
        .map_err(ApiError::invalid)?;
    bundles::update(tx, org_id, &current.id, &spec, replace_prices, now_micros())
        .await?
        .ok_or_else(|| ApiError::not_found("Bundle", id))
}

// ---- plans

fn plan_refs_ids(input: &PlanInput) -> (Vec<String>, Vec<String>) {
    let mut products = Vec::new();
    let mut bundles = Vec::new();
    for item in &input.items {
        products.extend(item.product_id.clone());
        products.extend(item.items.iter().flatten().map(|c| c.product_id.clone()));
        bundles.extend(item.bundle_id.as_deref().map(normalize_bundle_id));
    }
    (products, bundles)
}

pub async fn create_plan(tx: &mut Tx, org_id: &str, input: PlanInput) -> ApiResult<Plan> {
    products::lock_catalog(tx, org_id).await?;
    let (product_ids, bundle_ids) = plan_refs_ids(&input);
    let refs = refs(tx, org_id, &[], &input.tags, &product_ids, &bundle_ids).await?;
    let spec = input
        .validate(Naming::Snake, &refs)
        .map_err(ApiError::invalid)?;
    Ok(plans::insert(tx, org_id, &spec, now_micros()).await?)
}

pub async fn get_plan(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Plan> {
    plans::get(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Plan", id))
}

/// Replaces a plan with what `apply` makes of the stored one. Archived plans are frozen (409).
pub async fn update_plan(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    apply: impl FnOnce(&abacus_core::catalog::PlanSpec) -> ApiResult<PlanInput>,
) -> ApiResult<Plan> {
    products::lock_catalog(tx, org_id).await?;
    let current = get_plan(tx, org_id, id).await?;
    if current.archived_at.is_some() {
        return Err(ApiError::conflict(format!(
            "Plan '{id}' is archived and can no longer be changed"
        )));
    }
    let input = apply(&current.spec)?;
    let (product_ids, bundle_ids) = plan_refs_ids(&input);
    let refs = refs(tx, org_id, &[], &input.tags, &product_ids, &bundle_ids).await?;
    let spec = input
        .validate(Naming::Snake, &refs)
        .map_err(ApiError::invalid)?;
    plans::update(tx, org_id, id, &spec, now_micros())
        .await?
        .ok_or_else(|| ApiError::not_found("Plan", id))
}

pub async fn archive_plan(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<Plan> {
    products::lock_catalog(tx, org_id).await?;
    plans::archive(tx, org_id, id, now_micros())
        .await?
        .ok_or_else(|| ApiError::not_found("Plan", id))
}
