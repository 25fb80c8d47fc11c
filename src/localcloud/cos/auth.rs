//! q-sign verification (API-FACTS §5.4): the local cloud recomputes a request's signature with
//! the client's own signer, over exactly the headers and parameters the request says it signed,
//! using the values it received.

use axum::http::HeaderMap;

use super::common::{CosError, header_text};
use crate::localcloud::account::{Account, AuthError};
#[cfg(test)]
use crate::providers::tencent::cos_sign::KeyTime;
use crate::providers::tencent::cos_sign::{self, ParsedAuthorization, SignableRequest};

/// What verification looks at, already decoded.
#[derive(Debug)]
pub(crate) struct Signed<'a> {
    /// HTTP method.
    pub(crate) method: &'a str,
    /// Decoded path, `/` for bucket operations.
    pub(crate) path: &'a str,
    /// Decoded query parameters in the order received.
    pub(crate) query: &'a [(String, String)],
    /// Request headers (the `Host` among them).
    pub(crate) headers: &'a HeaderMap,
}

/// The query parameters that carry the signature itself when it is not in a header.
const QUERY_SIGN_FIELDS: [&str; 7] = [
    "q-sign-algorithm",
    "q-ak",
    "q-sign-time",
    "q-key-time",
    "q-header-list",
    "q-url-param-list",
    "q-signature",
];

/// Whether `name` is part of the signature or the token rather than of the request proper.
pub(crate) fn is_auth_param(name: &str) -> bool {
    QUERY_SIGN_FIELDS.contains(&name) || name == "x-cos-security-token"
}

/// Checks the request's signature, key time and credentials at Unix second `now`; returns the
/// execution role temporary credentials stand for (`None`: the account's own keys).
pub(crate) fn verify(
    account: &Account,
    req: &Signed<'_>,
    now: i64,
) -> Result<Option<String>, CosError> {
    let auth = authorization(req)?;
    if now < auth.sign_time.start || now < auth.key_time.start {
        return Err(CosError::forbidden(
            "RequestTimeTooSkewed",
            "The difference between the request time and the server's time is too large.",
        ));
    }
    // Past the end: COS answers AccessDenied "Request has expired" (what the Node COS SDK's
    // retry logic looks for); before the start, RequestTimeTooSkewed.
    if now > auth.sign_time.end || now > auth.key_time.end {
        return Err(CosError::forbidden("AccessDenied", "Request has expired"));
    }
    let token = req
        .headers
        .get("x-cos-security-token")
        .map(|v| header_text(v.as_bytes()))
        .or_else(|| query_value(req.query, "x-cos-security-token").map(str::to_owned));
    let caller = account
        .caller(&auth.secret_id, token.as_deref(), now)
        .map_err(|e| match e {
            AuthError::SecretIdNotFound => CosError::forbidden(
                "InvalidAccessKeyId",
                "The access key Id format you provided is invalid.",
            ),
            AuthError::TokenFailure => CosError::bad_request(
                "InvalidToken",
                "The provided token is malformed or otherwise invalid.",
            ),
            AuthError::TokenExpired => {
                CosError::bad_request("ExpiredToken", "The provided token has expired.")
            }
        })?;
    let secret_key = caller.secret_key;

    let params: Vec<(String, String)> = auth
        .url_param_list
        .iter()
        .map(|name| {
            let value = req
                .query
                .iter()
                .find(|(k, _)| cos_sign::encode(k).to_ascii_lowercase() == *name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            (name.clone(), value)
        })
        .collect();
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    // `host` may have been signed with or without the port (the Python SDK drops it).
    let host = header(req.headers, "host");
    let mut hosts = vec![host.clone()];
    if let Some((bare, port)) = host.rsplit_once(':')
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        hosts.push(bare.to_owned());
    }
    let valid = hosts.iter().any(|host| {
        let headers: Vec<(String, String)> = auth
            .header_list
            .iter()
            .map(|name| {
                let value = if name == "host" {
                    host.clone()
                } else {
                    header(req.headers, name)
                };
                (name.clone(), value)
            })
            .collect();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let signable = SignableRequest {
            method: req.method,
            path: req.path,
            params: &params,
            headers: &headers,
        };
        // The signer derives SignKey and StringToSign from one key time; the SDK sends the same
        // value as q-sign-time and q-key-time, and a request that does not is refused below.
        let expected = cos_sign::sign(
            &signable,
            &auth.secret_id,
            secret_key.expose(),
            auth.key_time,
        );
        constant_time_eq(expected.signature.as_bytes(), auth.signature.as_bytes())
    });
    if !valid || auth.sign_time != auth.key_time {
        return Err(CosError::forbidden(
            "SignatureDoesNotMatch",
            "The Signature you specified is invalid.",
        ));
    }
    Ok(caller.role)
}

/// The CAM action name of a COS request (`name/cos:GetObject`), as COS's policy syntax names
/// them, from the method, whether it is a bucket or an object request, and its sub-resource.
pub(crate) fn cam_action(method: &str, object: bool, has: impl Fn(&str) -> bool) -> &'static str {
    let multipart = has("uploadId");
    match (method, object) {
        ("PUT", false) => "name/cos:PutBucket",
        ("HEAD", false) => "name/cos:HeadBucket",
        ("DELETE", false) => "name/cos:DeleteBucket",
        ("GET", false) if has("uploads") => "name/cos:ListMultipartUploads",
        ("GET", false) => "name/cos:GetBucket",
        ("POST", false) => "name/cos:DeleteMultipleObjects",
        ("POST", true) if has("uploads") => "name/cos:InitiateMultipartUpload",
        ("POST", true) if multipart => "name/cos:CompleteMultipartUpload",
        ("PUT", true) if multipart => "name/cos:UploadPart",
        ("GET", true) if multipart => "name/cos:ListParts",
        ("DELETE", true) if multipart => "name/cos:AbortMultipartUpload",
        ("PUT", true) => "name/cos:PutObject",
        ("GET", true) => "name/cos:GetObject",
        ("HEAD", true) => "name/cos:HeadObject",
        ("DELETE", true) => "name/cos:DeleteObject",
        _ => "name/cos:Unknown",
    }
}

/// The CAM resource of a COS request: `qcs::cos:{region}:uid/{appid}:{bucket}/{key}` (the key
/// empty for bucket requests).
pub(crate) fn cam_resource(region: &str, appid: u64, bucket: &str, key: &str) -> String {
    format!("qcs::cos:{region}:uid/{appid}:{bucket}/{key}")
}

/// The signature from the `Authorization` header, else from `q-sign-*` query parameters.
fn authorization(req: &Signed<'_>) -> Result<ParsedAuthorization, CosError> {
    let text = match req.headers.get(axum::http::header::AUTHORIZATION) {
        Some(v) => header_text(v.as_bytes()),
        None if query_value(req.query, "q-sign-algorithm").is_some() => QUERY_SIGN_FIELDS
            .iter()
            .map(|f| format!("{f}={}", query_value(req.query, f).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("&"),
        None => {
            return Err(CosError::forbidden(
                "AccessDenied",
                "Access Denied. The request carries no signature.",
            ));
        }
    };
    cos_sign::parse_authorization(text.trim()).ok_or_else(|| {
        CosError::forbidden(
            "AccessDenied",
            "Access Denied. The Authorization is not a valid q-sign-algorithm=sha1 signature.",
        )
    })
}

fn query_value<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A header's received value ("" when absent), bytes taken as they are.
fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|v| header_text(v.as_bytes()))
        .unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Signs a request the way the Python SDK does, for tests of the verifier.
#[cfg(test)]
pub(crate) fn sign_for_test(
    req: &Signed<'_>,
    secret_id: &str,
    secret_key: &str,
    key_time: KeyTime,
) -> String {
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .filter(|(n, _)| cos_sign::is_signed_header(n.as_str()))
        .map(|(n, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            let v = if n == "host" {
                v.split(':').next().unwrap_or_default().to_owned()
            } else {
                v
            };
            (n.as_str().to_owned(), v)
        })
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let params: Vec<(&str, &str)> = req
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let signable = SignableRequest {
        method: req.method,
        path: req.path,
        params: &params,
        headers: &headers,
    };
    cos_sign::sign(&signable, secret_id, secret_key, key_time).authorization
}

#[cfg(test)]
mod cam_tests {
    use super::{cam_action, cam_resource};

    #[test]
    fn each_cos_request_has_its_cam_action_and_resource() {
        let table: &[(&str, bool, &[&str], &str)] = &[
            ("PUT", false, &[], "name/cos:PutBucket"),
            ("HEAD", false, &[], "name/cos:HeadBucket"),
            ("DELETE", false, &[], "name/cos:DeleteBucket"),
            ("GET", false, &[], "name/cos:GetBucket"),
            ("GET", false, &["uploads"], "name/cos:ListMultipartUploads"),
            ("POST", false, &["delete"], "name/cos:DeleteMultipleObjects"),
            ("PUT", true, &[], "name/cos:PutObject"),
            ("GET", true, &[], "name/cos:GetObject"),
            ("HEAD", true, &[], "name/cos:HeadObject"),
            ("DELETE", true, &[], "name/cos:DeleteObject"),
            (
                "POST",
                true,
                &["uploads"],
                "name/cos:InitiateMultipartUpload",
            ),
            ("PUT", true, &["uploadId"], "name/cos:UploadPart"),
            (
                "POST",
                true,
                &["uploadId"],
                "name/cos:CompleteMultipartUpload",
            ),
            ("GET", true, &["uploadId"], "name/cos:ListParts"),
            (
                "DELETE",
                true,
                &["uploadId"],
                "name/cos:AbortMultipartUpload",
            ),
        ];
        for (method, object, params, want) in table {
            assert_eq!(
                cam_action(method, *object, |p| params.contains(&p)),
                *want,
                "{method} object={object} {params:?}"
            );
        }
        // Every action the policy chatstack writes is one a request can need.
        for action in crate::engine::roles::BUCKET_ACTIONS {
            assert!(
                table.iter().any(|(_, _, _, a)| a == action),
                "{action} is never asked for"
            );
        }
        assert_eq!(
            cam_resource("ap-guangzhou", 1250000000, "chat-1250000000", "a/b.txt"),
            "qcs::cos:ap-guangzhou:uid/1250000000:chat-1250000000/a/b.txt"
        );
    }
}
