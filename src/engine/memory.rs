//! Gives freed memory back to the system.
//!
//! A stall in the open model opens a connection per waiting request; the
//! pool closes them once it is over, but glibc's malloc keeps the freed
//! pages, so the process's RSS would stay at the stall's peak for the rest
//! of a long run. `malloc_trim` returns whole free pages to the kernel.

/// Returns free heap pages to the kernel (glibc only; elsewhere a no-op).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only walks glibc's own
    // arenas under their locks; it is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
