//! Matrix prices: a decision tree over dimension values (the SDK's `MatrixNodeInput`) whose
//! leaves are priced cells.
//!
//! A combination of dimension values (`{region: "eu", tier: "premium"}`) finds its cell like
//! this: a node with a leaf is that cell. Otherwise each split is tried in order: the branch whose
//! value equals the combination's value for the split's dimension is followed, or, when no branch
//! has that value (or the combination lacks the dimension), the split's wildcard. The first split
//! that reaches a cell wins; when none does, the node's fallback is tried. A combination that
//! reaches no cell cannot be priced.

use std::collections::BTreeMap;

use super::model::PriceModel;

/// Deepest decision tree accepted.
pub const MAX_DEPTH: usize = 32;
/// Most nodes in one tree.
pub const MAX_NODES: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    pub dimensions: Vec<Dimension>,
    /// Line description, with `{dimension_key}` and `{label}` placeholders.
    pub line_item_template: Option<String>,
    pub root: Node,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dimension {
    pub key: String,
    pub label: String,
    /// The allowed values, when the dimension declares them.
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub leaf: Option<Cell>,
    pub splits: Vec<Split>,
    pub fallback: Option<Box<Node>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub dimension_key: String,
    pub branches: Vec<(String, Node)>,
    pub wildcard: Option<Box<Node>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// The cell's `cell_key`, or its path in the tree when it has none. Unique in the matrix.
    pub key: String,
    pub label: Option<String>,
    /// One of the simple models (unit, fixed, tiered, graduated_tiered, the percentage models).
    pub model: Box<PriceModel>,
}

/// A combination of dimension values: dimension key → value.
pub type Combination = BTreeMap<String, String>;

impl Matrix {
    pub fn dimension(&self, key: &str) -> Option<&Dimension> {
        self.dimensions.iter().find(|d| d.key == key)
    }

    /// The cell a combination reaches, if any.
    pub fn resolve(&self, combination: &Combination) -> Option<&Cell> {
        self.root.resolve(combination)
    }

    /// Every cell, depth first in declaration order (the order lines are listed in).
    pub fn cells(&self) -> Vec<&Cell> {
        let mut out = Vec::new();
        self.root.collect_cells(&mut out);
        out
    }

    /// The description prefix for a cell: the template with each `{dimension_key}` replaced by
    /// the value the combinations share (`*` when they differ or lack it) and `{label}` by the
    /// cell's label; without a template, the cell's label or key.
    pub fn cell_name(&self, cell: &Cell, combinations: &[&Combination]) -> String {
        let label = cell.label.clone().unwrap_or_else(|| cell.key.clone());
        let Some(template) = &self.line_item_template else {
            return label;
        };
        let mut out = String::with_capacity(template.len());
        let mut rest = template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                out.push_str(&rest[open..]);
                rest = "";
                break;
            };
            let name = &after[..close];
            if name == "label" {
                out.push_str(&label);
            } else {
                let mut values = combinations.iter().map(|c| c.get(name));
                let first = values.next().flatten();
                match first {
                    Some(v) if values.all(|o| o == Some(v)) => out.push_str(v),
                    _ => out.push('*'),
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

impl Node {
    fn resolve(&self, combination: &Combination) -> Option<&Cell> {
        if let Some(cell) = &self.leaf {
            return Some(cell);
        }
        for split in &self.splits {
            let value = combination.get(&split.dimension_key);
            let branch = split
                .branches
                .iter()
                .find(|(v, _)| Some(v) == value)
                .map(|(_, child)| child);
            let next = branch.or(split.wildcard.as_deref());
            if let Some(cell) = next.and_then(|n| n.resolve(combination)) {
                return Some(cell);
            }
        }
        self.fallback.as_ref()?.resolve(combination)
    }

    fn collect_cells<'a>(&'a self, out: &mut Vec<&'a Cell>) {
        if let Some(cell) = &self.leaf {
            out.push(cell);
        }
        for split in &self.splits {
            for (_, child) in &split.branches {
                child.collect_cells(out);
            }
            if let Some(w) = &split.wildcard {
                w.collect_cells(out);
            }
        }
        if let Some(f) = &self.fallback {
            f.collect_cells(out);
        }
    }
}
