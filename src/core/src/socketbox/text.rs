//! socketbox's text configuration → `RouteTable`.
//!
//! The grammar, line by line (tokens are separated by any run of whitespace: spaces, tabs, `\r`):
//!
//! ```text
//! max-maps:N                 accepted for compatibility; a capacity hint, not a limit
//! max-rules:N                (likewise)
//! rule-set:K [size:N]        starts rule-set K; the lines after it are its rules
//!   [ip:A] [port:N] [rip:A] [rport:N] ACTION      a rule: every field given must match
//!   default:ACTION | default ACTION               taken when no rule matches (else fail)
//! map-set:K [size:N] [match-lip:L] [match-rip:L] [match-lport[:0|1]] [match-rport[:0|1]]
//!   [ip:A] [rip:A] [port:N] [rport:N] ACTION      an entry: exactly the keyed fields
//!   default:ACTION | default ACTION
//! ```
//!
//! `A` in a rule is `ADDR`, `ADDR/LEN` or `ADDR/MASKADDR`; `ADDR` is IPv6, IPv4-mapped IPv6
//! (`::ffff:192.0.2.1`) or plain IPv4 (`192.0.2.1`, stored mapped, with `/LEN` counted in IPv4
//! bits, 0..=32). A dotted-quad mask (`/255.255.255.0`) applies to the IPv4 part of a mapped or
//! plain IPv4 address. In a map entry `A` is `ADDR` or `ADDR/LEN` with `LEN` equal to the set's
//! key length, and must have no bits set beyond that length.
//!
//! Actions: `jump-unix:PATH`, `jump-fd:N`, `jump-map:K`, `jump-rule:K`, `fail`.
//!
//! Fixed relative to socketbox (its S3 bugs): `size:` is optional and only a hint (a set may
//! hold any number of entries); keywords must be spelled exactly (`i:` is an error, not `ip:`);
//! any whitespace separates tokens. Also: blank lines are skipped; a token starting with `#`
//! begins a comment to the end of the line (`#` inside a token, as in a `-U` path template
//! `jump-unix:/run/#//0_/s`, is not a comment); a jump to a set that is not defined anywhere in
//! the file, a set defined twice, a duplicate map key, a field given twice, a rule after
//! `default`, and a missing `rule-set:0` (lookup starts there) are errors.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::table::{
    mask_ip, prefix_mask, IpMatch, MapKey, MapKeySpec, MapSet, RouteTable, Rule, RuleSet, Target,
};

/// A config error: 1-based line number and what was wrong ("line 7: unknown keyword 'i:'").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for TextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TextError {}

/// Which set the following lines belong to.
enum Current {
    None,
    Rules { id: u32, has_default: bool },
    Map { id: u32, has_default: bool },
}

struct Parser {
    table: RouteTable,
    current: Current,
    /// Every jump seen, with its line, checked once all sets are known.
    jumps: Vec<(usize, Target)>,
    /// Line of each map entry per (set, key), to name the first one in a duplicate error.
    map_lines: HashMap<(u32, MapKey), usize>,
}

fn err(line: usize, message: impl Into<String>) -> TextError {
    TextError {
        line,
        message: super::one_line(message.into()),
    }
}

/// A decimal number: ASCII digits only (no sign, no spaces, no hex, no leading zeros), within
/// `T`'s range (crate::decimal, as in every grammar).
fn number<T: std::str::FromStr>(line: usize, token: &str, value: &str) -> Result<T, TextError> {
    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
    if !digits || (value.len() > 1 && value.starts_with('0')) {
        return Err(err(
            line,
            format!("'{token}': expected a decimal number after ':' (no sign or leading zeros)"),
        ));
    }
    crate::decimal::parse(value).ok_or_else(|| err(line, format!("'{token}': number out of range")))
}

/// Splits `key:value` at the first ':'; a token without ':' has no value.
fn split_token(token: &str) -> (&str, Option<&str>) {
    match token.split_once(':') {
        Some((k, v)) => (k, Some(v)),
        None => (token, None),
    }
}

/// An action token, or None if the token is not an action at all.
fn action(line: usize, token: &str) -> Result<Option<Target>, TextError> {
    let (key, value) = split_token(token);
    let target = match (key, value) {
        ("fail", None) => Target::Fail,
        ("fail", Some(_)) => return Err(err(line, format!("'{token}': 'fail' takes no value"))),
        ("jump-unix", Some(path)) => {
            if path.is_empty() {
                return Err(err(line, format!("'{token}': empty path")));
            }
            if path.contains('\0') {
                return Err(err(line, format!("'{token}': path contains a NUL byte")));
            }
            Target::Unix(path.to_string())
        }
        ("jump-fd", Some(v)) => {
            let fd: i32 = number(line, token, v)?;
            Target::Fd(fd)
        }
        ("jump-map", Some(v)) => Target::JumpMap(number(line, token, v)?),
        ("jump-rule", Some(v)) => Target::JumpRule(number(line, token, v)?),
        ("jump-unix" | "jump-fd" | "jump-map" | "jump-rule", None) => {
            return Err(err(line, format!("'{token}': missing ':' and value")))
        }
        _ => return Ok(None),
    };
    Ok(Some(target))
}

/// A dotted-quad IPv4 address as the IPv4-mapped IPv6 address.
fn mapped(v4: Ipv4Addr) -> Ipv6Addr {
    v4.to_ipv6_mapped()
}

fn is_mapped(ip: Ipv6Addr) -> bool {
    ip.to_ipv4_mapped().is_some()
}

/// Parses `ADDR`; returns the address (IPv4 stored mapped) and whether it was written as IPv4.
fn address(line: usize, token: &str, text: &str) -> Result<(Ipv6Addr, bool), TextError> {
    if let Ok(v6) = text.parse::<Ipv6Addr>() {
        return Ok((v6, false));
    }
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Ok((mapped(v4), true));
    }
    Err(err(
        line,
        format!("'{token}': '{text}' is not an IPv6 or IPv4 address"),
    ))
}

/// `ADDR`, `ADDR/LEN` or `ADDR/MASKADDR` → IpMatch (a bare address matches exactly).
fn ip_match(line: usize, token: &str, value: &str) -> Result<IpMatch, TextError> {
    let (addr_text, mask_text) = match value.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (value, None),
    };
    let (addr, written_v4) = address(line, token, addr_text)?;
    let mask = match mask_text {
        None => prefix_mask(128),
        Some(m) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()) => {
            let len: u32 = number(line, token, m)?;
            let max = if written_v4 { 32 } else { 128 };
            if len > max {
                return Err(err(line, format!("'{token}': prefix length above {max}")));
            }
            prefix_mask((len + 128 - max) as u8)
        }
        Some(m) => {
            if let Ok(v4mask) = m.parse::<Ipv4Addr>() {
                if !written_v4 && !is_mapped(addr) {
                    return Err(err(
                        line,
                        format!("'{token}': an IPv4 mask needs an IPv4 or ::ffff: address"),
                    ));
                }
                Ipv6Addr::from(u128::from(prefix_mask(96)) | u128::from(u32::from(v4mask)))
            } else if let Ok(v6mask) = m.parse::<Ipv6Addr>() {
                v6mask
            } else {
                return Err(err(
                    line,
                    format!("'{token}': '{m}' is neither a prefix length nor a mask"),
                ));
            }
        }
    };
    Ok(IpMatch { addr, mask })
}

/// A map entry's address: `ADDR` or `ADDR/LEN` with LEN equal to the set's key length `len`.
fn map_address(
    line: usize,
    token: &str,
    value: &str,
    len: u8,
    keyword: &str,
) -> Result<Ipv6Addr, TextError> {
    let (addr_text, len_text) = match value.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (value, None),
    };
    let (addr, written_v4) = address(line, token, addr_text)?;
    if let Some(l) = len_text {
        let given: u32 = number(line, token, l)?;
        let given = if written_v4 {
            given.saturating_add(96)
        } else {
            given
        };
        if given != u32::from(len) {
            return Err(err(
                line,
                format!("'{token}': prefix length differs from the set's {keyword}:{len}"),
            ));
        }
    }
    let masked = mask_ip(addr, prefix_mask(len));
    if masked != addr {
        return Err(err(
            line,
            format!(
                "'{token}': has bits beyond the set's {keyword}:{len} (the key would be {masked})"
            ),
        ));
    }
    Ok(addr)
}

/// The key tokens of a map-set header (`match-lip:L match-rip:L match-lport[:0|1]
/// match-rport[:0|1]`, each at most once), plus `size:N` if `allow_size`.
fn key_spec(n: usize, tokens: &[&str], allow_size: bool) -> Result<MapKeySpec, TextError> {
    let mut size_seen = false;
    let mut spec = MapKeySpec::default();
    let mut seen = [false; 4];
    for token in tokens {
        let (key, value) = split_token(token);
        let slot = match key {
            "size" if allow_size => {
                Parser::size(n, token, value, &mut size_seen)?;
                continue;
            }
            "match-lip" => 0,
            "match-rip" => 1,
            "match-lport" => 2,
            "match-rport" => 3,
            _ => {
                let size = if allow_size { "size:, " } else { "" };
                return Err(err(
                    n,
                    format!("unknown keyword '{token}' in a map key ({size}match-lip:, match-rip:, match-lport, match-rport)"),
                ));
            }
        };
        if std::mem::replace(&mut seen[slot], true) {
            return Err(err(n, format!("'{key}' given twice")));
        }
        if slot < 2 {
            let v =
                value.ok_or_else(|| err(n, format!("'{token}': missing ':' and prefix length")))?;
            let len: u32 = number(n, token, v)?;
            if len > 128 {
                return Err(err(n, format!("'{token}': prefix length above 128")));
            }
            if slot == 0 {
                spec.local_ip_len = len as u8;
            } else {
                spec.remote_ip_len = len as u8;
            }
        } else {
            let on = match value {
                None | Some("1") => true,
                Some("0") => false,
                Some(_) => {
                    return Err(err(
                        n,
                        format!("'{token}': expected {key}, {key}:1 or {key}:0"),
                    ))
                }
            };
            if slot == 2 {
                spec.local_port = on;
            } else {
                spec.remote_port = on;
            }
        }
    }
    Ok(spec)
}

impl std::str::FromStr for MapKeySpec {
    type Err = String;

    /// The key part of a map-set header, as `Display` writes it: `match-lip:128 match-lport:1`
    /// (any whitespace between tokens; empty = keyed on nothing).
    fn from_str(text: &str) -> Result<MapKeySpec, String> {
        let tokens: Vec<&str> = text.split_whitespace().collect();
        key_spec(1, &tokens, false).map_err(|e| e.message)
    }
}

impl Parser {
    fn new() -> Parser {
        Parser {
            table: RouteTable::default(),
            current: Current::None,
            jumps: Vec::new(),
            map_lines: HashMap::new(),
        }
    }

    fn note_jump(&mut self, line: usize, target: &Target) {
        if matches!(target, Target::JumpRule(_) | Target::JumpMap(_)) {
            self.jumps.push((line, target.clone()));
        }
    }

    fn line(&mut self, n: usize, tokens: &[&str]) -> Result<(), TextError> {
        let first = tokens[0];
        let (key, value) = split_token(first);
        match key {
            "max-maps" | "max-rules" => {
                let v = value.ok_or_else(|| err(n, format!("'{first}': missing ':' and value")))?;
                let _hint: u32 = number(n, first, v)?;
                if let Some(extra) = tokens.get(1) {
                    return Err(err(n, format!("unexpected '{extra}' after '{first}'")));
                }
                Ok(())
            }
            "rule-set" => self.rule_set_header(n, tokens),
            "map-set" => self.map_set_header(n, tokens),
            "default" => self.default(n, tokens),
            _ => match self.current {
                Current::None => Err(err(
                    n,
                    format!("'{first}' outside a set (expected max-maps:, max-rules:, rule-set: or map-set:)"),
                )),
                Current::Rules { id, has_default } => {
                    if has_default {
                        return Err(err(n, format!("rule after the default of rule-set {id}")));
                    }
                    let rule = self.rule(n, tokens)?;
                    self.note_jump(n, &rule.target);
                    self.table.rule_sets.get_mut(&id).expect("current set exists").rules.push(rule);
                    Ok(())
                }
                Current::Map { id, has_default } => {
                    if has_default {
                        return Err(err(n, format!("entry after the default of map-set {id}")));
                    }
                    self.map_entry(n, id, tokens)
                }
            },
        }
    }

    fn set_id(n: usize, token: &str, value: Option<&str>) -> Result<u32, TextError> {
        let v = value.ok_or_else(|| err(n, format!("'{token}': missing ':' and set number")))?;
        number(n, token, v)
    }

    /// `size:N`: checked and ignored (sets grow as needed).
    fn size(n: usize, token: &str, value: Option<&str>, seen: &mut bool) -> Result<(), TextError> {
        if std::mem::replace(seen, true) {
            return Err(err(n, format!("'{token}' given twice")));
        }
        let v = value.ok_or_else(|| err(n, format!("'{token}': missing ':' and value")))?;
        let _hint: u32 = number(n, token, v)?;
        Ok(())
    }

    fn rule_set_header(&mut self, n: usize, tokens: &[&str]) -> Result<(), TextError> {
        let (_, value) = split_token(tokens[0]);
        let id = Self::set_id(n, tokens[0], value)?;
        let mut size_seen = false;
        for token in &tokens[1..] {
            match split_token(token) {
                ("size", v) => Self::size(n, token, v, &mut size_seen)?,
                _ => {
                    return Err(err(
                        n,
                        format!("unknown keyword '{token}' in a rule-set header (only size:N)"),
                    ))
                }
            }
        }
        if self.table.rule_sets.contains_key(&id) {
            return Err(err(n, format!("rule-set {id} is defined twice")));
        }
        self.table.rule_sets.insert(
            id,
            RuleSet {
                rules: Vec::new(),
                default: Target::Fail,
            },
        );
        self.current = Current::Rules {
            id,
            has_default: false,
        };
        Ok(())
    }

    fn map_set_header(&mut self, n: usize, tokens: &[&str]) -> Result<(), TextError> {
        let (_, value) = split_token(tokens[0]);
        let id = Self::set_id(n, tokens[0], value)?;
        let spec = key_spec(n, &tokens[1..], true)?;
        if self.table.map_sets.contains_key(&id) {
            return Err(err(n, format!("map-set {id} is defined twice")));
        }
        self.table.map_sets.insert(
            id,
            MapSet {
                spec,
                entries: HashMap::new(),
                default: Target::Fail,
            },
        );
        self.current = Current::Map {
            id,
            has_default: false,
        };
        Ok(())
    }

    fn default(&mut self, n: usize, tokens: &[&str]) -> Result<(), TextError> {
        // `default:ACTION` (the wiki's form) or `default ACTION`.
        let action_text = match (split_token(tokens[0]).1, tokens.len()) {
            (Some(rest), 1) => rest,
            (None, 2) => tokens[1],
            (Some(_), _) => {
                return Err(err(
                    n,
                    format!("unexpected '{}' after '{}'", tokens[1], tokens[0]),
                ))
            }
            (None, 1) => return Err(err(n, "'default' needs an action")),
            (None, _) => {
                return Err(err(
                    n,
                    format!("unexpected '{}' after the default action", tokens[2]),
                ))
            }
        };
        let target = action(n, action_text)?
            .ok_or_else(|| err(n, format!("'{action_text}' is not an action (jump-unix:, jump-fd:, jump-map:, jump-rule:, fail)")))?;
        let (set, has_default) = match &mut self.current {
            Current::None => return Err(err(n, "'default' outside a set")),
            Current::Rules { id, has_default } => (
                &mut self
                    .table
                    .rule_sets
                    .get_mut(id)
                    .expect("current set exists")
                    .default,
                has_default,
            ),
            Current::Map { id, has_default } => (
                &mut self
                    .table
                    .map_sets
                    .get_mut(id)
                    .expect("current set exists")
                    .default,
                has_default,
            ),
        };
        if std::mem::replace(has_default, true) {
            return Err(err(n, "a second 'default' in the same set"));
        }
        *set = target.clone();
        self.note_jump(n, &target);
        Ok(())
    }

    /// The fields and the one action of a rule or map entry.
    fn fields(n: usize, tokens: &[&str]) -> Result<(Fields, Target), TextError> {
        let mut f = Fields::default();
        let mut target = None;
        for token in tokens {
            if let Some(t) = action(n, token)? {
                if target.is_some() {
                    return Err(err(n, format!("a second action '{token}'")));
                }
                target = Some(t);
                continue;
            }
            if target.is_some() {
                return Err(err(
                    n,
                    format!("'{token}' after the action (the action comes last)"),
                ));
            }
            let (key, value) = split_token(token);
            let field = match key {
                "ip" => &mut f.ip,
                "rip" => &mut f.rip,
                "port" => &mut f.port,
                "rport" => &mut f.rport,
                _ => {
                    return Err(err(
                        n,
                        format!("unknown keyword '{token}' (expected ip:, port:, rip:, rport: or an action)"),
                    ))
                }
            };
            let value = value.ok_or_else(|| err(n, format!("'{token}': missing ':' and value")))?;
            if field
                .replace((token.to_string(), value.to_string()))
                .is_some()
            {
                return Err(err(n, format!("'{key}:' given twice")));
            }
        }
        let target = target.ok_or_else(|| {
            err(
                n,
                "no action (jump-unix:PATH, jump-fd:N, jump-map:K, jump-rule:K or fail)",
            )
        })?;
        Ok((f, target))
    }

    fn rule(&mut self, n: usize, tokens: &[&str]) -> Result<Rule, TextError> {
        let (f, target) = Self::fields(n, tokens)?;
        let port = |field: &Option<(String, String)>| -> Result<Option<u16>, TextError> {
            field
                .as_ref()
                .map(|(tok, v)| number::<u16>(n, tok, v))
                .transpose()
        };
        let ip = |field: &Option<(String, String)>| -> Result<Option<IpMatch>, TextError> {
            field
                .as_ref()
                .map(|(tok, v)| ip_match(n, tok, v))
                .transpose()
        };
        Ok(Rule {
            listener: None,
            local_ip: ip(&f.ip)?,
            local_port: port(&f.port)?,
            remote_ip: ip(&f.rip)?,
            remote_port: port(&f.rport)?,
            target,
        })
    }

    fn map_entry(&mut self, n: usize, id: u32, tokens: &[&str]) -> Result<(), TextError> {
        let (f, target) = Self::fields(n, tokens)?;
        let spec = self.table.map_sets[&id].spec;
        let check = |field: &Option<(String, String)>, keyed: bool, name: &str, header: &str| match (
            field, keyed,
        ) {
            (Some((tok, _)), false) => Err(err(
                n,
                format!(
                    "'{tok}': map-set {id} does not key on {name} (its header has no {header})"
                ),
            )),
            (None, true) => Err(err(
                n,
                format!("entry lacks '{name}:', which map-set {id} keys on ({header})"),
            )),
            _ => Ok(()),
        };
        check(&f.ip, spec.local_ip_len > 0, "ip", "match-lip")?;
        check(&f.rip, spec.remote_ip_len > 0, "rip", "match-rip")?;
        check(&f.port, spec.local_port, "port", "match-lport")?;
        check(&f.rport, spec.remote_port, "rport", "match-rport")?;
        let addr =
            |field: &Option<(String, String)>, len: u8, kw: &str| -> Result<Ipv6Addr, TextError> {
                match field {
                    Some((tok, v)) => map_address(n, tok, v, len, kw),
                    None => Ok(Ipv6Addr::UNSPECIFIED),
                }
            };
        let port = |field: &Option<(String, String)>| -> Result<u16, TextError> {
            field
                .as_ref()
                .map_or(Ok(0), |(tok, v)| number::<u16>(n, tok, v))
        };
        let key = MapKey {
            local_ip: addr(&f.ip, spec.local_ip_len, "match-lip")?,
            remote_ip: addr(&f.rip, spec.remote_ip_len, "match-rip")?,
            local_port: port(&f.port)?,
            remote_port: port(&f.rport)?,
        };
        if let Some(first) = self.map_lines.insert((id, key), n) {
            return Err(err(
                n,
                format!("map-set {id} already has this key (line {first})"),
            ));
        }
        self.note_jump(n, &target);
        self.table
            .map_sets
            .get_mut(&id)
            .expect("current set exists")
            .entries
            .insert(key, target);
        Ok(())
    }
}

/// The field tokens of one rule or map entry: (whole token, value after ':').
#[derive(Default)]
struct Fields {
    ip: Option<(String, String)>,
    rip: Option<(String, String)>,
    port: Option<(String, String)>,
    rport: Option<(String, String)>,
}

/// Parses a whole socketbox text config. The table starts at rule-set 0.
pub fn parse(text: &str) -> Result<RouteTable, TextError> {
    let mut p = Parser::new();
    let mut last_line = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        last_line = n;
        let tokens: Vec<&str> = raw
            .split_whitespace()
            .take_while(|t| !t.starts_with('#'))
            .collect();
        if tokens.is_empty() {
            continue;
        }
        p.line(n, &tokens)?;
    }
    for (n, target) in &p.jumps {
        let exists = match target {
            Target::JumpRule(id) => p.table.rule_sets.contains_key(id),
            Target::JumpMap(id) => p.table.map_sets.contains_key(id),
            _ => true,
        };
        if !exists {
            let (kind, id) = match target {
                Target::JumpRule(id) => ("rule-set", id),
                Target::JumpMap(id) => ("map-set", id),
                _ => unreachable!("only jumps are recorded"),
            };
            return Err(err(
                *n,
                format!("'{target}': {kind} {id} is not defined in this file"),
            ));
        }
    }
    if !p.table.rule_sets.contains_key(&0) {
        return Err(err(
            last_line.max(1),
            "no rule-set:0 (lookup starts at rule-set 0)",
        ));
    }
    debug_assert_eq!(p.table.validate(), Ok(()));
    Ok(p.table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socketbox::table::{RouteError, Tuple};
    use proptest::prelude::*;

    /// The example config of the socketbox wiki page ("How we use socketbox"), verbatim.
    const WIKI_EXAMPLE: &str = "max-maps:100
max-rules:100
rule-set:0 size:100
ip:fd01:db8:1:40::/96 port:443 jump-map:2
ip:fd01:db8:1:40::/96 port:22 jump-map:3
ip:fd01:db8:1:40:0:64::/96 jump-map:1

map-set:1 size:100 match-lport:1
port:80 jump-unix:/nat64/nat64.sock
port:443 jump-unix:/nat64/nat64.sock
default:fail

map-set:2 size:100 match-lip:128
ip:fd01:db8:1:40::1:10 jump-unix:/vm7/sb-00443
ip:fd01:db8:1:40::1:11 jump-unix:/vm7/apache-00443
default:fail

map-set:3 size:100 match-lip:128
ip:fd01:db8:1:40::1:10 jump-unix:/vm7/sshd_socket
default:fail
";

    /// The same config as the older copy of the page shows it: no max-*, no defaults.
    const WIKI_EXAMPLE_OLD: &str = "rule-set:0 size:100
ip:fd01:db8:1:40::/96 port:443 jump-map:2
ip:fd01:db8:1:40::/96 port:22 jump-map:3
ip:fd01:db8:1:40:0:64::/96 jump-map:1

map-set:1 size:100 match-lport:1
port:80 jump-unix:/nat64/nat64.sock
port:443 jump-unix:/nat64/nat64.sock

map-set:2 size:100 match-lip:128
ip:fd01:db8:1:40::1:10 jump-unix:/vm7/sb-00443
ip:fd01:db8:1:40::1:11 jump-unix:/vm7/apache-00443

map-set:3 size:100 match-lip:128
ip:fd01:db8:1:40::1:10 jump-unix:/vm7/sshd_socket
";

    fn to(local: &str, port: u16) -> Tuple {
        Tuple {
            listener: 0,
            local_ip: local.parse().unwrap(),
            local_port: port,
            remote_ip: "fd01:db8:1:21:8d64:3353:1f4c:55e".parse().unwrap(),
            remote_port: 51000,
        }
    }

    fn unix(p: &str) -> Target {
        Target::Unix(p.to_string())
    }

    #[test]
    fn wiki_example_routes_as_documented() {
        for text in [WIKI_EXAMPLE, WIKI_EXAMPLE_OLD] {
            let t = parse(text).unwrap();
            assert_eq!(t.validate(), Ok(()));
            let cases: &[(&str, u16, Target)] = &[
                // The ssh session transcript.
                ("fd01:db8:1:40::1:10", 22, unix("/vm7/sshd_socket")),
                ("fd01:db8:1:40::1:11", 22, Target::Fail),
                ("fd01:db8:1:40::1:f", 22, Target::Fail),
                ("fd01:db8:1:40::1:0", 22, Target::Fail),
                // The wget transcript.
                ("fd01:db8:1:40::1:f", 443, Target::Fail),
                ("fd01:db8:1:40::1:10", 443, unix("/vm7/sb-00443")),
                ("fd01:db8:1:40::1:11", 443, unix("/vm7/apache-00443")),
                ("fd01:db8:1:40::1:12", 443, Target::Fail),
                ("fd01:db8:1:40::1:1f", 443, Target::Fail),
                ("fd01:db8:1:40::1234:5678", 443, Target::Fail),
                // The NAT64 range: ports 80 and 443 only.
                ("fd01:db8:1:40:0:64:c000:201", 80, unix("/nat64/nat64.sock")),
                (
                    "fd01:db8:1:40:0:64:c000:201",
                    443,
                    unix("/nat64/nat64.sock"),
                ),
                ("fd01:db8:1:40:0:64:c000:201", 22, Target::Fail),
                // Outside every rule: rule-set 0 has no default, so fail.
                ("fd01:db8:1:41::1:10", 443, Target::Fail),
                ("fd01:db8:1:40::1:10", 80, Target::Fail),
            ];
            for (ip, port, want) in cases {
                assert_eq!(t.route(&to(ip, *port)), Ok(want), "[{ip}]:{port}");
            }
        }
    }

    #[test]
    fn wiki_example_explained() {
        let t = parse(WIKI_EXAMPLE).unwrap();
        let (lines, res) = t.explain(&to("fd01:db8:1:40::1:10", 443));
        assert_eq!(res, Ok(&unix("/vm7/sb-00443")));
        assert!(
            lines[0].starts_with(
                "rule-set 0 rule 1 matched: ip:fd01:db8:1:40::/96 port:443 jump-map:2"
            ),
            "{lines:?}"
        );
        assert!(
            lines[1].contains(
                "map-set 2 key [lip fd01:db8:1:40::1:10/128] found -> jump-unix:/vm7/sb-00443"
            ),
            "{lines:?}"
        );
    }

    fn parse_err(text: &str) -> TextError {
        parse(text).expect_err(text)
    }

    fn assert_err(text: &str, line: usize, needle: &str) {
        let e = parse_err(text);
        assert_eq!(e.line, line, "{e}");
        assert!(e.message.contains(needle), "'{e}' lacks '{needle}'");
    }

    #[test]
    fn size_is_only_a_hint() {
        // socketbox crashed on both of these (S3).
        let over = "rule-set:0 size:1\nport:1 fail\nport:2 fail\nport:3 jump-fd:4\n";
        assert_eq!(parse(over).unwrap().rule_sets[&0].rules.len(), 3);
        let none =
            "rule-set:0\nport:1 jump-map:1\nmap-set:1 match-lport\nport:1 jump-fd:3\nport:2 fail\n";
        let t = parse(none).unwrap();
        assert_eq!(t.map_sets[&1].entries.len(), 2);
        assert_eq!(t.route(&to("::1", 1)), Ok(&Target::Fd(3)));
        assert_err("rule-set:0 size:x\n", 1, "'size:x'");
        assert_err("rule-set:0 size:1 size:2\n", 1, "twice");
    }

    #[test]
    fn exact_keywords_only() {
        // socketbox took any prefix of a keyword (S3): `i:` was `ip:`.
        assert_err(
            "rule-set:0\ni:fd00::/8 fail\n",
            2,
            "unknown keyword 'i:fd00::/8'",
        );
        assert_err("rule-set:0\nipx:fd00::/8 fail\n", 2, "'ipx:fd00::/8'");
        assert_err("rule-se:0\n", 1, "'rule-se:0'");
        assert_err("rule-set:0\nport:1 jump-uni:/x\n", 2, "'jump-uni:/x'");
        assert_err("rule-set:0\nport:1 fai\n", 2, "'fai'");
        assert_err("map-set:1 match-l:128\n", 1, "'match-l:128'");
        assert_err("rule-set:0\ndefault:fa\n", 2, "'fa' is not an action");
    }

    #[test]
    fn any_whitespace_separates() {
        // socketbox corrupted a line with a tab after its second token (S3).
        let t = parse("\trule-set:0   size:4\r\nip:fd00::/8\tport:22\t \tjump-unix:/a\r\n  default \t jump-fd:7\n").unwrap();
        let set = &t.rule_sets[&0];
        assert_eq!(set.rules.len(), 1);
        assert_eq!(set.rules[0].local_port, Some(22));
        assert_eq!(set.rules[0].target, unix("/a"));
        assert_eq!(set.default, Target::Fd(7));
    }

    #[test]
    fn errors_stay_on_one_line() {
        let e = parse_err("rule-set:0\nport:1 jump-uni:\x1b[2J\x00\n");
        assert!(!e.message.chars().any(char::is_control), "{e}");
        assert!(e.message.contains("\\u{1b}"), "{e}");
    }

    #[test]
    fn comments_and_blank_lines() {
        let t = parse("# routes\n\nrule-set:0 # the start\n  # indented comment\nport:1 jump-unix:/run/#//0_/s #trailing\n").unwrap();
        assert_eq!(t.rule_sets[&0].rules[0].target, unix("/run/#//0_/s"));
    }

    #[test]
    fn address_forms() {
        let t = parse(
            "rule-set:0
ip:::ffff:192.0.2.0/120 port:1 jump-fd:1
ip:192.0.2.0/24 port:2 jump-fd:2
ip:192.0.2.0/255.255.255.0 port:3 jump-fd:3
ip:::ffff:192.0.2.0/255.255.255.0 port:4 jump-fd:4
ip:2001:db8::/ffff:ffff:: port:5 jump-fd:5
rip:2001:db8::7 rport:9 jump-fd:6
",
        )
        .unwrap();
        let rules = &t.rule_sets[&0].rules;
        let v4 = IpMatch {
            addr: "::ffff:192.0.2.0".parse().unwrap(),
            mask: prefix_mask(120),
        };
        for r in &rules[..4] {
            assert_eq!(r.local_ip, Some(v4), "{r}");
        }
        assert_eq!(
            rules[4].local_ip,
            Some(IpMatch::prefix("2001:db8::".parse().unwrap(), 32))
        );
        assert_eq!(
            rules[5].remote_ip,
            Some(IpMatch::prefix("2001:db8::7".parse().unwrap(), 128))
        );
        assert_eq!(rules[5].remote_port, Some(9));
        assert_eq!(t.route(&to("::ffff:192.0.2.77", 3)), Ok(&Target::Fd(3)));
        assert_eq!(t.route(&to("::ffff:192.0.3.77", 3)), Ok(&Target::Fail));
        assert_err("rule-set:0\nip:192.0.2.0/33 fail\n", 2, "above 32");
        assert_err("rule-set:0\nip:2001:db8::/129 fail\n", 2, "above 128");
        assert_err("rule-set:0\nip:2001:db8::/255.0.0.0 fail\n", 2, "IPv4 mask");
        assert_err("rule-set:0\nip:2001:db8::/x fail\n", 2, "'x' is neither");
        assert_err(
            "rule-set:0\nip:example.com fail\n",
            2,
            "not an IPv6 or IPv4 address",
        );
        assert_err("rule-set:0\nport:65536 fail\n", 2, "'port:65536'");
        assert_err("rule-set:0\nport:+5 fail\n", 2, "decimal");
        assert_err("rule-set:0\nport: fail\n", 2, "'port:'");
    }

    #[test]
    fn map_entries_must_match_the_key() {
        let base = "rule-set:0\ndefault:jump-map:1\nmap-set:1 match-lip:64 match-rport\n";
        let t = parse(&format!(
            "{base}ip:fd00:1:2:3::/64 rport:5 jump-fd:1\nip:192.0.2.0 rport:5 jump-fd:2\n"
        ));
        assert!(t.is_err(), "192.0.2.0 has bits beyond /64");
        let t = parse(&format!("{base}ip:fd00:1:2:3:: rport:5 jump-fd:1\n")).unwrap();
        let mut probe = to("fd00:1:2:3:4:5:6:7", 1);
        probe.remote_port = 5;
        assert_eq!(t.route(&probe), Ok(&Target::Fd(1)));
        assert_err(
            &format!("{base}ip:fd00:1:2:3::1 rport:5 fail\n"),
            4,
            "bits beyond",
        );
        assert_err(
            &format!("{base}ip:fd00:1:2:3::/48 rport:5 fail\n"),
            4,
            "prefix length differs",
        );
        assert_err(
            &format!("{base}ip:fd00:1:2:3:: fail\n"),
            4,
            "lacks 'rport:'",
        );
        assert_err(
            &format!("{base}ip:fd00:1:2:3:: rport:5 port:1 fail\n"),
            4,
            "does not key on port",
        );
        assert_err(
            &format!("{base}ip:fd00:1:2:3:: rport:5 fail\nip:fd00:1:2:3:: rport:5 fail\n"),
            5,
            "line 4",
        );
        // IPv4 in maps: mapped, LEN counted in IPv4 bits.
        let t = parse(
            "rule-set:0\ndefault:jump-map:1\nmap-set:1 match-lip:120\nip:192.0.2.0/24 jump-fd:4\n",
        )
        .unwrap();
        assert_eq!(t.route(&to("::ffff:192.0.2.9", 1)), Ok(&Target::Fd(4)));
    }

    #[test]
    fn structure_errors() {
        assert_err("", 1, "no rule-set:0");
        assert_err("rule-set:1\nfail\n", 2, "no rule-set:0");
        assert_err("port:1 fail\n", 1, "outside a set");
        assert_err("default:fail\n", 1, "outside a set");
        assert_err(
            "rule-set:0\nport:1 jump-map:9\n",
            2,
            "map-set 9 is not defined",
        );
        assert_err(
            "rule-set:0\ndefault jump-rule:3\n",
            2,
            "rule-set 3 is not defined",
        );
        assert_err("rule-set:0\nrule-set:0\n", 2, "defined twice");
        assert_err(
            "rule-set:0\ndefault:fail\nport:1 fail\n",
            3,
            "after the default",
        );
        assert_err(
            "rule-set:0\ndefault:fail\ndefault:fail\n",
            3,
            "second 'default'",
        );
        assert_err("rule-set:0\nport:1\n", 2, "no action");
        assert_err("rule-set:0\nport:1 fail fail\n", 2, "second action");
        assert_err("rule-set:0\nfail port:1\n", 2, "after the action");
        assert_err("rule-set:0\nport:1 port:2 fail\n", 2, "given twice");
        assert_err("rule-set:0\nport:1 jump-unix:\n", 2, "empty path");
        assert_err("rule-set:0\nport:1 jump-fd:-1\n", 2, "decimal");
        assert_err("rule-set:0\nport:1 fail:3\n", 2, "takes no value");
        assert_err("rule-set:0 extra\n", 1, "'extra'");
        assert_err("max-maps:x\n", 1, "'max-maps:x'");
        assert_err("max-rules\n", 1, "missing ':'");
        assert_err("rule-set:0\ndefault\n", 2, "needs an action");
        assert_err("map-set:1 match-lip:129\nrule-set:0\n", 1, "above 128");
        assert_err("map-set:1 match-lport:2\n", 1, "match-lport:0");
        assert_err("map-set:1 match-lport match-lport:0\n", 1, "given twice");
        // A loop is legal config; the lookup bounds it.
        let t = parse("rule-set:0\ndefault:jump-rule:0\n").unwrap();
        assert_eq!(t.route(&to("::1", 1)), Err(RouteError::JumpLimit));
    }

    #[test]
    fn map_key_spec_from_str() {
        let spec: MapKeySpec = "match-lip:64\tmatch-rport".parse().unwrap();
        assert_eq!(
            spec,
            MapKeySpec {
                local_ip_len: 64,
                remote_port: true,
                ..Default::default()
            }
        );
        assert_eq!(spec.to_string(), "match-lip:64 match-rport:1");
        assert_eq!("".parse::<MapKeySpec>(), Ok(MapKeySpec::default()));
        assert!("size:3"
            .parse::<MapKeySpec>()
            .unwrap_err()
            .contains("unknown keyword 'size:3'"));
        assert!("match-rip:200"
            .parse::<MapKeySpec>()
            .unwrap_err()
            .contains("above 128"));
    }

    proptest! {
        #[test]
        fn map_key_spec_display_round_trips(l in 0u8..=128, r in 0u8..=128, lp: bool, rp: bool) {
            let spec = MapKeySpec { local_ip_len: l, remote_ip_len: r, local_port: lp, remote_port: rp };
            prop_assert_eq!(spec.to_string().parse::<MapKeySpec>(), Ok(spec));
        }

        #[test]
        fn never_panics_on_arbitrary_text(text in "\\PC{0,200}") {
            let _ = parse(&text);
        }

        #[test]
        fn never_panics_on_config_like_text(lines in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![
                Just("rule-set:0".to_string()), Just("map-set:1".to_string()), Just("size:3".to_string()),
                Just("match-lip:64".to_string()), Just("match-rport".to_string()), Just("default".to_string()),
                Just("fail".to_string()), Just("jump-map:1".to_string()), Just("jump-rule:0".to_string()),
                Just("#".to_string()), Just("\t".to_string()),
                "(ip|rip):[0-9a-f:./]{0,20}", "(port|rport):[0-9]{0,6}", "jump-(unix|fd):[/0-9a-z#_]{0,8}",
            ], 0..6).prop_map(|toks| toks.join(" ")),
            0..12,
        )) {
            let text = lines.join("\n");
            if let Ok(table) = parse(&text) {
                prop_assert_eq!(table.validate(), Ok(()));
                let _ = table.route(&to("::1", 1));
            }
        }
    }
}
