//! Changes: a delta (`add`, `remove`, `update`) applied to a version's items, optionally on top of
//! another plan's items (`plan_id`), giving the items of a new version. Preview and apply run the
//! same function, so a preview is exactly what the change writes.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::model::Item;
use crate::catalog::{Fields, ProductPrice, Refs, normalize_bundle_id};
use crate::pricing::PriceInput;
use crate::validation::{FieldError, Naming};

/// `ChangeAddItemChild`: a product added to a bundle, with its price.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeAddItemChild {
    pub product_id: String,
    pub new_price: PriceInput,
}

/// `ChangeAddItem`: a product with `new_price`, or a bundle (`bundle_id`, with `items`, or the
/// bundle's own prices when `items` is left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeAddItem {
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub bundle_id: Option<String>,
    #[serde(default)]
    pub new_price: Option<PriceInput>,
    #[serde(default)]
    pub items: Option<Vec<ChangeAddItemChild>>,
}

/// `ChangeRemoveItem`: a product or a bundle; with both, the product is taken out of the bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRemoveItem {
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub bundle_id: Option<String>,
}

/// `ChangeRemoveItemChild`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRemoveItemChild {
    pub product_id: String,
}

/// `ChangeUpdateItemChild`: a bundle child's `new_price` or `adjust`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeUpdateItemChild {
    pub product_id: String,
    #[serde(default)]
    pub new_price: Option<PriceInput>,
    /// `PriceAdjustInput`: the price fields to change, merged into the current price.
    #[serde(default)]
    pub adjust: Option<Value>,
}

/// `ChangeUpdateItem`: a product's `new_price` or `adjust`; or a bundle's children (`items`,
/// `add_items`, `remove_items`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeUpdateItem {
    #[serde(default)]
    pub product_id: Option<String>,
    #[serde(default)]
    pub bundle_id: Option<String>,
    #[serde(default)]
    pub new_price: Option<PriceInput>,
    #[serde(default)]
    pub adjust: Option<Value>,
    #[serde(default)]
    pub items: Option<Vec<ChangeUpdateItemChild>>,
    #[serde(default)]
    pub add_items: Option<Vec<ChangeAddItemChild>>,
    #[serde(default)]
    pub remove_items: Option<Vec<ChangeRemoveItemChild>>,
}

/// The delta of a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delta {
    pub add: Vec<ChangeAddItem>,
    pub remove: Vec<ChangeRemoveItem>,
    pub update: Vec<ChangeUpdateItem>,
}

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.remove.is_empty() && self.update.is_empty()
    }
}

/// `ChangeItemRef`: an item named by its product or bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
}

/// `ChangesAppliedResponse`: what differs between the source items and the result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangesApplied {
    pub added: Vec<ItemRef>,
    pub removed: Vec<ItemRef>,
    pub updated: Vec<ItemRef>,
}

fn key(item: &Item) -> ItemRef {
    match item {
        Item::Product(p) => ItemRef {
            product_id: Some(p.product_id.clone()),
            bundle_id: None,
        },
        Item::Bundle { bundle_id, .. } => ItemRef {
            product_id: None,
            bundle_id: Some(bundle_id.clone()),
        },
    }
}

/// Items added, removed and changed from `before` to `after`, each list in its version's order.
pub fn diff(before: &[Item], after: &[Item]) -> ChangesApplied {
    let find = |list: &[Item], k: &ItemRef| list.iter().position(|i| key(i) == *k);
    let mut out = ChangesApplied::default();
    for a in after {
        match find(before, &key(a)) {
            None => out.added.push(key(a)),
            Some(j) if before[j] != *a => out.updated.push(key(a)),
            Some(_) => {}
        }
    }
    for b in before {
        if find(after, &key(b)).is_none() {
            out.removed.push(key(b));
        }
    }
    out
}

/// RFC 7386 merge: objects merge key by key, `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

struct Cx<'a> {
    f: Fields,
    refs: &'a Refs,
    currency: &'a str,
}

impl Cx<'_> {
    fn at(&self, base: &str, snake: &str) -> String {
        self.f.at(base, snake)
    }

    /// A new price for `product_id`, checked against its product (errors under `path`).
    fn priced(
        &mut self,
        base: &str,
        product_id: &str,
        price: &PriceInput,
        path: &str,
    ) -> Option<ProductPrice> {
        self.f
            .product_price(base, product_id, price, path, self.refs)
    }

    /// `current` with `adjust` merged in, checked as a new price at `path`.
    fn adjusted(
        &mut self,
        base: &str,
        current: &ProductPrice,
        adjust: &Value,
        path: &str,
    ) -> Option<ProductPrice> {
        if !adjust.is_object() {
            self.f.push(
                path.to_string(),
                "must be an object of price fields to change",
            );
            return None;
        }
        let mut doc = serde_json::to_value(&current.price).ok()?;
        merge_patch(&mut doc, adjust);
        match serde_json::from_value::<PriceInput>(doc) {
            Ok(price) => self.priced(base, &current.product_id, &price, path),
            Err(e) => {
                self.f.push(
                    path.to_string(),
                    format!("the adjusted price is not valid: {e}"),
                );
                None
            }
        }
    }

    /// The replacement of `current` by `new_price` or `adjust` (exactly one of them).
    fn repriced(
        &mut self,
        base: &str,
        current: &ProductPrice,
        new_price: Option<&PriceInput>,
        adjust: Option<&Value>,
    ) -> Option<ProductPrice> {
        let np = self.at(base, "new_price");
        let adj = self.at(base, "adjust");
        match (new_price, adjust) {
            (Some(p), None) => self.priced(base, &current.product_id, p, &np),
            (None, Some(a)) => self.adjusted(base, current, a, &adj),
            (Some(_), Some(_)) => {
                self.f
                    .push(adj, format!("must be omitted when {np} is given"));
                None
            }
            (None, None) => {
                self.f
                    .push(np, format!("is required (or {adj}) to update a product"));
                None
            }
        }
    }
}

fn product_pos(items: &[Item], product_id: &str) -> Option<usize> {
    items
        .iter()
        .position(|i| matches!(i, Item::Product(p) if p.product_id == product_id))
}

fn bundle_pos(items: &[Item], bundle_id: &str) -> Option<usize> {
    items
        .iter()
        .position(|i| matches!(i, Item::Bundle { bundle_id: b, .. } if b == bundle_id))
}

/// Applies `delta` to `base` (the source version's items, or the new plan's on a plan switch):
/// removals first, then updates, then additions, each in the order given. Every new or adjusted
/// price is checked against its product; items the delta does not touch are kept as they are.
/// Errors name the delta's fields (`update[0].adjust.unit_pricing_model.price_per_unit`).
pub fn apply(
    base: &[Item],
    delta: &Delta,
    currency: &str,
    naming: Naming,
    refs: &Refs,
) -> Result<Vec<Item>, Vec<FieldError>> {
    let mut cx = Cx {
        f: Fields::new(naming),
        refs,
        currency,
    };
    let mut items: Vec<Item> = base.to_vec();

    let list = cx.at("", "remove");
    for (i, r) in delta.remove.iter().enumerate() {
        let b = format!("{list}[{i}]");
        remove(&mut cx, &mut items, r, &b);
    }
    let list = cx.at("", "update");
    for (i, u) in delta.update.iter().enumerate() {
        let b = format!("{list}[{i}]");
        update(&mut cx, &mut items, u, &b);
    }
    let list = cx.at("", "add");
    for (i, a) in delta.add.iter().enumerate() {
        let b = format!("{list}[{i}]");
        add(&mut cx, &mut items, a, &b);
    }
    cx.f.into_result()?;
    Ok(items)
}

fn remove(cx: &mut Cx, items: &mut Vec<Item>, r: &ChangeRemoveItem, base: &str) {
    let pf = cx.at(base, "product_id");
    let bf = cx.at(base, "bundle_id");
    match (
        &r.product_id,
        r.bundle_id.as_deref().map(normalize_bundle_id),
    ) {
        (None, None) => cx.f.push(base.to_string(), format!("needs {pf} or {bf}")),
        (Some(p), None) => match product_pos(items, p) {
            Some(k) => {
                items.remove(k);
            }
            None => {
                cx.f.push(pf, format!("product '{p}' is not an item of the version"))
            }
        },
        (None, Some(b)) => match bundle_pos(items, &b) {
            Some(k) => {
                items.remove(k);
            }
            None => {
                cx.f.push(bf, format!("bundle '{b}' is not an item of the version"))
            }
        },
        (Some(p), Some(b)) => {
            match bundle_pos(items, &b) {
                None => {
                    cx.f.push(bf, format!("bundle '{b}' is not an item of the version"))
                }
                Some(k) => {
                    let Item::Bundle {
                        items: children, ..
                    } = &mut items[k]
                    else {
                        return;
                    };
                    match children.iter().position(|c| c.product_id == *p) {
                    None => cx
                        .f
                        .push(pf, format!("product '{p}' is not in bundle '{b}'")),
                    Some(_) if children.len() == 1 => cx.f.push(
                        pf,
                        format!("'{p}' is the last product of bundle '{b}'; remove the bundle instead"),
                    ),
                    Some(c) => {
                        children.remove(c);
                    }
                }
                }
            }
        }
    }
}

fn update(cx: &mut Cx, items: &mut [Item], u: &ChangeUpdateItem, base: &str) {
    let pf = cx.at(base, "product_id");
    let bf = cx.at(base, "bundle_id");
    let bundle_only = [
        ("items", u.items.is_some()),
        ("add_items", u.add_items.is_some()),
        ("remove_items", u.remove_items.is_some()),
    ];
    match (
        &u.product_id,
        u.bundle_id.as_deref().map(normalize_bundle_id),
    ) {
        (None, None) => cx.f.push(base.to_string(), format!("needs {pf} or {bf}")),
        (Some(_), Some(_)) => cx.f.push(
            pf,
            format!("must be omitted with {bf} (update a bundle's products through its items)"),
        ),
        (Some(p), None) => {
            for (snake, given) in bundle_only {
                if given {
                    cx.f.push(cx.at(base, snake), "applies to bundles only");
                }
            }
            let Some(k) = product_pos(items, p) else {
                cx.f.push(pf, format!("product '{p}' is not an item of the version"));
                return;
            };
            let Item::Product(current) = &items[k] else {
                return;
            };
            if let Some(new) = cx.repriced(base, current, u.new_price.as_ref(), u.adjust.as_ref()) {
                items[k] = Item::Product(new);
            }
        }
        (None, Some(b)) => {
            for (snake, given) in [
                ("new_price", u.new_price.is_some()),
                ("adjust", u.adjust.is_some()),
            ] {
                if given {
                    cx.f.push(
                        cx.at(base, snake),
                        "must be omitted for a bundle: change its products through items",
                    );
                }
            }
            let Some(k) = bundle_pos(items, &b) else {
                cx.f.push(bf, format!("bundle '{b}' is not an item of the version"));
                return;
            };
            if bundle_only.iter().all(|(_, given)| !given) {
                cx.f.push(
                    base.to_string(),
                    "needs items, add_items or remove_items to change the bundle",
                );
                return;
            }
            let Item::Bundle {
                items: children, ..
            } = &mut items[k]
            else {
                return;
            };
            let mut next = children.clone();
            let list = cx.at(base, "remove_items");
            for (j, r) in u.remove_items.iter().flatten().enumerate() {
                let f = cx.at(&format!("{list}[{j}]"), "product_id");
                match next.iter().position(|c| c.product_id == r.product_id) {
                    Some(c) => {
                        next.remove(c);
                    }
                    None => cx.f.push(
                        f,
                        format!("product '{}' is not in bundle '{b}'", r.product_id),
                    ),
                }
            }
            let list = cx.at(base, "items");
            for (j, c) in u.items.iter().flatten().enumerate() {
                let cb = format!("{list}[{j}]");
                match next.iter().position(|x| x.product_id == c.product_id) {
                    None => cx.f.push(
                        cx.at(&cb, "product_id"),
                        format!("product '{}' is not in bundle '{b}'", c.product_id),
                    ),
                    Some(x) => {
                        let current = next[x].clone();
                        if let Some(new) =
                            cx.repriced(&cb, &current, c.new_price.as_ref(), c.adjust.as_ref())
                        {
                            next[x] = new;
                        }
                    }
                }
            }
            let list = cx.at(base, "add_items");
            for (j, c) in u.add_items.iter().flatten().enumerate() {
                let cb = format!("{list}[{j}]");
                if next.iter().any(|x| x.product_id == c.product_id) {
                    cx.f.push(
                        cx.at(&cb, "product_id"),
                        format!("product '{}' is already in bundle '{b}'", c.product_id),
                    );
                    continue;
                }
                let path = cx.at(&cb, "new_price");
                if let Some(p) = cx.priced(&cb, &c.product_id, &c.new_price, &path) {
                    next.push(p);
                }
            }
            if next.is_empty() {
                cx.f.push(
                    cx.at(base, "remove_items"),
                    format!("would leave bundle '{b}' empty; remove the bundle instead"),
                );
            }
            *children = next;
        }
    }
}

fn add(cx: &mut Cx, items: &mut Vec<Item>, a: &ChangeAddItem, base: &str) {
    let pf = cx.at(base, "product_id");
    let bf = cx.at(base, "bundle_id");
    match a.bundle_id.as_deref().map(normalize_bundle_id) {
        None => {
            if a.items.is_some() {
                cx.f.push(cx.at(base, "items"), "applies to bundles only");
            }
            let Some(p) = &a.product_id else {
                cx.f.push(base.to_string(), format!("needs {pf} or {bf}"));
                return;
            };
            if product_pos(items, p).is_some() {
                cx.f.push(
                    pf,
                    format!("product '{p}' is already an item of the version; update it instead"),
                );
                return;
            }
            let np = cx.at(base, "new_price");
            let Some(price) = &a.new_price else {
                cx.f.push(np, "is required to add a product");
                return;
            };
            if let Some(p) = cx.priced(base, p, price, &np) {
                items.push(Item::Product(p));
            }
        }
        Some(b) => {
            for (snake, given) in [
                ("product_id", a.product_id.is_some()),
                ("new_price", a.new_price.is_some()),
            ] {
                if given {
                    cx.f.push(
                        cx.at(base, snake),
                        "must be omitted for a bundle item (the bundle's products and prices are in items)",
                    );
                }
            }
            if bundle_pos(items, &b).is_some() {
                cx.f.push(
                    bf,
                    format!("bundle '{b}' is already an item of the version; update it instead"),
                );
                return;
            }
            let Some(bundle) = cx.refs.bundles.get(&b) else {
                cx.f.push(bf, format!("unknown bundle '{b}'"));
                return;
            };
            if let Some(bc) = &bundle.currency
                && bc != cx.currency
            {
                cx.f.push(
                    bf,
                    format!(
                        "the bundle's prices are in {bc}, the subscription's in {}",
                        cx.currency
                    ),
                );
                return;
            }
            let children = match &a.items {
                None => bundle.prices.clone(),
                Some(list) => {
                    let lf = cx.at(base, "items");
                    if list.is_empty() {
                        cx.f.push(
                            lf.clone(),
                            "at least one item is required (or leave items out to use the bundle's prices)",
                        );
                    }
                    let mut out = Vec::new();
                    for (j, c) in list.iter().enumerate() {
                        let cb = format!("{lf}[{j}]");
                        if list[..j].iter().any(|o| o.product_id == c.product_id) {
                            cx.f.push(
                                cx.at(&cb, "product_id"),
                                format!("product '{}' is already in this bundle", c.product_id),
                            );
                            continue;
                        }
                        let path = cx.at(&cb, "new_price");
                        if let Some(p) = cx.priced(&cb, &c.product_id, &c.new_price, &path) {
                            out.push(p);
                        }
                    }
                    out
                }
            };
            items.push(Item::Bundle {
                bundle_id: b,
                name: bundle.name.clone(),
                description: bundle.description.clone(),
                items: children,
            });
        }
    }
}
