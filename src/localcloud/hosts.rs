//! Which `Host` names (and browser `Origin`s) the local cloud answers for.
//!
//! The control plane runs code as the local user for anyone holding the key pair, and the
//! default pair is public. A web page can still reach a loopback server by *DNS rebinding*
//! (its own name re-resolved to 127.0.0.1): the browser then sends `Host: attacker.example`.
//! So every request is checked against this list before anything else, and anything else is
//! refused with 403 and an explanation (docs/security.md):
//!
//! - loopback names: `localhost`, `*.localhost`, any loopback IP (`127.0.0.1`, `[::1]`);
//! - the address the local cloud listens on (and, listening on every interface, the
//!   addresses the embedder adds: `chatstack local` adds each interface's);
//! - the cloud's own host names: `*.tencentcloudapi.com` (`scf.tencentcloudapi.com`,
//!   `scf.ap-guangzhou.tencentcloudapi.com`, `scf.internal.tencentcloudapi.com`, …) and the
//!   COS bucket hosts `{bucket}.cos.{region}.myqcloud.com` / `….tencentcos.cn`, and the
//!   Function URL hosts `*.tencentscf.com`;
//! - names the user adds ([`super::Options::allow_hosts`], `--allow-host NAME`; `*.example.com`
//!   allows every subdomain).
//!
//! The port is not compared: rebinding needs a name, and a name is what is checked. A leading
//! `http://` or `https://` is not either: tccli, given `--endpoint http://127.0.0.1:9000` (its
//! only way to speak plain HTTP), sends and signs `Host: http://127.0.0.1:9000`; the name after
//! it is what is judged (a browser never sends such a `Host`).

use std::net::{IpAddr, SocketAddr};

/// The allow-list; built by [`super::LocalCloud::open`] from the options and the address.
#[derive(Debug, Clone)]
pub struct HostPolicy {
    listen: IpAddr,
    extra: Vec<String>,
}

impl HostPolicy {
    /// The default list for a server on `listen`, plus `extra` names.
    pub fn new(listen: SocketAddr, extra: &[String]) -> Self {
        HostPolicy {
            listen: listen.ip(),
            extra: extra.iter().map(|h| normalize(h)).collect(),
        }
    }

    /// Whether a request with this `Host` header value (port optional) is served.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = strip_scheme(host.trim());
        let name = normalize(strip_port(host));
        if name.is_empty() {
            return false;
        }
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return ip.is_loopback()
                || ip == self.listen
                || self.extra.iter().any(|e| e.parse::<IpAddr>() == Ok(ip));
        }
        name == "localhost"
            || name.ends_with(".localhost")
            || name.ends_with(".tencentcloudapi.com")
            || name.ends_with(".tencentscf.com")
            || super::cos::bucket_host(&name).is_some()
            || self.extra.iter().any(|e| match e.strip_prefix("*.") {
                Some(domain) => name.ends_with(&format!(".{domain}")),
                None => *e == name,
            })
    }

    /// Whether a browser `Origin` (`scheme://host[:port]`) may call the control plane and COS:
    /// only pages served from an allowed host. `null` (a sandboxed or file page) may not.
    pub fn allows_origin(&self, origin: &str) -> bool {
        origin
            .split_once("://")
            .is_some_and(|(_, authority)| !authority.contains('/') && self.allows_host(authority))
    }
}

/// `host` without a leading `http://` or `https://` (any case).
fn strip_scheme(host: &str) -> &str {
    for scheme in ["http://", "https://"] {
        if host.len() >= scheme.len() && host[..scheme.len()].eq_ignore_ascii_case(scheme) {
            return &host[scheme.len()..];
        }
    }
    host
}

/// `host` without a trailing `:port` (IPv6 literals keep their brackets).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// The IP addresses of this machine's network interfaces that are up (loopback included), for
/// a server listening on every interface: what clients elsewhere can reach it at.
#[cfg(unix)]
pub fn interface_addrs() -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we only read, then free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&raw mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
            if up && !ifa.ifa_addr.is_null() {
                match i32::from((*ifa.ifa_addr).sa_family) {
                    libc::AF_INET => {
                        let sin = &*ifa.ifa_addr.cast::<libc::sockaddr_in>();
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*ifa.ifa_addr.cast::<libc::sockaddr_in6>();
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out.sort();
    out.dedup();
    out
}

/// Not enumerated off Unix: only the loopback address is reported.
#[cfg(not(unix))]
pub fn interface_addrs() -> Vec<IpAddr> {
    vec![IpAddr::from([127, 0, 0, 1])]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HostPolicy {
        HostPolicy::new(
            "127.0.0.1:9000".parse().unwrap(),
            &["chat.example.test".to_owned(), "*.dev.test".to_owned()],
        )
    }

    #[test]
    fn loopback_cloud_and_added_names_are_served() {
        let p = policy();
        for ok in [
            "127.0.0.1:9000",
            "127.0.0.1",
            "127.1.2.3:80",
            "localhost:9000",
            "LOCALHOST",
            "app.localhost:9000",
            "[::1]:9000",
            "[::1]",
            "scf.tencentcloudapi.com",
            "apigateway.tencentcloudapi.com:9000",
            "cam.tencentcloudapi.com",
            "scf.internal.tencentcloudapi.com",
            "scf.ap-guangzhou.tencentcloudapi.com",
            "chat-1250000000.cos.ap-guangzhou.myqcloud.com",
            "chat-1250000000.cos.ap-guangzhou.myqcloud.com:9000",
            "chat.example.test:9000",
            "a.dev.test",
            "http://127.0.0.1:9000",
            "HTTPS://scf.tencentcloudapi.com",
            "1250000000-hulrzrbh9f.ap-guangzhou.tencentscf.com",
            "1250000000-hulrzrbh9f.in.ap-guangzhou.tencentscf.com:9000",
        ] {
            assert!(p.allows_host(ok), "{ok}");
        }
        for bad in [
            "",
            "attacker.example",
            "attacker.example:9000",
            "localhost.attacker.example",
            "tencentcloudapi.com.attacker.example",
            "tencentscf.com.attacker.example",
            "127.0.0.1.attacker.example",
            "192.168.1.10:9000",
            "dev.test",
            "example.test",
            "cos.ap-guangzhou.myqcloud.com",
            "http://attacker.example:9000",
            "ftp://127.0.0.1",
        ] {
            assert!(!p.allows_host(bad), "{bad}");
        }
    }

    #[test]
    fn the_listen_address_is_served() {
        let p = HostPolicy::new("192.168.1.10:9000".parse().unwrap(), &[]);
        assert!(p.allows_host("192.168.1.10:9000"));
        assert!(!p.allows_host("192.168.1.11:9000"));
        let p = HostPolicy::new("127.0.0.1:9000".parse().unwrap(), &["10.0.0.2".to_owned()]);
        assert!(p.allows_host("10.0.0.2:9000"));
    }

    #[test]
    fn origins_are_judged_by_their_host() {
        let p = policy();
        assert!(p.allows_origin("http://localhost:8080"));
        assert!(p.allows_origin("http://127.0.0.1:9000"));
        assert!(!p.allows_origin("https://attacker.example"));
        assert!(!p.allows_origin("null"));
    }

    #[cfg(unix)]
    #[test]
    fn interfaces_include_loopback() {
        assert!(interface_addrs().iter().any(IpAddr::is_loopback));
    }
}
