//! Running the binary the way the robustness tests need: reaped with wait4 for its peak
//! resident memory, killed after a time limit, failed on a panic (exit 101) or a signal.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most resident memory a run of the binary may reach.
pub const MEMORY_LIMIT_KIB: i64 = 1024 * 1024;

/// What one run of the binary did.
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    pub max_rss_kib: i64,
}

/// Runs the binary with `args` and `env` (its `SESSIONSPEC_*` settings cleared first), reaping it
/// with wait4 for its peak resident memory; kills it (and fails) after `limit`. Fails on a
/// signal, a panic or [`MEMORY_LIMIT_KIB`].
pub fn sessionspec(args: &[&OsStr], env: &[(&str, &OsStr)], limit: Duration) -> Result<Finished, String> {
    let start = Instant::now();
    let mut command = Command::new(env!("CARGO_BIN_EXE_sessionspec"));
    command.args(args).env("NO_COLOR", "1");
    for var in ["SCENARIOS", "SPEC", "WORK_DIR", "POSTGRES_URL", "MYSQL_URL", "REDIS_URL", "MONGO_URL"] {
        command.env_remove(format!("SESSIONSPEC_{var}"));
    }
    let mut child = command
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("the binary does not start: {e}"))?;
    let pipe = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = r.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = pipe(Box::new(child.stdout.take().expect("piped")));
    let stderr = pipe(Box::new(child.stderr.take().expect("piped")));
    let pid = child.id() as libc::pid_t;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `pid` is our own child, not yet reaped (std's `Child` is never waited on).
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if reaped == pid {
            break (status, usage);
        }
        if reaped < 0 {
            return Err(format!("wait4: {}", std::io::Error::last_os_error()));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {limit:?} (killed): {args:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let (stdout, stderr) = (stdout.join().expect("reader"), stderr.join().expect("reader"));
    if libc::WIFSIGNALED(status) {
        return Err(format!("killed by signal {} (abort or crash): {args:?}\n{stderr}", libc::WTERMSIG(status)));
    }
    let code = libc::WEXITSTATUS(status);
    if code == 101 || stderr.contains("panicked") {
        return Err(format!("panicked (exit {code}): {args:?}\n{stderr}"));
    }
    let max_rss_kib = usage.ru_maxrss;
    if max_rss_kib >= MEMORY_LIMIT_KIB {
        return Err(format!("peaked at {max_rss_kib} KiB resident, over 1 GiB: {args:?}"));
    }
    Ok(Finished { code, stdout, stderr, elapsed, max_rss_kib })
}
