//! CAM (`cam`, 2019-01-16): only GetUserAppId, which the deployer uses to learn the APPID that
//! bucket names end with. The account's UIN is made up but stable.

use serde_json::{Map, Value, json};

use super::context::{Ctx, obj};
use super::error::ApiError;

/// The local account's UIN (also its owner UIN: it is a root account).
pub const UIN: &str = "100000000001";

/// The actions we answer.
pub(super) const ACTIONS: &[&str] = &["GetUserAppId"];

pub(super) fn call(ctx: &Ctx) -> Result<Map<String, Value>, ApiError> {
    match ctx.action.as_str() {
        "GetUserAppId" => {
            let appid = ctx.plane.account.appid;
            Ok(obj(json!({ "AppId": appid, "Uin": UIN, "OwnerUin": UIN })))
        }
        other => Err(ApiError::new(
            "InvalidAction",
            format!("unknown action {other}"),
        )),
    }
}
