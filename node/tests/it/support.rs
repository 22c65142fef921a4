//! Process and RPC helpers for the end-to-end tests, and the in-process chain of the tests
//! without processes.

use agora_rpc_api::{ChainApiClient, SystemApiClient, MAX_BODY_BYTES};
use jsonrpsee::core::client::Error as ClientError;
use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use serde_json::{json, Value};
use std::future::Future;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_node::chain::{Chain, ChainConfig};
use agora_node::metrics::Metrics;
use agora_node::storage::Database;
use agora_primitives::Hash;
use agora_runtime::genesis::{dev_account, ChainSpec};
use agora_test_support::{spawn_node, Process};

pub use agora_test_support::{reserve_port, ReservedPort};

/// Path of a workspace binary next to `agora-node`.
pub fn binary(name: &str) -> PathBuf {
    let node = PathBuf::from(env!("CARGO_BIN_EXE_agora-node"));
    let path = node.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build all binaries first (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A running `agora-node --dev` process; killed with SIGKILL on drop.
pub struct Node {
    process: Process,
    pub rpc_port: u16,
    /// Drives the typed client's calls.
    runtime: tokio::runtime::Runtime,
    client: HttpClient,
}

impl Node {
    /// Starts a dev node on `base_path` and waits until its RPC answers.
    pub fn start(base_path: &Path) -> Node {
        Node::start_with(base_path, &["--dev"])
    }

    /// [`Node::start`], then waits until block 1 is finalized.
    pub fn start_finalized(base_path: &Path) -> Node {
        let node = Node::start(base_path);
        node.wait_finalized(1);
        node
    }

    /// Starts a node with `chain_args` (`--dev`, or `--chain … --validator-key …`, and a
    /// `--port` of its own if the caller needs to know it).
    pub fn start_with(base_path: &Path, chain_args: &[&str]) -> Node {
        let binary = Path::new(env!("CARGO_BIN_EXE_agora-node"));
        let (process, rpc_port) = spawn_node(binary, base_path, chain_args, 200);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = {
            let _context = runtime.enter();
            HttpClientBuilder::default()
                .request_timeout(Duration::from_secs(30))
                .max_request_size(MAX_BODY_BYTES)
                .max_response_size(MAX_BODY_BYTES)
                .build(format!("http://127.0.0.1:{rpc_port}"))
                .unwrap()
        };
        let mut node = Node {
            process,
            rpc_port,
            runtime,
            client,
        };
        let start = Instant::now();
        while node.try_call(SystemApiClient::name).is_err() {
            if let Some(status) = node.process.try_wait() {
                panic!(
                    "agora-node exited ({status}) before its RPC answered; log:\n{}",
                    node.drain_log().join("\n")
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "agora-node's RPC did not answer within 60 s; log:\n{}",
                node.drain_log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        node
    }

    /// The node's process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The node's peak resident memory so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id()))
            .expect("the node's /proc status");
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
            .expect("a VmHWM line");
        kib * 1024
    }

    /// Lines the node has logged since the last call.
    pub fn drain_log(&self) -> Vec<String> {
        self.process.drain_log()
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    /// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
    pub fn wait_for<T>(&self, timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
        self.process.wait_for(timeout, what, f)
    }

    /// Runs `f` with the node's typed HTTP client, e.g. `agora_rpc_api::block_events`.
    pub fn run<'a, T, F>(&'a self, f: impl FnOnce(&'a HttpClient) -> F) -> T
    where
        F: Future<Output = T> + 'a,
    {
        self.runtime.block_on(f(&self.client))
    }

    /// One typed call over HTTP: `f` is any method of the `agora_rpc_api` client traits,
    /// e.g. `node.try_call(|c| ChainApiClient::header(c, None))`.
    pub fn try_call<'a, T, F>(
        &'a self,
        f: impl FnOnce(&'a HttpClient) -> F,
    ) -> Result<T, ClientError>
    where
        F: Future<Output = Result<T, ClientError>> + 'a,
    {
        self.run(f)
    }

    /// `blob_put` of `hex` over a client that names `hash` in the upload's
    /// [`BLOB_HASH_HEADER`](agora_rpc_api::limits::BLOB_HASH_HEADER), as the `agora` client
    /// does: how a body over `MAX_UNNAMED_UPLOAD_BYTES` gets in.
    pub fn try_put_named(
        &self,
        hash: agora_primitives::Hash,
        hex: agora_rpc_api::Hex,
    ) -> Result<agora_primitives::Hash, ClientError> {
        let mut headers = jsonrpsee::http_client::HeaderMap::new();
        headers.insert(
            agora_rpc_api::limits::BLOB_HASH_HEADER,
            jsonrpsee::http_client::HeaderValue::from_str(&hash.to_hex()).unwrap(),
        );
        let client = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_request_size(MAX_BODY_BYTES)
            .max_response_size(MAX_BODY_BYTES)
            .set_headers(headers)
            .build(format!("http://127.0.0.1:{}", self.rpc_port))
            .unwrap();
        self.runtime
            .block_on(agora_rpc_api::BlobApiClient::blob_put(
                &client,
                hex,
                Some(hash),
            ))
    }

    /// [`Node::try_call`] that must succeed.
    pub fn call<'a, T, F>(&'a self, f: impl FnOnce(&'a HttpClient) -> F) -> T
    where
        F: Future<Output = Result<T, ClientError>> + 'a,
    {
        self.try_call(f)
            .unwrap_or_else(|error| panic!("the call failed: {error}"))
    }

    /// One raw JSON-RPC call over HTTP, for tests of the wire format itself; `Err` carries the
    /// JSON-RPC error object.
    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, Value> {
        let body = self.raw_rpc(method, params)?;
        let value: Value =
            serde_json::from_str(&body).map_err(|e| json!(format!("{e}: {body}")))?;
        match value.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(value["result"].clone()),
        }
    }

    /// One JSON-RPC call over HTTP; the response body as text (numbers exactly as sent).
    pub fn raw_rpc(&self, method: &str, params: Value) -> Result<String, Value> {
        let body =
            json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.rpc_port)).map_err(|e| json!(e.to_string()))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| json!(e.to_string()))?;
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .map_err(|e| json!(e.to_string()))?;
        let (_, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| json!("no HTTP body"))?;
        Ok(body.to_owned())
    }

    /// A plain HTTP `GET` of `path` on the RPC port: the status line, the headers (names in
    /// lower case) and the body.
    pub fn http_get(&self, path: &str) -> (String, Vec<(String, String)>, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.rpc_port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let mut lines = head.lines();
        let status = lines.next().unwrap_or_default().to_owned();
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }

    pub fn finalized_number(&self) -> u64 {
        let hash = self.call(ChainApiClient::finalized_head);
        self.call(|c| c.header(Some(hash)))
            .expect("the finalized head has a header")
            .number
    }

    /// Waits until the finalized height reaches `number`.
    pub fn wait_finalized(&self, number: u64) {
        self.wait_for(
            Duration::from_secs(60),
            &format!("block {number} to be finalized"),
            || (self.finalized_number() >= number).then_some(()),
        );
    }

    /// The hash of the genesis block.
    pub fn genesis_hash(&self) -> Hash {
        self.call(|c| c.block_hash(Some(0)))
            .expect("the genesis block has a hash")
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(self) {
        self.process.kill();
    }
}

/// The code and message of the node's error answer to a typed call.
pub fn error_of(error: &ClientError) -> (i32, String) {
    match error {
        ClientError::Call(object) => (object.code(), object.message().to_owned()),
        other => panic!("expected an error answer, got {other}"),
    }
}

/// Runs `command` to its end and asserts that it succeeded, showing its stderr if not.
pub fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A multi-threaded runtime, as the node's own, to drive an in-process [`Chain`].
pub fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The development chain in-process on a database at `db_path` (created if missing), authored
/// by `//Alice`, without a node process.
pub fn open_chain(db_path: &Path) -> Chain {
    open_chain_on(Arc::new(agora_node::chain::TokioHost), db_path)
}

/// [`open_chain`] on `host` (a clock of its own, say).
pub fn open_chain_on(host: Arc<dyn agora_node::chain::Host>, db_path: &Path) -> Chain {
    let db = Arc::new(Database::open(db_path).unwrap());
    let chain = Chain::open_on(
        host,
        db,
        ChainConfig {
            spec: ChainSpec::development(),
            block_time: Duration::from_millis(1),
            referee: None,
            metrics: Metrics::new(),
        },
    )
    .unwrap();
    let seed = agora_runtime::genesis::dev_consensus_seed("Alice");
    chain.set_proposer(
        pallet_staking::beacon::BeaconSigner::from_consensus_seed(&seed),
        dev_account("Alice"),
    );
    chain
}
