//! socketbox: the router's routing tables and its wire formats, pure (no syscalls).
//!
//! CONTRACT shared by the router crate (src/router) and, later, the shim's router-client actions.
//! The types and signatures below are fixed; the bodies are filled in by the owner of this module.
//!
//! - `table`:  [`table::Tuple`], [`table::Target`], [`table::RouteTable`]: rule-sets (first match of
//!   masked tuples) and map-sets (exact lookup of the masked tuple), jumps, defaults, jump bound;
//!   `route` and `explain`.
//! - `text`:   socketbox's text config → `RouteTable` (accepted unchanged, without its S3 bugs).
//! - `python`: python-socketbox's JSON config → `PythonConfig` (API sockets, slots, listeners, routes).
//! - `wire`:   the "A" datagram, the "B" registration/ack/delivery records, PROXY v1/v2 headers,
//!   socketbox `-U` path templates. Encoders write into caller buffers; decoders take slices and
//!   never panic on any input (fuzzed).

pub mod python;
pub mod table;
pub mod text;
pub mod wire;
