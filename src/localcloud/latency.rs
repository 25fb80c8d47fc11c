//! Latency profiles. SKELETON: the api3 helper fills this in.

/// Per-action delays.
#[derive(Debug, Clone, Default)]
pub struct Profile;

impl Profile {
    /// Parses `--latency`: `none`, `realistic` or a profile file. SKELETON: every profile is
    /// the empty one until the api3 helper's version replaces this file.
    pub fn from_arg(arg: &str) -> Result<Profile, String> {
        match arg {
            "none" | "realistic" => Ok(Profile),
            other => Err(format!(
                "cannot read latency profile {other}: profile files are not supported yet"
            )),
        }
    }
}
