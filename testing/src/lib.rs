//! # agora-test-support
//!
//! Helpers the end-to-end tests of `agora-node` (node/tests/it) and of `agora`
//! (cli/tests/it) share: loopback ports for the processes they start, the capture of a
//! child's log, the start of an `agora-node` process, the depth of recursion this machine's
//! stack runs; and the command-line references
//! both binaries check their clap definitions against ([`reference`]). A dev-dependency only;
//! no production code uses it.

pub mod reference;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{mpsc, Mutex, PoisonError};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// A loopback port held for a process that will bind it later: the p2p addresses of a
/// network's nodes, which each needs for the others before it starts (commonware's `lookup` p2p
/// takes every peer's address up front). A node alone picks its own ports ([`spawn_node`]).
///
/// The port stays bound by a socket of the test's, `SO_REUSEADDR` set and never listening, for as
/// long as the [`ReservedPort`] lives: Linux lets a socket that also sets `SO_REUSEADDR` (tokio's
/// listeners do, so the node's does) bind and listen beside it, and refuses everyone else — a
/// socket without the option, or any bind once the node listens. So the port cannot be taken
/// between the reservation and the node's bind, nor while a node is down between a kill and its
/// restart. It is reserved in one bind (without `SO_REUSEADDR`, which fails while any socket holds
/// the port, another test process's reservation included; the option is set after). Ports are
/// drawn outside the kernel's ephemeral range ([`unclaimed_range`]), where port-0 binds and
/// outgoing connections never land, from an offset drawn from the process id, so two test
/// processes start far apart.
///
/// # Panics
/// If no port in the range can be bound after 1 000 tries.
pub fn reserve_port() -> ReservedPort {
    static TRIED: AtomicU32 = AtomicU32::new(0);
    let (low, high) = unclaimed_range();
    let span = u32::from(high - low) + 1;
    // Knuth's multiplicative hash spreads nearby process ids across the range.
    let offset = std::process::id().wrapping_mul(2_654_435_761) % span;
    let mut last_error = None;
    for _ in 0..1000u32 {
        let step = (offset + TRIED.fetch_add(1, Ordering::Relaxed)) % span;
        let port = low + u16::try_from(step).expect("span fits in u16");
        if port == DEFAULT_P2P_PORT {
            continue;
        }
        match hold(port) {
            Ok(socket) => {
                return ReservedPort {
                    port,
                    _socket: socket,
                }
            }
            Err(e) => last_error = Some(e),
        }
    }
    panic!("no bindable loopback port in {low}..={high} after 1000 tries: {last_error:?}");
}

/// Binds `port` on 127.0.0.1 for the reservation: without `SO_REUSEADDR` (so the bind fails if
/// any socket holds the port), then with it (so the node's listener may bind beside it).
fn hold(port: u16) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)).into())?;
    socket.set_reuse_address(true)?;
    Ok(socket)
}

/// A loopback port nobody but an `SO_REUSEADDR` listener can bind while this lives (see
/// [`reserve_port`]). Nothing listens on it: a connection to it is refused until the node binds.
#[derive(Debug)]
pub struct ReservedPort {
    port: u16,
    _socket: Socket,
}

impl ReservedPort {
    /// The port number.
    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The deepest recursion of `engine/tests/modules/deep-stack.wasm` (`wasm`: a segment recursing
/// as deep as its 8-byte state) that the engine's default native stack — a worker's — runs on
/// this machine, by binary search (28 halvings at most). Frame sizes differ between machines,
/// so tests of the stack near its limit derive their depths from this.
///
/// # Panics
/// If the module does not load, or the search range does not bracket the limit.
pub fn deepest_recursion(wasm: &[u8]) -> u64 {
    let executor = agora_engine::Executor::new(agora_engine::Settings::default()).unwrap();
    let module = executor.load(wasm).unwrap();
    let runs = |depth: u64| {
        executor
            .segment(&module, b"{}", b"", &depth.to_le_bytes(), 1)
            .is_ok()
    };
    let (mut fits, mut overflows) = (1u64, 1u64 << 28);
    assert!(runs(fits) && !runs(overflows));
    while overflows - fits > 1 {
        let mid = fits + (overflows - fits) / 2;
        if runs(mid) {
            fits = mid;
        } else {
            overflows = mid;
        }
    }
    fits
}

/// `agora-node`'s default `--p2p-port`.
pub const DEFAULT_P2P_PORT: u16 = 30_333;

/// The loopback ports [`reserve_port`] draws from: those below the kernel's ephemeral range (read
/// from `/proc/sys/net/ipv4/ip_local_port_range`) and from 10 000 up, clear of well-known
/// services and of the node's default RPC and metrics ports (9944, 9615); or those above the
/// range when it starts too low to leave 1 000 below it. [`reserve_port`] also skips the default
/// p2p port, [`DEFAULT_P2P_PORT`], where a `scripts/dev.sh` chain may be listening.
pub fn unclaimed_range() -> (u16, u16) {
    const FLOOR: u16 = 10_000;
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut fields = text.split_whitespace().map(str::parse::<u16>);
            Some((fields.next()?.ok()?, fields.next()?.ok()?))
        })
        // Linux's default, and what other systems use when the file is absent.
        .unwrap_or((32_768, 60_999));
    match ephemeral {
        (start, _) if start >= FLOOR + 1_000 => (FLOOR, start - 1),
        (_, end) if end <= u16::MAX - 1_000 => (end + 1, u16::MAX),
        // The whole space is ephemeral: fall back to the range below it.
        _ => (FLOOR, 30_000),
    }
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
    /// Lines read while waiting for one (see [`Process::wait_for_line`]), not yet drained.
    read: Mutex<Vec<String>>,
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
        Process {
            child,
            log,
            read: Mutex::new(Vec::new()),
        }
    }

    /// The process's id, to read its `/proc` entries.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The lines the process has logged since the last call.
    pub fn drain_log(&self) -> Vec<String> {
        let mut lines = std::mem::take(&mut *self.lines_read());
        lines.extend(self.log.try_iter());
        lines
    }

    fn lines_read(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.read.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the log until `f` finds what it looks for in a line, and returns that; the lines
    /// read stay for [`Process::drain_log`].
    ///
    /// # Panics
    /// If the process exits, or `timeout` passes, first (showing the log).
    pub fn wait_for_line<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&str) -> Option<T>,
    ) -> T {
        let start = std::time::Instant::now();
        loop {
            match self.log.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let found = f(&line);
                    self.lines_read().push(line);
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let log = self.drain_log().join("\n");
                    panic!("the process closed its log before {what}; log:\n{log}")
                }
            }
            if let Some(status) = self.try_wait() {
                let log = self.drain_log().join("\n");
                panic!("the process exited ({status}) before {what}; log:\n{log}");
            }
            assert!(
                start.elapsed() < timeout,
                "timed out after {timeout:?} waiting for {what}; log:\n{}",
                self.lines_read().join("\n")
            );
        }
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
/// a block every `block_time_ms`. The node picks its own free RPC and Prometheus ports (and
/// p2p port, unless `chain_args` name one) and the RPC port is read from its log: a port
/// chosen here and released before the node binds it could be taken meanwhile. Returns once
/// the RPC server listens: the process and its RPC port.
///
/// # Panics
/// If the node exits, or does not listen within two minutes.
pub fn spawn_node(
    binary: &Path,
    base_path: &Path,
    chain_args: &[&str],
    block_time_ms: u64,
) -> (Process, u16) {
    let mut command = Command::new(binary);
    command
        .args(chain_args)
        .arg("--base-path")
        .arg(base_path)
        .args(["--rpc-port", "0", "--prometheus-port", "0"])
        .args(["--block-time-ms", &block_time_ms.to_string()]);
    if !chain_args.contains(&"--port") {
        command.args(["--port", "0"]);
    }
    let mut process = Process::spawn(&mut command);
    let port = process.wait_for_line(Duration::from_secs(120), "its RPC server", rpc_port_of);
    (process, port)
}

/// The port in `agora-node`'s "JSON-RPC listening on IP:PORT" log line.
fn rpc_port_of(line: &str) -> Option<u16> {
    let (_, address) = line.split_once("JSON-RPC listening on ")?;
    address
        .trim()
        .parse::<std::net::SocketAddr>()
        .ok()
        .map(|address| address.port())
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
    fn ports_come_from_outside_the_ephemeral_range() {
        let (low, high) = unclaimed_range();
        assert!(low < high, "{low}..={high}");
        let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range");
        if let Ok(text) = ephemeral {
            let bounds: Vec<u16> = text
                .split_whitespace()
                .map(|f| f.parse().unwrap())
                .collect();
            assert!(
                high < bounds[0] || low > bounds[1],
                "{low}..={high} overlaps {bounds:?}"
            );
        }
        for _ in 0..20 {
            let port = reserve_port().port();
            assert!(
                (low..=high).contains(&port),
                "{port} outside {low}..={high}"
            );
        }
    }

    #[test]
    fn ports_are_never_repeated() {
        let held: Vec<ReservedPort> = (0..200).map(|_| reserve_port()).collect();
        let ports: Vec<u16> = held.iter().map(ReservedPort::port).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }

    #[test]
    fn a_reserved_port_is_taken_only_by_a_listener_and_held_across_its_restart() {
        let reserved = reserve_port();
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, reserved.port()));
        // Nothing listens yet: a connection is refused, a second reservation too.
        assert!(std::net::TcpStream::connect(address).is_err());
        assert!(hold(reserved.port()).is_err());
        // A listener that sets SO_REUSEADDR (std's and tokio's do) binds beside it and serves.
        let listener = std::net::TcpListener::bind(address).unwrap();
        let client = std::net::TcpStream::connect(address).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
        // While it listens, nobody else binds the port, whatever their options.
        assert!(std::net::TcpListener::bind(address).is_err());
        assert!(hold(reserved.port()).is_err());
        // The listener goes away (a node killed): the port is still held, not free for others…
        drop((listener, accepted, client));
        assert!(hold(reserved.port()).is_err());
        // …and the restarted listener binds it again.
        std::net::TcpListener::bind(address).unwrap();
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
    fn the_rpc_port_is_read_from_the_nodes_log() {
        let line =
            "2026-12-02T21:39:55.921307Z  INFO agora_node: JSON-RPC listening on 127.0.0.1:46337";
        assert_eq!(rpc_port_of(line), Some(46337));
        assert_eq!(
            rpc_port_of("INFO agora_node: dashboard at http://127.0.0.1:46337/"),
            None
        );
    }

    #[test]
    fn lines_read_while_waiting_are_kept_for_the_log() {
        let mut process =
            Process::spawn(Command::new("sh").args(["-c", "echo one >&2; echo two >&2; sleep 5"]));
        let found = process.wait_for_line(Duration::from_secs(10), "two", |line| {
            (line == "two").then_some(2)
        });
        assert_eq!(found, 2);
        assert_eq!(process.drain_log(), ["one", "two"]);
    }

    #[test]
    fn captures_every_line() {
        let lines = capture_lines(&b"one\ntwo\n"[..]);
        assert_eq!(lines.iter().collect::<Vec<_>>(), ["one", "two"]);
    }
}
