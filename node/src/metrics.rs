//! Prometheus metrics, served as text at `http://127.0.0.1:<port>/metrics`.
//!
//! | metric | type | meaning |
//! |---|---|---|
//! | `agora_block_height` | gauge | number of the best (highest executed) block |
//! | `agora_finalized_height` | gauge | number of the last finalized block |
//! | `agora_txpool_size` | gauge | extrinsics in the transaction pool |
//! | `agora_txpool_validated_total` | counter | extrinsics the runtime validated (signature, nonce, fees) for this node's pool, submitted or relayed |
//! | `agora_txpool_admission_batch` | histogram | extrinsics clients submitted over RPC that were admitted together, per batch (`rpc::admission`) |
//! | `agora_block_import_seconds` | histogram | time to execute a block and check its state root |
//! | `agora_blobs_stored` | gauge | blobs held in this node's blob store |
//! | `agora_blob_bytes` | gauge | bytes of the blobs held in this node's blob store |

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The node's metrics. Cheap to clone; clones share the same values.
#[derive(Clone)]
pub struct Metrics {
    /// `agora_block_height`.
    pub best_height: Gauge,
    /// `agora_finalized_height`.
    pub finalized_height: Gauge,
    /// `agora_txpool_size`.
    pub txpool_size: Gauge,
    /// `agora_txpool_validated` (`_total`): extrinsics validated for the pool.
    pub txpool_validated: Counter,
    /// `agora_txpool_admission_batch`: submissions over RPC admitted as one batch.
    pub txpool_admission_batch: Histogram,
    /// `agora_block_import_seconds`: execution and state root of a built or verified block.
    pub import_seconds: Histogram,
    /// `agora_blobs_stored`.
    pub blobs_stored: Gauge,
    /// `agora_blob_bytes`.
    pub blob_bytes: Gauge,
    registry: Arc<Registry>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("agora");
        let best_height = Gauge::default();
        let finalized_height = Gauge::default();
        let txpool_size = Gauge::default();
        let txpool_validated = Counter::default();
        // 1 … 1,024 (the admission's largest batch).
        let txpool_admission_batch = Histogram::new(exponential_buckets(1.0, 2.0, 11));
        // 1 ms … ~16 s.
        let import_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let blobs_stored = Gauge::default();
        let blob_bytes = Gauge::default();
        registry.register(
            "block_height",
            "Number of the best block",
            best_height.clone(),
        );
        registry.register(
            "finalized_height",
            "Number of the last finalized block",
            finalized_height.clone(),
        );
        registry.register(
            "txpool_size",
            "Extrinsics in the transaction pool",
            txpool_size.clone(),
        );
        registry.register(
            "txpool_validated",
            "Extrinsics the runtime validated (signature, nonce, fees) for this node's pool",
            txpool_validated.clone(),
        );
        registry.register(
            "txpool_admission_batch",
            "Extrinsics submitted over RPC that were admitted as one batch",
            txpool_admission_batch.clone(),
        );
        registry.register(
            "block_import_seconds",
            "Time to execute a block and check its state root",
            import_seconds.clone(),
        );
        registry.register(
            "blobs_stored",
            "Blobs held in this node's blob store",
            blobs_stored.clone(),
        );
        registry.register(
            "blob_bytes",
            "Bytes of the blobs held in this node's blob store",
            blob_bytes.clone(),
        );
        Metrics {
            best_height,
            finalized_height,
            txpool_size,
            txpool_validated,
            txpool_admission_batch,
            import_seconds,
            blobs_stored,
            blob_bytes,
            registry: Arc::new(registry),
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    /// Serves `GET /metrics` on `listener` until the process stops. Anything else gets 404.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let metrics = self.clone();
            tokio::spawn(async move {
                // One bounded read is enough for a GET line; scrapers send small requests.
                let mut buffer = [0u8; 2048];
                let Ok(read) = socket.read(&mut buffer).await else {
                    return;
                };
                let request = String::from_utf8_lossy(&buffer[..read]);
                let (status, body) = if request.starts_with("GET /metrics") {
                    ("200 OK", metrics.render())
                } else {
                    ("404 Not Found", "not found: try /metrics\n".to_owned())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    }
}

/// Sets `gauge` to a count or a block number. Prometheus gauges are signed; a value past
/// `i64::MAX` (not reachable in practice) reads as `i64::MAX` rather than wrapping negative.
pub fn set_count(gauge: &Gauge, count: impl TryInto<i64>) {
    gauge.set(count.try_into().unwrap_or(i64::MAX));
}

/// Binds the metrics endpoint.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric() {
        let metrics = Metrics::new();
        metrics.best_height.set(7);
        metrics.import_seconds.observe(0.01);
        let text = metrics.render();
        assert!(text.contains("agora_block_height 7"), "{text}");
        assert!(text.contains("agora_finalized_height 0"));
        assert!(text.contains("agora_txpool_size 0"));
        metrics.txpool_validated.inc_by(3);
        assert!(metrics.render().contains("agora_txpool_validated_total 3"));
        assert!(text.contains("agora_block_import_seconds_count 1"));
        assert!(text.contains("agora_blobs_stored 0"));
        assert!(text.contains("agora_blob_bytes 0"));
    }
}
