//! A workaround for sqlx 0.9.0, which no longer sets TCP_NODELAY on its sockets
//! (transact-rs/sqlx#4335; fixed upstream by #4336, not yet released).
//!
//! Without it, Nagle's algorithm holds back the last segment of any PostgreSQL message larger than
//! the socket's send buffer until the server's delayed ACK arrives: about 40 ms per statement,
//! which made batched ingestion 10 to 40 times slower. sqlx gives no access to its sockets, so
//! after each new PostgreSQL connection this walks the process's descriptors and switches Nagle
//! off on every TCP socket that still has it on. That is harmless for the others (the HTTP server
//! and webhook clients want it off too). Remove this module when sqlx sets the option again.

/// Sets TCP_NODELAY on every TCP socket of this process that lacks it (Linux; elsewhere a no-op).
pub fn apply() {
    #[cfg(target_os = "linux")]
    linux::apply();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{c_int, c_void};
    use std::mem::size_of;

    pub fn apply() {
        let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(fd) = entry.file_name().to_string_lossy().parse::<c_int>() else {
                continue;
            };
            let mut on: c_int = 0;
            let mut len = size_of::<c_int>() as libc::socklen_t;
            // SAFETY: getsockopt only writes `len` bytes into `on`; on a descriptor that is not a
            // TCP socket (or was closed meanwhile) it fails and nothing changes.
            let rc = unsafe {
                libc::getsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&raw mut on).cast::<c_void>(),
                    &mut len,
                )
            };
            if rc == 0 && on == 0 {
                let one: c_int = 1;
                // SAFETY: as above; the option value is a valid c_int for its whole length.
                unsafe {
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_TCP,
                        libc::TCP_NODELAY,
                        (&raw const one).cast::<c_void>(),
                        size_of::<c_int>() as libc::socklen_t,
                    );
                }
            }
        }
    }
}
