//! Test-only loader for the signature vectors the official SDKs produced:
//! `tests/fixtures/signing/vectors.json`, a byte-identical copy of
//! `shared/tencent/vectors.json` (generated there by `gen_vectors.py`; see
//! `tests/fixtures/README.md`). `tests::fixture_matches_shared_copy` catches drift when the
//! shared directory is at hand.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub(crate) struct File {
    tc3: Vec<Tc3Case>,
    cos: Vec<CosCase>,
    tc3_official_doc_partial_check: Tc3DocCheck,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Tc3Case {
    pub(crate) name: String,
    pub(crate) inputs: Tc3Inputs,
    pub(crate) expected_authorization: String,
    pub(crate) intermediate: Tc3Intermediate,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // mirrors the file; not every field is asserted
pub(crate) struct Tc3Inputs {
    pub(crate) secret_id: String,
    pub(crate) secret_key: String,
    pub(crate) token: Option<String>,
    pub(crate) timestamp: i64,
    pub(crate) service: String,
    pub(crate) host: String,
    pub(crate) action: String,
    pub(crate) version: String,
    pub(crate) region: String,
    pub(crate) content_type: String,
    pub(crate) payload: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Tc3Intermediate {
    pub(crate) date: String,
    pub(crate) payload_sha256: String,
    pub(crate) canonical_request: String,
    pub(crate) hashed_canonical_request: String,
    pub(crate) string_to_sign: String,
    pub(crate) k_signing_hex: String,
    pub(crate) signature: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Tc3DocCheck {
    pub(crate) payload: String,
    pub(crate) content_type: String,
    pub(crate) host: String,
    pub(crate) timestamp: i64,
    pub(crate) canonical_request: String,
    pub(crate) matches_published: Tc3Published,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Tc3Published {
    pub(crate) hashed_canonical_request: String,
    pub(crate) credential_scope: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CosCase {
    pub(crate) name: String,
    pub(crate) inputs: CosInputs,
    pub(crate) intermediate: CosIntermediate,
    pub(crate) expected_authorization: String,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)] // mirrors the file; not every field is asserted
pub(crate) struct CosInputs {
    pub(crate) secret_id: String,
    pub(crate) secret_key: String,
    pub(crate) token: Option<String>,
    pub(crate) now: i64,
    pub(crate) key_time: String,
    pub(crate) http_method: String,
    pub(crate) request_url_as_sent: String,
    pub(crate) host_header_on_wire: String,
    #[serde(rename = "uri_pathname_used_in_signature (decoded)")]
    pub(crate) uri_pathname: String,
    pub(crate) query_params_decoded: BTreeMap<String, String>,
    #[serde(rename = "signed_headers (name -> value used)")]
    pub(crate) signed_headers: BTreeMap<String, String>,
    pub(crate) body_utf8: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CosIntermediate {
    pub(crate) sign_key: String,
    pub(crate) url_param_list: String,
    pub(crate) header_list: String,
    pub(crate) http_string: String,
    pub(crate) string_to_sign: String,
    pub(crate) signature: String,
}

/// The repository's copy of the vectors.
fn fixture_path() -> PathBuf {
    crate::test_support::fixture("signing/vectors.json")
}

fn load() -> File {
    let path = fixture_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn tc3() -> Vec<Tc3Case> {
    load().tc3
}

pub(crate) fn cos() -> Vec<CosCase> {
    load().cos
}

pub(crate) fn tc3_doc_check() -> Tc3DocCheck {
    load().tc3_official_doc_partial_check
}

mod tests {
    use super::*;

    /// The fixture is the shared file, byte for byte, wherever the shared directory is at hand
    /// (`../shared` beside the crate, or `CHATSTACK_SHARED`); without it there is nothing to
    /// compare against.
    #[test]
    fn fixture_matches_shared_copy() {
        let shared = crate::test_support::shared_dir().join("tencent/vectors.json");
        if !shared.is_file() {
            crate::test_support::note(&format!(
                "note: fixture_matches_shared_copy compared nothing: no {} (../shared or \
                 CHATSTACK_SHARED)",
                shared.display()
            ));
            return;
        }
        let fixture = std::fs::read(fixture_path()).unwrap();
        let original = std::fs::read(&shared).unwrap();
        assert!(
            fixture == original,
            "{} differs from {}: copy it again (tests/fixtures/README.md)",
            fixture_path().display(),
            shared.display()
        );
    }
}
