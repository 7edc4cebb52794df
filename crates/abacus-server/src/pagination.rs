//! The two list conventions: v1 `page`/`limit` -> `{pageCount, data}` and v2 `limit`/`offset` ->
//! `{data, pagination: {per_page, total_pages}}`.

use serde::Serialize;

use crate::extract::QueryParams;
use crate::problem::{ApiError, ApiResult};

pub const DEFAULT_LIMIT: i64 = 20;
/// Larger limits are capped, as Alguna's v1 reference documents.
pub const MAX_LIMIT: i64 = 100;

/// A window into a list, as SQL `LIMIT`/`OFFSET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: i64,
    pub offset: i64,
}

fn limit(q: &QueryParams) -> ApiResult<i64> {
    match q.int("limit")? {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if n < 1 => Err(ApiError::bad_param("limit", "must be at least 1")),
        Some(n) => Ok(n.min(MAX_LIMIT)),
    }
}

/// v1: `page` (1-based, default 1) and `limit`.
pub fn v1_window(q: &QueryParams) -> ApiResult<Window> {
    let limit = limit(q)?;
    let page = match q.int("page")? {
        None => 1,
        Some(p) if p < 1 => return Err(ApiError::bad_param("page", "must be at least 1")),
        Some(p) => p,
    };
    let offset = (page - 1)
        .checked_mul(limit)
        .ok_or_else(|| ApiError::bad_param("page", "is too large"))?;
    Ok(Window { limit, offset })
}

/// v2: `limit` and `offset` (default 0).
pub fn v2_window(q: &QueryParams) -> ApiResult<Window> {
    let limit = limit(q)?;
    let offset = match q.int("offset")? {
        None => 0,
        Some(o) if o < 0 => return Err(ApiError::bad_param("offset", "must not be negative")),
        Some(o) => o,
    };
    Ok(Window { limit, offset })
}

pub fn page_count(total: i64, per_page: i64) -> i64 {
    if total <= 0 {
        0
    } else {
        (total + per_page - 1) / per_page
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct V1Page<T> {
    pub page_count: i64,
    pub data: Vec<T>,
}

impl<T> V1Page<T> {
    pub fn new(data: Vec<T>, total: i64, window: Window) -> Self {
        Self {
            page_count: page_count(total, window.limit),
            data,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PaginationMeta {
    pub per_page: i64,
    pub total_pages: i64,
}

#[derive(Serialize)]
pub struct V2Page<T> {
    pub data: Vec<T>,
    pub pagination: PaginationMeta,
}

impl<T> V2Page<T> {
    pub fn new(data: Vec<T>, total: i64, window: Window) -> Self {
        Self {
            data,
            pagination: PaginationMeta {
                per_page: window.limit,
                total_pages: page_count(total, window.limit),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::page_count;

    #[test]
    fn page_counts() {
        assert_eq!(page_count(0, 20), 0);
        assert_eq!(page_count(1, 20), 1);
        assert_eq!(page_count(20, 20), 1);
        assert_eq!(page_count(21, 20), 2);
    }
}
