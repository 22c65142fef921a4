//! A real `agora-node --dev` for the end-to-end tests of the `agora` binary.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use agora_client::rpc::{AccountBalance, Rpc};
use agora_primitives::{AccountId, BlockNumber};
use agora_test_support::{spawn_node, Process};

use crate::agora;

pub use agora_test_support::reserve_port;

/// The `agora-node` binary, built next to `agora` by `cargo test --workspace`.
pub fn node_binary() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_agora")).with_file_name("agora-node");
    assert!(
        path.exists(),
        "{} is missing: build the whole workspace first (`cargo test --workspace`, as \
         scripts/test.sh does)",
        path.display()
    );
    path
}

/// A running dev node; killed on drop.
pub struct Node {
    process: Process,
    port: u16,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// The verification windows of the tests' chains. The market's deadlines are counted in
/// blocks, and a test chain's blocks are a few hundred milliseconds: the runtime's 20 blocks
/// to reveal (8 s at 400 ms) raced a debug-built worker on a loaded 2-core machine. 75 blocks
/// to reveal and 150 to re-execute and attest give it 30 s and 60 s; an honest party acts at
/// once, so the longer windows cost a test nothing unless it waits for one to run out (that
/// test starts its chain with the runtime's windows).
pub(crate) const PATIENT_WINDOWS: [&str; 4] = ["--reveal-blocks", "75", "--attest-blocks", "150"];

impl Node {
    /// Starts `agora-node --dev` on a temporary base path and waits until block 1 is finalized.
    pub fn start() -> Node {
        Node::start_with_block_time(200)
    }

    /// As [`Node::start`], with blocks every `ms` milliseconds, on a dev chain whose
    /// verification windows are [`PATIENT_WINDOWS`].
    pub fn start_with_block_time(ms: u64) -> Node {
        Node::start_dev_chain(&PATIENT_WINDOWS, ms)
    }

    /// As [`Node::start_with_block_time`], on the dev chain as `agora-node build-spec --dev
    /// spec_args…` writes it (e.g. `--blob-ttl 100`), //Alice its validator.
    pub fn start_dev_chain(spec_args: &[&str], ms: u64) -> Node {
        Node::start_dev_chain_caching(spec_args, ms, &crate::module_cache())
    }

    /// [`Node::start_dev_chain`] with the node's compiled modules in `module_cache` (every
    /// other node of these tests shares [`crate::module_cache`]).
    pub fn start_dev_chain_caching(spec_args: &[&str], ms: u64, module_cache: &Path) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let cache = ["--module-cache-dir", module_cache.to_str().unwrap()];
        let (process, port) = if spec_args.is_empty() {
            spawn_node(
                &node_binary(),
                dir.path(),
                &[&["--dev"][..], &cache].concat(),
                ms,
            )
        } else {
            let built = std::process::Command::new(node_binary())
                .args(["build-spec", "--dev"])
                .args(spec_args)
                .output()
                .unwrap();
            assert!(built.status.success(), "{built:?}");
            let spec = dir.path().join("spec.json");
            std::fs::write(&spec, &built.stdout).unwrap();
            let chain = [
                "--chain",
                spec.to_str().unwrap(),
                "--validator-key",
                "//Alice",
                cache[0],
                cache[1],
            ];
            spawn_node(&node_binary(), &dir.path().join("base"), &chain, ms)
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let node = Node {
            process,
            port,
            runtime,
            _dir: dir,
        };
        node.wait_for(Duration::from_secs(60), "block 1 to be finalized", || {
            node.try_finalized_number().filter(|n| *n >= 1)
        });
        node
    }

    /// The lines the node has logged since the last call.
    pub fn drain_log(&self) -> Vec<String> {
        self.process.drain_log()
    }

    /// The WebSocket URL of the node's RPC.
    pub fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The HTTP URL of the same RPC server.
    pub fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `agora --rpc <ws url> args…`.
    pub fn agora(&self, args: &[&str]) -> Output {
        let url = self.ws();
        let mut all = vec!["--rpc", url.as_str()];
        all.extend_from_slice(args);
        agora(&all)
    }

    fn rpc<T>(
        &self,
        f: impl AsyncFnOnce(&Rpc) -> Result<T, agora_client::rpc::RpcError>,
    ) -> Result<T, String> {
        self.runtime.block_on(async {
            let rpc = Rpc::connect(&self.http())
                .await
                .map_err(|e| e.to_string())?;
            f(&rpc).await.map_err(|e| e.to_string())
        })
    }

    fn try_finalized_number(&self) -> Option<BlockNumber> {
        self.rpc(async |rpc| {
            let head = rpc.finalized_head().await?;
            Ok(rpc.header(head).await?.number)
        })
        .ok()
    }

    /// The finalized height.
    pub fn finalized_number(&self) -> BlockNumber {
        self.try_finalized_number().unwrap()
    }

    /// Balances of `who`, read over RPC by the library (not by the CLI under test).
    pub fn balance(&self, who: &AccountId) -> AccountBalance {
        self.rpc(async |rpc| rpc.balance(who).await).unwrap()
    }

    /// Runs a library call against the node (for state the CLI under test does not show).
    pub fn read<T>(
        &self,
        f: impl AsyncFnOnce(&Rpc) -> Result<T, agora_client::rpc::RpcError>,
    ) -> T {
        self.rpc(f).unwrap()
    }

    /// Runs a library call whose error is any displayable one against the node.
    pub fn run<T, E: std::fmt::Display>(&self, f: impl AsyncFnOnce(&Rpc) -> Result<T, E>) -> T {
        self.runtime
            .block_on(async {
                let rpc = Rpc::connect(&self.http())
                    .await
                    .map_err(|e| e.to_string())?;
                f(&rpc).await.map_err(|e| e.to_string())
            })
            .unwrap()
    }

    /// Polls `f` until it returns `Some`, or panics after `timeout` naming `what`.
    pub fn wait_for<T>(&self, timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
        self.process.wait_for(timeout, what, f)
    }
}
