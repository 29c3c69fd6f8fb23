//! The shim's rule grammar (`SOCKSWAP_RULES`, `-r`): parse never panics; the error the user
//! sees is one line; an accepted list prints back (`rules_to_env`, what the CLI exports) to
//! text that parses to the same rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::config::{parse_rule_list, rules_to_env, Config, RULES_VAR};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse_rule_list(input) {
        Ok(rules) => {
            let again = parse_rule_list(&rules_to_env(&rules))
                .expect("the printed form of accepted rules must parse");
            assert_eq!(again.len(), rules.len());
            for (a, b) in rules.iter().zip(&again) {
                assert_eq!(a.to_string(), b.to_string());
            }
        }
        Err(_) => {
            let get = |k: &str| (k == RULES_VAR).then(|| input.to_string());
            let e = Config::from_env(&get, &|_| Err("no files".into()))
                .expect_err("the same rules fail through the environment");
            let shown = e.to_string();
            assert!(
                !shown.chars().any(char::is_control),
                "not one line: {shown:?}"
            );
        }
    }
});
