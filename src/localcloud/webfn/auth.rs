//! `AuthType: CAM` Function URLs: a request must carry a TC3-HMAC-SHA256 signature by a key of
//! the account (its permanent pair, or temporary credentials with their `X-TC-Token`).
//!
//! Unlike the API 3.0 control plane, which only takes `POST /`, a Function URL takes any
//! method, path and query, and any set of signed headers: the canonical request is TC3's in
//! full (method, path, canonical query, the `SignedHeaders` with lowercased names and trimmed
//! lowercased values, the payload's SHA-256 or `UNSIGNED-PAYLOAD`). Assumed, not seen on a live
//! account: the scope's service may be any name (the cloud's documentation shows none for
//! Function URLs), and the path signed is the one the client sent.

use axum::http::HeaderMap;

use crate::localcloud::account::{Account, AuthError};
use crate::localcloud::api3::{MAX_SKEW_SECS, constant_time_eq};
use crate::providers::tencent::tc3;

/// Why a request to a CAM Function URL is refused (its message is the answer's body).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CamRefusal {
    /// No or malformed `Authorization`.
    #[error("this Function URL has AuthType CAM: sign the request with TC3-HMAC-SHA256 ({0})")]
    Unsigned(String),
    /// The timestamp is missing, skewed or does not match the scope's date.
    #[error("the signature has expired or is not yet valid: {0}")]
    Expired(String),
    /// Unknown SecretId or a bad session token.
    #[error("the SecretId is not a key of this account: {0}")]
    UnknownKey(String),
    /// The signature does not match.
    #[error(
        "the signature does not match the request (method, path, query, signed headers and \
         payload as sent)"
    )]
    Mismatch,
}

/// The parts of a request the signature covers.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as sent (percent-encoding kept).
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body (empty for a WebSocket handshake).
    pub body: &'a [u8],
}

/// Checks `req`'s TC3 signature against the account's keys at `now` (Unix seconds).
pub fn verify(account: &Account, req: &Signed<'_>, now: i64) -> Result<(), CamRefusal> {
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let auth = header("authorization")
        .ok_or_else(|| CamRefusal::Unsigned("no Authorization header".into()))?;
    let parsed = tc3::parse_authorization(auth).ok_or_else(|| {
        CamRefusal::Unsigned(
            "expected `TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`".into(),
        )
    })?;
    let signed: Vec<&str> = parsed.signed_headers.split(';').collect();
    if !signed.contains(&"host") {
        return Err(CamRefusal::Unsigned(
            "SignedHeaders must include host".into(),
        ));
    }
    let ts_text = header("x-tc-timestamp")
        .ok_or_else(|| CamRefusal::Expired("no X-TC-Timestamp header".into()))?;
    let timestamp: i64 = ts_text.trim().parse().map_err(|_| {
        CamRefusal::Expired(format!("X-TC-Timestamp `{ts_text}` is not Unix seconds"))
    })?;
    if (now - timestamp).abs() > MAX_SKEW_SECS {
        return Err(CamRefusal::Expired(format!(
            "timestamp {timestamp} is more than {MAX_SKEW_SECS} s from the server time {now}"
        )));
    }
    if parsed.date != tc3::utc_date(timestamp) {
        return Err(CamRefusal::Expired(format!(
            "the credential date {} is not the UTC date of the timestamp",
            parsed.date
        )));
    }
    let token = header("x-tc-token").filter(|t| !t.is_empty());
    let key = account
        .secret_for(&parsed.secret_id, token, now)
        .map_err(|e: AuthError| CamRefusal::UnknownKey(e.to_string()))?;
    let payload = if header("x-tc-content-sha256") == Some("UNSIGNED-PAYLOAD") {
        "UNSIGNED-PAYLOAD".to_owned()
    } else {
        tc3::sha256_hex(req.body)
    };
    let host = header("host").unwrap_or_default();
    // The host as sent, or without its port (clients differ, as for the control plane).
    let hosts = [host, host.rsplit_once(':').map_or(host, |(h, _)| h)];
    let matches = hosts.iter().any(|h| {
        let canonical = canonical_request(req, &signed, h, &payload);
        let expected = tc3::signature_of(&canonical, timestamp, &parsed.service, key.expose());
        constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes())
    });
    if matches {
        Ok(())
    } else {
        Err(CamRefusal::Mismatch)
    }
}

/// TC3's canonical request of `req` with `host` as the Host value.
fn canonical_request(req: &Signed<'_>, signed: &[&str], host: &str, payload: &str) -> String {
    let mut headers = String::new();
    for name in signed {
        let value = if *name == "host" {
            host.to_owned()
        } else {
            req.headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        headers.push_str(&format!("{name}:{}\n", value.trim().to_ascii_lowercase()));
    }
    format!(
        "{}\n{}\n{}\n{headers}\n{}\n{payload}",
        req.method,
        if req.path.is_empty() { "/" } else { req.path },
        req.query,
        signed.join(";")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localcloud::account::KeyPair;

    fn account() -> (tempfile::TempDir, Account) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::localcloud::store::Store::open(dir.path()).unwrap();
        (
            dir,
            Account::new(1250000000, KeyPair::default_pair(), store),
        )
    }

    /// Signs like a client: `GET path?query` with `content-type;host` signed.
    fn signed_headers(
        account: &Account,
        path: &str,
        query: &str,
        host: &str,
        ts: i64,
    ) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", host.parse().unwrap());
        h.insert("content-type", "application/json".parse().unwrap());
        h.insert("x-tc-timestamp", ts.to_string().parse().unwrap());
        let req = Signed {
            method: "GET",
            path,
            query,
            headers: &h,
            body: b"",
        };
        let canonical =
            canonical_request(&req, &["content-type", "host"], host, &tc3::sha256_hex(b""));
        let keys = account.keys();
        let sig = tc3::signature_of(&canonical, ts, "scf", keys.secret_key.expose());
        let date = tc3::utc_date(ts);
        h.insert(
            "authorization",
            format!(
                "TC3-HMAC-SHA256 Credential={}/{date}/scf/tc3_request, SignedHeaders=content-type;host, Signature={sig}",
                keys.secret_id
            )
            .parse()
            .unwrap(),
        );
        h
    }

    #[test]
    fn a_signed_request_passes_and_every_change_or_omission_is_refused() {
        let (_d, acc) = account();
        let now = 1_800_000_000;
        let h = signed_headers(&acc, "/scf/H/a", "x=1", "127.0.0.1:9000", now);
        let ok = |path: &str, query: &str, method: &str, headers: &HeaderMap, at: i64| {
            verify(
                &acc,
                &Signed {
                    method,
                    path,
                    query,
                    headers,
                    body: b"",
                },
                at,
            )
        };
        assert_eq!(ok("/scf/H/a", "x=1", "GET", &h, now), Ok(()));
        assert_eq!(
            ok("/scf/H/b", "x=1", "GET", &h, now),
            Err(CamRefusal::Mismatch)
        );
        assert_eq!(
            ok("/scf/H/a", "x=2", "GET", &h, now),
            Err(CamRefusal::Mismatch)
        );
        assert_eq!(
            ok("/scf/H/a", "x=1", "POST", &h, now),
            Err(CamRefusal::Mismatch)
        );
        assert!(matches!(
            ok("/scf/H/a", "x=1", "GET", &h, now + 301),
            Err(CamRefusal::Expired(_))
        ));
        let mut unsigned = h.clone();
        unsigned.remove("authorization");
        assert!(matches!(
            ok("/scf/H/a", "x=1", "GET", &unsigned, now),
            Err(CamRefusal::Unsigned(_))
        ));
        let mut stranger = h.clone();
        let auth = h["authorization"]
            .to_str()
            .unwrap()
            .replacen("AKID", "AKIDX", 1);
        stranger.insert("authorization", auth.parse().unwrap());
        assert!(matches!(
            ok("/scf/H/a", "x=1", "GET", &stranger, now),
            Err(CamRefusal::UnknownKey(_))
        ));
        // Signed without the port, sent with it: accepted, as the control plane does.
        let mut no_port = signed_headers(&acc, "/p", "", "127.0.0.1", now);
        no_port.insert("host", "127.0.0.1:9000".parse().unwrap());
        assert_eq!(ok("/p", "", "GET", &no_port, now), Ok(()));
    }
}
