//! quick-xml (serde) types for the COS XML bodies the client reads and writes:
//! `ListBucketResult`, `<Error>` (API-FACTS §5.2, §5.3) and the multipart upload's
//! `InitiateMultipartUploadResult` and `CompleteMultipartUpload`. quick-xml changes often, so every `quick_xml` path of the
//! client lives here.

use serde::Deserialize;

/// GET Bucket's answer. With `encoding-type=url`, `Key`, `Prefix`, `Marker` and `NextMarker` are
/// percent-encoded; the caller decodes them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListBucketResult {
    #[serde(default)]
    pub(crate) encoding_type: Option<String>,
    #[serde(default)]
    pub(crate) is_truncated: bool,
    #[serde(default)]
    pub(crate) next_marker: Option<String>,
    #[serde(default)]
    pub(crate) contents: Vec<Contents>,
}

/// One `<Contents>` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Contents {
    pub(crate) key: String,
    #[serde(default)]
    pub(crate) last_modified: String,
    #[serde(rename = "ETag", default)]
    pub(crate) etag: String,
    #[serde(default)]
    pub(crate) size: u64,
}

/// `<Error><Code>…</Code><Message>…</Message><RequestId>…</RequestId>…</Error>`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) code: Option<String>,
    #[serde(default)]
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) request_id: Option<String>,
}

/// Initiate Multipart Upload's answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct InitiateMultipartUploadResult {
    pub(crate) upload_id: String,
}

pub(crate) fn initiate_multipart_upload_result(
    xml: &str,
) -> Result<InitiateMultipartUploadResult, quick_xml::DeError> {
    quick_xml::de::from_str(xml)
}

/// The body of Complete Multipart Upload: each part's number and ETag (as UploadPart sent it,
/// quotes included), in order.
pub(crate) fn complete_multipart_upload(parts: &[(u32, String)]) -> String {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (number, etag) in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            quick_xml::escape::escape(etag.as_str())
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    xml
}

pub(crate) fn list_bucket_result(xml: &str) -> Result<ListBucketResult, quick_xml::DeError> {
    quick_xml::de::from_str(xml)
}

/// `None` when the body is empty or not an `<Error>` document.
pub(crate) fn error_body(xml: &str) -> Option<ErrorBody> {
    if xml.trim().is_empty() {
        return None;
    }
    quick_xml::de::from_str(xml).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_bodies_have_cos_shapes() {
        let xml = "<InitiateMultipartUploadResult><Bucket>b-1</Bucket><Key>k</Key>\
                   <UploadId>1585130821cbb7df1d</UploadId></InitiateMultipartUploadResult>";
        assert_eq!(
            initiate_multipart_upload_result(xml).unwrap().upload_id,
            "1585130821cbb7df1d"
        );
        assert_eq!(
            complete_multipart_upload(&[(1, "\"ab\"".into()), (2, "\"cd\"".into())]),
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;ab&quot;</ETag>\
             </Part><Part><PartNumber>2</PartNumber><ETag>&quot;cd&quot;</ETag></Part>\
             </CompleteMultipartUpload>"
        );
    }

    #[test]
    fn parses_the_documented_list_result() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>chat-1250000000</Name><EncodingType>url</EncodingType>
 <Prefix/><Marker/><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter>
 <IsTruncated>true</IsTruncated><NextMarker>b%20c</NextMarker>
 <CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>
 <Contents><Key>a%2Fx</Key><LastModified>2020-12-10T03:37:30.000Z</LastModified>
  <ETag>&quot;md5hex&quot;</ETag><Size>37</Size>
  <Owner><ID>1250000000</ID><DisplayName>1250000000</DisplayName></Owner>
  <StorageClass>STANDARD</StorageClass></Contents>
 <Contents><Key>b%20c</Key><LastModified>x</LastModified><ETag>"e"</ETag><Size>0</Size></Contents>
</ListBucketResult>"#;
        let r = list_bucket_result(xml).unwrap();
        assert!(r.is_truncated);
        assert_eq!(r.encoding_type.as_deref(), Some("url"));
        assert_eq!(r.next_marker.as_deref(), Some("b%20c"));
        assert_eq!(r.contents.len(), 2);
        assert_eq!(r.contents[0].key, "a%2Fx");
        assert_eq!(r.contents[0].etag, "\"md5hex\"");
        assert_eq!(r.contents[0].size, 37);
        let empty = list_bucket_result(
            "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert!(empty.contents.is_empty() && !empty.is_truncated);
    }

    #[test]
    fn parses_error_bodies() {
        let e = error_body(
            "<?xml version='1.0' encoding='utf-8' ?>\n<Error><Code>NoSuchKey</Code>\
             <Message>gone</Message><Resource>r</Resource><RequestId>rid</RequestId>\
             <TraceId>t</TraceId></Error>",
        )
        .unwrap();
        assert_eq!(e.code.as_deref(), Some("NoSuchKey"));
        assert_eq!(e.message.as_deref(), Some("gone"));
        assert_eq!(e.request_id.as_deref(), Some("rid"));
        assert!(error_body("").is_none());
    }
}
