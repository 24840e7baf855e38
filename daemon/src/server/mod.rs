//! The websocket API on 127.0.0.1: handshake, numbered events with catch-up,
//! and requests for every engine operation.

mod auth;
mod requests;
mod session;

pub use auth::load_or_create_token;

use crate::events::Bus;
use crate::service::Daemon;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Everything a session needs.
pub struct Shared {
    pub daemon: Arc<Daemon>,
    pub bus: Arc<Bus>,
    pub token: String,
    /// Greeting with this one gives a session that may only read.
    pub read_only_token: String,
    /// Notified when a client asks the daemon to stop.
    pub shutdown: tokio::sync::Notify,
}

/// Binds the API to loopback only; port 0 picks a free port.
pub async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// Connections still in their upgrade or hello at once. Past this, the
/// oldest one still greeting is closed to make room, so idle or half-open
/// sockets can neither use up the daemon's descriptors nor keep a real
/// client out; an authenticated client does not count.
const MAX_UNGREETED: usize = 256;

/// Accepts clients until the listener fails; each gets its own task.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_UNGREETED));
    // Oldest first: a send closes that connection if it is still greeting.
    let mut greeting: std::collections::VecDeque<tokio::sync::oneshot::Sender<()>> =
        Default::default();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let permit = match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        while let Some(oldest) = greeting.pop_front() {
                            if oldest.send(()).is_ok() {
                                break;
                            }
                        }
                        match Arc::clone(&permits).acquire_owned().await {
                            Ok(permit) => permit,
                            Err(_) => return,
                        }
                    }
                };
                greeting.retain(|session| !session.is_closed());
                let (evict, evicted) = tokio::sync::oneshot::channel();
                greeting.push_back(evict);
                // Frames are already batched before each flush; Nagle would
                // only hold a flush back waiting for the peer's delayed ACK.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(%peer, "cannot turn off Nagle: {e}");
                }
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = session::run(stream, shared, permit, evicted).await {
                        tracing::debug!(%peer, "session ended: {e}");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, do not spin.
                tracing::warn!("cannot accept a client: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
