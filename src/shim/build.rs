//! Makes libsockswap.so runnable as a program, as unsock's library is: a PT_INTERP naming the
//! dynamic loader of the target (the `.interp` section in tool.rs) and an ELF entry point
//! (`sockswap_tool_entry`, assembly in tool.rs). Only where the loader path and the entry
//! assembly are known; elsewhere the library stays a plain library.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(sockswap_tool)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    let interp = match (os.as_str(), env.as_str(), arch.as_str()) {
        ("linux", "gnu", "x86_64") => "/lib64/ld-linux-x86-64.so.2",
        ("linux", "gnu", "aarch64") => "/lib/ld-linux-aarch64.so.1",
        ("linux", "musl", "x86_64") => "/lib/ld-musl-x86_64.so.1",
        ("linux", "musl", "aarch64") => "/lib/ld-musl-aarch64.so.1",
        _ => return,
    };
    println!("cargo:rustc-cfg=sockswap_tool");
    println!("cargo:rustc-env=SOCKSWAP_INTERP={interp}");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-e,sockswap_tool_entry");
}
