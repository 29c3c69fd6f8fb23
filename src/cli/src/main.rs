//! `sockswap`: run a program under the shim with rules, check rules, explain a decision.

use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Args, Parser, Subcommand};

mod control;
mod ip2unix;
mod manual;
mod seccomp;
use sockswap_core::config::{parse_rules, rules_to_env, LOG_VAR, RULES_FILE_VAR, RULES_VAR};
use sockswap_core::rule::{first_match, Action, Direction, Query, QueryTarget, SockType};
use sockswap_core::template::Fill;
use sockswap_core::{Config, UnixName};

#[derive(Parser)]
#[command(
    name = "sockswap",
    version,
    about = "Move the TCP/IP sockets of unmodified programs onto Unix sockets",
    long_about = "Move the TCP/IP sockets of unmodified programs onto Unix sockets.\n\n\
        `sockswap run` starts a program with libsockswap.so preloaded and the rules in force: \
        each socket a rule matches is swapped in place for a Unix (or AF_VSOCK, or socketbox) \
        socket, and the program keeps seeing the TCP/IP addresses it expects. `check` validates \
        rules, `explain` says what a bind or connect becomes."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run PROGRAM with the shim preloaded and these rules in force.
    Run {
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        unsock: UnsockArgs,
        /// Validate the rules and exit without running anything (as ip2unix -c).
        #[arg(short = 'c', long = "check")]
        check_only: bool,
        /// Print the rules in force, in sockswap's rule syntax (stdout with -c, else stderr).
        #[arg(short = 'p', long = "print")]
        print: bool,
        /// Log level inside the program (off, error, warn, info, debug, trace).
        #[arg(long, value_name = "LEVEL")]
        log: Option<String>,
        /// More log output inside the program: -v info, -vv debug, -vvv trace (as ip2unix -v).
        #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count, conflicts_with = "log")]
        verbose: u8,
        /// The library to preload (default: found next to this program, or $SOCKSWAP_LIB).
        #[arg(long, value_name = "PATH")]
        lib: Option<PathBuf>,
        /// How the rules are enforced: preload (LD_PRELOAD library, dynamically linked
        /// programs), seccomp (a supervisor answering the program's socket system calls; any
        /// binary), auto (seccomp for static, Go and libc-less programs, else preload).
        #[arg(long, value_enum, default_value_t = Backend::Auto)]
        backend: Backend,
        /// Run the program even when the rules cannot be enforced on it (setuid programs).
        #[arg(long)]
        allow_bypass: bool,
        /// The program and its arguments.
        #[arg(
            required_unless_present = "check_only",
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PROGRAM"
        )]
        program: Vec<OsString>,
    },
    /// Validate the rules (and the SOCKSWAP_*/UNSOCK_* environment) and print them as parsed.
    Check {
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        unsock: UnsockArgs,
    },
    /// Say which rule decides a bind (in) or connect (out) to ADDR PORT, and the endpoint used.
    Explain {
        #[command(flatten)]
        rules: RuleArgs,
        #[command(flatten)]
        unsock: UnsockArgs,
        /// An IPv4 or IPv6 address (or a Unix path, or @abstract-name, for from-unix rules).
        addr: String,
        /// The port (ignored for Unix names).
        port: Option<u16>,
        /// Directions and types to explain: in, out, tcp, udp (default: both of each).
        #[arg(value_name = "in|out|tcp|udp")]
        filters: Vec<String>,
    },
    /// Write or explain unsock control files (AF_VSOCK, hybrid-vsock and AF_TIPC destinations).
    Control {
        #[command(subcommand)]
        cmd: control::ControlCmd,
    },
    /// Print the path of the library `run` preloads.
    Lib {
        #[arg(long, value_name = "PATH")]
        lib: Option<PathBuf>,
    },
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the sockswap(1) manual page (roff), as `make man` installs it.
    #[command(hide = true)]
    Manpage,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Backend {
    Preload,
    Seccomp,
    Auto,
}

/// Rules on the command line: -r first, then each -f file, then -F. They replace any
/// SOCKSWAP_RULES / SOCKSWAP_RULES_FILE inherited from the environment.
#[derive(Args)]
struct RuleArgs {
    /// A rule (repeatable), e.g. in,tcp,port=8080,path=/run/app.sock
    #[arg(short = 'r', long = "rule", value_name = "RULE")]
    rules: Vec<String>,
    /// A file of rules (repeatable): one per line, or ip2unix's YAML/JSON list of rule objects.
    // ip2unix's long name `file` is a hidden alias: the man page lists only visible names.
    #[arg(short = 'f', long = "rules-file", alias = "file", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// ip2unix's rules as YAML/JSON text: a list of rule objects.
    #[arg(short = 'F', long = "rules-data", value_name = "YAML")]
    data: Option<String>,
}

impl RuleArgs {
    /// The rules given on the command line, relative `path=` made absolute; None if none given.
    fn parse(&self) -> Result<Option<Vec<sockswap_core::Rule>>, Fail> {
        if self.rules.is_empty() && self.files.is_empty() && self.data.is_none() {
            return Ok(None);
        }
        let mut parsed = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            let rules = parse_rules(r).map_err(|e| Fail(format!("-r #{}: {e}", i + 1)))?;
            if rules.is_empty() {
                return Err(Fail(format!("-r #{}: empty rule '{r}'", i + 1)));
            }
            parsed.extend(rules);
        }
        for f in &self.files {
            let name = f.display().to_string();
            let text = read_rules_file(f).map_err(|e| Fail(format!("-f {name}: {e}")))?;
            match ip2unix::rules_if_yaml_list(&text, &name) {
                Some(rules) => parsed.extend(rules.map_err(Fail)?),
                None => {
                    parsed.extend(parse_rules(&text).map_err(|e| Fail(format!("{name}: {e}")))?)
                }
            }
        }
        if let Some(data) = &self.data {
            parsed.extend(ip2unix::rules_from_yaml(data, "-F").map_err(Fail)?);
        }
        let cwd = std::env::current_dir()?;
        let cwd = cwd.to_string_lossy();
        let parsed = parsed
            .into_iter()
            .map(|r| {
                let text = r.to_string();
                r.with_absolute_path(&cwd)
                    .map_err(|e| Fail(format!("rule '{text}' in {cwd}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(parsed))
    }
}

/// unsock's variables as options.
#[derive(Args)]
struct UnsockArgs {
    /// UNSOCK_DIR: the directory of the socket files unsock's rule uses
    #[arg(long, value_name = "DIR")]
    unsock_dir: Option<String>,
    /// UNSOCK_ADDR: the addresses unsock's rule converts
    #[arg(long, value_name = "ADDR[/LEN]")]
    unsock_addr: Option<String>,
    /// UNSOCK_PORT: the ports unsock's rule converts
    #[arg(long, value_name = "PORT")]
    unsock_port: Option<String>,
    /// UNSOCK_MODE: the socket files' permissions
    #[arg(long, value_name = "OCTAL")]
    unsock_mode: Option<String>,
    /// UNSOCK_BLOCK_INET: IPv4 binds and connects no rule covers fail with EACCES
    #[arg(long)]
    block_inet: bool,
    /// UNSOCK_BLOCK_INET6: socket(AF_INET6) fails with EAFNOSUPPORT
    #[arg(long)]
    block_inet6: bool,
    /// UNSOCK_ACCEPT_CONVERT_ALL: report other families' addresses as IP
    #[arg(long)]
    accept_convert_all: bool,
    /// UNSOCK_ACCEPT_CONVERT_VSOCK: report AF_VSOCK addresses as IP
    #[arg(long)]
    accept_convert_vsock: bool,
}

/// An error for the user: printed as one line, exit status 2.
struct Fail(String);

impl<E: std::fmt::Display> From<E> for Fail {
    fn from(e: E) -> Self {
        Fail(e.to_string())
    }
}

/// The environment the program will get: ours, with the command line's rules laid over it.
fn environment(rules: &RuleArgs, unsock: &UnsockArgs) -> Result<HashMap<String, String>, Fail> {
    let mut env: HashMap<String, String> = std::env::vars().collect();
    if let Some(parsed) = rules.parse()? {
        env.insert(RULES_VAR.into(), rules_to_env(&parsed));
        env.remove(RULES_FILE_VAR);
    }
    let mut set = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            env.insert(k.into(), v.clone());
        }
    };
    set("UNSOCK_DIR", &unsock.unsock_dir);
    set("UNSOCK_ADDR", &unsock.unsock_addr);
    set("UNSOCK_PORT", &unsock.unsock_port);
    set("UNSOCK_MODE", &unsock.unsock_mode);
    for (flag, var) in [
        (unsock.block_inet, "UNSOCK_BLOCK_INET"),
        (unsock.block_inet6, "UNSOCK_BLOCK_INET6"),
        (unsock.accept_convert_all, "UNSOCK_ACCEPT_CONVERT_ALL"),
        (unsock.accept_convert_vsock, "UNSOCK_ACCEPT_CONVERT_VSOCK"),
    ] {
        if flag {
            env.insert(var.into(), "1".into());
        }
    }
    Ok(env)
}

fn load(env: &HashMap<String, String>) -> Result<Config, Fail> {
    Config::from_env_and_dirs(
        &|k| env.get(k).cloned(),
        &|p| read_rules_file(std::path::Path::new(p)),
        &read_lookup_dir,
    )
    .map_err(Fail::from)
}

/// socketbox-preload's lookup files (`skbox_dir_*`) in `dir`, as the library reads them.
fn read_lookup_dir(dir: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_reason(&e))? {
        let entry = entry.map_err(|e| io_reason(&e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(sockswap_core::skbox::LOOKUP_PREFIX) {
            let bytes =
                std::fs::read(entry.path()).map_err(|e| format!("{name}: {}", io_reason(&e)))?;
            files.push((name, bytes));
        }
    }
    Ok(files)
}

/// A rules file, read as the library reads it: without blocking on a FIFO that has no writer
/// and at most `MAX_RULES_FILE` bytes.
fn read_rules_file(path: &std::path::Path) -> Result<String, String> {
    use sockswap_core::config::{MAX_RULES_FILE, READ_DEADLINE_MS};
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| io_reason(&e))?;
    let fifo = f.metadata().is_ok_and(|m| m.file_type().is_fifo());
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_millis(READ_DEADLINE_MS as u64);
    // Waits for data or a writer's hang-up; a FIFO reads EOF at once while no writer came.
    let raw = std::os::fd::AsRawFd::as_raw_fd(&f);
    let wait = || {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let mut p = libc::pollfd {
            fd: raw,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: p is one valid pollfd.
        match unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) } {
            0 => Err(format!(
                "no data within {READ_DEADLINE_MS} ms (a FIFO with no writer?)"
            )),
            _ => Ok(()),
        }
    };
    if fifo {
        wait()?;
    }
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match f.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if out.len() + n > MAX_RULES_FILE {
                    return Err(format!("longer than {MAX_RULES_FILE} bytes"));
                }
                out.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => wait()?,
            Err(e) => return Err(io_reason(&e)),
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8".to_string())
}

/// The reason alone ("No such file or directory"), as the library prints it via strerror.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn find_lib(explicit: Option<&Path>) -> Result<PathBuf, Fail> {
    let candidates: Vec<PathBuf> = match (explicit, std::env::var_os("SOCKSWAP_LIB")) {
        (Some(p), _) => vec![p.to_path_buf()],
        (None, Some(p)) => vec![PathBuf::from(p)],
        (None, None) => {
            let exe = std::env::current_exe()?;
            let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
            vec![
                dir.join("libsockswap.so"),
                dir.join("../lib/sockswap/libsockswap.so"),
                dir.join("../lib/libsockswap.so"),
            ]
        }
    };
    for c in &candidates {
        if c.is_file() {
            // Absolute: the dynamic loader resolves LD_PRELOAD entries against the program's cwd.
            return Ok(std::fs::canonicalize(c)?);
        }
    }
    Err(Fail(format!(
        "cannot find libsockswap.so (looked at {}); use --lib or SOCKSWAP_LIB",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// An errno in words: its name and meaning ("EACCES (Permission denied)").
pub(crate) fn errno_words(e: i32) -> String {
    let meaning = io_reason(&std::io::Error::from_raw_os_error(e));
    match sockswap_core::errno::name(e) {
        Some(name) => format!("{name} ({meaning})"),
        None => meaning,
    }
}

/// The program's file as `execvp` would find it.
fn resolve_program(prog: &std::ffi::OsStr) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if prog.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(prog));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// ip2unix's -c, -p and -v of `sockswap run`.
struct Shown {
    check_only: bool,
    print: bool,
    verbose: u8,
}

#[allow(clippy::too_many_arguments)]
fn run(
    rules: RuleArgs,
    unsock: UnsockArgs,
    shown: Shown,
    log: Option<String>,
    lib: Option<PathBuf>,
    backend: Backend,
    allow_bypass: bool,
    program: Vec<OsString>,
) -> Result<ExitCode, Fail> {
    let mut env = environment(&rules, &unsock)?;
    let level = match shown.verbose {
        0 => log,
        1 => Some("info".into()),
        2 => Some("debug".into()),
        _ => Some("trace".into()),
    };
    if let Some(level) = &level {
        env.insert(LOG_VAR.into(), level.clone());
    }
    let cfg = load(&env)?; // the program must not start with rules the library would refuse
    if shown.print {
        if shown.check_only {
            describe(&cfg, &mut std::io::stdout().lock())?;
        } else {
            describe(&cfg, &mut std::io::stderr().lock())?;
        }
    }
    if shown.check_only {
        return Ok(ExitCode::SUCCESS);
    }
    let (prog, _) = program
        .split_first()
        .ok_or_else(|| Fail("no program given".into()))?;
    let file = resolve_program(prog);
    let has_rules = !cfg.rules.is_empty();
    if has_rules && file.as_deref().is_some_and(seccomp::detect::is_setid) {
        if allow_bypass {
            eprintln!(
                "sockswap: {}: set-user-ID/set-group-ID program: running it without the rules (--allow-bypass)",
                prog.to_string_lossy()
            );
            env.remove(RULES_VAR);
            env.remove(RULES_FILE_VAR);
            return exec_plain(prog, &program[1..], &env);
        }
        return Err(Fail(format!(
            "{}: a set-user-ID/set-group-ID program ignores LD_PRELOAD and cannot be given a seccomp filter without losing its privileges, so the rules would not be in force (--allow-bypass runs it anyway, without them)",
            prog.to_string_lossy()
        )));
    }
    let chosen = match backend {
        Backend::Auto => {
            let kind = file
                .as_deref()
                .map(seccomp::detect::inspect)
                .unwrap_or(seccomp::detect::Kind::Libc);
            let b = if kind.needs_seccomp() {
                Backend::Seccomp
            } else {
                Backend::Preload
            };
            if cfg.log >= sockswap_core::LogLevel::Info {
                eprintln!(
                    "sockswap: {} is {}: backend {}",
                    prog.to_string_lossy(),
                    kind.describe(),
                    if b == Backend::Seccomp {
                        "seccomp"
                    } else {
                        "preload"
                    }
                );
            }
            b
        }
        b => b,
    };
    if chosen == Backend::Seccomp {
        return run_seccomp(cfg, env, file, &program, allow_bypass);
    }
    let lib = find_lib(lib.as_deref())?;
    let preload = match env.get("LD_PRELOAD").filter(|p| !p.is_empty()) {
        Some(rest) => format!("{}:{rest}", lib.display()),
        None => lib.display().to_string(),
    };
    env.insert("LD_PRELOAD".into(), preload);
    let (prog, args) = program
        .split_first()
        .ok_or_else(|| Fail("no program given".into()))?;
    exec_plain(prog, args, &env)
}

/// Replaces this process with the program (environment `env`); returns only on failure.
fn exec_plain(
    prog: &std::ffi::OsStr,
    args: &[OsString],
    env: &HashMap<String, String>,
) -> Result<ExitCode, Fail> {
    let err = Command::new(prog).args(args).env_clear().envs(env).exec();
    eprintln!("sockswap: cannot run {}: {err}", prog.to_string_lossy());
    Ok(ExitCode::from(
        if err.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        },
    ))
}

/// `--backend seccomp`: supervise the program; refuse (unless `--allow-bypass`) when the rules
/// cannot be enforced that way.
fn run_seccomp(
    cfg: Config,
    env: HashMap<String, String>,
    file: Option<PathBuf>,
    program: &[OsString],
    allow_bypass: bool,
) -> Result<ExitCode, Fail> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let (prog, args) = program
        .split_first()
        .ok_or_else(|| Fail("no program given".into()))?;
    let usable = seccomp::available().and_then(|()| seccomp::check_supported(&cfg));
    if let Err(why) = usable {
        if cfg.rules.is_empty() || allow_bypass {
            if !cfg.rules.is_empty() {
                eprintln!("sockswap: {why}; running without the rules (--allow-bypass)");
            }
            let mut env = env;
            env.remove(RULES_VAR);
            env.remove(RULES_FILE_VAR);
            return exec_plain(prog, args, &env);
        }
        return Err(Fail(why));
    }
    let Some(file) = file else {
        eprintln!(
            "sockswap: cannot run {}: No such file or directory",
            prog.to_string_lossy()
        );
        return Ok(ExitCode::from(127));
    };
    let cstr =
        |b: &[u8]| CString::new(b).map_err(|_| Fail("an argument contains a NUL byte".into()));
    let path = cstr(file.as_os_str().as_bytes())?;
    let mut argv = vec![cstr(prog.as_bytes())?];
    for a in args {
        argv.push(cstr(a.clone().into_vec().as_slice())?);
    }
    let mut envp = Vec::new();
    for (k, v) in &env {
        // The library is not needed (and must not decide a second time) under the supervisor.
        if k == "LD_PRELOAD" && v.contains("libsockswap") {
            continue;
        }
        envp.push(cstr(format!("{k}={v}").as_bytes())?);
    }
    let log = cfg.log;
    match seccomp::run(path, argv, envp, cfg, log).map_err(Fail)? {
        seccomp::ExitStatus::Code(c) => Ok(ExitCode::from(c as u8)),
        seccomp::ExitStatus::Signal(sig) => {
            // Die of the same signal, so our parent sees what the program did.
            // SAFETY: resetting a handler and raising a signal in our own process.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(sig);
            }
            Ok(ExitCode::from(128 + sig as u8))
        }
    }
}

/// The configuration in force, rules in their own syntax (what `check` and `run -p` print).
fn describe(cfg: &Config, out: &mut dyn Write) -> std::io::Result<()> {
    if cfg.rules.is_empty() {
        writeln!(out, "no rules: every socket stays TCP/IP")?;
    }
    for (i, r) in cfg.rules.iter().enumerate() {
        writeln!(out, "{}: {r}", i + 1)?;
    }
    if cfg.block_inet6 {
        writeln!(out, "socket(AF_INET6) fails with EAFNOSUPPORT")?;
    }
    if let Some(a) = cfg.accept_convert {
        writeln!(out, "addresses of other families are reported as {a}")?;
    }
    if let Some(a) = cfg.accept_convert_vsock {
        writeln!(out, "AF_VSOCK addresses are reported as {a}")?;
    }
    Ok(())
}

fn check(rules: RuleArgs, unsock: UnsockArgs) -> Result<ExitCode, Fail> {
    let cfg = load(&environment(&rules, &unsock)?)?;
    describe(&cfg, &mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

fn explain(
    rules: RuleArgs,
    unsock: UnsockArgs,
    addr: String,
    port: Option<u16>,
    filters: Vec<String>,
) -> Result<ExitCode, Fail> {
    let cfg = load(&environment(&rules, &unsock)?)?;
    let mut dirs = Vec::new();
    let mut types = Vec::new();
    for f in &filters {
        match f.as_str() {
            "in" => dirs.push(Direction::In),
            "out" => dirs.push(Direction::Out),
            "tcp" => types.push(SockType::Tcp),
            "udp" => types.push(SockType::Udp),
            other => return Err(Fail(format!("expected in, out, tcp or udp, got '{other}'"))),
        }
    }
    if dirs.is_empty() {
        dirs = vec![Direction::In, Direction::Out];
    }
    if types.is_empty() {
        types = vec![SockType::Tcp, SockType::Udp];
    }
    let target = if let Some(name) = addr.strip_prefix('@') {
        QueryTarget::Unix(UnixName::Abstract(name.as_bytes()))
    } else if addr.starts_with('/') || addr.starts_with('.') {
        QueryTarget::Unix(UnixName::Path(addr.as_bytes()))
    } else {
        let ip: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| Fail(format!("bad address '{addr}'")))?;
        let port = port.ok_or_else(|| Fail("a port is needed after an IP address".into()))?;
        QueryTarget::Ip(SocketAddr::new(ip, port))
    };
    for &d in &dirs {
        for &t in &types {
            let what = format!(
                "{} {} {}",
                if d == Direction::In {
                    "in (bind)"
                } else {
                    "out (connect)"
                },
                t.name(),
                match target {
                    QueryTarget::Ip(sa) => sa.to_string(),
                    _ => addr.clone(),
                }
            );
            let q = Query {
                direction: d,
                ty: t,
                target,
            };
            let Some((i, rule)) = first_match(&cfg.rules, &q) else {
                println!("{what}: no rule matches; stays TCP/IP");
                continue;
            };
            let (ip, port) = match target {
                QueryTarget::Ip(sa) => (sa.ip(), sa.port()),
                _ => (IpAddr::from([0, 0, 0, 0]), 0),
            };
            let fill = Fill { ip, port, ty: t };
            let expand = |tpl: &sockswap_core::template::Template| {
                let mut buf = [0u8; 108];
                match tpl.expand(fill, &mut buf) {
                    Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
                    Err(_) => "(too long for a Unix socket)".into(),
                }
            };
            let outcome = match &rule.action {
                Action::Path(tpl) if port == 0 && d == Direction::In && tpl.uses_port() => {
                    format!(
                        "Unix socket {} with a free port chosen for %p",
                        tpl.as_str()
                    )
                }
                Action::Path(tpl) => format!("Unix socket {}", expand(tpl)),
                Action::Abstract(tpl) => format!("abstract Unix socket @{}", expand(tpl)),
                Action::Reject(e) => format!(
                    "rejected with {}",
                    sockswap_core::errno::name(*e)
                        .map(str::to_owned)
                        .unwrap_or_else(|| e.to_string())
                ),
                Action::Blackhole => "blackholed (bound where nothing can connect)".into(),
                Action::Ignore => "ignored; stays TCP/IP".into(),
                Action::Systemd(None) => {
                    "the next unnamed socket systemd passed (LISTEN_FDS)".into()
                }
                Action::Systemd(Some(name)) => {
                    format!("the socket systemd passed as '{name}' (LISTEN_FDNAMES)")
                }
                Action::Vsock { cid, port } => {
                    let cid = match *cid {
                        sockswap_core::rule::VSOCK_CID_ANY => "any CID".to_string(),
                        c => format!("CID {c}"),
                    };
                    format!(
                        "AF_VSOCK {cid} port {}",
                        port.unwrap_or(u32::from(fill.port))
                    )
                }
                Action::SocketboxA(tpl) => format!(
                    "socketbox \"A\" listener: connections arrive as fds on the datagram socket {}",
                    expand(tpl)
                ),
                Action::SocketboxB { api, slot } => format!(
                    "socketbox \"B\" client: registers slot {slot} on the router's API socket {api}"
                ),
                Action::Netns(server) => format!(
                    "socket created in another network namespace by the socket server at {server}"
                ),
                Action::HybridVsock { path, port: vport } => format!(
                    "hybrid vsock: Unix socket {}, then CONNECT {}",
                    expand(path),
                    vport.unwrap_or(u32::from(port))
                ),
            };
            println!("{what}: rule {} ({rule}): {outcome}", i + 1);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Run {
            rules,
            unsock,
            check_only,
            print,
            log,
            verbose,
            lib,
            backend,
            allow_bypass,
            program,
        } => run(
            rules,
            unsock,
            Shown {
                check_only,
                print,
                verbose,
            },
            log,
            lib,
            backend,
            allow_bypass,
            program,
        ),
        Cmd::Check { rules, unsock } => check(rules, unsock),
        Cmd::Explain {
            rules,
            unsock,
            addr,
            port,
            filters,
        } => explain(rules, unsock, addr, port, filters),
        Cmd::Control { cmd } => control::run(cmd).map_err(Fail),
        Cmd::Lib { lib } => find_lib(lib.as_deref()).map(|p| {
            println!("{}", p.display());
            ExitCode::SUCCESS
        }),
        Cmd::Completions { shell } => {
            manual::completions(shell);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Manpage => manual::manpage()
            .map(|()| ExitCode::SUCCESS)
            .map_err(Fail::from),
    };
    match result {
        Ok(code) => code,
        Err(Fail(msg)) => {
            eprintln!("sockswap: {msg}");
            ExitCode::from(2)
        }
    }
}
