//! Which Function URL a request is for: its host name, from the `Host` header (a client that
//! resolves `*.tencentscf.com` to the local cloud, or sets the header) or from the local path
//! form `/scf/{host name}/{path}` that `NetConfig` hands out ([`split_path`]).

use crate::localcloud::model::trigger::{DOMAIN, Network, PATH_PREFIX};

/// The parts of a Function URL host name: `(appid, url id, network)`; `None` for any other
/// name. The port, if any, is ignored.
pub fn parse_host(host: &str) -> Option<(u64, String, Network)> {
    let name = host.rsplit_once(':').map_or(host, |(n, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            n
        } else {
            host
        }
    });
    let rest = name.strip_suffix(DOMAIN)?.strip_suffix('.')?;
    let (first, tail) = rest.split_once('.')?;
    let network = match tail.split_once('.') {
        Some(("in", region)) if is_label(region) => Network::Intranet,
        None if is_label(tail) => Network::Extranet,
        _ => return None,
    };
    let (appid, url_id) = first.split_once('-')?;
    let appid = appid.parse().ok()?;
    if url_id.is_empty() || !url_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Some((appid, url_id.to_ascii_lowercase(), network))
}

fn is_label(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// A request path under [`PATH_PREFIX`] split into the function's host name and the path the
/// function sees (`/` at least, query kept): `/scf/H/a/b?q` → `("H", "/a/b?q")`.
pub fn split_path(path_and_query: &str) -> Option<(&str, String)> {
    let rest = path_and_query.strip_prefix(PATH_PREFIX)?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    if host.is_empty() {
        return None;
    }
    let inner = if tail.starts_with('/') {
        tail.to_owned()
    } else {
        format!("/{tail}")
    };
    Some((host, inner))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localcloud::model::trigger::host_name;

    #[test]
    fn host_names_parse_back_and_other_names_do_not() {
        type Case<'a> = (&'a str, Option<(u64, &'a str, Network)>);
        let cases: &[Case] = &[
            (
                "1250000000-hulrzrbh9f.ap-guangzhou.tencentscf.com",
                Some((1250000000, "hulrzrbh9f", Network::Extranet)),
            ),
            (
                "1250000000-hulrzrbh9f.in.ap-chongqing.tencentscf.com:9000",
                Some((1250000000, "hulrzrbh9f", Network::Intranet)),
            ),
            (
                "1250000000-ABC.ap-guangzhou.tencentscf.com",
                Some((1250000000, "abc", Network::Extranet)),
            ),
            ("hulrzrbh9f.ap-guangzhou.tencentscf.com", None),
            ("x-hulrzrbh9f.ap-guangzhou.tencentscf.com", None),
            ("1250000000-.ap-guangzhou.tencentscf.com", None),
            ("1250000000-a.b.c.ap-guangzhou.tencentscf.com", None),
            ("1250000000-a.ap-guangzhou.tencentscf.com.evil", None),
            ("scf.tencentcloudapi.com", None),
            ("127.0.0.1:9000", None),
        ];
        for (host, want) in cases {
            let got = parse_host(host);
            let want = want.map(|(a, u, n)| (a, u.to_owned(), n));
            assert_eq!(got, want, "{host}");
        }
        let h = host_name(1250000000, "abc", "ap-guangzhou", Network::Intranet);
        assert_eq!(
            parse_host(&h),
            Some((1250000000, "abc".into(), Network::Intranet))
        );
    }

    #[test]
    fn paths_split_into_the_function_host_and_its_own_path() {
        let cases: &[(&str, Option<(&str, &str)>)] = &[
            ("/scf/H", Some(("H", "/"))),
            ("/scf/H/", Some(("H", "/"))),
            ("/scf/H/a/b", Some(("H", "/a/b"))),
            ("/scf/H?x=1", Some(("H", "/?x=1"))),
            ("/scf/H/a?x=1", Some(("H", "/a?x=1"))),
            ("/scf/", None),
            ("/scf", None),
            ("/service-x/release/ws", None),
        ];
        for (path, want) in cases {
            let got = split_path(path);
            let want = want.map(|(h, p)| (h, p.to_owned()));
            assert_eq!(got, want, "{path}");
        }
    }
}
