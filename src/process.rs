//! Child processes that never outlive us: [`die_with_parent`] asks the kernel to SIGKILL
//! the child when this process dies (`PR_SET_PDEATHSIG`), however it dies. Used for
//! DynamoDB Local (`dev`) and the chaos runner's role processes.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes the child started from `cmd` die (SIGKILL) when this process does.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe; it only sets the child's parent-death signal.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_runs_normally() {
        let out = die_with_parent(Command::new("sh").args(["-c", "echo ok"]))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    }
}
