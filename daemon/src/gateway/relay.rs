//! The relay: the only way from the agents' container network to the
//! gateway. It runs in a container on that network (started by the Docker
//! executor, as `catteryd relay`) and forwards each TCP connection to the
//! gateway's unix socket, bind-mounted in. The host then holds no address
//! on the network, so an agent container reaches nothing of the host but
//! the gateway, whatever else listens on the host's addresses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Forwards every connection to `listen` to the unix socket `to`, until
/// the process ends. A connection that cannot reach the socket (the daemon
/// is restarting) is closed; the agent's CLI retries it.
pub async fn forward(listen: SocketAddr, to: PathBuf) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!("relay accept: {e}");
                continue;
            }
        };
        let to = to.clone();
        tokio::spawn(async move {
            if let Err(e) = pipe(stream, &to).await {
                tracing::debug!("relay connection ended: {e}");
            }
        });
    }
}

async fn pipe(mut stream: tokio::net::TcpStream, to: &Path) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut gateway = tokio::net::UnixStream::connect(to).await?;
    tokio::io::copy_bidirectional(&mut stream, &mut gateway).await?;
    Ok(())
}
