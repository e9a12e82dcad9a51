//! Where a request came from: the peer address, or what trusted proxies say about the client.

use http::request::Parts;
use http::HeaderMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The proxies whose `X-Forwarded-For` and `Forwarded` headers are believed.
///
/// A request whose peer is not in the list is recorded with its peer address, whatever those
/// headers claim. When the peer is trusted, the headers are read right to left, skipping
/// trusted addresses; the first untrusted one is the client. `Forwarded` wins over
/// `X-Forwarded-For` when both are present.
///
/// ```
/// use tracing_audit::http::TrustedProxies;
/// let proxies = TrustedProxies::none().trust("10.0.0.0/8").unwrap().trust("::1").unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct TrustedProxies {
    nets: Vec<(IpAddr, u8)>,
}

/// A proxy address or network that [`TrustedProxies::trust`] could not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidNetwork {
    text: String,
}

impl std::fmt::Display for InvalidNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is not an IP address or a network (ADDR/PREFIX)",
            self.text
        )
    }
}

impl std::error::Error for InvalidNetwork {}

impl TrustedProxies {
    /// No trusted proxy: the peer address is always the client (the default).
    pub fn none() -> Self {
        TrustedProxies::default()
    }

    /// Trusts an address (`10.0.0.7`) or a network (`10.0.0.0/8`, `fd00::/8`).
    ///
    /// # Errors
    /// The text is not an address or network.
    pub fn trust(mut self, net: &str) -> Result<Self, InvalidNetwork> {
        let bad = || InvalidNetwork {
            text: net.to_owned(),
        };
        let (addr, prefix) = match net.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (net, None),
        };
        let addr = IpAddr::from_str(addr.trim()).map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        self.nets.push((addr, prefix));
        Ok(self)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets
            .iter()
            .any(|&(net, prefix)| in_net(ip, net, prefix))
    }

    /// The client address of a request that arrived from `peer`.
    pub(crate) fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = canonical(peer?);
        if self.nets.is_empty() || !self.contains(peer) {
            return Some(peer);
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        if headers.contains_key(http::header::FORWARDED) {
            for value in headers.get_all(http::header::FORWARDED) {
                let Ok(value) = value.to_str() else {
                    return Some(peer);
                };
                for element in value.split(',') {
                    let for_value = element.split(';').find_map(|pair| {
                        let (k, v) = pair.split_once('=')?;
                        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
                    });
                    match for_value.and_then(parse_forwarded_for) {
                        Some(ip) => hops.push(ip),
                        // An obfuscated or unknown hop: nothing to the left of it is believed.
                        None => hops.clear(),
                    }
                }
            }
        } else {
            for value in headers.get_all("x-forwarded-for") {
                let Ok(value) = value.to_str() else {
                    return Some(peer);
                };
                for item in value.split(',') {
                    match parse_node(item.trim()) {
                        Some(ip) => hops.push(ip),
                        None => hops.clear(),
                    }
                }
            }
        }
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            client = canonical(hop);
            if !self.contains(client) {
                break;
            }
        }
        Some(client)
    }
}

/// The peer address of a connection, from the request extensions: axum's
/// `ConnectInfo<SocketAddr>` (with the `axum` feature) or a plain `SocketAddr`.
pub(crate) fn peer_addr(parts: &Parts) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0.ip());
    }
    parts.extensions.get::<SocketAddr>().map(SocketAddr::ip)
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, canonical(net)) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// `for=` values: `192.0.2.1`, `"192.0.2.1:80"`, `"[2001:db8::1]:443"`, `unknown`, `_hidden`.
fn parse_forwarded_for(value: &str) -> Option<IpAddr> {
    parse_node(value.trim_matches('"'))
}

fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = IpAddr::from_str(node) {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (addr, _) = rest.split_once(']')?;
        return IpAddr::from_str(addr).ok();
    }
    SocketAddr::from_str(node).ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_headers_are_ignored() {
        let p = TrustedProxies::none().trust("10.0.0.0/8").unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(p.client(Some(ip("192.0.2.5")), &h), Some(ip("192.0.2.5")));
        assert_eq!(
            TrustedProxies::none().client(Some(ip("10.0.0.1")), &h),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn trusted_chain_is_walked_right_to_left() {
        let p = TrustedProxies::none().trust("10.0.0.0/8").unwrap();
        let h = headers(&[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(p.client(Some(ip("10.0.0.1")), &h), Some(ip("203.0.113.9")));
        let h = headers(&[(
            "forwarded",
            "for=198.51.100.1, for=\"[2001:db8::1]:443\";proto=https",
        )]);
        assert_eq!(p.client(Some(ip("10.0.0.1")), &h), Some(ip("2001:db8::1")));
        let h = headers(&[("x-forwarded-for", "garbage, 10.0.0.3")]);
        assert_eq!(p.client(Some(ip("10.0.0.1")), &h), Some(ip("10.0.0.3")));
    }

    #[test]
    fn networks_parse_and_match() {
        assert!(TrustedProxies::none().trust("10.0.0.0/33").is_err());
        assert!(TrustedProxies::none().trust("nope").is_err());
        let p = TrustedProxies::none().trust("0.0.0.0/0").unwrap();
        assert!(p.contains(ip("8.8.8.8")));
        assert!(p.contains(ip("::ffff:1.2.3.4")));
        let p = TrustedProxies::none().trust("fd00::/8").unwrap();
        assert!(p.contains(ip("fd12::1")));
        assert!(!p.contains(ip("fe80::1")));
    }
}
