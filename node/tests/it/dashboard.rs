//! The dashboard at `/` of the RPC port and the views it reads, against a real node process:
//! the page and its assets are served beside JSON-RPC (HTTP `POST` and WebSocket on the same
//! path keep working), `--no-dashboard` turns it off, every method the page calls exists, and
//! `agora_chain` agrees with the chain's own methods. The page itself runs in a browser in
//! `scripts/check-dashboard.sh`.

use crate::support::{error_of, Node};
use agora_rpc_api::{method, ChainApiClient, ChainHeadsApiClient, ViewApiClient};

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn the_dashboard_is_served_beside_json_rpc_on_the_rpc_port() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_finalized(dir.path());

    let (status, headers, body) = node.http_get("/");
    assert!(status.contains(" 200 "), "GET /: {status}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let policy = header(&headers, "content-security-policy").unwrap_or_default();
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    assert!(body.contains(r#"<script src="/app.js""#), "{body}");
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let (status, headers, body) = node.http_get(path);
        assert!(status.contains(" 200 "), "GET {path}: {status}");
        assert!(header(&headers, "content-type")
            .unwrap_or_default()
            .starts_with(kind));
        assert!(!body.is_empty());
    }
    let (status, _, _) = node.http_get("/no-such-asset");
    assert!(!status.contains(" 200 "), "GET /no-such-asset: {status}");

    // JSON-RPC over HTTP POST and over a WebSocket on the same path are untouched.
    let finalized = node.call(ChainApiClient::finalized_head);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let ws = jsonrpsee::ws_client::WsClientBuilder::default()
            .build(format!("ws://127.0.0.1:{}/", node.rpc_port))
            .await
            .unwrap();
        let mut heads = ws.subscribe_new_heads().await.unwrap();
        let first = tokio::time::timeout(std::time::Duration::from_secs(30), heads.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(first.number >= 1);
    });

    // The chain view agrees with the chain's own methods.
    let chain = node.call(ViewApiClient::chain_report);
    assert!(chain.best >= chain.finalized && chain.finalized >= 1);
    assert_eq!(chain.validators.len(), 1, "the dev chain's one validator");
    let newest = &chain.blocks[0];
    assert_eq!(newest.number, chain.best);
    assert!(chain
        .blocks
        .windows(2)
        .all(|w| w[0].number == w[1].number + 1));
    let at = chain.blocks[1].number;
    assert_eq!(
        node.call(|c| c.block_hash(Some(at))),
        Some(chain.blocks[1].hash)
    );
    let header = node.call(|c| c.header(Some(finalized))).unwrap();
    let row = chain.blocks.iter().find(|b| b.hash == finalized);
    if let Some(row) = row {
        assert_eq!(row.timestamp, header.timestamp);
        assert!(row.finalized);
    }
    // A job id the chain never saw is `unknown`, not an error.
    let unknown = node.call(|c| c.job(999, None));
    assert_eq!(unknown.stage, agora_rpc_api::views::Stage::Unknown);
    let account = node.call(|c| {
        c.account(
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY".to_owned(),
            None,
        )
    });
    assert!(account.validator, "//Alice validates the dev chain");
    let bad = node
        .try_call(|c| c.account("not-an-address".to_owned(), None))
        .unwrap_err();
    let (code, message) = error_of(&bad);
    assert_eq!(code, -32602, "{message}");
    assert!(message.contains("not-an-address"), "{message}");
}

#[test]
fn every_method_the_page_calls_is_one_the_node_serves() {
    let script = include_str!("../../src/rpc/dashboard/app.js");
    let mut called = Vec::new();
    for part in script.split("call('").skip(1) {
        let name = part.split('\'').next().unwrap_or_default();
        called.push(name);
    }
    assert!(called.len() >= 5, "the page calls {called:?}");
    for name in called {
        assert!(
            method::ALL.contains(&name),
            "app.js calls {name}, which the node does not serve"
        );
    }
}

#[test]
fn no_dashboard_leaves_the_root_to_json_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_with(dir.path(), &["--dev", "--no-dashboard"]);
    let (status, _, body) = node.http_get("/");
    assert!(
        !status.contains(" 200 ") || !body.contains("<html"),
        "{status} {body}"
    );
    assert!(!body.contains("/app.js"));
    node.call(ChainApiClient::finalized_head);
}
