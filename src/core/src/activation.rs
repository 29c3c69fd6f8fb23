//! systemd socket activation (`LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`): which passed fd a
//! `systemd` rule takes. Pure: the shim supplies the variables and its pid.

use crate::rule::{Action, Rule};

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
pub const FIRST_FD: i32 = 3;
/// More fds than this in `LISTEN_FDS` is treated as malformed.
pub const MAX_FDS: usize = 64;

/// One passed fd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassedFd {
    pub fd: i32,
    /// Its `LISTEN_FDNAMES` entry, if there is one.
    pub name: Option<String>,
    /// A `systemd=NAME` rule names it: only that rule takes it; plain `systemd` rules skip it.
    pub claimed_by_name: bool,
}

/// The fds passed to this process, or why none are: `Ok(vec![])` when the variables are absent
/// or meant for another process (`LISTEN_PID` differs), Err for malformed values.
pub fn passed_fds(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
    my_pid: u32,
    rules: &[Rule],
) -> Result<Vec<PassedFd>, String> {
    let (Some(pid), Some(count)) = (listen_pid, listen_fds) else {
        return Ok(Vec::new());
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_PID is not a pid: '{pid}'"))?;
    if pid != my_pid {
        return Ok(Vec::new());
    }
    let count: usize = count
        .trim()
        .parse()
        .ok()
        .filter(|&n| n <= MAX_FDS)
        .ok_or_else(|| format!("LISTEN_FDS is not a count of at most {MAX_FDS}: '{count}'"))?;
    let names: Vec<Option<String>> = match listen_fdnames {
        None => vec![None; count],
        Some(list) => {
            let names: Vec<&str> = list.split(':').collect();
            if names.len() != count {
                return Err(format!(
                    "LISTEN_FDNAMES has {} names for {count} fds: '{list}'",
                    names.len()
                ));
            }
            names
                .into_iter()
                .map(|n| (!n.is_empty()).then(|| n.to_owned()))
                .collect()
        }
    };
    let named = |n: &str| {
        rules
            .iter()
            .any(|r| matches!(&r.action, Action::Systemd(Some(want)) if want == n))
    };
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| PassedFd {
            fd: FIRST_FD + i as i32,
            claimed_by_name: name.as_deref().is_some_and(named),
            name,
        })
        .collect())
}

/// Which of `fds` a rule asking for `want` may take, in order of preference: the fds with that
/// name, or (no name asked) the fds no rule claims by name, in order.
pub fn eligible<'a>(
    fds: &'a [PassedFd],
    want: Option<&'a str>,
) -> impl Iterator<Item = usize> + 'a {
    fds.iter().enumerate().filter_map(move |(i, p)| {
        let ok = match want {
            Some(w) => p.name.as_deref() == Some(w),
            None => !p.claimed_by_name,
        };
        ok.then_some(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(texts: &[&str]) -> Vec<Rule> {
        texts.iter().map(|t| Rule::parse(t).unwrap()).collect()
    }

    #[test]
    fn absent_or_foreign_means_none() {
        assert_eq!(passed_fds(None, None, None, 7, &[]).unwrap(), vec![]);
        assert_eq!(
            passed_fds(Some("8"), Some("2"), None, 7, &[]).unwrap(),
            vec![]
        );
    }

    #[test]
    fn malformed_is_an_error() {
        assert!(passed_fds(Some("x"), Some("1"), None, 7, &[]).is_err());
        assert!(passed_fds(Some("7"), Some("-1"), None, 7, &[]).is_err());
        assert!(passed_fds(Some("7"), Some("1000"), None, 7, &[]).is_err());
        let e = passed_fds(Some("7"), Some("2"), Some("a"), 7, &[]).unwrap_err();
        assert!(e.contains("1 names for 2 fds"), "{e}");
    }

    #[test]
    fn named_fds_go_to_their_rule_and_the_rest_in_order() {
        let r = rules(&["in,port=80,systemd=web", "in,systemd"]);
        let fds = passed_fds(Some("7"), Some("3"), Some("x:web:"), 7, &r).unwrap();
        assert_eq!(fds.iter().map(|p| p.fd).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(eligible(&fds, Some("web")).collect::<Vec<_>>(), vec![1]);
        // "x" is named but no rule asks for it by name, so plain rules may take it.
        assert_eq!(eligible(&fds, None).collect::<Vec<_>>(), vec![0, 2]);
        assert_eq!(eligible(&fds, Some("nope")).count(), 0);
    }
}
