//! CPU time and memory of a process, read from Linux's /proc: the server's (by pid) to say
//! what a run cost it, and this process's own, since client and server share the cores.

use serde::Serialize;
use std::io;

/// Clock ticks per second of the times in /proc/PID/stat (`USER_HZ`). It is part of the
/// kernel's user-space ABI and 100 on every architecture Linux runs this project on
/// (x86-64, arm64); reading it would need libc's `sysconf`.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process, or this one.
#[derive(Debug, Clone, Copy)]
pub enum Proc {
    Pid(u32),
    Me,
}

impl Proc {
    fn path(self, file: &str) -> String {
        match self {
            Proc::Pid(pid) => format!("/proc/{pid}/{file}"),
            Proc::Me => format!("/proc/self/{file}"),
        }
    }
}

/// User and system CPU seconds used so far by every thread of a process.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Cpu {
    pub user_s: f64,
    pub system_s: f64,
}

impl Cpu {
    pub fn total(&self) -> f64 {
        self.user_s + self.system_s
    }

    /// What was used between `self` (before) and `after`.
    pub fn until(&self, after: &Cpu) -> Cpu {
        Cpu {
            user_s: after.user_s - self.user_s,
            system_s: after.system_s - self.system_s,
        }
    }
}

pub fn cpu(p: Proc) -> io::Result<Cpu> {
    parse_stat(&std::fs::read_to_string(p.path("stat"))?)
}

/// Fields 14 and 15 of /proc/PID/stat (utime, stime). The command name (field 2) is in
/// parentheses and may hold spaces, so counting starts after its closing parenthesis.
fn parse_stat(text: &str) -> io::Result<Cpu> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "unexpected /proc stat format");
    let rest = text.rsplit_once(')').ok_or_else(bad)?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    let ticks = |i: usize| -> io::Result<f64> {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .map(|t| t as f64 / TICKS_PER_SECOND)
            .ok_or_else(bad)
    };
    Ok(Cpu {
        user_s: ticks(14)?,
        system_s: ticks(15)?,
    })
}

/// Resident memory now and its peak since the process started (VmRSS, VmHWM), KiB.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Memory {
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

pub fn memory(p: Proc) -> io::Result<Memory> {
    parse_status(&std::fs::read_to_string(p.path("status"))?)
}

fn parse_status(text: &str) -> io::Result<Memory> {
    let kib = |key: &str| -> io::Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, format!("no {key} in status"))
            })
    };
    Ok(Memory {
        rss_kib: kib("VmRSS:")?,
        peak_rss_kib: kib("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_in_the_name() {
        let line = "4242 (trialog server) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 9 0 100 0 0";
        let cpu = parse_stat(line).expect("parses");
        assert_eq!((cpu.user_s, cpu.system_s), (2.5, 0.75));
    }

    #[test]
    fn status_peak_and_current() {
        let text = "Name:\ttrialog-server\nVmHWM:\t  51200 kB\nVmRSS:\t  40960 kB\n";
        let m = parse_status(text).expect("parses");
        assert_eq!((m.rss_kib, m.peak_rss_kib), (40960, 51200));
    }

    #[test]
    fn this_process_is_readable() {
        assert!(cpu(Proc::Me).is_ok());
        assert!(memory(Proc::Me).expect("status").peak_rss_kib > 0);
    }
}
