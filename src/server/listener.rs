//! Listening sockets: one per shard per configured address, all bound with SO_REUSEPORT so
//! the kernel spreads connections over the shards without any user-space hand-off.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Accept backlog per listener (the kernel caps it at `net.core.somaxconn`).
const BACKLOG: i32 = 4096;

/// Binds one listener on `addr` with SO_REUSEPORT.
pub fn bind_reuseport(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds `shards` listeners for each address. An address with port 0 gets a port from the
/// kernel for its first listener, and the others join that same port.
pub fn bind_all(
    addrs: &[SocketAddr],
    shards: usize,
) -> io::Result<(Vec<SocketAddr>, Vec<Vec<TcpListener>>)> {
    let mut per_shard: Vec<Vec<TcpListener>> = (0..shards).map(|_| Vec::new()).collect();
    let mut bound = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let first = bind_reuseport(addr)?;
        let actual = first.local_addr()?;
        bound.push(actual);
        per_shard[0].push(first);
        for listeners in per_shard.iter_mut().skip(1) {
            listeners.push(bind_reuseport(actual)?);
        }
    }
    Ok((bound, per_shard))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_shared_by_every_shard() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (bound, per_shard) = bind_all(&[addr], 3).unwrap();
        assert_eq!(per_shard.len(), 3);
        let port = bound[0].port();
        assert_ne!(port, 0);
        for listeners in &per_shard {
            assert_eq!(listeners[0].local_addr().unwrap().port(), port);
        }
    }
}
