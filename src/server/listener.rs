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
    bind_adopting(addrs, shards, Vec::new())
}

/// [`bind_all`], first adopting `inherited` listeners (handed over by the process this one
/// upgrades, `crate::upgrade`) on the configured addresses: the very sockets the old process
/// listens on, so no connection in their backlog is lost. An address keeps every inherited
/// listener on it (shards take them in turn; a shard may hold several) and binds new ones
/// only for shards left without; a port-0 address adopts the inherited listeners of its IP.
/// Inherited listeners the configuration no longer names are closed.
pub fn bind_adopting(
    addrs: &[SocketAddr],
    shards: usize,
    mut inherited: Vec<TcpListener>,
) -> io::Result<(Vec<SocketAddr>, Vec<Vec<TcpListener>>)> {
    let mut per_shard: Vec<Vec<TcpListener>> = (0..shards).map(|_| Vec::new()).collect();
    let mut bound = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let mut adopted = take_matching(&mut inherited, addr);
        let actual = match adopted.first() {
            Some(l) => l.local_addr()?,
            None => {
                let first = bind_reuseport(addr)?;
                let actual = first.local_addr()?;
                adopted.push(first);
                actual
            }
        };
        bound.push(actual);
        for (i, listener) in adopted.into_iter().enumerate() {
            per_shard[i % shards.max(1)].push(listener);
        }
        for listeners in per_shard.iter_mut() {
            if !listeners
                .iter()
                .any(|l| l.local_addr().ok() == Some(actual))
            {
                listeners.push(bind_reuseport(actual)?);
            }
        }
    }
    for stale in inherited {
        if let Ok(addr) = stale.local_addr() {
            tracing::info!(
                "closing inherited listener {addr}: the configuration no longer names it"
            );
        }
    }
    Ok((bound, per_shard))
}

/// Removes and returns the inherited listeners bound to `addr` (port 0: to its IP, on the
/// port of the first one found).
pub fn take_matching(inherited: &mut Vec<TcpListener>, addr: SocketAddr) -> Vec<TcpListener> {
    let local: Vec<Option<SocketAddr>> = inherited.iter().map(|l| l.local_addr().ok()).collect();
    let port = match addr.port() {
        0 => local
            .iter()
            .flatten()
            .find(|a| a.ip() == addr.ip())
            .map(|a| a.port()),
        p => Some(p),
    };
    let Some(port) = port else {
        return Vec::new();
    };
    let wanted = SocketAddr::new(addr.ip(), port);
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    for (listener, at) in std::mem::take(inherited).into_iter().zip(local) {
        if at == Some(wanted) {
            taken.push(listener);
        } else {
            kept.push(listener);
        }
    }
    *inherited = kept;
    taken
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

    #[test]
    fn inherited_listeners_are_adopted_before_any_is_bound() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (_, old) = bind_all(&[addr, addr], 2).unwrap();
        let old_addrs: Vec<SocketAddr> = old[0].iter().map(|l| l.local_addr().unwrap()).collect();
        let inherited: Vec<TcpListener> = old.into_iter().flatten().collect();
        let fds: Vec<i32> = inherited
            .iter()
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .collect();
        // Three shards now, and only the first address is still configured.
        let (bound, per_shard) = bind_adopting(&[old_addrs[0]], 3, inherited).unwrap();
        assert_eq!(bound, vec![old_addrs[0]]);
        let adopted: Vec<i32> = per_shard
            .iter()
            .flatten()
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .filter(|fd| fds.contains(fd))
            .collect();
        assert_eq!(
            adopted.len(),
            2,
            "both inherited sockets of the address are kept"
        );
        for listeners in &per_shard {
            assert_eq!(listeners.len(), 1);
            assert_eq!(listeners[0].local_addr().unwrap(), old_addrs[0]);
        }
        // The second address's listeners were closed: its port is free again.
        assert!(std::net::TcpListener::bind(old_addrs[1]).is_ok());
    }
}
