//! `sockswap control`: write and explain unsock's 452-byte control files.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use sockswap_core::control::{ControlFile, Param};

#[derive(Subcommand)]
pub enum ControlCmd {
    /// Write a control file (refuses to overwrite an existing file unless --force).
    ///
    /// Put it where the socket file would be, e.g. $UNSOCK_DIR/8080.sock: a program under the
    /// shim that binds or connects to port 8080 then uses the destination it names.
    #[command(group(clap::ArgGroup::new("destination").required(true).multiple(false)))]
    Write {
        /// The file to write.
        file: PathBuf,
        /// AF_VSOCK destination: CID (number, any, host, local, hypervisor, -1) and port.
        #[arg(long, value_name = "CID:PORT", group = "destination")]
        vsock: Option<String>,
        /// Firecracker-style hybrid vsock: the VMM's Unix socket and the guest port.
        #[arg(long, value_name = "PATH:PORT", group = "destination")]
        hybrid: Option<String>,
        /// AF_TIPC destination, the five values of a struct sockaddr_tipc as unsock takes them:
        /// address type (1 service range, 2 service, 3 socket), scope (2 cluster, 3 node),
        /// then type, lower, upper — e.g. 2:2:128:99:0 (service 128, instance 99).
        #[arg(
            long,
            value_name = "ADDRTYPE:SCOPE:TYPE:LOWER:UPPER",
            group = "destination"
        )]
        tipc: Option<String>,
        /// A socket option for the replacement socket (at most 4): LEVEL:NAME:VALUE, e.g.
        /// socket:SO_RCVBUF:262144 or socket:SO_RCVTIMEO:2.5 (seconds) or 1:8:65536.
        #[arg(long = "sockopt", value_name = "LEVEL:NAME:VALUE")]
        sockopts: Vec<String>,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Explain a control file (or say why it is not one).
    Show {
        file: PathBuf,
        /// Also print the 452 bytes in hex.
        #[arg(long)]
        hex: bool,
    },
}

pub fn run(cmd: ControlCmd) -> Result<ExitCode, String> {
    match cmd {
        ControlCmd::Write {
            file,
            vsock,
            hybrid,
            tipc,
            sockopts,
            force,
        } => {
            let mut cf = match (vsock, hybrid, tipc) {
                (None, None, Some(t)) => parse_tipc(&t)?,
                (Some(v), None, None) => {
                    let (cid, port) = parse_vsock(&v)?;
                    ControlFile::vsock(cid, port)
                }
                (None, Some(h), None) => {
                    let (path, port) = h
                        .rsplit_once(':')
                        .ok_or_else(|| format!("--hybrid '{h}': expected PATH:PORT"))?;
                    let port = parse_u32(port, "--hybrid port")?;
                    let abs =
                        std::path::absolute(path).map_err(|e| format!("--hybrid '{path}': {e}"))?;
                    let bytes = abs.as_os_str().as_encoded_bytes();
                    ControlFile::firecracker(bytes, port).ok_or_else(|| {
                        format!(
                            "--hybrid '{}': too long for a Unix socket (107 bytes)",
                            abs.display()
                        )
                    })?
                }
                _ => return Err("give exactly one of --vsock, --hybrid or --tipc".into()),
            };
            for o in &sockopts {
                let p = parse_sockopt(o)?;
                if !cf.add_param(p) {
                    return Err(format!(
                        "--sockopt '{o}': a control file holds at most 4 options"
                    ));
                }
            }
            let mut opts = OpenOptions::new();
            opts.write(true).mode(0o644);
            if force {
                opts.create(true).truncate(true);
            } else {
                opts.create_new(true);
            }
            let mut f = opts
                .open(&file)
                .map_err(|e| format!("cannot create '{}': {e}", file.display()))?;
            f.write_all(&cf.encode())
                .map_err(|e| format!("cannot write '{}': {e}", file.display()))?;
            print!("{}: {cf}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        ControlCmd::Show { file, hex } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| format!("cannot read '{}': {e}", file.display()))?;
            let cf = ControlFile::decode(&bytes)
                .map_err(|e| format!("'{}' is not a control file: {e}", file.display()))?;
            print!("{}: {cf}", file.display());
            if hex {
                for (i, chunk) in bytes.chunks(16).enumerate() {
                    let h: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
                    println!("{:04x}  {}", i * 16, h.join(" "));
                }
            }
            if let Err(e) = cf.target() {
                return Err(format!("'{}': {e}", file.display()));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn parse_u32(s: &str, what: &str) -> Result<u32, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{what} '{s}': expected a number 0-4294967295"))
}

fn parse_vsock(v: &str) -> Result<(u32, u32), String> {
    let (cid, port) = v
        .rsplit_once(':')
        .ok_or_else(|| format!("--vsock '{v}': expected CID:PORT"))?;
    let cid = sockswap_core::control::parse_vsock_cid(cid).ok_or_else(|| {
        format!("--vsock CID '{cid}': expected a number, -1, any, host, local or hypervisor")
    })?;
    Ok((cid, parse_u32(port, "--vsock port")?))
}

fn parse_tipc(t: &str) -> Result<ControlFile, String> {
    let parts: Vec<&str> = t.split(':').collect();
    let [addrtype, scope, ty, lower, upper] = parts[..] else {
        return Err(format!(
            "--tipc '{t}': expected ADDRTYPE:SCOPE:TYPE:LOWER:UPPER, e.g. 2:2:128:99:0"
        ));
    };
    let small = |s: &str, what: &str| {
        s.trim()
            .parse::<u8>()
            .map_err(|_| format!("--tipc {what} '{s}': expected a number 0-255"))
    };
    Ok(ControlFile::tipc(
        small(addrtype, "address type")?,
        small(scope, "scope")?,
        parse_u32(ty, "--tipc type")?,
        parse_u32(lower, "--tipc lower")?,
        parse_u32(upper, "--tipc upper")?,
    ))
}

fn parse_sockopt(o: &str) -> Result<Param, String> {
    let parts: Vec<&str> = o.split(':').collect();
    let [level, name, value] = parts[..] else {
        return Err(format!("--sockopt '{o}': expected LEVEL:NAME:VALUE"));
    };
    let level_n: u32 = match level.to_ascii_lowercase().as_str() {
        "socket" | "sol_socket" => libc::SOL_SOCKET as u32,
        "tcp" | "ipproto_tcp" => libc::IPPROTO_TCP as u32,
        "vsock" | "af_vsock" => libc::AF_VSOCK as u32,
        n => parse_u32(n, "--sockopt level")?,
    };
    let name_n: u32 = match name.to_ascii_uppercase().as_str() {
        "SO_RCVBUF" => libc::SO_RCVBUF as u32,
        "SO_SNDBUF" => libc::SO_SNDBUF as u32,
        "SO_RCVTIMEO" => libc::SO_RCVTIMEO as u32,
        "SO_SNDTIMEO" => libc::SO_SNDTIMEO as u32,
        "SO_KEEPALIVE" => libc::SO_KEEPALIVE as u32,
        "SO_PRIORITY" => libc::SO_PRIORITY as u32,
        "SO_RCVLOWAT" => libc::SO_RCVLOWAT as u32,
        "SO_VM_SOCKETS_BUFFER_SIZE" => 0,
        "SO_VM_SOCKETS_BUFFER_MIN_SIZE" => 1,
        "SO_VM_SOCKETS_BUFFER_MAX_SIZE" => 2,
        _ => parse_u32(name, "--sockopt name")?,
    };
    if level_n == 0 || name_n == 0 {
        return Err(format!(
            "--sockopt '{o}': level and name must be non-zero (readers skip zero entries)"
        ));
    }
    let probe = Param::int(level_n, name_n, 0);
    if probe.is_timeval() {
        let secs: f64 = value
            .parse()
            .ok()
            .filter(|s: &f64| *s >= 0.0 && s.is_finite())
            .ok_or_else(|| format!("--sockopt '{o}': expected seconds, e.g. 2.5"))?;
        let whole = secs.trunc() as i64;
        let usecs = ((secs - secs.trunc()) * 1e6).round() as i64;
        return Ok(Param::timeval(level_n, name_n, whole, usecs));
    }
    let v: i32 = value
        .parse()
        .map_err(|_| format!("--sockopt '{o}': expected a 32-bit integer value"))?;
    Ok(Param::int(level_n, name_n, v))
}
