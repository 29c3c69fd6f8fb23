//! Rules files (`SOCKSWAP_RULES_FILE`, `-f`): parse never panics; errors name a line (or, for
//! one-line text, the rule) and are
//! shown on one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockswap_core::config::{
    parse_rule_file, parse_rule_list, rules_to_env, Config, RULES_FILE_VAR,
};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse_rule_file(input) {
        Ok(rules) => {
            let again = parse_rule_list(&rules_to_env(&rules))
                .expect("the printed form of accepted rules must parse");
            assert_eq!(again.len(), rules.len());
        }
        Err(e) => {
            // One grammar for files and the variable: text of several lines names the line,
            // one-line text the rule.
            assert!(
                e.starts_with("line ") || e.starts_with("rule "),
                "an error without its line or rule: {e:?}"
            );
            let get = |k: &str| (k == RULES_FILE_VAR).then(|| "/fuzz/rules".to_string());
            let e = Config::from_env(&get, &|_| Ok(input.to_string()))
                .expect_err("the same file fails through the environment");
            let shown = e.to_string();
            assert!(
                !shown.chars().any(char::is_control),
                "not one line: {shown:?}"
            );
        }
    }
});
