//! Command line: socketbox's short flags (getopt style: `-tF`, `-p80`, `-p 80`) plus long options
//! for what the native config adds. Pure: argv in, `Options` out.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Run the router.
    Run,
    /// Load the config, print a summary, exit 0 if valid.
    Check,
    /// Explain where a tuple goes: listener, local ip, local port, remote ip, remote port.
    Explain {
        listener: u32,
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// Print the status of a running router (connect to its status socket).
    Status {
        path: String,
    },
    Help,
    Version,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `-f`: config file (text, or native TOML by `.toml`, or python-socketbox JSON by `.json`).
    pub config_file: Option<String>,
    /// `--format text|toml|json`, overriding the extension.
    pub format: Option<String>,
    /// `-l`: listen address (IPv6, or IPv4 given as such or as `::ffff:`).
    pub listen_addr: Option<IpAddr>,
    /// `-p`: listen port.
    pub port: Option<u16>,
    pub transparent: bool,               // -t
    pub freebind: bool,                  // -F
    pub no_reuseaddr: bool,              // -R
    pub reuseport: bool,                 // -r
    pub inherit_fd: Option<i32>,         // -s
    pub user: Option<String>,            // -u
    pub group: Option<String>,           // -g
    pub groups: Option<String>,          // -G (comma separated)
    pub keep_groups: bool,               // -k
    pub chroot: Option<String>,          // -x
    pub send_path: Option<String>,       // -S
    pub send_fd: Option<i32>,            // -i
    pub backlog: Option<i32>,            // -b
    pub b_client: Option<(u32, String)>, // -P NR:PATH
    pub templates: bool,                 // -U
    /// `--listen SPEC` (repeatable): `ADDR:PORT[,opt...]`, `unix:PATH[,opt...]`, `fd:N`, `systemd`.
    pub listen: Vec<String>,
    pub status: Option<String>,
    pub workers: Option<usize>,
    pub queue_len: Option<usize>,
    pub queue_timeout_ms: Option<u64>,
    pub log_level: Option<String>,
    pub target_owner: Vec<(String, u32)>,
    pub allow_new_privs: bool,
    /// `-e PROGRAM [ARGS]`: run PROGRAM instead of routing, the listening socket (bound, not
    /// listening, as socketbox leaves it) in SKBOX_LISTEN_FD.
    pub exec: Option<Vec<String>>,
    pub daemonize: bool,         // -d
    pub clear_transparent: bool, // -z
    /// `--handover listener` (with -S): hand the target a listening socket once instead of
    /// each connection.
    pub handover_listener: bool,
}

pub const USAGE: &str = "\
usage: socketbox [options]                 run the router
       socketbox check [options]           load the config, print it, exit 0 if valid
       socketbox explain [options] LOCAL_IP LOCAL_PORT REMOTE_IP REMOTE_PORT [LISTENER]
       socketbox status PATH [--format prometheus]
                                           print the counters of a running router
       socketbox socket-server --listen PATH --allow tcp|udp:PORTS ...
                                           create sockets for netns= clients (see --help there)
       socketbox xsocket-server [PATH] --allow tcp|udp:PORTS ...
                                           the same as xsocket's server (also run as xsocket-server)
       socketbox inetd|inetd-p|relay|send-receive-fd|socket-query ARGS...
                                           socketbox's receiving-side programs, also run by
                                           their own names (socketbox-inetd, ...)
socketbox flags:
  -f FILE     config (text; .toml = native; .json = python-socketbox)   [/etc/socketbox.conf]
  -l ADDR     listen address (IPv6, IPv4 or ::ffff:IPv4)                [::]
  -p PORT     listen port
  -t          IPV6_TRANSPARENT (TPROXY)      -F  IPV6_FREEBIND
  -R          clear SO_REUSEADDR             -r  SO_REUSEPORT
  -s FD       use the inherited listening socket FD
  -u USER     run as USER    -g GROUP  run as GROUP    -G G1,G2  supplementary groups
  -k          do not change groups           -x DIR    chroot
  -S PATH     send every connection to PATH (A protocol), no rules
  -i FD       send every connection to the inherited fd FD, no rules
  -b N        listen backlog                 -U        expand #//0_..#//7_ and #//P_ in paths
  -P NR:PATH  take connections from a B server at PATH, slot NR, instead of accept
  -e          run the program after the options instead (the socket in SKBOX_LISTEN_FD)
  -d          daemonize (after binding)      -z        clear IPV6_TRANSPARENT on each connection
long options:
  --listen SPEC        more listeners: [ADDR]:PORT or ADDR:PORT, unix:PATH, fd:N, systemd;
                       options after commas: transparent, freebind, reuseport, noreuseaddr,
                       backlog=N, mode=0660
  --format text|toml|json   --status PATH   --workers N   --queue-len N   --queue-timeout MS
  --log-level off|error|warn|info|debug|trace   --target-owner PREFIX=UID   --allow-new-privs
  --handover listener  with -S: hand the target one listening socket for its keys instead of
                       each connection (the kernel dispatches; see docs/router.md)
";

/// Parse an IP given as IPv6, IPv4, or `::ffff:a.b.c.d`.
pub fn parse_ip(s: &str) -> Result<IpAddr, String> {
    let t = s.trim_start_matches('[').trim_end_matches(']');
    t.parse::<IpAddr>()
        .map_err(|_| format!("not an IP address: '{s}'"))
}

/// IPv4 (or v4-mapped) → mapped IPv6, as the tables store them.
pub fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// A flag's number: decimal digits, no sign or leading zeros (sockswap_core::decimal).
fn parse_num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    sockswap_core::decimal::parse::<T>(v).ok_or_else(|| {
        format!("{flag}: not a valid number: '{v}' (decimal digits, no sign or leading zeros)")
    })
}

fn socket_addr(ip: &str, port: &str) -> Result<SocketAddr, String> {
    let ip = to_v6(parse_ip(ip)?);
    let port: u16 = parse_num("port", port)?;
    Ok(SocketAddr::new(IpAddr::V6(ip), port))
}

pub fn parse(args: &[String]) -> Result<(Mode, Options), String> {
    let mut o = Options::default();
    let mut positional = Vec::new();
    let mut mode_word: Option<String> = None;
    let mut i = 0;
    if let Some(first) = args.first() {
        if matches!(first.as_str(), "check" | "explain" | "status" | "help") {
            mode_word = Some(first.clone());
            i = 1;
        }
    }
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            positional.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let flagless = matches!(name, "check" | "help" | "version" | "allow-new-privs");
            let value = if flagless {
                if inline.is_some() {
                    return Err(format!("--{name} takes no value"));
                }
                String::new()
            } else if let Some(v) = inline {
                v
            } else if i < args.len() {
                i += 1;
                args[i - 1].clone()
            } else {
                return Err(format!("--{name} needs a value"));
            };
            match name {
                "check" => mode_word = Some("check".into()),
                "help" => mode_word = Some("help".into()),
                "version" => mode_word = Some("version".into()),
                "allow-new-privs" => o.allow_new_privs = true,
                "config" => o.config_file = Some(value),
                "format" => {
                    if !matches!(value.as_str(), "text" | "toml" | "json" | "prometheus") {
                        return Err(format!(
                            "--format: expected text, toml or json (status: text or prometheus), got '{value}'"
                        ));
                    }
                    o.format = Some(value)
                }
                "listen" => o.listen.push(value),
                "handover" => {
                    if value != "listener" {
                        return Err(format!("--handover: expected 'listener', got '{value}'"));
                    }
                    o.handover_listener = true
                }
                "status" => o.status = Some(value),
                "workers" => {
                    let n: usize = parse_num("--workers", &value)?;
                    if n == 0 || n > 256 {
                        return Err("--workers: expected 1..256".into());
                    }
                    o.workers = Some(n)
                }
                "queue-len" => o.queue_len = Some(parse_num("--queue-len", &value)?),
                "queue-timeout" => o.queue_timeout_ms = Some(parse_num("--queue-timeout", &value)?),
                "log-level" => {
                    if crate::log::Level::parse(&value).is_none() {
                        return Err(format!(
                            "--log-level: expected off, error, warn, info, debug or trace, got '{value}'"
                        ));
                    }
                    o.log_level = Some(value)
                }
                "target-owner" => {
                    let (p, u) = value.rsplit_once('=').ok_or_else(|| {
                        format!("--target-owner: expected PREFIX=UID, got '{value}'")
                    })?;
                    o.target_owner
                        .push((p.to_string(), parse_num("--target-owner", u)?));
                }
                _ => return Err(format!("unknown option --{name}")),
            }
            continue;
        }
        if a.len() >= 2 && a.starts_with('-') {
            // getopt-style cluster.
            let bytes: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < bytes.len() {
                let f = bytes[j];
                j += 1;
                let takes_value = "flpsugGxSibP".contains(f);
                let value = if takes_value {
                    if j < bytes.len() {
                        let v: String = bytes[j..].iter().collect();
                        j = bytes.len();
                        v
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(format!("-{f} needs a value"));
                    }
                } else {
                    String::new()
                };
                match f {
                    'f' => o.config_file = Some(value),
                    'l' => o.listen_addr = Some(parse_ip(&value).map_err(|e| format!("-l: {e}"))?),
                    'p' => o.port = Some(parse_num("-p", &value)?),
                    't' => o.transparent = true,
                    'F' => o.freebind = true,
                    'R' => o.no_reuseaddr = true,
                    'r' => o.reuseport = true,
                    's' => o.inherit_fd = Some(parse_num("-s", &value)?),
                    'u' => o.user = Some(value),
                    'g' => o.group = Some(value),
                    'G' => o.groups = Some(value),
                    'k' => o.keep_groups = true,
                    'x' => o.chroot = Some(value),
                    'S' => o.send_path = Some(value),
                    'i' => o.send_fd = Some(parse_num("-i", &value)?),
                    'b' => o.backlog = Some(parse_num("-b", &value)?),
                    'P' => {
                        let (nr, path) = value
                            .split_once(':')
                            .ok_or_else(|| format!("-P: expected NR:PATH, got '{value}'"))?;
                        o.b_client = Some((parse_num("-P", nr)?, path.to_string()));
                    }
                    'U' => o.templates = true,
                    'e' => o.exec = Some(Vec::new()),
                    'd' => o.daemonize = true,
                    'z' => o.clear_transparent = true,
                    'h' => mode_word = Some("help".into()),
                    _ => return Err(format!("unknown flag -{f}")),
                }
            }
            continue;
        }
        if let Some(program) = &mut o.exec {
            // -e: the program and its arguments end the options (socketbox's getopt "+").
            program.extend(args[i - 1..].iter().cloned());
            break;
        }
        positional.push(a.clone());
    }
    if o.exec.as_ref().is_some_and(Vec::is_empty) {
        return Err("-e: no program given (socketbox -e [options] PROGRAM [ARGS])".into());
    }
    if o.send_path.is_some() && o.send_fd.is_some() {
        return Err("-S and -i are exclusive".into());
    }
    if o.format.as_deref() == Some("prometheus") && mode_word.as_deref() != Some("status") {
        return Err("--format prometheus is for `socketbox status`".into());
    }
    let mode = match mode_word.as_deref() {
        None => Mode::Run,
        Some("check") => Mode::Check,
        Some("help") => Mode::Help,
        Some("version") => Mode::Version,
        Some("status") => {
            let path = positional
                .first()
                .cloned()
                .or_else(|| o.status.clone())
                .ok_or("status: which status socket? (status PATH)")?;
            if !matches!(o.format.as_deref(), None | Some("text" | "prometheus")) {
                return Err("status --format: expected text or prometheus".into());
            }
            return Ok((Mode::Status { path }, o));
        }
        Some("explain") => {
            if positional.len() != 4 && positional.len() != 5 {
                return Err(
                    "explain: expected LOCAL_IP LOCAL_PORT REMOTE_IP REMOTE_PORT [LISTENER]".into(),
                );
            }
            let local = socket_addr(&positional[0], &positional[1])?;
            let remote = socket_addr(&positional[2], &positional[3])?;
            let listener = match positional.get(4) {
                Some(l) => parse_num("listener", l)?,
                None => 0,
            };
            return Ok((
                Mode::Explain {
                    listener,
                    local,
                    remote,
                },
                o,
            ));
        }
        Some(other) => return Err(format!("unknown command '{other}'")),
    };
    if let Some(p) = positional.first() {
        return Err(format!("unexpected argument '{p}'"));
    }
    Ok((mode, o))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<(Mode, Options), String> {
        let v: Vec<String> = s.split_whitespace().map(String::from).collect();
        parse(&v)
    }

    #[test]
    fn socketbox_flags() {
        let (m, o) =
            p("-f /etc/sb.conf -l ::ffff:127.100.100.1 -p 1 -tF -r -b128 -U -u nobody -k").unwrap();
        assert_eq!(m, Mode::Run);
        assert_eq!(o.config_file.as_deref(), Some("/etc/sb.conf"));
        assert_eq!(o.listen_addr, Some("::ffff:127.100.100.1".parse().unwrap()));
        assert_eq!(o.port, Some(1));
        assert!(o.transparent && o.freebind && o.reuseport && o.templates && o.keep_groups);
        assert_eq!(o.backlog, Some(128));
        assert_eq!(o.user.as_deref(), Some("nobody"));
    }

    #[test]
    fn exec_daemon_clear_transparent() {
        // socketbox's getopt "+": the first non-option after -e starts the program.
        let (m, o) = p("-dz -p 80 -e /bin/prog -p 1 x").unwrap();
        assert_eq!(m, Mode::Run);
        assert!(o.daemonize && o.clear_transparent);
        assert_eq!(o.port, Some(80));
        assert_eq!(
            o.exec,
            Some(vec![
                "/bin/prog".into(),
                "-p".into(),
                "1".into(),
                "x".into()
            ])
        );
        assert!(p("-p 80 -e").unwrap_err().contains("no program"));
        assert!(
            p("-p 80 prog -e").is_err(),
            "a program before -e is a stray argument"
        );
    }

    #[test]
    fn ipv4_given_plain() {
        let (_, o) = p("-l 127.0.0.1 -p80").unwrap();
        assert_eq!(
            to_v6(o.listen_addr.unwrap()),
            "::ffff:127.0.0.1".parse::<Ipv6Addr>().unwrap()
        );
    }

    #[test]
    fn b_client_and_errors() {
        let (_, o) = p("-P 7:/run/sb.api").unwrap();
        assert_eq!(o.b_client, Some((7, "/run/sb.api".into())));
        assert!(p("-P 7").is_err());
        assert!(p("-p 70000").is_err());
        assert!(p("-Z").is_err());
        assert!(p("-S /a -i 3").is_err());
        assert!(p("-l nonsense").is_err());
        assert!(p("stray").is_err());
    }

    #[test]
    fn explain_and_status() {
        let (m, _) = p("explain -f x fd01::1 443 2001:db8::9 5555").unwrap();
        match m {
            Mode::Explain {
                listener,
                local,
                remote,
            } => {
                assert_eq!(listener, 0);
                assert_eq!(local.port(), 443);
                assert_eq!(remote.port(), 5555);
            }
            _ => panic!(),
        }
        let (m, _) = p("status /run/s").unwrap();
        assert_eq!(
            m,
            Mode::Status {
                path: "/run/s".into()
            }
        );
        let (_, o) = p(
            "--listen unix:/x --listen [::1]:80,reuseport --workers=2 --target-owner /run/a/=1000",
        )
        .unwrap();
        assert_eq!(o.listen.len(), 2);
        assert_eq!(o.workers, Some(2));
        assert_eq!(o.target_owner, vec![("/run/a/".into(), 1000)]);
    }
}
