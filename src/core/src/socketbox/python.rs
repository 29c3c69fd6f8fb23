//! python-socketbox's JSON configuration.

use super::table::RouteTable;

/// One API socket (B protocol server side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSocket {
    pub path: String,
    pub owner_uid: Option<u32>,
    pub owner_gid: Option<u32>,
    pub mode: Option<u32>,
}

/// One "outgoing" slot: who may register it, on which API socket (index into `api_sockets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub number: u32,
    pub uid: u32,
    pub api_socket: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonConfig {
    pub api_sockets: Vec<ApiSocket>,
    pub slots: Vec<Slot>,
    /// Incoming listen sockets: (IPv6 address, port).
    pub listen: Vec<(std::net::Ipv6Addr, u16)>,
    pub routes: RouteTable,
}

pub fn parse(json: &str) -> Result<PythonConfig, String> {
    todo!("socketbox::python owner")
}
