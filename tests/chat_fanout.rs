//! The shipped fan-out chat (`functions/chat/`): deployed with its own stack file, it behaves
//! like the article's chat (same suffix, the sender skipped, cleanup on disconnect) while its
//! transport pushes to all recipients at once, and its registry survives ids that start
//! with `/` (the COS SDK strips a leading `/` from keys; the registry percent-encodes them).

use std::path::Path;
use std::time::Duration;

use futures_util::SinkExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{Cloud, chatstack, cloud, next_text};

/// The registry's keys, as stored in `bucket`.
async fn registry(cloud: &Cloud, bucket: &str) -> Vec<String> {
    cloud
        .client()
        .cos()
        .list_all(bucket, "ap-guangzhou", "")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fanout_chat_broadcasts_to_everyone_else() {
    let cloud = cloud();
    // A copy: deploy keeps its state (`.chatstack/`) next to the stack file.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("functions/chat");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("code")).unwrap();
    std::fs::copy(src.join("chatstack.yml"), dir.path().join("chatstack.yml")).unwrap();
    for entry in std::fs::read_dir(src.join("code")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "py") {
            std::fs::copy(
                &path,
                dir.path().join("code").join(path.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let stack = dir.path().join("chatstack.yml");
    let out = chatstack()
        .arg("-c")
        .arg(&stack)
        .args(["--endpoint", &cloud.url(), "--json", "deploy", "--yes"])
        .env(
            "TENCENTCLOUD_SECRET_ID",
            chatstack::localcloud::account::DEFAULT_SECRET_ID,
        )
        .env(
            "TENCENTCLOUD_SECRET_KEY",
            chatstack::localcloud::account::DEFAULT_SECRET_KEY,
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let url = doc["websocketUrl"]
        .as_str()
        .expect("websocketUrl")
        .to_owned();
    // Written without the APPID in the stack file; deploy appended the account's.
    let bucket = doc["bucket"]["name"]
        .as_str()
        .expect("bucket name")
        .to_owned();
    assert!(bucket.starts_with("chat-fanout-"), "{bucket}");

    // Enough clients that the pushes of one message are pipelined over several connections.
    let n = 40;
    let mut clients = Vec::new();
    for _ in 0..n {
        let (client, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("handshake accepted by FanoutReg");
        clients.push(client);
    }
    let keys = registry(&cloud, &bucket).await;
    assert_eq!(keys.len(), n, "one registry object per connection");
    assert!(
        keys.iter()
            .all(|k| !k.contains('/') && k.ends_with("%3D%3D")),
        "keys are percent-encoded ids: {keys:?}"
    );

    clients[0].send(Message::text("hello")).await.unwrap();
    for c in &mut clients[1..] {
        assert_eq!(
            next_text(c).await,
            format!("hello(===Online people:{n}===)")
        );
    }

    // A disconnect runs FanoutClean; the count drops.
    let mut gone = clients.pop().unwrap();
    gone.close(None).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while registry(&cloud, &bucket).await.len() != n - 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "cleanup never removed the id"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    clients[1].send(Message::text("again")).await.unwrap();
    let want = format!("again(===Online people:{}===)", n - 1);
    assert_eq!(next_text(&mut clients[0]).await, want);
    for c in &mut clients[2..] {
        assert_eq!(next_text(c).await, want);
    }
}
