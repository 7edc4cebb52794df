//! Exact decimal arithmetic inside SQLite: `dec_add`, `dec_min` and `dec_max` over canonical
//! decimal text, implemented with `rust_decimal` and registered on each writer connection.
//!
//! SQLite has no exact decimal type (its `+` converts text to a float), so without these a rollup
//! upsert would have to read each stored bucket, merge it in Rust and write it back. With them the
//! upsert merges in SQL, one statement per few hundred buckets, as PostgreSQL does with NUMERIC.
//! NULL arguments are ignored, as PostgreSQL's `LEAST`/`GREATEST` do.

use std::ffi::{CStr, c_int};
use std::str::FromStr;

use libsqlite3_sys as ffi;
use rust_decimal::Decimal;
use sqlx::SqliteConnection;

type Op = fn(Decimal, Decimal) -> Option<Decimal>;

fn add(a: Decimal, b: Decimal) -> Option<Decimal> {
    a.checked_add(b)
}

fn min(a: Decimal, b: Decimal) -> Option<Decimal> {
    Some(a.min(b))
}

fn max(a: Decimal, b: Decimal) -> Option<Decimal> {
    Some(a.max(b))
}

const FUNCTIONS: [(&CStr, Op); 3] = [(c"dec_add", add), (c"dec_min", min), (c"dec_max", max)];

/// Registers the functions on a connection.
pub async fn register(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    for (name, op) in FUNCTIONS {
        // SAFETY: `db` is a live connection held locked by `handle` for this call; the name is a
        // NUL-terminated static string; the user data is a plain fn pointer that outlives the
        // connection, so no destructor is needed.
        let rc = unsafe {
            ffi::sqlite3_create_function_v2(
                db,
                name.as_ptr(),
                2,
                ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC,
                op as *const () as *mut std::ffi::c_void,
                Some(call),
                None,
                None,
                None,
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(sqlx::Error::Configuration(
                format!("cannot register {name:?} (SQLite code {rc})").into(),
            ));
        }
    }
    Ok(())
}

/// Reads argument `i` as a decimal: `Ok(None)` for NULL.
///
/// # Safety
/// `args` must point to the `n` arguments SQLite passed to the function, with `i < n`.
unsafe fn arg(args: *mut *mut ffi::sqlite3_value, i: usize) -> Result<Option<Decimal>, String> {
    // SAFETY: guaranteed by the caller.
    let value = unsafe { *args.add(i) };
    // SAFETY: `value` is a valid protected value for the duration of the call.
    unsafe {
        if ffi::sqlite3_value_type(value) == ffi::SQLITE_NULL {
            return Ok(None);
        }
        let text = ffi::sqlite3_value_text(value);
        let len = ffi::sqlite3_value_bytes(value);
        if text.is_null() || len < 0 {
            return Err("unreadable argument".into());
        }
        let bytes = std::slice::from_raw_parts(text, len as usize);
        let s = std::str::from_utf8(bytes).map_err(|_| "argument is not UTF-8".to_string())?;
        Decimal::from_str(s)
            .map(Some)
            .map_err(|_| format!("'{s}' is not a decimal"))
    }
}

unsafe extern "C" fn call(
    ctx: *mut ffi::sqlite3_context,
    n: c_int,
    args: *mut *mut ffi::sqlite3_value,
) {
    let result = (|| {
        if n != 2 {
            return Err("expects two arguments".to_string());
        }
        // SAFETY: SQLite passes `n` (checked to be 2) arguments.
        let (a, b) = unsafe { (arg(args, 0)?, arg(args, 1)?) };
        // SAFETY: the user data is the `Op` registered with this function.
        let op: Op = unsafe {
            std::mem::transmute::<*mut std::ffi::c_void, Op>(ffi::sqlite3_user_data(ctx))
        };
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(op(a, b).ok_or("decimal overflow")?),
            (a, b) => a.or(b),
        })
    })();
    // SAFETY: `ctx` is the live context of this call; SQLITE_TRANSIENT makes SQLite copy the text.
    unsafe {
        match result {
            Ok(Some(d)) => {
                let s = d.to_string();
                ffi::sqlite3_result_text(
                    ctx,
                    s.as_ptr().cast(),
                    s.len() as c_int,
                    ffi::SQLITE_TRANSIENT(),
                );
            }
            Ok(None) => ffi::sqlite3_result_null(ctx),
            Err(e) => ffi::sqlite3_result_error(ctx, e.as_ptr().cast(), e.len() as c_int),
        }
    }
}
