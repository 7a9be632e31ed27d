//! CPU time and context switches of the processes a run involves, read from /proc (Linux),
//! so a run can report them per order over its measured window.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

/// What a process (or the machine) has used since it started.
#[derive(Clone, Copy, Default)]
pub struct Usage {
    /// utime + stime, in clock ticks.
    pub ticks: u64,
    /// Voluntary + involuntary context switches, summed over its threads.
    pub switches: u64,
}

/// Which processes a row of the table covers.
#[derive(Clone)]
pub enum Who {
    Pid(u32),
    /// Every process whose /proc/<pid>/comm is this.
    Comm(&'static str),
    /// Every process with this comm that this one started, directly or not (the cluster's
    /// processes, not another run's on the same machine).
    Started(&'static str),
    /// All CPUs' busy time and all context switches (/proc/stat).
    Machine,
}

#[derive(Clone)]
pub struct Group {
    pub label: &'static str,
    pub who: Who,
}

/// Each group's processes' usage at one moment, by pid (pid 0 for the machine).
pub struct Snapshot(Vec<HashMap<u32, Usage>>);

/// The usage of every group now.
pub fn snapshot(groups: &[Group]) -> Snapshot {
    // pid, comm, parent pid.
    let named = || -> Vec<(u32, String, u32)> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
            let (open, close) = (stat.find('(')?, stat.rfind(')')?);
            let comm = stat.get(open + 1..close)?.to_owned();
            let ppid = stat[close + 1..].split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, comm, ppid))
        })
        .collect()
    };
    // Listing /proc once serves every group that goes by name.
    let mut all = None;
    let taken = groups
        .iter()
        .map(|group| match &group.who {
            Who::Pid(pid) => process(*pid).map(|u| (*pid, u)).into_iter().collect(),
            Who::Comm(name) => all
                .get_or_insert_with(named)
                .iter()
                .filter(|(_, comm, _)| comm == name)
                .filter_map(|(pid, _, _)| process(*pid).map(|u| (*pid, u)))
                .collect(),
            Who::Started(name) => {
                let all = all.get_or_insert_with(named);
                let mine = descendants(all, std::process::id());
                all.iter()
                    .filter(|(pid, comm, _)| comm == name && mine.contains(pid))
                    .filter_map(|(pid, _, _)| process(*pid).map(|u| (*pid, u)))
                    .collect()
            }
            Who::Machine => machine().map(|u| (0, u)).into_iter().collect(),
        })
        .collect();
    Snapshot(taken)
}

/// The processes under `root`, at any depth.
fn descendants(all: &[(u32, String, u32)], root: u32) -> std::collections::HashSet<u32> {
    let mut found = std::collections::HashSet::from([root]);
    loop {
        let before = found.len();
        for (pid, _, ppid) in all {
            if found.contains(ppid) {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            found.remove(&root);
            return found;
        }
    }
}

/// Per group: how many processes, and what they used between `start` and `end`. A process
/// that appears only in `end` (a new PostgreSQL backend) counts whole; one that is gone by
/// `end` is left out, its last figures unknown.
pub fn delta(start: &Snapshot, end: &Snapshot) -> Vec<(usize, Usage)> {
    start
        .0
        .iter()
        .zip(&end.0)
        .map(|(before, after)| {
            let mut used = Usage::default();
            for (pid, now) in after {
                let then = before.get(pid).copied().unwrap_or_default();
                used.ticks += now.ticks.saturating_sub(then.ticks);
                used.switches += now.switches.saturating_sub(then.switches);
            }
            (after.len(), used)
        })
        .collect()
}

/// A markdown table: per group, CPU milliseconds and context switches per order.
pub fn table(groups: &[Group], used: &[(usize, Usage)], orders: usize) -> String {
    let mut out = String::from("| process | CPU ms/order | switches/order |\n|---|---|---|\n");
    let per_order = |n: u64| n as f64 / orders.max(1) as f64;
    for (group, (count, usage)) in groups.iter().zip(used) {
        let label = match (&group.who, count) {
            (Who::Comm(_) | Who::Started(_), 0) => format!("{} (not running)", group.label),
            (Who::Comm(_) | Who::Started(_), 1) => format!("{} (1 process)", group.label),
            (Who::Comm(_) | Who::Started(_), n) => format!("{} ({n} processes)", group.label),
            _ => group.label.to_owned(),
        };
        if *count == 0 {
            let _ = writeln!(out, "| {label} | — | — |");
            continue;
        }
        let _ = writeln!(
            out,
            "| {label} | {:.2} | {:.1} |",
            per_order(usage.ticks) * 1000.0 / ticks_per_second() as f64,
            per_order(usage.switches)
        );
    }
    out
}

/// One process's usage, or None if it is gone (or not readable).
fn process(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count from its end.
    // After it come fields 3 (state) onwards, so utime (14) and stime (15) are the 12th
    // and 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    // The counts in /proc/<pid>/status are the main thread's only: sum every thread's.
    let mut switches = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread just exited
        };
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                switches += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Some(Usage {
        ticks: utime + stime,
        switches,
    })
}

/// The machine's busy CPU time (all CPUs: user, nice, system, irq, softirq; not idle, iowait
/// or time stolen by the hypervisor) and context switches since boot.
fn machine() -> Option<Usage> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let mut usage = Usage::default();
    for line in stat.lines() {
        if let Some(cpu) = line.strip_prefix("cpu ") {
            let fields: Vec<u64> = cpu
                .split_whitespace()
                .map(|n| n.parse().unwrap_or(0))
                .collect();
            usage.ticks = [0, 1, 2, 5, 6]
                .iter()
                .map(|&i| fields.get(i).copied().unwrap_or(0))
                .sum();
        } else if let Some(n) = line.strip_prefix("ctxt ") {
            usage.switches = n.trim().parse().ok()?;
        }
    }
    Some(usage)
}

/// Clock ticks per second (`getconf CLK_TCK`, asked once; 100 on Linux if that fails).
fn ticks_per_second() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(100)
    })
}
