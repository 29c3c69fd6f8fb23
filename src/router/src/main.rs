//! `socketbox`: accepts TCP (and Unix) connections and sends each accepted socket — the socket
//! itself — to the daemon its rules choose: over SCM_RIGHTS ("A" datagrams, "B" slots), to a
//! spawned program (inetd), or through a relay with a PROXY header. See docs/router.md.

mod applets;
mod bserver;
mod config;
mod control;
mod daemon;
mod deliver;
mod flags;
mod handover;
mod listen;
mod log;
mod privs;
mod queue;
mod relay;
mod responder;
mod shared;
mod sockserver;
mod spawn;
mod status;
mod sys;
mod worker;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use flags::Mode;
use sockswap_core::socketbox::table::Target;

fn die(msg: &str) -> ! {
    eprintln!("socketbox: {msg}");
    std::process::exit(2);
}

fn read_file(p: &str) -> Result<String, String> {
    std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))
}

fn summary(c: &config::Config) -> String {
    let mut s = String::new();
    for (i, l) in c.listeners.iter().enumerate() {
        s.push_str(&format!("listener {i}: {l:?}\n"));
    }
    let mut rs: Vec<_> = c.table.rule_sets.keys().collect();
    rs.sort();
    let mut ms: Vec<_> = c.table.map_sets.keys().collect();
    ms.sort();
    for k in rs {
        let set = &c.table.rule_sets[k];
        s.push_str(&format!(
            "rule-set {k}: {} rules, default {}\n",
            set.rules.len(),
            config::target_name(&set.default)
        ));
    }
    for k in ms {
        let set = &c.table.map_sets[k];
        s.push_str(&format!(
            "map-set {k}: {} entries, default {}\n",
            set.entries.len(),
            config::target_name(&set.default)
        ));
    }
    for (n, t) in &c.named {
        s.push_str(&format!("target {n}: {t:?}\n"));
    }
    for (i, a) in c.api_sockets.iter().enumerate() {
        s.push_str(&format!("api socket {i}: {}\n", a.path));
    }
    for sl in &c.slots {
        s.push_str(&format!(
            "slot {}: uid {} on api socket {}\n",
            sl.number, sl.uid, sl.api_socket
        ));
    }
    s
}

fn t_of(listener: u32, local: std::net::SocketAddr) -> (u32, std::net::Ipv6Addr, u16) {
    (listener, flags::to_v6(local.ip()), local.port())
}

/// Which path a connection on this local key takes: the kernel (a handed-over listener) or
/// the router's per-connection dispatch.
fn explain_path(
    cfg: &config::Config,
    (listener, ip, port): &(u32, std::net::Ipv6Addr, u16),
) -> String {
    use sockswap_core::socketbox::handover::{describe, key_for};
    match key_for(&cfg.handover_keys, *listener, *ip, *port) {
        Some(h) => format!(
            "path: handover (the kernel gives connections on {} straight to {}'s listener; the router never sees them)",
            describe(&h.key),
            config::target_name(&h.target)
        ),
        None => {
            let key = sockswap_core::socketbox::handover::LocalKey {
                listener: *listener,
                ip: Some(*ip),
                port: *port,
            };
            let why = match cfg.table.resolve_local(&key) {
                sockswap_core::socketbox::handover::Resolved::Depends(d) => d,
                sockswap_core::socketbox::handover::Resolved::Target(t)
                    if cfg.handover_targets.contains(t) =>
                {
                    "the target takes handed-over listeners only; this key is not one (refused)".into()
                }
                sockswap_core::socketbox::handover::Resolved::Target(t) => {
                    format!("{} does not take a listener", config::target_name(t))
                }
                sockswap_core::socketbox::handover::Resolved::Error(e) => e.to_string(),
            };
            format!("path: dispatch (the router accepts and routes each connection: {why})")
        }
    }
}

fn status_client(path: &str, prometheus: bool) -> ! {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(mut s) => {
            let mut out = String::new();
            if let Err(e) = s.read_to_string(&mut out) {
                die(&format!("status {path}: {e}"));
            }
            if prometheus {
                out = status::to_prometheus(&out);
            }
            print!("{out}");
            std::process::exit(0);
        }
        Err(e) => die(&format!("status {path}: {e}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // xsocket's server, by its own name (a link the package installs) or as a subcommand.
    let argv0 = std::env::args().next().unwrap_or_default();
    if argv0.rsplit('/').next() == Some("xsocket-server") {
        std::process::exit(sockserver::xsocket_main(&args));
    }
    if args.first().map(String::as_str) == Some("xsocket-server") {
        std::process::exit(sockserver::xsocket_main(&args[1..]));
    }
    // socketbox's receiving-side programs: by link name or as a subcommand.
    if let Some(rc) = applets::dispatch(&applets::argv0(), &args) {
        std::process::exit(rc);
    }
    if args.first().map(String::as_str) == Some("socket-server") {
        // Sockets for programs in other network namespaces (the shim's netns= rules).
        std::process::exit(sockserver::main(&args[1..]));
    }
    let (mode, opts) = match flags::parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("socketbox: {e}");
            eprint!("{}", flags::USAGE);
            std::process::exit(2);
        }
    };
    match &mode {
        Mode::Help => {
            print!("{}", flags::USAGE);
            return;
        }
        Mode::Version => {
            println!("socketbox (sockswap-router) {}", env!("CARGO_PKG_VERSION"));
            return;
        }
        Mode::Status { path } => status_client(path, opts.format.as_deref() == Some("prometheus")),
        _ => {}
    }
    let cfg = config::build(&opts, &read_file).unwrap_or_else(|e| die(&e));
    for w in &cfg.warnings {
        eprintln!("socketbox: warning: {w}");
    }
    match mode {
        Mode::Check => {
            print!("{}", summary(&cfg));
            println!("config ok");
            return;
        }
        Mode::Explain {
            listener,
            local,
            remote,
        } => {
            let t = config::tuple_of(listener, Some(local), Some(remote));
            let (lines, r) = cfg.table.explain(&t);
            for l in lines {
                println!("{l}");
            }
            match r {
                Ok(t) => {
                    let t: &Target = t;
                    println!("-> {}", config::target_name(t));
                    println!("{}", explain_path(&cfg, &t_of(listener, local)));
                }
                Err(e) => {
                    println!("-> error: {e}");
                    std::process::exit(1);
                }
            }
            return;
        }
        _ => {}
    }
    if opts.exec.is_some() {
        exec_program(&cfg, &opts);
    }
    run(cfg, opts);
}

/// `-e`: open the socket (bound, or the B registration with -P, or -s FD), daemonize with -d,
/// drop privileges, then run the program with the socket's number in SKBOX_LISTEN_FD.
fn exec_program(cfg: &config::Config, opts: &flags::Options) -> ! {
    use std::os::fd::IntoRawFd;
    use std::os::unix::process::CommandExt;
    let fd = if let Some((slot, path)) = &opts.b_client {
        let fd = control::b_client_connect(*slot, path).unwrap_or_else(|e| die(&e));
        sys::set_nonblocking(fd.as_raw_fd(), false).unwrap_or_else(|e| die(&format!("-P: {e}")));
        fd
    } else {
        match cfg.listeners.as_slice() {
            [one] => listen::open_unlistened(one).unwrap_or_else(|e| die(&e)),
            [] => die("-e: no socket: give -p PORT (and -l ADDR), -s FD or -P NR:PATH"),
            _ => die("-e: one socket only (-l/-p, -s or -P), not --listen as well"),
        }
    };
    if opts.daemonize {
        sys::daemonize().unwrap_or_else(|e| die(&format!("-d: {e}")));
    }
    privs::drop_privileges(&cfg.privileges)
        .unwrap_or_else(|e| die(&format!("dropping privileges: {e}")));
    let fd = fd.into_raw_fd();
    // SAFETY: fcntl on our fd: the program must inherit it (clear FD_CLOEXEC).
    unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    let program = opts.exec.as_deref().unwrap_or_default();
    let e = std::process::Command::new(&program[0])
        .args(&program[1..])
        .env("SKBOX_LISTEN_FD", fd.to_string())
        .exec();
    eprintln!("socketbox: -e: cannot run {}: {e}", program[0]);
    std::process::exit(127);
}

fn run(cfg: config::Config, opts: flags::Options) {
    if let Some(l) = cfg.log_level.as_deref().and_then(log::Level::parse) {
        log::set_level(l);
    }
    sys::raise_nofile();
    if cfg.listeners.is_empty() && cfg.b_client.is_none() {
        die("no listener: give -p PORT (and -l ADDR), -s FD, --listen SPEC, or listeners in the config");
    }
    // Signals first, so every thread (and not just this one) has them blocked.
    let sigfd = sys::signalfd(&[
        libc::SIGHUP,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGCHLD,
        libc::SIGPIPE,
    ])
    .unwrap_or_else(|e| die(&format!("signalfd: {e}")));
    let handovers = handover::Handovers::start(&cfg).unwrap_or_else(|e| die(&e));
    let listeners = listen::open_all(&cfg.listeners, &|i| config::handed_over_whole(&cfg, i))
        .unwrap_or_else(|e| die(&e));
    if let Some(ns) = &cfg.final_netns {
        listen::enter_netns(ns).unwrap_or_else(|e| die(&format!("final_netns: {e}")));
    }
    let api = bserver::open_api_sockets(&cfg.api_sockets).unwrap_or_else(|e| die(&e));
    let status = cfg.status.as_deref().map(|p| {
        let fd = listen::unix_bind(p, libc::SOCK_STREAM)
            .unwrap_or_else(|e| die(&format!("status socket: {e}")));
        listen::chmod_chown(p, Some(0o600), None, None).unwrap_or_else(|e| die(&e));
        sys::listen(fd.as_raw_fd(), 16)
            .unwrap_or_else(|e| die(&format!("status socket {p}: listen: {e}")));
        fd
    });
    let bclient = cfg.b_client.as_ref().map(|(slot, path)| {
        let fd = control::b_client_connect(*slot, path).unwrap_or_else(|e| die(&e));
        (fd, listeners.len() as u32)
    });
    let config_dir = cfg
        .source
        .as_ref()
        .and_then(|(_, p)| control::open_config_dir(p));
    if opts.daemonize {
        // After binding (so errors still reach the caller's terminal), before any thread.
        sys::daemonize().unwrap_or_else(|e| die(&format!("-d: {e}")));
    }
    // Forks the daemons' supervisor: still single-threaded and privileged here.
    let daemons = daemon::start(&cfg.daemons).unwrap_or_else(|e| die(&e));
    privs::drop_privileges(&cfg.privileges)
        .unwrap_or_else(|e| die(&format!("dropping privileges: {e}")));

    let workers = cfg.workers;
    for l in &listeners {
        log!(Info, "listen", listener = l.desc);
    }
    let sh = Arc::new(shared::Shared::new(cfg).unwrap_or_else(|e| die(&format!("eventfd: {e}"))));
    let listeners = Arc::new(listeners);
    if let Some(channel) = daemons {
        daemon::watch(channel);
    }
    let mut handles = Vec::new();
    for i in 0..workers {
        let wake = sys::eventfd().unwrap_or_else(|e| die(&format!("eventfd: {e}")));
        let wake2 = wake
            .try_clone()
            .unwrap_or_else(|e| die(&format!("dup: {e}")));
        sh.worker_wakes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(wake2);
        let (sh2, l2) = (sh.clone(), listeners.clone());
        let h = std::thread::Builder::new()
            .name(format!("worker{i}"))
            .spawn(move || worker::run(sh2, l2, wake))
            .unwrap_or_else(|e| die(&format!("thread: {e}")));
        handles.push(h);
    }
    let ep = sys::Epoll::new().unwrap_or_else(|e| die(&format!("epoll: {e}")));
    let mut ctl = control::Control {
        sh: sh.clone(),
        opts,
        ep,
        a: deliver::Deliverer::new(worker::TOKEN_ATARGET),
        b: bserver::BServer::new(api),
        spawner: spawn::Spawner::default(),
        status,
        sigfd,
        bclient,
        config_dir,
        handovers,
    };
    ctl.register()
        .unwrap_or_else(|e| die(&format!("epoll: {e}")));
    log!(
        Info,
        "ready",
        workers = workers,
        listeners = listeners.len()
    );
    privs::sd_notify("READY=1");
    ctl.run();
    privs::sd_notify("STOPPING=1");
    sh.wake_workers();
    for h in handles {
        let _ = h.join();
    }
    if let Some(p) = sh.config().status.as_deref() {
        let _ = std::fs::remove_file(p);
    }
}
