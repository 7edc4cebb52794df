//! Matrix prices: dimensions, the decision tree and its cells.

use std::collections::BTreeSet;

use super::{CELL_TYPES, Cx, ModelCx, Models};
use crate::pricing::input::*;
use crate::pricing::matrix::{self, Cell, Dimension, Matrix, Node, Split};

impl Cx {
    pub(super) fn matrix(&mut self, path: &str, m: &MatrixPricingModelInput) -> Option<Matrix> {
        let dims_field = self.at(path, "dimensions");
        if m.dimensions.is_empty() {
            self.push(dims_field.clone(), "at least one dimension is required");
        }
        let mut dimensions: Vec<Dimension> = Vec::with_capacity(m.dimensions.len());
        for (i, d) in m.dimensions.iter().enumerate() {
            let base = format!("{dims_field}[{i}]");
            self.text(self.at(&base, "key"), &d.key);
            if dimensions.iter().any(|o| o.key == d.key) {
                let f = self.at(&base, "key");
                self.push(f, format!("duplicate dimension '{}'", d.key));
            }
            self.text(self.at(&base, "label"), &d.label);
            if let Some(values) = &d.values {
                for (j, v) in values.iter().enumerate() {
                    let f = format!("{}[{j}]", self.at(&base, "values"));
                    if v.is_empty() {
                        self.push(f, "must not be empty");
                    } else if values[..j].contains(v) {
                        self.push(f, format!("duplicate value '{v}'"));
                    }
                }
            }
            dimensions.push(Dimension {
                key: d.key.clone(),
                label: d.label.clone(),
                values: d.values.clone(),
            });
        }
        if let Some(t) = &m.line_item_template {
            let f = self.at(path, "line_item_template");
            self.template(f, t, &dimensions);
        }
        let mut walk = Walk {
            dimensions: &dimensions,
            keys: BTreeSet::new(),
            nodes: 0,
            ok: true,
        };
        let root = self.node(&mut walk, &self.at(path, "root"), "root", &m.root, 1);
        if !walk.ok {
            return None;
        }
        Some(Matrix {
            dimensions,
            line_item_template: m.line_item_template.clone(),
            root: root?,
        })
    }

    fn template(&mut self, field: String, template: &str, dimensions: &[Dimension]) {
        let mut rest = template;
        while let Some(open) = rest.find(['{', '}']) {
            if rest[open..].starts_with('}') {
                self.push(field, "has a '}' without a matching '{'");
                return;
            }
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                self.push(field, "has a '{' without a matching '}'");
                return;
            };
            let name = &after[..close];
            if name != "label" && !dimensions.iter().any(|d| d.key == name) {
                self.push(
                    field,
                    format!("'{{{name}}}' names no dimension (use a dimension key or label)"),
                );
                return;
            }
            rest = &after[close + 1..];
        }
    }

    /// One tree node. `field` is the node's path in the caller's naming, `key` the same path
    /// in snake case (a cell without `cell_key` is known by it).
    fn node(
        &mut self,
        walk: &mut Walk,
        field: &str,
        key: &str,
        node: &MatrixNodeInput,
        depth: usize,
    ) -> Option<Node> {
        walk.nodes += 1;
        if depth > matrix::MAX_DEPTH || walk.nodes > matrix::MAX_NODES {
            if walk.ok {
                self.push(
                    field.to_string(),
                    format!(
                        "the matrix is too large (at most {} levels and {} nodes)",
                        matrix::MAX_DEPTH,
                        matrix::MAX_NODES
                    ),
                );
            }
            walk.ok = false;
            return None;
        }
        let splits_in = node.splits.as_deref().unwrap_or_default();
        match (&node.leaf, splits_in.is_empty()) {
            (Some(_), false) => {
                self.push(field.to_string(), "a node has a leaf or splits, not both");
                walk.ok = false;
            }
            (None, true) => {
                self.push(field.to_string(), "a node needs a leaf or splits");
                walk.ok = false;
            }
            _ => {}
        }
        let leaf = node.leaf.as_ref().and_then(|cell| {
            let f = self.at(field, "leaf");
            self.cell(walk, &f, &format!("{key}.leaf"), cell)
        });
        if node.leaf.is_some() && node.fallback.is_some() {
            let f = self.at(field, "fallback");
            self.push(f, "a leaf node cannot have a fallback");
            walk.ok = false;
        }
        let mut splits = Vec::with_capacity(splits_in.len());
        for (i, s) in splits_in.iter().enumerate() {
            let f = format!("{}[{i}]", self.at(field, "splits"));
            let k = format!("{key}.splits[{i}]");
            if let Some(split) = self.split(walk, &f, &k, s, depth) {
                splits.push(split);
            }
        }
        let fallback = node.fallback.as_ref().and_then(|n| {
            let f = self.at(field, "fallback");
            self.node(walk, &f, &format!("{key}.fallback"), n, depth + 1)
        });
        Some(Node {
            leaf,
            splits,
            fallback: fallback.map(Box::new),
        })
    }

    fn split(
        &mut self,
        walk: &mut Walk,
        field: &str,
        key: &str,
        s: &MatrixDimensionRuleInput,
        depth: usize,
    ) -> Option<Split> {
        let dimension = walk.dimensions.iter().find(|d| d.key == s.dimension_key);
        if dimension.is_none() {
            let f = self.at(field, "dimension_key");
            self.push(
                f,
                format!(
                    "'{}' is not one of the matrix's dimensions",
                    s.dimension_key
                ),
            );
            walk.ok = false;
        }
        let allowed = dimension.and_then(|d| d.values.clone());
        if s.branches.is_empty() && s.wildcard.is_none() {
            let f = self.at(field, "branches");
            self.push(f, "a split needs at least one branch or a wildcard");
            walk.ok = false;
        }
        let mut branches = Vec::with_capacity(s.branches.len());
        for (i, b) in s.branches.iter().enumerate() {
            let f = format!("{}[{i}]", self.at(field, "branches"));
            if s.branches[..i].iter().any(|o| o.value == b.value) {
                let vf = self.at(&f, "value");
                self.push(vf, format!("duplicate branch '{}'", b.value));
                walk.ok = false;
            } else if let Some(values) = &allowed
                && !values.contains(&b.value)
            {
                let vf = self.at(&f, "value");
                self.push(
                    vf,
                    format!(
                        "'{}' is not a value of dimension '{}'",
                        b.value, s.dimension_key
                    ),
                );
                walk.ok = false;
            }
            let cf = self.at(&f, "child");
            let ck = format!("{key}.branches[{i}].child");
            if let Some(child) = self.node(walk, &cf, &ck, &b.child, depth + 1) {
                branches.push((b.value.clone(), child));
            }
        }
        let wildcard = s.wildcard.as_ref().and_then(|w| {
            let f = self.at(field, "wildcard");
            self.node(walk, &f, &format!("{key}.wildcard"), w, depth + 1)
        });
        Some(Split {
            dimension_key: s.dimension_key.clone(),
            branches,
            wildcard: wildcard.map(Box::new),
        })
    }

    fn cell(
        &mut self,
        walk: &mut Walk,
        field: &str,
        path_key: &str,
        c: &MatrixPriceCellInput,
    ) -> Option<Cell> {
        let key = match &c.cell_key {
            Some(k) => {
                self.text(self.at(field, "cell_key"), k);
                k.clone()
            }
            None => path_key.to_string(),
        };
        if !walk.keys.insert(key.clone()) {
            let f = self.at(field, "cell_key");
            self.push(f, format!("duplicate cell '{key}'"));
            walk.ok = false;
        }
        if let Some(l) = &c.label {
            self.text(self.at(field, "label"), l);
        }
        let type_field = self.at(field, "type");
        if !CELL_TYPES.contains(&c.kind.as_str()) {
            self.push(
                type_field,
                format!("'{}' is not one of: {}", c.kind, CELL_TYPES.join(", ")),
            );
            walk.ok = false;
            return None;
        }
        let ctx = ModelCx {
            fixed_fee: false,
            metric_ids: &[],
            in_matrix: true,
        };
        let model = self.model(field, &c.kind, &Models::of_cell(c), &ctx);
        if model.is_none() {
            walk.ok = false;
        }
        Some(Cell {
            key,
            label: c.label.clone(),
            model: Box::new(model?),
        })
    }
}

/// State carried through a matrix tree.
struct Walk<'a> {
    dimensions: &'a [Dimension],
    keys: BTreeSet<String>,
    nodes: usize,
    ok: bool,
}
