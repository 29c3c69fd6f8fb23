//! libsockswap.so: the LD_PRELOAD library.
//!
//! Hooks socket calls of unmodified programs and, where a rule says so, swaps the socket for a
//! Unix socket in place (same fd number) while keeping up the illusion of TCP/IP. This crate
//! holds only the hooks and their state; every decision that needs no syscall lives in
//! `sockswap-core`. It is built only as a cdylib: its exported symbols (`socket`, `connect`, …)
//! must never be linked into another binary, where they would replace libc's.

mod activation;
mod fdtable;
mod hooks;
mod hybrid;
mod inherit;
mod log;
mod oracle;
mod peers;
mod real;
mod runtime;
mod swap;
mod sys;
#[cfg(sockswap_tool)]
mod tool;
mod vsock;
