//! The whole configuration, read from an environment given as a lookup function (the shim passes
//! the process environment, the CLI its own, tests a map), so parsing needs no syscall here.

use std::fmt;
use std::net::SocketAddr;

use crate::rule::{split_unescaped, Rule};
use crate::{skbox, unsock, xsocket};

/// Lists a directory's socketbox-preload lookup files (`skbox_dir_*`) with their contents.
pub type ReadLookupDir<'a> = &'a dyn Fn(&str) -> Result<Vec<(String, Vec<u8>)>, String>;

/// The rule-list variable.
pub const RULES_VAR: &str = "SOCKSWAP_RULES";
/// The rule-file variable.
pub const RULES_FILE_VAR: &str = "SOCKSWAP_RULES_FILE";
/// The log-level variable.
pub const LOG_VAR: &str = "SOCKSWAP_LOG";
/// Exit status of a program whose configuration is invalid.
pub const EXIT_BAD_CONFIG: i32 = 121;
/// The most a rules file may hold: a longer one (or `/dev/zero`) is a configuration error.
pub const MAX_RULES_FILE: usize = 1 << 20;
/// How long reading a rules file may wait for data (a FIFO with no writer never sends any).
pub const READ_DEADLINE_MS: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum LogLevel {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl LogLevel {
    /// The level's name as logs print it.
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Off => "off",
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    pub fn parse(text: &str) -> Option<LogLevel> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "off" | "0" => LogLevel::Off,
            "error" | "1" => LogLevel::Error,
            "warn" | "warning" | "2" => LogLevel::Warn,
            "info" | "3" => LogLevel::Info,
            "debug" | "4" => LogLevel::Debug,
            "trace" | "5" => LogLevel::Trace,
            _ => return None,
        })
    }
}

/// A malformed variable: which one, and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// One line whatever the message quotes (a rule's text may hold a newline or a NUL).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = crate::socketbox::one_line(self.message.clone());
        write!(f, "{}: {message}", self.var)
    }
}

impl std::error::Error for ConfigError {}

/// Everything the shim needs to decide a call.
#[derive(Debug, Clone)]
pub struct Config {
    pub rules: Vec<Rule>,
    pub log: LogLevel,
    /// UNSOCK_BLOCK_INET6: `socket(AF_INET6)` fails.
    pub block_inet6: bool,
    /// UNSOCK_ACCEPT_CONVERT_ALL: non-IP addresses are reported as this AF_INET address.
    pub accept_convert: Option<SocketAddr>,
    /// UNSOCK_ACCEPT_CONVERT_VSOCK: AF_VSOCK addresses are reported as this AF_INET address.
    pub accept_convert_vsock: Option<SocketAddr>,
    /// Directories to create (mode 0755) before the program runs.
    pub create_dirs: Vec<String>,
    /// SKBOX_BLOCK_LISTEN_EMPTY_ADDR: `listen` on a TCP socket without a port fails (EINVAL).
    pub block_listen_unbound: bool,
    /// SKBOX_GETPEERNAME_PROTECTION: zero name buffers first (1: IP-sized ones, 2: all).
    pub name_protection: u8,
    /// SKBOX_SCHED_YIELD: every 7th accept on a socketbox listener yields first.
    pub sched_yield: bool,
}

impl Config {
    /// Reads `SOCKSWAP_RULES`, `SOCKSWAP_RULES_FILE` (through `read_file`), `SOCKSWAP_LOG`,
    /// the UNSOCK_* variables, the SKBOX_* variables (socketbox-preload's lookup files through
    /// `read_dir`) and xsocket's XBIND/XSOCKET.
    pub fn from_env_and_dirs(
        get: &dyn Fn(&str) -> Option<String>,
        read_file: &dyn Fn(&str) -> Result<String, String>,
        read_dir: ReadLookupDir<'_>,
    ) -> Result<Config, ConfigError> {
        let log = match get(LOG_VAR).filter(|s| !s.is_empty()) {
            None => LogLevel::Warn,
            Some(l) => LogLevel::parse(&l).ok_or_else(|| ConfigError {
                var: LOG_VAR,
                message: format!("unknown level '{l}' (off, error, warn, info, debug, trace)"),
            })?,
        };
        let mut rules = Vec::new();
        if let Some(text) = get(RULES_VAR) {
            rules.extend(parse_rules(&text).map_err(|message| ConfigError {
                var: RULES_VAR,
                message,
            })?);
        }
        if let Some(path) = get(RULES_FILE_VAR).filter(|s| !s.is_empty()) {
            let text = read_file(&path).map_err(|e| ConfigError {
                var: RULES_FILE_VAR,
                message: format!("cannot read '{path}': {e}"),
            })?;
            rules.extend(parse_rules(&text).map_err(|m| ConfigError {
                var: RULES_FILE_VAR,
                message: format!("{path}: {m}"),
            })?);
        }
        let mut config = Config {
            rules,
            log,
            block_inet6: false,
            accept_convert: None,
            accept_convert_vsock: None,
            create_dirs: Vec::new(),
            block_listen_unbound: false,
            name_protection: 0,
            sched_yield: false,
        };
        if let Some(u) = unsock::from_env(get)? {
            config.rules.extend(u.rules);
            config.block_inet6 = u.block_inet6;
            config.accept_convert = u.accept_convert;
            config.accept_convert_vsock = u.accept_convert_vsock;
            config.create_dirs.extend(u.dir);
        }
        if let Some(sb) = skbox::from_env(get, read_dir)? {
            config.rules.extend(sb.rules);
            config.block_listen_unbound = sb.block_listen_unbound;
            config.name_protection = sb.name_protection;
            config.sched_yield = sb.sched_yield;
        }
        config.rules.extend(xsocket::from_env(get)?);
        Ok(config)
    }

    /// `from_env_and_dirs` where no directory can be listed (SKBOX_DIRECTORY_ROOT is refused).
    pub fn from_env(
        get: &dyn Fn(&str) -> Option<String>,
        read_file: &dyn Fn(&str) -> Result<String, String>,
    ) -> Result<Config, ConfigError> {
        Config::from_env_and_dirs(get, read_file, &|_| {
            Err("directories cannot be listed here".into())
        })
    }

    /// Does any rule look at Unix-socket calls (`from-unix`, `from-abstract`)?
    pub fn watches_unix(&self) -> bool {
        self.rules.iter().any(Rule::matches_unix)
    }
}

/// The one rule-list grammar, shared by `SOCKSWAP_RULES`, `SOCKSWAP_RULES_FILE` and `sockswap -r/-f`:
/// rules are separated by `;` or newlines; a `#` at the start of a line or rule, or after a blank
/// (space or tab), starts a comment that runs to the end of the line; blank rules are skipped;
/// `\;`, `\,`, `\#` and `\\` are a literal `;`, `,`, `#` and `\`. Errors say `rule N: …` for
/// one-line text and `line N: …` for text of several lines.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, String> {
    let several_lines = text.trim_end().contains('\n');
    let mut rules = Vec::new();
    for (line_no, line) in text.split('\n').enumerate() {
        for piece in split_unescaped(strip_comment(line), b";") {
            if piece.trim().is_empty() {
                continue;
            }
            let rule = Rule::parse(piece).map_err(|e| {
                if several_lines {
                    format!("line {}: {e}", line_no + 1)
                } else {
                    format!("rule {}: {e}", rules.len() + 1)
                }
            })?;
            rules.push(rule);
        }
    }
    Ok(rules)
}

/// `SOCKSWAP_RULES`'s text: the one grammar of [`parse_rules`] (kept as a name for callers and
/// fuzz targets that read the variable).
pub fn parse_rule_list(text: &str) -> Result<Vec<Rule>, String> {
    parse_rules(text)
}

/// A rules file's text: the same grammar as the variable, [`parse_rules`].
pub fn parse_rule_file(text: &str) -> Result<Vec<Rule>, String> {
    parse_rules(text)
}

/// The line without its comment: from the first unescaped `#` that starts the line or a rule
/// (after `;`) or follows a blank.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b';') => return &line[..i],
            _ => i += 1,
        }
    }
    line
}

/// The value of `SOCKSWAP_RULES` that means these rules (what the CLI exports).
pub fn rules_to_env(rules: &[Rule]) -> String {
    rules
        .iter()
        .map(|r| {
            r.to_string()
                .split("  #")
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect::<Vec<_>>()
        .join(";")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn log_level_names_parse_back() {
        use LogLevel::*;
        for l in [Off, Error, Warn, Info, Debug, Trace] {
            assert_eq!(LogLevel::parse(l.name()), Some(l));
        }
        assert!(Error < Warn && Warn < Info && Info < Debug);
        assert_eq!(LogLevel::parse("loud"), None);
    }

    fn cfg(pairs: &[(&str, &str)], files: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env: HashMap<_, _> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let fs: HashMap<_, _> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(&|k| env.get(k).cloned(), &|p| {
            fs.get(p).cloned().ok_or_else(|| "No such file".to_string())
        })
    }

    #[test]
    fn order_is_list_then_file_then_unsock() {
        let c = cfg(
            &[
                ("SOCKSWAP_RULES", "in,port=1,ignore;\nin,port=2,ignore"),
                ("SOCKSWAP_RULES_FILE", "/r"),
                ("UNSOCK_DIR", "/u"),
            ],
            &[("/r", "# comment\n\nin,port=3,ignore\n")],
        )
        .unwrap();
        let ports: Vec<_> = c.rules.iter().map(|r| r.ports).collect();
        assert_eq!(ports, vec![Some((1, 1)), Some((2, 2)), Some((3, 3)), None]);
        assert_eq!(c.create_dirs, vec!["/u".to_string()]);
    }

    #[test]
    fn errors_name_variable_and_token() {
        let e = cfg(&[("SOCKSWAP_RULES", "in,ignore;in,prot=80,ignore")], &[]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SOCKSWAP_RULES: rule 2: unknown option 'prot=80'"
        );
        let e = cfg(&[("SOCKSWAP_RULES_FILE", "/r")], &[("/r", "\n\nbogus\n")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SOCKSWAP_RULES_FILE: /r: line 3: unknown option 'bogus'"
        );
        let e = cfg(&[("SOCKSWAP_RULES_FILE", "/nope")], &[]).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("SOCKSWAP_RULES_FILE: cannot read '/nope'"));
        let e = cfg(&[("SOCKSWAP_LOG", "loud")], &[]).unwrap_err();
        assert!(e.to_string().contains("'loud'"));
    }

    #[test]
    fn env_roundtrip() {
        let rules = parse_rules(r"in,path=/a\;b\#c;out,addr=::1,reject=ECONNREFUSED").unwrap();
        assert_eq!(parse_rules(&rules_to_env(&rules)).unwrap(), rules);
    }

    #[test]
    fn one_grammar_for_variable_and_file() {
        let p =
            |t: &str| parse_rules(t).map(|r| r.iter().map(|r| r.to_string()).collect::<Vec<_>>());
        let want = vec!["path=/run/x.sock".to_string(), "in,ignore".to_string()];
        // comments after a blank, `;` and newlines separate, the same on one line or several
        assert_eq!(
            p("path=/run/x.sock  # comment;not a rule\nin,ignore").unwrap(),
            want
        );
        assert_eq!(
            p("path=/run/x.sock\t# c\n# whole line\n\n  in,ignore # c").unwrap(),
            want
        );
        assert_eq!(p("path=/run/x.sock;in,ignore").unwrap(), want);
        assert_eq!(p("path=/run/x.sock;# c\nin,ignore").unwrap(), want);
        assert_eq!(p("path=/run/x.sock;\n;in,ignore;").unwrap(), want);
        // `#` inside a word is text; escaped it is text anywhere
        assert_eq!(p("path=/run/a#b").unwrap(), vec!["path=/run/a\\#b"]);
        assert_eq!(p("path=/run/a\\ \\#b").unwrap(), vec!["path=/run/a \\#b"]);
        assert_eq!(p("# only a comment").unwrap(), Vec::<String>::new());
        // errors: rule N on one line, line N over several
        assert_eq!(
            p("in,ignore;bogus").unwrap_err(),
            "rule 2: unknown option 'bogus'"
        );
        assert_eq!(
            p("in,ignore\n# c\nin,ignore;bogus\n").unwrap_err(),
            "line 3: unknown option 'bogus'"
        );
    }
}
