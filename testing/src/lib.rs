//! # agora-test-support
//!
//! Helpers the end-to-end tests of `agora-node` (node/tests/it) and of `agora`
//! (cli/tests/it) share: loopback ports for the processes they start, and the capture of a
//! child's log. A dev-dependency only; no production code uses it.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::sync::{mpsc, Mutex, PoisonError};

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
    fn captures_every_line() {
        let lines = capture_lines(&b"one\ntwo\n"[..]);
        assert_eq!(lines.iter().collect::<Vec<_>>(), ["one", "two"]);
    }
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
