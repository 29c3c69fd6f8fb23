//! Text the kernel writes under /proc, parsed: the registrations of an epoll instance
//! (`/proc/PID/fdinfo/EPFD`, fs/eventpoll.c `ep_show_fdinfo`), one line per watched file:
//!
//! ```text
//! tfd:        5 events:       19 data:                5  pos:0 ino:1a2b sdev:8
//! ```
//!
//! (`events` and `data` in hex, `ino` in hex.)

/// One file watched by an epoll instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpollWatch {
    /// The fd number it was added under.
    pub fd: i32,
    /// The events asked for, with the flags (EPOLLET, EPOLLONESHOT, ...) as the kernel keeps them.
    pub events: u32,
    pub data: u64,
    /// The watched file's inode.
    pub ino: u64,
}

/// The watches listed in an epoll instance's fdinfo; lines that do not parse are skipped.
pub fn epoll_watches(fdinfo: &str) -> impl Iterator<Item = EpollWatch> + '_ {
    fdinfo.lines().filter_map(parse_watch)
}

fn parse_watch(line: &str) -> Option<EpollWatch> {
    let rest = line.strip_prefix("tfd:")?;
    let mut events = None;
    let mut data = None;
    let mut ino = None;
    let mut words = rest.split_whitespace();
    // The first word is the fd; then "key: value" pairs (the value may be glued: "pos:0").
    let fd = words.next().and_then(|w| w.parse().ok());
    while let Some(w) = words.next() {
        let (key, value) = match w.split_once(':') {
            Some((k, "")) => (k, words.next()?),
            Some((k, v)) => (k, v),
            None => continue,
        };
        match key {
            "events" => events = u32::from_str_radix(value, 16).ok(),
            "data" => data = u64::from_str_radix(value, 16).ok(),
            "ino" => ino = u64::from_str_radix(value, 16).ok(),
            _ => {}
        }
    }
    Some(EpollWatch {
        fd: fd?,
        events: events?,
        data: data?,
        ino: ino?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_kernels_lines() {
        let text = "pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t1057\n\
                    tfd:        5 events:       19 data:                5  pos:0 ino:1a2b sdev:8\n\
                    tfd:       12 events: 80000001 data: ffffffffffffffff  pos:0 ino:7 sdev:9\n\
                    tfd: junk\n";
        let w: Vec<_> = epoll_watches(text).collect();
        assert_eq!(
            w,
            [
                EpollWatch {
                    fd: 5,
                    events: 0x19,
                    data: 5,
                    ino: 0x1a2b
                },
                EpollWatch {
                    fd: 12,
                    events: 0x8000_0001,
                    data: u64::MAX,
                    ino: 7
                },
            ]
        );
    }
}
