//! Helpers for tests that drive the engine: wait for a published snapshot that satisfies a
//! condition (with a generous deadline, never a fixed sleep), serve a router on port 0.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use shipdeck::model::Snapshot;

pub const DEADLINE: Duration = Duration::from_secs(20);

/// Waits until the engine publishes a snapshot for which `what` holds.
pub async fn wait_for(
    rx: &mut tokio::sync::watch::Receiver<Arc<Snapshot>>,
    what: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let found = tokio::time::timeout(DEADLINE, rx.wait_for(|s| what(s)))
        .await
        .expect("condition not met within the deadline")
        .expect("engine stopped");
    Arc::clone(&found)
}

/// Serves `router` on an ephemeral loopback port; returns its base URL.
pub async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}
