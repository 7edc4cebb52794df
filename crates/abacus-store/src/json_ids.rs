//! Lists of ids kept as JSON arrays (`["tag_a","tag_b"]`) and filtered with a LIKE on their text.
//! Ids hold no quotes, so a quoted id is found in the array's text exactly; `%`, `_` and `\` are
//! escaped, so an id is never read as a pattern.

use sqlx::QueryBuilder;

/// `%"id"%`, escaped for `LIKE … ESCAPE '\'`.
pub(crate) fn like_pattern(id: &str) -> String {
    format!(
        "%\"{}\"%",
        id.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// Appends ` AND (column holds any of ids)`; nothing when `ids` is empty.
pub(crate) fn push_any_of<DB: sqlx::Database>(
    q: &mut QueryBuilder<DB>,
    column: &str,
    ids: &[String],
) where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if ids.is_empty() {
        return;
    }
    q.push(" AND (");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push(format_args!("CAST({column} AS TEXT) LIKE "))
            .push_bind(like_pattern(id))
            .push(" ESCAPE '\\'");
    }
    q.push(")");
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_are_escaped() {
        assert_eq!(super::like_pattern("tag_a%"), "%\"tag\\_a\\%\"%");
    }
}
