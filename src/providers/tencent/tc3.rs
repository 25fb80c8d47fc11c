//! TC3-HMAC-SHA256, the API 3.0 request signature (API-FACTS §1.3).
//!
//! Pure functions of (request, credentials, timestamp): nothing here reads a clock, the
//! environment or the network. Each stage is a value whose `Display` is the exact text that gets
//! hashed, so tests compare every stage with the official SDKs' vectors and the local cloud
//! verifies requests with the very same code the client signs them with.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The algorithm name, first word of the `Authorization` header and of the string to sign.
pub const ALGORITHM: &str = "TC3-HMAC-SHA256";
/// The headers TC3 signs, in canonical order.
pub const SIGNED_HEADERS: &str = "content-type;host";

/// What is signed: the parts of a `POST /` API 3.0 request that the signature covers.
#[derive(Clone, Copy)]
pub struct SignableRequest<'a> {
    /// Service name of the credential scope, e.g. `scf`.
    pub service: &'a str,
    /// The `Host` header exactly as sent (with the port when there is one).
    pub host: &'a str,
    /// The `Content-Type` header exactly as sent.
    pub content_type: &'a str,
    /// The exact body bytes on the wire.
    pub payload: &'a [u8],
    /// `X-TC-Timestamp`, Unix seconds.
    pub timestamp: i64,
}

impl fmt::Debug for SignableRequest<'_> {
    // The body can carry environment variables with secrets: print its size only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignableRequest")
            .field("service", &self.service)
            .field("host", &self.host)
            .field("content_type", &self.content_type)
            .field(
                "payload",
                &format_args!("** {} bytes **", self.payload.len()),
            )
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

/// The canonical request of step 2; `Display` gives the exact hashed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    content_type: String,
    host: String,
    payload_sha256: String,
}

impl CanonicalRequest {
    /// Builds the canonical request of a `POST /` with an empty query string.
    pub fn new(req: &SignableRequest<'_>) -> Self {
        CanonicalRequest {
            content_type: req.content_type.to_owned(),
            host: req.host.to_owned(),
            payload_sha256: sha256_hex(req.payload),
        }
    }

    /// Hex SHA-256 of the body.
    pub fn payload_sha256(&self) -> &str {
        &self.payload_sha256
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "POST\n/\n\ncontent-type:{}\nhost:{}\n\n{SIGNED_HEADERS}\n{}",
            self.content_type, self.host, self.payload_sha256
        )
    }
}

/// `{date}/{service}/tc3_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    /// UTC date of the timestamp, `YYYY-MM-DD`.
    pub date: String,
    /// Service name, e.g. `apigateway`.
    pub service: String,
}

impl CredentialScope {
    /// The scope of a request signed at `timestamp` for `service`.
    pub fn new(timestamp: i64, service: &str) -> Self {
        CredentialScope {
            date: utc_date(timestamp),
            service: service.to_owned(),
        }
    }
}

impl fmt::Display for CredentialScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/tc3_request", self.date, self.service)
    }
}

/// The string to sign of step 3; `Display` gives the exact signed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringToSign {
    timestamp: i64,
    scope: CredentialScope,
    hashed_canonical_request: String,
}

impl StringToSign {
    /// Joins the timestamp, scope and hashed canonical request.
    pub fn new(timestamp: i64, scope: CredentialScope, canonical: &CanonicalRequest) -> Self {
        StringToSign {
            timestamp,
            scope,
            hashed_canonical_request: sha256_hex(canonical.to_string().as_bytes()),
        }
    }

    /// Hex SHA-256 of the canonical request.
    pub fn hashed_canonical_request(&self) -> &str {
        &self.hashed_canonical_request
    }
}

impl fmt::Display for StringToSign {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{ALGORITHM}\n{}\n{}\n{}",
            self.timestamp, self.scope, self.hashed_canonical_request
        )
    }
}

/// Everything signing produced, stage by stage.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The canonical request (step 2).
    pub canonical_request: CanonicalRequest,
    /// The string to sign (step 3).
    pub string_to_sign: StringToSign,
    /// Lowercase hex signature (step 4).
    pub signature: String,
    /// The full `Authorization` header value (step 5).
    pub authorization: String,
}

/// Signs `req` with the key pair; the session token, if any, travels unsigned in `X-TC-Token`.
pub fn sign(req: &SignableRequest<'_>, secret_id: &str, secret_key: &str) -> Signature {
    let canonical_request = CanonicalRequest::new(req);
    let scope = CredentialScope::new(req.timestamp, req.service);
    let key = signing_key(secret_key, &scope.date, req.service);
    let string_to_sign = StringToSign::new(req.timestamp, scope.clone(), &canonical_request);
    let signature = hex::encode(hmac_sha256(&key, string_to_sign.to_string().as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"
    );
    Signature {
        canonical_request,
        string_to_sign,
        signature,
        authorization,
    }
}

/// Step 4: `kSigning` from the secret key, the UTC date and the service.
pub fn signing_key(secret_key: &str, date: &str, service: &str) -> [u8; 32] {
    let k_date = hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac_sha256(&k_date, service.as_bytes());
    hmac_sha256(&k_service, b"tc3_request")
}

/// The parts of a received `Authorization` header, for verification by the local cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedAuthorization {
    /// The SecretId from the credential.
    pub secret_id: String,
    /// The date of the credential scope.
    pub date: String,
    /// The service of the credential scope.
    pub service: String,
    /// `SignedHeaders` as sent.
    pub signed_headers: String,
    /// The hex signature as sent.
    pub signature: String,
}

/// Parses `TC3-HMAC-SHA256 Credential=ID/DATE/SERVICE/tc3_request, SignedHeaders=…, Signature=…`.
/// Returns `None` when the header is not of that shape.
pub fn parse_authorization(header: &str) -> Option<ParsedAuthorization> {
    let rest = header.strip_prefix(ALGORITHM)?.trim_start();
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=')?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return None,
        }
    }
    let mut scope = credential?.rsplitn(4, '/');
    let terminator = scope.next()?;
    let service = scope.next()?;
    let date = scope.next()?;
    let secret_id = scope.next()?;
    if terminator != "tc3_request" || secret_id.is_empty() {
        return None;
    }
    Some(ParsedAuthorization {
        secret_id: secret_id.to_owned(),
        date: date.to_owned(),
        service: service.to_owned(),
        signed_headers: signed_headers?.to_owned(),
        signature: signature?.to_owned(),
    })
}

/// The UTC calendar date of a Unix timestamp, `YYYY-MM-DD` (never the local or Beijing date).
pub fn utc_date(timestamp: i64) -> String {
    jiff::Timestamp::from_second(timestamp)
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|_| "1970-01-01".to_owned())
}

/// Lowercase hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Steps 3 and 4 for any canonical request (not only `POST /`): the lowercase hex signature
/// of `canonical_request` signed at `timestamp` for `service` with `secret_key`. The local
/// cloud's Function URLs verify CAM-authenticated requests of every method and path with it.
pub fn signature_of(
    canonical_request: &str,
    timestamp: i64,
    service: &str,
    secret_key: &str,
) -> String {
    let scope = CredentialScope::new(timestamp, service);
    let key = signing_key(secret_key, &scope.date, service);
    let string_to_sign = format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()))
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::tencent::vectors;

    #[test]
    fn every_official_vector_is_reproduced_stage_by_stage() {
        let cases = vectors::tc3();
        assert!(cases.len() >= 7, "vectors.json lost its TC3 cases");
        for case in cases {
            let i = &case.inputs;
            let req = SignableRequest {
                service: &i.service,
                host: &i.host,
                content_type: &i.content_type,
                payload: i.payload.as_bytes(),
                timestamp: i.timestamp,
            };
            let signed = sign(&req, &i.secret_id, &i.secret_key);
            let want = &case.intermediate;
            let name = &case.name;
            assert_eq!(utc_date(i.timestamp), want.date, "{name}: date");
            assert_eq!(
                signed.canonical_request.payload_sha256(),
                want.payload_sha256,
                "{name}"
            );
            assert_eq!(
                signed.canonical_request.to_string(),
                want.canonical_request,
                "{name}"
            );
            assert_eq!(
                signed.string_to_sign.hashed_canonical_request(),
                want.hashed_canonical_request,
                "{name}"
            );
            assert_eq!(
                signed.string_to_sign.to_string(),
                want.string_to_sign,
                "{name}"
            );
            let key = signing_key(&i.secret_key, &want.date, &i.service);
            assert_eq!(hex::encode(key), want.k_signing_hex, "{name}: kSigning");
            assert_eq!(signed.signature, want.signature, "{name}: signature");
            assert_eq!(
                signed.authorization, case.expected_authorization,
                "{name}: Authorization header"
            );
        }
    }

    #[test]
    fn official_documentation_example_matches_published_hashes() {
        let doc = vectors::tc3_doc_check();
        let req = SignableRequest {
            service: "cvm",
            host: &doc.host,
            content_type: &doc.content_type,
            payload: doc.payload.as_bytes(),
            timestamp: doc.timestamp,
        };
        let signed = sign(&req, "AKID", "unknown");
        assert_eq!(signed.canonical_request.to_string(), doc.canonical_request);
        assert_eq!(
            signed.string_to_sign.hashed_canonical_request(),
            doc.matches_published.hashed_canonical_request
        );
        assert_eq!(
            CredentialScope::new(doc.timestamp, "cvm").to_string(),
            doc.matches_published.credential_scope
        );
    }

    #[test]
    fn date_is_utc_even_just_before_beijing_midnight() {
        assert_eq!(utc_date(1_700_006_399), "2023-11-14");
        assert_eq!(utc_date(1_700_006_400), "2023-11-15");
    }

    #[test]
    fn authorization_round_trips_through_the_parser() {
        let req = SignableRequest {
            service: "scf",
            host: "127.0.0.1:9000",
            content_type: "application/json",
            payload: b"{}",
            timestamp: 1_700_000_000,
        };
        let signed = sign(&req, "AKIDlocal", "secret");
        let parsed = parse_authorization(&signed.authorization).expect("parses");
        assert_eq!(parsed.secret_id, "AKIDlocal");
        assert_eq!(parsed.date, "2023-11-14");
        assert_eq!(parsed.service, "scf");
        assert_eq!(parsed.signed_headers, SIGNED_HEADERS);
        assert_eq!(parsed.signature, signed.signature);
    }

    #[test]
    fn malformed_authorization_headers_are_rejected() {
        for bad in [
            "",
            "TC3-HMAC-SHA256",
            "HMAC Credential=a/b/c/tc3_request, SignedHeaders=x, Signature=y",
            "TC3-HMAC-SHA256 Credential=a/b/c/other, SignedHeaders=x, Signature=y",
            "TC3-HMAC-SHA256 Credential=/b/c/tc3_request, SignedHeaders=x, Signature=y",
            "TC3-HMAC-SHA256 Credential=a/b/c/tc3_request, Signature=y",
            "TC3-HMAC-SHA256 Credential=a/b/c/tc3_request, SignedHeaders=x, Signature=y, Extra=z",
        ] {
            assert_eq!(parse_authorization(bad), None, "{bad:?}");
        }
    }
}
