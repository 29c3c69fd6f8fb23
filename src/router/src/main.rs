//! `socketbox`: the router daemon (issue 5). Skeleton; filled in by the router's owner.
fn main() {
    eprintln!("socketbox: not implemented yet");
    std::process::exit(2);
}
