//! `socketbox`: the router daemon (issue 5). Skeleton; filled in by the router's owner.
mod sockserver;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("socket-server") {
        std::process::exit(sockserver::main(&args[1..]));
    }
    eprintln!("socketbox: not implemented yet");
    std::process::exit(2);
}
