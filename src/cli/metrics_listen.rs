//! `--metrics-listen`, which `hrm serve` and `hrm migrate --follow` share.

use std::net::SocketAddr;

use eyre::Context as _;

/// Binds `--metrics-listen` now (so a taken port fails the command at once) and returns the
/// server to spawn, which stops with the rest.
pub async fn serve_metrics(
    address: SocketAddr,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> eyre::Result<impl std::future::Future<Output = std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--metrics-listen {address}: cannot listen there (is the port taken?)"))?;
    eprintln!("Metrics at http://{}/metrics", listener.local_addr()?);
    Ok(crate::web::serve_metrics(listener, async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    }))
}
