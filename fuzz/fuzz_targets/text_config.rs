//! socketbox text config: parse never panics; an accepted table validates and routes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::socketbox::table::Tuple;
use sockswap_core::socketbox::text;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match text::parse(input) {
        Ok(table) => {
            assert_eq!(
                table.validate(),
                Ok(()),
                "parser accepted a table that does not validate"
            );
            for port in [0u16, 22, 80, 443] {
                let t = Tuple {
                    listener: 0,
                    local_ip: "fd01:db8:1:40::1:10".parse().unwrap(),
                    local_port: port,
                    remote_ip: "::ffff:192.0.2.1".parse().unwrap(),
                    remote_port: port,
                };
                let routed = table.route(&t).cloned();
                let (lines, explained) = table.explain(&t);
                assert_eq!(explained.cloned(), routed);
                assert!(!lines.is_empty());
            }
        }
        Err(e) => {
            assert!(e.line >= 1, "error without a line: {e}");
            assert!(
                !e.message.chars().any(char::is_control),
                "error with control characters: {e:?}"
            );
        }
    }
});
