//! The COS XML documents the local cloud writes (API-FACTS §5.2–5.3), as quick-xml serde types.

use serde::{Deserialize, Serialize};

/// The declaration COS puts before every XML body.
const DECLARATION: &str = "<?xml version='1.0' encoding='utf-8' ?>\n";

/// `<Error>`, the body of every failed request except HEAD.
#[derive(Debug, Serialize)]
#[serde(rename = "Error")]
pub(crate) struct ErrorBody<'a> {
    #[serde(rename = "Code")]
    pub(crate) code: &'a str,
    #[serde(rename = "Message")]
    pub(crate) message: &'a str,
    #[serde(rename = "Resource")]
    pub(crate) resource: &'a str,
    #[serde(rename = "RequestId")]
    pub(crate) request_id: &'a str,
    #[serde(rename = "TraceId")]
    pub(crate) trace_id: &'a str,
}

/// `<ListBucketResult>`, the GET Bucket response.
#[derive(Debug, Serialize)]
#[serde(rename = "ListBucketResult")]
pub(crate) struct ListBucketResult {
    #[serde(rename = "Name")]
    pub(crate) name: String,
    /// Only when the request asked for it.
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    pub(crate) encoding_type: Option<String>,
    #[serde(rename = "Prefix")]
    pub(crate) prefix: String,
    #[serde(rename = "Marker")]
    pub(crate) marker: String,
    #[serde(rename = "MaxKeys")]
    pub(crate) max_keys: usize,
    /// Only when the request sent one.
    #[serde(rename = "Delimiter", skip_serializing_if = "Option::is_none")]
    pub(crate) delimiter: Option<String>,
    #[serde(rename = "IsTruncated")]
    pub(crate) is_truncated: bool,
    /// Whenever `IsTruncated` is true (even without a delimiter, unlike S3 v1).
    #[serde(rename = "NextMarker", skip_serializing_if = "Option::is_none")]
    pub(crate) next_marker: Option<String>,
    #[serde(rename = "CommonPrefixes")]
    pub(crate) common_prefixes: Vec<CommonPrefix>,
    #[serde(rename = "Contents")]
    pub(crate) contents: Vec<Contents>,
}

/// One rolled-up `<CommonPrefixes>` entry.
#[derive(Debug, Serialize)]
pub(crate) struct CommonPrefix {
    #[serde(rename = "Prefix")]
    pub(crate) prefix: String,
}

/// One `<Contents>` entry.
#[derive(Debug, Serialize)]
pub(crate) struct Contents {
    #[serde(rename = "Key")]
    pub(crate) key: String,
    /// `2020-12-10T03:37:30.000Z`.
    #[serde(rename = "LastModified")]
    pub(crate) last_modified: String,
    /// Quoted hex MD5.
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
    #[serde(rename = "Size")]
    pub(crate) size: u64,
    #[serde(rename = "Owner")]
    pub(crate) owner: Owner,
    #[serde(rename = "StorageClass")]
    pub(crate) storage_class: &'static str,
}

/// `<Owner>` (and `<Initiator>`): the account's APPID, twice.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Owner {
    #[serde(rename = "ID")]
    pub(crate) id: String,
    #[serde(rename = "DisplayName")]
    pub(crate) display_name: String,
}

/// `<Delete>`, the body of `POST /?delete`.
#[derive(Debug, Deserialize)]
pub(crate) struct DeleteRequest {
    /// `true` lists only failures.
    #[serde(rename = "Quiet", default)]
    pub(crate) quiet: Option<String>,
    #[serde(rename = "Object", default)]
    pub(crate) objects: Vec<ObjectToDelete>,
}

/// One `<Object>` of a `<Delete>`.
#[derive(Debug, Deserialize)]
pub(crate) struct ObjectToDelete {
    #[serde(rename = "Key")]
    pub(crate) key: String,
}

/// `<DeleteResult>`.
#[derive(Debug, Default, Serialize)]
#[serde(rename = "DeleteResult")]
pub(crate) struct DeleteResult {
    #[serde(rename = "Deleted")]
    pub(crate) deleted: Vec<Deleted>,
    #[serde(rename = "Error")]
    pub(crate) errors: Vec<DeleteError>,
}

/// One deleted key (missing keys count as deleted).
#[derive(Debug, Serialize)]
pub(crate) struct Deleted {
    #[serde(rename = "Key")]
    pub(crate) key: String,
}

/// One key that could not be deleted.
#[derive(Debug, Serialize)]
pub(crate) struct DeleteError {
    #[serde(rename = "Key")]
    pub(crate) key: String,
    #[serde(rename = "Code")]
    pub(crate) code: &'static str,
    #[serde(rename = "Message")]
    pub(crate) message: &'static str,
}

impl Owner {
    /// The account `appid`.
    pub(crate) fn of(appid: u64) -> Self {
        Owner {
            id: appid.to_string(),
            display_name: appid.to_string(),
        }
    }
}

/// `<InitiateMultipartUploadResult>`.
#[derive(Debug, Serialize)]
#[serde(rename = "InitiateMultipartUploadResult")]
pub(crate) struct InitiateMultipartUploadResult {
    #[serde(rename = "Bucket")]
    pub(crate) bucket: String,
    #[serde(rename = "Key")]
    pub(crate) key: String,
    #[serde(rename = "UploadId")]
    pub(crate) upload_id: String,
}

/// `<ListPartsResult>`.
#[derive(Debug, Serialize)]
#[serde(rename = "ListPartsResult")]
pub(crate) struct ListPartsResult {
    #[serde(rename = "Bucket")]
    pub(crate) bucket: String,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    pub(crate) encoding_type: Option<String>,
    #[serde(rename = "Key")]
    pub(crate) key: String,
    #[serde(rename = "UploadId")]
    pub(crate) upload_id: String,
    #[serde(rename = "Initiator")]
    pub(crate) initiator: Owner,
    #[serde(rename = "Owner")]
    pub(crate) owner: Owner,
    #[serde(rename = "StorageClass")]
    pub(crate) storage_class: &'static str,
    #[serde(rename = "PartNumberMarker")]
    pub(crate) part_number_marker: u32,
    #[serde(rename = "NextPartNumberMarker")]
    pub(crate) next_part_number_marker: u32,
    #[serde(rename = "MaxParts")]
    pub(crate) max_parts: usize,
    #[serde(rename = "IsTruncated")]
    pub(crate) is_truncated: bool,
    #[serde(rename = "Part")]
    pub(crate) parts: Vec<Part>,
}

/// One `<Part>` of a `<ListPartsResult>`.
#[derive(Debug, Serialize)]
pub(crate) struct Part {
    #[serde(rename = "PartNumber")]
    pub(crate) part_number: u32,
    #[serde(rename = "LastModified")]
    pub(crate) last_modified: String,
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
    #[serde(rename = "Size")]
    pub(crate) size: u64,
}

/// `<CompleteMultipartUpload>`, the body of `POST /<key>?uploadId=`.
#[derive(Debug, Deserialize)]
pub(crate) struct CompleteMultipartUpload {
    #[serde(rename = "Part", default)]
    pub(crate) parts: Vec<CompletePart>,
}

/// One listed `<Part>` of a `<CompleteMultipartUpload>`.
#[derive(Debug, Deserialize)]
pub(crate) struct CompletePart {
    #[serde(rename = "PartNumber")]
    pub(crate) part_number: u32,
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
}

/// `<CompleteMultipartUploadResult>`.
#[derive(Debug, Serialize)]
#[serde(rename = "CompleteMultipartUploadResult")]
pub(crate) struct CompleteMultipartUploadResult {
    #[serde(rename = "Location")]
    pub(crate) location: String,
    #[serde(rename = "Bucket")]
    pub(crate) bucket: String,
    #[serde(rename = "Key")]
    pub(crate) key: String,
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
}

/// `<CopyObjectResult>`.
#[derive(Debug, Serialize)]
#[serde(rename = "CopyObjectResult")]
pub(crate) struct CopyObjectResult {
    #[serde(rename = "ETag")]
    pub(crate) etag: String,
    #[serde(rename = "LastModified")]
    pub(crate) last_modified: String,
}

/// `<ListMultipartUploadsResult>`.
#[derive(Debug, Serialize)]
#[serde(rename = "ListMultipartUploadsResult")]
pub(crate) struct ListMultipartUploadsResult {
    #[serde(rename = "Bucket")]
    pub(crate) bucket: String,
    #[serde(rename = "EncodingType", skip_serializing_if = "Option::is_none")]
    pub(crate) encoding_type: Option<String>,
    #[serde(rename = "KeyMarker")]
    pub(crate) key_marker: String,
    #[serde(rename = "UploadIdMarker")]
    pub(crate) upload_id_marker: String,
    #[serde(rename = "NextKeyMarker", skip_serializing_if = "Option::is_none")]
    pub(crate) next_key_marker: Option<String>,
    #[serde(rename = "NextUploadIdMarker", skip_serializing_if = "Option::is_none")]
    pub(crate) next_upload_id_marker: Option<String>,
    #[serde(rename = "MaxUploads")]
    pub(crate) max_uploads: usize,
    #[serde(rename = "IsTruncated")]
    pub(crate) is_truncated: bool,
    #[serde(rename = "Prefix")]
    pub(crate) prefix: String,
    #[serde(rename = "Upload")]
    pub(crate) uploads: Vec<Upload>,
}

/// One `<Upload>` in progress.
#[derive(Debug, Serialize)]
pub(crate) struct Upload {
    #[serde(rename = "Key")]
    pub(crate) key: String,
    #[serde(rename = "UploadId")]
    pub(crate) upload_id: String,
    #[serde(rename = "StorageClass")]
    pub(crate) storage_class: &'static str,
    #[serde(rename = "Initiator")]
    pub(crate) initiator: Owner,
    #[serde(rename = "Owner")]
    pub(crate) owner: Owner,
    #[serde(rename = "Initiated")]
    pub(crate) initiated: String,
}

/// Serializes `doc` with the XML declaration in front.
pub(crate) fn render<T: Serialize>(doc: &T) -> String {
    // Serializing these plain structs of strings and numbers cannot fail.
    let body = quick_xml::se::to_string(doc).unwrap_or_default();
    format!("{DECLARATION}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_the_cos_shape() {
        let xml = render(&ErrorBody {
            code: "NoSuchKey",
            message: "The specified key does not exist.",
            resource: "b-1.cos.r.myqcloud.com/k",
            request_id: "rid",
            trace_id: "tid",
        });
        assert_eq!(
            xml,
            "<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>NoSuchKey</Code>\
             <Message>The specified key does not exist.</Message>\
             <Resource>b-1.cos.r.myqcloud.com/k</Resource><RequestId>rid</RequestId>\
             <TraceId>tid</TraceId></Error>"
        );
    }

    #[test]
    fn list_result_omits_unrequested_fields_and_repeats_entries() {
        let xml = render(&ListBucketResult {
            name: "b-1".into(),
            encoding_type: None,
            prefix: String::new(),
            marker: String::new(),
            max_keys: 2,
            delimiter: None,
            is_truncated: true,
            next_marker: Some("b".into()),
            common_prefixes: vec![],
            contents: ["a", "b"]
                .into_iter()
                .map(|k| Contents {
                    key: k.into(),
                    last_modified: "2020-12-10T03:37:30.000Z".into(),
                    etag: "\"abc\"".into(),
                    size: 1,
                    owner: Owner {
                        id: "1".into(),
                        display_name: "1".into(),
                    },
                    storage_class: "STANDARD",
                })
                .collect(),
        });
        assert!(!xml.contains("EncodingType") && !xml.contains("Delimiter"));
        assert!(xml.contains("<IsTruncated>true</IsTruncated><NextMarker>b</NextMarker>"));
        assert_eq!(xml.matches("<Contents>").count(), 2);
        assert!(xml.contains("<Key>a</Key>"));
    }
}
