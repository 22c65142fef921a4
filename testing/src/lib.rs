//! # agora-test-support
//!
//! Helpers the end-to-end tests of `agora-node` (node/tests/it) and of `agora`
//! (cli/tests/it) share: loopback ports for the processes they start, the capture of a
//! child's log, and the start of an `agora-node` process; and the command-line references
//! both binaries check their clap definitions against ([`reference`]). A dev-dependency only;
//! no production code uses it.

pub mod reference;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Duration;

/// A free loopback port (bound then released; the node binds it right after). Never the same
/// port twice in one test process: the kernel may hand a just-released port out again, and a
/// node given one port for two services fails to start (seen once as an RPC/Prometheus clash).
///
/// # Panics
/// If no port can be bound, or none unused by this process is found in 1 000 tries.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(PoisonError::into_inner);
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|address| address.port())
            .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no unused loopback port after 1000 tries");
}

/// The lines of `stream` (a child's stderr), read on a thread of their own so the child never
/// blocks on a full pipe; the thread ends with the stream or when the receiver is dropped.
pub fn capture_lines(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// A child process whose stderr is captured line by line; killed with SIGKILL on drop.
pub struct Process {
    child: Child,
    log: mpsc::Receiver<String>,
}

impl Process {
    /// Spawns `command` with its stdout discarded and its stderr captured.
    ///
    /// # Panics
    /// If the process cannot be started.
    pub fn spawn(command: &mut Command) -> Process {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?}: {e}", command.get_program()));
        let stderr = child.stderr.take();
        let log = capture_lines(stderr.unwrap_or_else(|| panic!("stderr is piped")));
        Process { child, log }
    }

    /// The lines the process has logged since the last call.
    pub fn drain_log(&self) -> Vec<String> {
        self.log.try_iter().collect()
    }

    /// Its exit status, if it has exited.
    ///
    /// # Panics
    /// If its status cannot be read.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("cannot read the process's status: {e}"))
    }

    /// Polls `f` until it returns `Some`, or panics after `timeout` naming `what` and showing
    /// the lines the process has logged meanwhile (see [`wait_for`]).
    pub fn wait_for<T>(&self, timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
        wait_for(timeout, what, || self.drain_log(), f)
    }

    /// Kills the process with SIGKILL and waits for it.
    ///
    /// # Panics
    /// If it cannot be killed or waited for.
    pub fn kill(mut self) {
        self.child
            .kill()
            .unwrap_or_else(|e| panic!("cannot kill the process: {e}"));
        self.child
            .wait()
            .unwrap_or_else(|e| panic!("cannot wait for the process: {e}"));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the `agora-node` binary at `binary` on `base_path` with `chain_args` (`--dev`, or
/// `--chain … --validator-key …`, and a `--port` of its own if the caller needs to know it),
/// a block every `block_time_ms`, and free loopback ports for its RPC, its metrics and (unless
/// `chain_args` name one) its p2p. The process and its RPC port; it may not answer yet.
pub fn spawn_node(
    binary: &Path,
    base_path: &Path,
    chain_args: &[&str],
    block_time_ms: u64,
) -> (Process, u16) {
    let rpc_port = free_port();
    let mut command = Command::new(binary);
    command
        .args(chain_args)
        .arg("--base-path")
        .arg(base_path)
        .args(["--rpc-port", &rpc_port.to_string()])
        .args(["--prometheus-port", &free_port().to_string()])
        .args(["--block-time-ms", &block_time_ms.to_string()]);
    if !chain_args.contains(&"--port") {
        command.args(["--port", &free_port().to_string()]);
    }
    (Process::spawn(&mut command), rpc_port)
}

/// Polls `f` every 100 ms until it returns `Some`, or panics after `timeout` naming `what` and
/// showing what `log` returns (the lines a process under test has logged so far).
///
/// # Panics
/// When `timeout` passes first.
pub fn wait_for<T>(
    timeout: std::time::Duration,
    what: &str,
    log: impl Fn() -> Vec<String>,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; log:\n{}",
            log().join("\n")
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_never_repeated() {
        let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }

    #[test]
    fn a_process_is_spawned_with_its_log_and_status() {
        let mut process =
            Process::spawn(Command::new("sh").args(["-c", "echo started >&2; exit 3"]));
        let status = wait_for(Duration::from_secs(10), "the exit", Vec::new, || {
            process.try_wait()
        });
        assert_eq!(status.code(), Some(3));
        let lines = wait_for(Duration::from_secs(10), "the line", Vec::new, || {
            Some(process.drain_log()).filter(|lines| !lines.is_empty())
        });
        assert_eq!(lines, ["started"]);
    }

    #[test]
    fn captures_every_line() {
        let lines = capture_lines(&b"one\ntwo\n"[..]);
        assert_eq!(lines.iter().collect::<Vec<_>>(), ["one", "two"]);
    }
}
