//! The request and answer shapes SCF and API Gateway share: a resource [`Tag`] and a list
//! [`Filter`]. A leaf: the typed clients import it.

use serde::Serialize;

use super::serde_util;

/// A resource tag, `{"Key": …, "Value": …}` (SCF and API Gateway).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Tag key, e.g. `chatstack:stack`.
    #[serde(default, deserialize_with = "serde_util::null_default")]
    pub key: String,
    /// Tag value.
    #[serde(default, deserialize_with = "serde_util::null_default")]
    pub value: String,
}

impl Tag {
    /// A tag.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Tag {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// A `Filters` entry: `{"Name": "tag-chatstack", "Values": ["prod"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// Filter name.
    pub name: String,
    /// Accepted values.
    pub values: Vec<String>,
}

impl Filter {
    /// A filter.
    pub fn new(
        name: impl Into<String>,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Filter {
            name: name.into(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }

    /// `tag-<key>` = `value`, SCF's tag filter.
    pub fn tag(key: &str, value: &str) -> Self {
        Filter::new(format!("tag-{key}"), [value])
    }
}
