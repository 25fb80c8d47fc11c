//! COS request signature, `q-sign-algorithm=sha1` (API-FACTS §5.4).
//!
//! Pure functions, like [`super::tc3`]: the caller picks the headers and parameters to sign and
//! the key time; the local cloud recomputes signatures over the names a request lists in
//! `q-header-list` / `q-url-param-list` with the same code.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha1::{Digest, Sha1};

/// Everything outside `A-Za-z0-9-_.~` is encoded (so `/`, `;`, `=`, `:` and space are too).
const COS_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes a key or value the way the signature (and COS object paths) expect.
pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, COS_ENCODE).to_string()
}

/// Percent-encodes an object key for the request path, keeping `/`.
pub fn encode_path(key: &str) -> String {
    key.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// The validity window of a signature, `"{start};{end}"` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTime {
    /// First second the signature is valid.
    pub start: i64,
    /// Last second the signature is valid.
    pub end: i64,
}

impl KeyTime {
    /// The window the official SDK uses: one minute back (clock skew) to `valid_for` ahead.
    pub fn around(now: i64, valid_for: i64) -> Self {
        KeyTime {
            start: now - 60,
            end: now + valid_for,
        }
    }

    /// Parses `start;end`.
    pub fn parse(s: &str) -> Option<Self> {
        let (start, end) = s.split_once(';')?;
        Some(KeyTime {
            start: start.parse().ok()?,
            end: end.parse().ok()?,
        })
    }
}

impl fmt::Display for KeyTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};{}", self.start, self.end)
    }
}

/// What is signed. `path` is the **decoded** object path (`/` for bucket operations); `params`
/// and `headers` are the ones chosen for signing, decoded, names in any case.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    /// HTTP method, any case.
    pub method: &'a str,
    /// Decoded URI path.
    pub path: &'a str,
    /// Query parameters to sign (a bare `?acl` is `("acl", "")`).
    pub params: &'a [(&'a str, &'a str)],
    /// Headers to sign, e.g. `host`, `content-length`, `x-cos-security-token`.
    pub headers: &'a [(&'a str, &'a str)],
}

/// Everything signing produced, stage by stage.
#[derive(Debug, Clone)]
pub struct Signature {
    /// `hex(HMAC-SHA1(SecretKey, KeyTime))`.
    pub sign_key: String,
    /// Sorted, `;`-joined parameter names.
    pub url_param_list: String,
    /// Sorted, `;`-joined header names.
    pub header_list: String,
    /// The HttpString of step 5.
    pub http_string: String,
    /// The StringToSign of step 6.
    pub string_to_sign: String,
    /// Lowercase hex signature.
    pub signature: String,
    /// The `Authorization` header value.
    pub authorization: String,
}

/// Signs a COS request.
pub fn sign(
    req: &SignableRequest<'_>,
    secret_id: &str,
    secret_key: &str,
    key_time: KeyTime,
) -> Signature {
    let key_time = key_time.to_string();
    let sign_key = hex::encode(hmac_sha1(secret_key.as_bytes(), key_time.as_bytes()));
    let (url_param_list, http_parameters) = canonical_pairs(req.params);
    let (header_list, http_headers) = canonical_pairs(req.headers);
    let http_string = format!(
        "{}\n{}\n{http_parameters}\n{http_headers}\n",
        req.method.to_ascii_lowercase(),
        req.path
    );
    let string_to_sign = format!(
        "sha1\n{key_time}\n{}\n",
        hex::encode(Sha1::digest(http_string.as_bytes()))
    );
    // The key is the hex *text* of SignKey, not its raw bytes.
    let signature = hex::encode(hmac_sha1(sign_key.as_bytes(), string_to_sign.as_bytes()));
    let authorization = format!(
        "q-sign-algorithm=sha1&q-ak={secret_id}&q-sign-time={key_time}&q-key-time={key_time}\
         &q-header-list={header_list}&q-url-param-list={url_param_list}&q-signature={signature}"
    );
    Signature {
        sign_key,
        url_param_list,
        header_list,
        http_string,
        string_to_sign,
        signature,
        authorization,
    }
}

/// `(names joined by ;, k=v joined by &)`, both sorted by encoded lowercase name.
fn canonical_pairs(pairs: &[(&str, &str)]) -> (String, String) {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (encode(k).to_ascii_lowercase(), encode(v)))
        .collect();
    encoded.sort();
    let names = encoded
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let joined = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    (names, joined)
}

/// Whether the official Python SDK signs a header of this (lowercase) name; we sign the same set.
pub fn is_signed_header(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "content-type"
            | "content-length"
            | "content-md5"
            | "content-disposition"
            | "content-encoding"
            | "cache-control"
            | "expect"
            | "expires"
            | "origin"
            | "range"
            | "transfer-encoding"
            | "pic-operations"
    ) || name.starts_with("if-")
        || name.starts_with("x-cos-")
        || name.starts_with("x-ci-")
}

/// A received `Authorization` header, split into its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// `q-ak`, the SecretId.
    pub secret_id: String,
    /// `q-sign-time`.
    pub sign_time: KeyTime,
    /// `q-key-time`.
    pub key_time: KeyTime,
    /// `q-header-list` names.
    pub header_list: Vec<String>,
    /// `q-url-param-list` names.
    pub url_param_list: Vec<String>,
    /// `q-signature`.
    pub signature: String,
}

/// Parses a `q-sign-algorithm=sha1&…` header; `None` when a field is missing or malformed.
pub fn parse_authorization(header: &str) -> Option<ParsedAuthorization> {
    let mut fields = std::collections::HashMap::new();
    for pair in header.split('&') {
        let (k, v) = pair.split_once('=')?;
        fields.insert(k, v);
    }
    if fields.get("q-sign-algorithm")? != &"sha1" {
        return None;
    }
    let list = |s: &str| -> Vec<String> {
        s.split(';')
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Some(ParsedAuthorization {
        secret_id: (*fields.get("q-ak")?).to_owned(),
        sign_time: KeyTime::parse(fields.get("q-sign-time")?)?,
        key_time: KeyTime::parse(fields.get("q-key-time")?)?,
        header_list: list(fields.get("q-header-list")?),
        url_param_list: list(fields.get("q-url-param-list")?),
        signature: (*fields.get("q-signature")?).to_owned(),
    })
}

fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::tencent::vectors;
    use proptest::prelude::*;

    #[test]
    fn every_official_vector_is_reproduced_stage_by_stage() {
        let cases = vectors::cos();
        assert!(cases.len() >= 8, "vectors.json lost its COS cases");
        for case in cases {
            let i = &case.inputs;
            let params: Vec<(&str, &str)> = i
                .query_params_decoded
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let headers: Vec<(&str, &str)> = i
                .signed_headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let req = SignableRequest {
                method: &i.http_method,
                path: &i.uri_pathname,
                params: &params,
                headers: &headers,
            };
            let key_time = KeyTime::parse(&i.key_time).expect("vector key time");
            assert_eq!(key_time, KeyTime::around(i.now, 10_000), "{}", case.name);
            let signed = sign(&req, &i.secret_id, &i.secret_key, key_time);
            let want = &case.intermediate;
            let name = &case.name;
            assert_eq!(signed.sign_key, want.sign_key, "{name}: SignKey");
            assert_eq!(signed.url_param_list, want.url_param_list, "{name}");
            assert_eq!(signed.header_list, want.header_list, "{name}");
            assert_eq!(signed.http_string, want.http_string, "{name}: HttpString");
            assert_eq!(signed.string_to_sign, want.string_to_sign, "{name}");
            assert_eq!(signed.signature, want.signature, "{name}: signature");
            assert_eq!(signed.authorization, case.expected_authorization, "{name}");
            let parsed = parse_authorization(&signed.authorization).expect("parses");
            assert_eq!(parsed.signature, want.signature);
            assert_eq!(parsed.header_list.join(";"), want.header_list);
        }
    }

    #[test]
    fn the_sdk_signs_the_headers_the_vectors_sign() {
        for case in vectors::cos() {
            for name in case.inputs.signed_headers.keys() {
                assert!(is_signed_header(name), "{}: {name}", case.name);
            }
        }
        for unsigned in [
            "accept",
            "accept-encoding",
            "connection",
            "user-agent",
            "authorization",
        ] {
            assert!(!is_signed_header(unsigned), "{unsigned}");
        }
    }

    #[test]
    fn object_paths_keep_slashes_and_encode_the_rest() {
        assert_eq!(
            encode_path("消息/一 二.txt"),
            "%E6%B6%88%E6%81%AF/%E4%B8%80%20%E4%BA%8C.txt"
        );
        assert_eq!(encode("a/b;c=d:e"), "a%2Fb%3Bc%3Dd%3Ae");
    }

    proptest! {
        #[test]
        fn encoding_round_trips_and_leaves_only_unreserved_bytes(s in "\\PC*") {
            let e = encode(&s);
            prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
            let decoded = percent_encoding::percent_decode_str(&e).decode_utf8().unwrap();
            prop_assert_eq!(decoded, s.as_str());
        }
    }
}
