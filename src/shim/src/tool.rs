//! libsockswap.so run as a program (`/usr/lib/sockswap/libsockswap.so`): unsock's library
//! doubles as its control-file tool, so ours does too. `UNSOCK_FILE=… UNSOCK_VSOCK_PORT=…`
//! (or `UNSOCK_FC_SOCK`, or the five `UNSOCK_TIPC_*` values) writes the same 452 bytes as
//! `sockswap control write`; without `UNSOCK_FILE` it prints how to use it.
//!
//! The kernel starts the dynamic loader named in `.interp`; the loader maps this library and
//! libc, runs every initialiser (libc's, and our constructor, which finds no rule and stays
//! idle), then jumps to `sockswap_tool_entry` with the stack as the kernel left it: no return
//! address, so the entry aligns the stack and calls `tool_main` like a normal function.
//! Nothing here runs inside a hook, so it may allocate and use std freely.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use sockswap_core::control::ControlFile;
use sockswap_core::unsock::{tool_request, ToolKind};

const INTERP: &str = concat!(env!("SOCKSWAP_INTERP"), "\0");

const fn interp_bytes() -> [u8; INTERP.len()] {
    let mut out = [0u8; INTERP.len()];
    let src = INTERP.as_bytes();
    let mut i = 0;
    while i < src.len() {
        out[i] = src[i];
        i += 1;
    }
    out
}

#[used]
#[link_section = ".interp"]
static PT_INTERP: [u8; INTERP.len()] = interp_bytes();

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl sockswap_tool_entry",
    ".hidden sockswap_tool_entry",
    ".type sockswap_tool_entry,@function",
    "sockswap_tool_entry:",
    "xor ebp, ebp",
    "and rsp, -16",
    "call {main}",
    "ud2",
    main = sym tool_main,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl sockswap_tool_entry",
    ".hidden sockswap_tool_entry",
    ".type sockswap_tool_entry,%function",
    "sockswap_tool_entry:",
    "mov x29, #0",
    "mov x30, #0",
    "bl {main}",
    "brk #0",
    main = sym tool_main,
);

const USAGE: &str = "\
usage: UNSOCK_FILE=DIR/PORT.sock UNSOCK_VSOCK_PORT=N [UNSOCK_VSOCK_CID=CID] libsockswap.so
       UNSOCK_FILE=DIR/PORT.sock UNSOCK_VSOCK_PORT=N UNSOCK_FC_SOCK=PATH libsockswap.so
       UNSOCK_FILE=DIR/PORT.sock UNSOCK_TIPC_ADDRTYPE=A UNSOCK_TIPC_SCOPE=S UNSOCK_TIPC_TYPE=T \\
           UNSOCK_TIPC_LOWER=L UNSOCK_TIPC_UPPER=U libsockswap.so
writes an unsock control file (as `sockswap control write` does: --vsock, --hybrid, --tipc);
as a library: LD_PRELOAD=libsockswap.so PROGRAM (see `sockswap run --help`).
";

extern "C" fn tool_main() -> ! {
    let code = match write_requested_file() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("sockswap: {message}");
            2
        }
    };
    let _ = std::io::stdout().flush();
    // SAFETY: exit runs the atexit handlers and never returns; there is no caller to return to.
    unsafe { libc::exit(code) }
}

fn write_requested_file() -> Result<i32, String> {
    let get = |name: &str| std::env::var(name).ok();
    let Some(request) = tool_request(&get).map_err(|e| e.to_string())? else {
        print!("{USAGE}");
        return Ok(0);
    };
    let cf = match request.kind {
        ToolKind::Ready(cf) => cf,
        ToolKind::Firecracker { proxy, port } => {
            let abs = std::path::absolute(&proxy)
                .map_err(|e| format!("UNSOCK_FC_SOCK: '{proxy}': {e}"))?;
            ControlFile::firecracker(abs.as_os_str().as_encoded_bytes(), port).ok_or_else(|| {
                format!(
                    "UNSOCK_FC_SOCK: '{}' is too long for a Unix socket (107 bytes)",
                    abs.display()
                )
            })?
        }
    };
    let file = &request.file;
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(file)
        .map_err(|e| format!("UNSOCK_FILE: cannot create '{file}': {e}"))?;
    f.write_all(&cf.encode())
        .map_err(|e| format!("UNSOCK_FILE: cannot write '{file}': {e}"))?;
    print!("{file}: {cf}");
    Ok(0)
}
