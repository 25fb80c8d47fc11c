//! The `@serverless/tencent-cos` instance → [`Bucket`] (field table [`COS_FIELDS`]).
//!
//! The bucket: lowercase letters, digits and `-`, not starting or ending with `-`, at most 50
//! characters before the `-APPID` suffix; a trailing `-` + 7–12 digits is taken as the APPID.
//! Its region must be the gateway's.

use super::super::diagnostic::{Error, ErrorKind, Source};
use super::super::model::*;
use super::interpolate::Inst;
use super::view::{MapView, same_region, text};

type Result<T> = std::result::Result<T, Error>;

const COS_FIELDS: &[&str] = &["bucket", "region"];

pub(super) fn bucket(
    src: &Source<'_>,
    inst: &Inst<'_>,
    view: &MapView<'_>,
    region: &str,
    origin: &str,
) -> Result<Bucket> {
    view.check_known(src, "an @serverless/tencent-cos instance", COS_FIELDS)?;
    let n = view.required(src, "bucket", "my-bucket-1250000000")?;
    let p = view.path_of("bucket");
    let name = text(src, n, &p)?;
    let (base, appid) = match name.rsplit_once('-') {
        Some((base, digits))
            if (7..=12).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (base, digits.parse::<u64>().ok())
        }
        _ => (name.as_str(), None),
    };
    let problem = if base.is_empty() {
        Some("is empty".to_owned())
    } else if base.len() > 50 {
        Some(format!(
            "is {} characters long (at most 50 before -APPID)",
            base.len()
        ))
    } else if let Some(c) = base
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(if c.is_ascii_uppercase() {
            format!("contains the uppercase letter `{c}`")
        } else {
            format!("contains `{c}`")
        })
    } else if base.starts_with('-') || base.ends_with('-') {
        Some("starts or ends with `-`".to_owned())
    } else {
        None
    };
    if let Some(problem) = problem {
        return Err(Error::at(
            src,
            ErrorKind::InvalidBucketName,
            n.span,
            Some(p),
            format!("invalid bucket name `{name}`: it {problem}"),
        )
        .help(
            "COS bucket names use lowercase letters, digits and `-`, do not start or end with \
             `-`, and may end in `-APPID` (added for you when absent), e.g. `chat-cos`",
        ));
    }
    let r = view.required(src, "region", "ap-guangzhou")?;
    let region = same_region(src, r, &view.path_of("region"), region, origin)?;
    Ok(Bucket {
        instance: inst.name.to_owned(),
        name,
        appid,
        region,
    })
}
