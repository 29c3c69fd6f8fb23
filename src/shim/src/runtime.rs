//! Loading the configuration once, and finding it from hooks without locks.
//!
//! The constructor runs `init`; a hook that runs earlier (another library's constructor calling
//! `connect`) runs it itself. Initialisation may allocate — it happens once, outside any signal
//! handler. A hook called by our own initialisation on the same thread passes through; other
//! threads wait the few microseconds it takes.

use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use sockswap_core::Config;

use crate::log::log;
use crate::{fdtable, real, sys};

/// What hooks consult. Only exists when there is something to do.
pub struct Runtime {
    pub config: Config,
    /// Some rule matches Unix-socket calls, so AF_UNIX bind/connect must be looked at.
    pub watch_unix: bool,
    /// The sockets systemd passed, for `systemd` rules.
    pub activation: crate::activation::Activation,
}

const UNINIT: u32 = 0;
const RUNNING: u32 = 1;
const READY: u32 = 2;

static STATE: AtomicU32 = AtomicU32::new(UNINIT);
static INIT_TID: AtomicU32 = AtomicU32::new(0);
static RUNTIME: AtomicPtr<Runtime> = AtomicPtr::new(core::ptr::null_mut());
/// The pid of the process our state belongs to; a different getpid() means a vfork child.
static PID: AtomicU32 = AtomicU32::new(0);

/// The runtime, or None if the hook should pass the call through untouched.
#[inline]
pub fn get() -> Option<&'static Runtime> {
    if STATE.load(Ordering::Acquire) != READY {
        return slow_get();
    }
    let p = RUNTIME.load(Ordering::Acquire);
    // SAFETY: RUNTIME is set once to a leaked Box before READY and never freed.
    (!p.is_null()).then(|| unsafe { &*p })
}

#[cold]
fn slow_get() -> Option<&'static Runtime> {
    loop {
        match STATE.compare_exchange(UNINIT, RUNNING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                INIT_TID.store(sys::gettid(), Ordering::Relaxed);
                init_once();
                STATE.store(READY, Ordering::Release);
                break;
            }
            Err(READY) => break,
            Err(_) => {
                if INIT_TID.load(Ordering::Relaxed) == sys::gettid() {
                    return None; // our own initialisation calling a hooked function
                }
                // SAFETY: no preconditions.
                unsafe { libc::sched_yield() };
            }
        }
    }
    let p = RUNTIME.load(Ordering::Acquire);
    // SAFETY: as in get().
    (!p.is_null()).then(|| unsafe { &*p })
}

/// Is this call made by the process our state belongs to? False in a vfork child (which shares
/// our memory, so it must not change our state) — calls there pass through.
pub fn same_process() -> bool {
    sys::getpid() == PID.load(Ordering::Relaxed)
}

pub fn pid() -> u32 {
    PID.load(Ordering::Relaxed)
}

extern "C" fn after_fork_child() {
    PID.store(sys::getpid(), Ordering::Relaxed);
    fdtable::clear_busy_after_fork();
    crate::peers::after_fork();
}

/// The constructor: resolve the real functions, read the configuration.
extern "C" fn constructor() {
    let _ = get();
}

#[used]
#[link_section = ".init_array"]
static CONSTRUCTOR: extern "C" fn() = constructor;

fn env(name: &str) -> Option<String> {
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    // SAFETY: environ is a NULL-terminated array of NUL-terminated strings, set up by the
    // dynamic loader before any constructor runs; we only read it.
    unsafe {
        let mut p = environ;
        if p.is_null() {
            return None;
        }
        while !(*p).is_null() {
            let entry = core::ffi::CStr::from_ptr(*p).to_bytes();
            if let Some(rest) = entry.strip_prefix(name.as_bytes()) {
                if let Some(value) = rest.strip_prefix(b"=") {
                    return Some(String::from_utf8_lossy(value).into_owned());
                }
            }
            p = p.add(1);
        }
    }
    None
}

fn read_file(path: &str) -> Result<String, String> {
    use sockswap_core::config::{MAX_RULES_FILE, READ_DEADLINE_MS};
    let mut cpath = path.as_bytes().to_vec();
    cpath.push(0);
    let mut out = Vec::new();
    sys::read_file(&cpath, &mut out, MAX_RULES_FILE, READ_DEADLINE_MS).map_err(|e| match e {
        libc::EFBIG => format!("longer than {MAX_RULES_FILE} bytes"),
        libc::ETIMEDOUT => format!("no data within {READ_DEADLINE_MS} ms (a FIFO with no writer?)"),
        // SAFETY: strerror returns a valid static string for any errno.
        e => unsafe { core::ffi::CStr::from_ptr(libc::strerror(e)) }
            .to_string_lossy()
            .into_owned(),
    })?;
    String::from_utf8(out).map_err(|_| "not UTF-8".to_string())
}

/// socketbox-preload's lookup files in `dir` (`skbox_dir_*`), each read up to its 65536 records.
fn read_lookup_dir(dir: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    use std::io::Read;
    const MAX: u64 = 65536 * 128;
    let reason = |e: std::io::Error| {
        let text = e.to_string();
        text.split(" (os error")
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(reason)? {
        let entry = entry.map_err(reason)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(sockswap_core::skbox::LOOKUP_PREFIX) {
            continue;
        }
        let mut bytes = Vec::new();
        std::fs::File::open(entry.path())
            .and_then(|f| f.take(MAX).read_to_end(&mut bytes))
            .map_err(|e| format!("{name}: {}", reason(e)))?;
        files.push((name, bytes));
    }
    Ok(files)
}

fn init_once() {
    PID.store(sys::getpid(), Ordering::Relaxed);
    real::resolve_all();
    let config = match Config::from_env_and_dirs(&env, &read_file, &read_lookup_dir) {
        Ok(c) => c,
        Err(e) => crate::log::fatal_config(&e.to_string()),
    };
    crate::log::set_level(config.log);
    for dir in &config.create_dirs {
        let mut c = dir.as_bytes().to_vec();
        c.push(0);
        match sys::mkdir(&c, 0o755) {
            Ok(_) | Err(libc::EEXIST) => {}
            Err(e) => log!(Warn, "cannot create directory {dir}: errno {e}"),
        }
    }
    // SAFETY: pthread_atfork only stores the handler.
    unsafe { libc::pthread_atfork(None, None, Some(after_fork_child)) };
    let active = !config.rules.is_empty()
        || config.block_inet6
        || config.accept_convert.is_some()
        || config.accept_convert_vsock.is_some()
        || config.block_listen_unbound
        || config.name_protection > 0;
    if !active {
        return; // nothing to do: every hook passes through
    }
    fdtable::init();
    log!(Debug, "{} rule(s) loaded", config.rules.len());
    let watch_unix = config.watches_unix();
    let activation = crate::activation::Activation::from_env(&env, &config.rules);
    if let Some(v) = env(sockswap_core::inherit::VAR) {
        crate::inherit::adopt(&v);
    }
    let rt = Box::new(Runtime {
        config,
        watch_unix,
        activation,
    });
    RUNTIME.store(Box::into_raw(rt), Ordering::Release);
}
