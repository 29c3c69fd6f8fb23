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

pub mod handover;
pub mod python;
pub mod responder;
pub mod table;
pub mod text;
pub mod wire;

/// An error message made safe to print on one line: control characters that came from the
/// input (a newline in a JSON key, an escape sequence in a token) are written escaped.
pub(crate) fn one_line(message: String) -> String {
    if !message.chars().any(char::is_control) {
        return message;
    }
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
