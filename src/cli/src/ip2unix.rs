//! ip2unix's YAML/JSON rule files (`-f FILE` holding a list, `-F DATA`): each rule object is
//! translated into sockswap's own rule text and parsed by the core's one rule parser, so both
//! syntaxes mean exactly the same thing. Only the CLI reads YAML; the shim gets the rules in its
//! own syntax through `SOCKSWAP_RULES`.

use sockswap_core::rule::{escape, Rule};
use yaml_rust2::{Yaml, YamlLoader};

/// The rules of an ip2unix YAML/JSON document, or None when the text is not a YAML list (then it
/// is a rule list in sockswap's line syntax, as ip2unix itself decides for `-f`).
pub fn rules_if_yaml_list(text: &str, source: &str) -> Option<Result<Vec<Rule>, String>> {
    let docs = YamlLoader::load_from_str(text).ok()?;
    match docs.as_slice() {
        [Yaml::Array(_)] => Some(rules_from_yaml(text, source)),
        _ => None,
    }
}

/// The rules of an ip2unix YAML/JSON document, which must be one list of rule objects.
pub fn rules_from_yaml(text: &str, source: &str) -> Result<Vec<Rule>, String> {
    let docs = YamlLoader::load_from_str(text)
        .map_err(|e| format!("{source}: not valid YAML or JSON: {e}"))?;
    let list = match docs.as_slice() {
        [Yaml::Array(list)] => list,
        [other] => {
            return Err(format!(
                "{source}: the document must be a list of rule objects, not {}",
                describe(other)
            ))
        }
        [] => return Err(format!("{source}: empty document (write [] for no rules)")),
        _ => return Err(format!("{source}: more than one YAML document")),
    };
    list.iter()
        .enumerate()
        .map(|(i, item)| {
            rule_from_object(item).map_err(|e| format!("{source}: rule #{}: {e}", i + 1))
        })
        .collect()
}

fn describe(node: &Yaml) -> &'static str {
    match node {
        Yaml::Array(_) => "a list",
        Yaml::Hash(_) => "a map",
        Yaml::Null | Yaml::BadValue => "null",
        Yaml::Alias(_) => "an alias",
        _ => "a scalar",
    }
}

/// A scalar as text, the way ip2unix reads every value as a string first (`port: 80` and
/// `port: "80"` alike).
fn scalar(key: &str, v: &Yaml) -> Result<String, String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Ok(s.clone()),
        Yaml::Integer(n) => Ok(n.to_string()),
        Yaml::Boolean(b) => Ok(b.to_string()),
        other => Err(format!(
            "'{key}' needs a scalar value, not {}",
            describe(other)
        )),
    }
}

/// A YAML boolean; the spellings yaml-cpp (ip2unix's parser) accepts.
fn boolean(key: &str, v: &Yaml) -> Result<bool, String> {
    if let Yaml::Boolean(b) = v {
        return Ok(*b);
    }
    match scalar(key, v)?.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Ok(true),
        "false" | "no" | "n" | "off" => Ok(false),
        other => Err(format!("'{key}' needs true or false, not '{other}'")),
    }
}

fn rule_from_object(item: &Yaml) -> Result<Rule, String> {
    let Yaml::Hash(map) = item else {
        return Err(format!("a rule must be a map, not {}", describe(item)));
    };
    let mut tokens: Vec<String> = Vec::new();
    let (mut port, mut port_end) = (None, None);
    let (mut activation, mut fd_name) = (false, None);
    let (mut reject, mut reject_errno) = (false, None);
    for (k, v) in map {
        let Yaml::String(key) = k else {
            return Err(format!("keys must be strings, not {}", describe(k)));
        };
        let text = || scalar(key, v);
        match key.as_str() {
            "direction" => tokens.push(match text()?.as_str() {
                "incoming" => "in".into(),
                "outgoing" => "out".into(),
                other => {
                    return Err(format!(
                        "invalid direction '{other}' (incoming or outgoing)"
                    ))
                }
            }),
            "type" => tokens.push(match text()?.as_str() {
                "tcp" | "stream" => "tcp".into(),
                "udp" | "dgram" | "datagram" => "udp".into(),
                other => {
                    return Err(format!(
                        "invalid type '{other}' (tcp, stream, udp, dgram or datagram)"
                    ))
                }
            }),
            "address" => tokens.push(format!("addr={}", escape(&text()?))),
            "port" => port = Some(text()?),
            "portEnd" => port_end = Some(text()?),
            "socketActivation" => activation = boolean(key, v)?,
            "fdName" => fd_name = Some(text()?),
            "reject" => reject = boolean(key, v)?,
            "rejectError" => reject_errno = Some(text()?),
            "blackhole" => {
                if boolean(key, v)? {
                    tokens.push("blackhole".into());
                }
            }
            "ignore" => {
                if boolean(key, v)? {
                    tokens.push("ignore".into());
                }
            }
            "noRemove" => {
                if boolean(key, v)? {
                    tokens.push("noremove".into());
                }
            }
            "socketPath" => {
                let path = text()?;
                if !path.starts_with('/') {
                    return Err(format!("socketPath '{path}' must be absolute"));
                }
                tokens.push(format!("path={}", escape(&path)));
            }
            "abstract" => tokens.push(format!("abstract={}", escape(&text()?))),
            "fromUnix" => tokens.push(format!("from-unix={}", escape(&text()?))),
            "fromAbstract" => tokens.push(format!("from-abstract={}", escape(&text()?))),
            other => {
                return Err(format!(
                    "unknown key '{other}' (direction, type, address, port, portEnd, socketPath, \
                     abstract, fromUnix, fromAbstract, reject, rejectError, blackhole, ignore, \
                     noRemove, socketActivation, fdName)"
                ))
            }
        }
    }
    match (port, port_end) {
        (Some(p), None) => tokens.push(format!("port={p}")),
        (Some(p), Some(e)) => tokens.push(format!("port={p}-{e}")),
        (None, Some(_)) => return Err("portEnd without port".into()),
        (None, None) => {}
    }
    match (reject, reject_errno) {
        (true, None) => tokens.push("reject".into()),
        (true, Some(e)) => tokens.push(format!("reject={}", escape(&e))),
        (false, Some(_)) => return Err("rejectError without reject: true".into()),
        (false, None) => {}
    }
    match (activation, fd_name) {
        (true, None) => tokens.push("systemd".into()),
        (true, Some(n)) => tokens.push(format!("systemd={}", escape(&n))),
        (false, Some(_)) => return Err("fdName without socketActivation: true".into()),
        (false, None) => {}
    }
    let text = tokens.join(",");
    Rule::parse(&text).map_err(|e| format!("{e} (as sockswap rule '{text}')"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(yaml: &str) -> Result<Vec<String>, String> {
        rules_from_yaml(yaml, "t").map(|r| r.iter().map(|r| r.to_string()).collect())
    }

    #[test]
    fn ip2unix_objects_become_rules() {
        assert_eq!(
            text(
                r#"[{"direction": "outgoing", "type": "udp", "socketPath": "/tmp/foo"},
                     {"direction": "incoming", "address": "::", "socketPath": "/tmp/bar"}]"#
            )
            .unwrap(),
            vec!["out,udp,path=/tmp/foo", "in,addr=::,path=/tmp/bar"]
        );
        let yaml = "- direction: incoming\n  port: 1000\n  portEnd: 65535\n  socketPath: /run/%p.sock\n  noRemove: true\n\
                    - socketActivation: true\n  fdName: web\n\
                    - reject: true\n  rejectError: 9999\n\
                    - reject: yes\n  rejectError: enomem\n\
                    - fromUnix: /a/*.sock\n  abstract: x\n";
        assert_eq!(
            text(yaml).unwrap(),
            vec![
                "in,port=1000-65535,path=/run/%p.sock,noremove",
                "in,systemd=web",
                "reject=9999",
                "reject=ENOMEM",
                "from-unix=/a/*.sock,abstract=x",
            ]
        );
        assert_eq!(text("[]").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn ip2unix_bad_objects_are_refused() {
        for bad in [
            r#"{"rule1": {"socketPath": "/foo"}}"#,
            "{}",
            r#"[{"foo": 1}]"#,
            r#"[{"socketpath": "xxx"}]"#,
            r#"[{"type": "nope", "socketPath": "/tmp/foo"}]"#,
            r#"[{"direction": "out", "socketPath": "/tmp/foo"}]"#,
            r#"[{"socketPath": 1234}]"#,
            r#"[{"address": "1.2.3.4"}]"#,
            r#"[{"socketPath": "aaa/bbb"}]"#,
            r#"[{"abstract": ""}]"#,
            r#"[{"abstract": "xxx", "socketPath": "/xxx"}]"#,
            r#"[{"fromAbstract": "xxx", "fromUnix": "/xxx"}]"#,
            r#"[{"fromAbstract": "xxx", "addr": "1.2.3.4"}]"#,
            r#"[{"fromUnix": "xxx", "port": 234}]"#,
            r#"[{"fromUnix": "/foobar"}]"#,
            r#"[{"socketPath": "/bbb", "direction": 111}]"#,
            r#"[{"socketPath": "/bbb", "type": true}]"#,
            r#"[{"socketPath": "/aaa", "port": "foo"}]"#,
            r#"[{"socketPath": "/aaa", "port": -1}]"#,
            r#"[{"socketPath": "/aaa", "port": 65536}]"#,
            r#"[{"socketPath": "/aaa", "port": 123, "portEnd": 10}]"#,
            r#"[{"socketPath": "/aaa", "portEnd": 123}]"#,
            r#"[{"reject": true, "rejectError": "EBAAAADF"}]"#,
            r#"[{"reject": true, "rejectError": -10}]"#,
            r#"[{"socketPath": "/foo", "reject": true}]"#,
            r#"[{"direction": "outgoing", "blackhole": true}]"#,
            r#"[{"reject": true, "ignore": true}]"#,
            r#"[{"socketActivation": true, "socketPath": "/foo"}]"#,
            r#"[{"socketActivation": true, "ignore": true}]"#,
            "[1, 2]",
        ] {
            assert!(text(bad).is_err(), "accepted {bad}: {:?}", text(bad));
        }
        let e = text(r#"[{"socketPath": "/x"}, {"foo": 1}]"#).unwrap_err();
        assert!(e.starts_with("t: rule #2: unknown key 'foo'"), "{e}");
    }

    #[test]
    fn only_a_list_is_yaml() {
        assert!(rules_if_yaml_list("in,port=1234,path=/foo\n# c\nout,path=/x", "f").is_none());
        assert!(rules_if_yaml_list("path=/run/x.sock  # comment", "f").is_none());
        assert!(rules_if_yaml_list("", "f").is_none());
        assert!(rules_if_yaml_list("- socketPath: /x\n", "f").is_some());
    }
}
