//! `host:port` addresses of peers: an IP address or a DNS name, and a port.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// Where a peer is dialled: `10.0.0.1:7001`, `[::1]:7001` or `n1.us-east.internal:7001`.
/// Names are resolved when dialled, not when the configuration is read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostPort {
    host: String,
    port: u16,
}

impl HostPort {
    /// The host: an IP address (IPv6 without brackets) or a DNS name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, never 0.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> Self {
        HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl FromStr for HostPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            if addr.port() == 0 {
                return Err(format!("{s:?}: port 0 cannot be dialled"));
            }
            return Ok(HostPort::from(addr));
        }
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("{s:?} is not host:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{s:?}: port {port:?} is not a number from 1 to 65535"))?;
        if port == 0 {
            return Err(format!("{s:?}: port 0 cannot be dialled"));
        }
        if !is_dns_name(host) {
            return Err(format!(
                "{s:?}: host {host:?} is neither an IP address nor a DNS name"
            ));
        }
        Ok(HostPort {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

/// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
fn is_dns_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_and_dns_peers_parse_and_print_back() {
        for text in ["10.0.0.1:7001", "[::1]:7001", "n1.us-east.internal:7001"] {
            let parsed: HostPort = text.parse().unwrap();
            assert_eq!(parsed.to_string(), text);
        }
    }

    #[test]
    fn addresses_without_a_usable_host_or_port_are_refused() {
        for text in [
            "10.0.0.1",
            "host:0",
            "host:70000",
            ":7001",
            "bad host:1",
            "-a:1",
            "a..b:1",
        ] {
            assert!(text.parse::<HostPort>().is_err(), "{text} accepted");
        }
    }
}
