//! Tags: labels for products, plans and the other taggable objects, used by `tag_ids` filters.

use super::{Fields, MAX_NAME_LEN};
use crate::time::Micros;
use crate::validation::{FieldError, Naming};

/// The SDK's `TaggableEntityType`.
pub const ENTITY_TYPES: &[&str] = &[
    "product",
    "customer",
    "plan",
    "subscription",
    "metric",
    "invoice",
    "quote",
];

/// The colour of a tag created without one (a neutral grey).
pub const DEFAULT_COLOR: &str = "#6B7280";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagInput {
    pub name: String,
    /// `#RRGGBB`.
    pub color: Option<String>,
    /// What the tag may label; all kinds when left out.
    pub entity_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSpec {
    pub name: String,
    pub color: String,
    pub entity_types: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub id: String,
    pub spec: TagSpec,
    pub created_at: Micros,
    pub updated_at: Micros,
}

fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

impl TagInput {
    pub fn validate(&self, naming: Naming) -> Result<TagSpec, Vec<FieldError>> {
        let mut f = Fields::new(naming);
        let name = f.required_text(f.at("", "name"), &self.name, MAX_NAME_LEN);
        let color = match &self.color {
            None => DEFAULT_COLOR.to_string(),
            Some(c) => {
                if !is_hex_color(c.trim()) {
                    f.push(f.at("", "color"), format!("'{c}' is not a #RRGGBB colour"));
                }
                c.trim().to_ascii_uppercase()
            }
        };
        let entity_types = match &self.entity_types {
            None => ENTITY_TYPES.iter().map(|s| s.to_string()).collect(),
            Some(types) => {
                let field = f.at("", "entity_types");
                if types.is_empty() {
                    f.push(
                        field.clone(),
                        "must name at least one kind of object (or be left out for all)",
                    );
                }
                for (i, t) in types.iter().enumerate() {
                    if !ENTITY_TYPES.contains(&t.as_str()) {
                        f.push(
                            format!("{field}[{i}]"),
                            format!("'{t}' is not one of: {}", ENTITY_TYPES.join(", ")),
                        );
                    } else if types[..i].contains(t) {
                        f.push(format!("{field}[{i}]"), format!("duplicate '{t}'"));
                    }
                }
                types.clone()
            }
        };
        f.into_result()?;
        Ok(TagSpec {
            name,
            color,
            entity_types,
        })
    }
}
