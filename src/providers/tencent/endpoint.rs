//! What an endpoint URL says about where requests go. A leaf: the transport and the error
//! reports import it.

/// Whether `url` points at this machine (a local cloud, not Tencent Cloud).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
