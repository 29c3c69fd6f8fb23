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
    /// Each rule in its own syntax, made once here: the decision log shows the rules it tried
    /// without formatting (allocating) inside hooks.
    pub rule_texts: Vec<String>,
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
            Err(e) => log!(
                Warn,
                "cannot create directory {dir}: {err}",
                err = sockswap_core::errno::Errno(e)
            ),
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
    if main_program_is_go() {
        refuse_go_program();
    }
    fdtable::init();
    log!(Debug, "{} rule(s) loaded", config.rules.len());
    let watch_unix = config.watches_unix();
    let activation = crate::activation::Activation::from_env(&env, &config.rules);
    if let Some(v) = env(sockswap_core::inherit::VAR) {
        crate::inherit::adopt(&v);
    }
    let rule_texts = config.rules.iter().map(|r| r.to_string()).collect();
    let rt = Box::new(Runtime {
        config,
        watch_unix,
        activation,
        rule_texts,
    });
    RUNTIME.store(Box::into_raw(rt), Ordering::Release);
}

/// Is the main program a Go program? Go's runtime makes its socket system calls itself, so no
/// hook of ours would ever see them: with rules in force it must not run unconverted. Looks for
/// Go's build-ID note in the main program's PT_NOTE segments (in memory, nothing read from disk).
fn main_program_is_go() -> bool {
    unsafe extern "C" fn first_object(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        found: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: the loader passes a valid dl_phdr_info whose program headers and segments
        // are mapped (PT_NOTE segments are loaded, read-only data); `found` is our bool.
        unsafe {
            let info = &*info;
            let phdrs = core::slice::from_raw_parts(info.dlpi_phdr, info.dlpi_phnum as usize);
            for ph in phdrs.iter().filter(|ph| ph.p_type == libc::PT_NOTE) {
                let start = (info.dlpi_addr as usize).wrapping_add(ph.p_vaddr as usize);
                let seg = core::slice::from_raw_parts(start as *const u8, ph.p_memsz as usize);
                if sockswap_core::elfnote::has_go_note(seg, ph.p_align as usize) {
                    *found.cast::<bool>() = true;
                }
            }
        }
        1 // the first object is the main program: stop there
    }
    let mut found = false;
    // SAFETY: the callback only reads what the loader hands it and writes our bool.
    unsafe { libc::dl_iterate_phdr(Some(first_object), (&raw mut found).cast()) };
    found
}

fn refuse_go_program() -> ! {
    let exe = std::fs::read_link("/proc/self/exe")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "this program".into());
    crate::log::fatal_config(&format!(
        "{exe} is a Go program: Go makes its socket calls without the C library, so the rules \
         would never apply to it (it would stay on TCP/IP); run it under the seccomp backend of \
         `sockswap run` (--backend seccomp) instead of LD_PRELOAD"
    ))
}
