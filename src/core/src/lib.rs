//! The pure core of sockswap: everything that can be decided without a syscall.
//!
//! Rules and their parser, address and sockaddr conversion, Unix path templates, errno names,
//! unsock's environment variables, and the whole configuration as read from an environment.
//! The shim, the CLI and (later) the router share this crate, so a rule means the same thing
//! everywhere. Nothing here allocates after parsing: matching, template expansion and sockaddr
//! encoding work on caller-provided buffers so the shim can call them inside hooks.

pub mod activation;
pub mod addr;
pub mod config;
pub mod control;
pub mod decide;
pub mod decimal;
pub mod elfnote;
pub mod errno;
pub mod glob;
pub mod hybrid;
pub mod inherit;
pub mod netns;
pub mod procfs;
pub mod rule;
pub mod skbox;
pub mod socketbox;
pub mod sockopt;
pub mod template;
pub mod unsock;
pub mod xsocket;

pub use addr::{IpEndpoint, UnixName};
pub use config::{Config, ConfigError, LogLevel};
pub use rule::{Action, Direction, Query, QueryTarget, Rule, SockType};

/// An environment lookup over fixed pairs, for tests of the variable readers.
#[cfg(test)]
pub(crate) fn test_env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}
