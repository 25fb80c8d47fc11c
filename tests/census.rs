//! The referee of the deploy campaigns: everything in a local cloud's account, counted through
//! the official Python SDKs (`tests/python/stack_census.py`), and what the chat stack must look
//! like — exactly the desired stack, or nothing — judged from that census alone.

use std::net::SocketAddr;

use serde_json::Value;

use crate::support::{self, CHAT_APPID};

/// The chat stack's functions.
pub const FUNCTIONS: [&str; 3] = ["ChatReg", "ChatTrans", "ChatClean"];
/// The chat stack's bucket.
pub const BUCKET: &str = "chat-cos-1256773370";

/// One census, as `stack_census.py` printed it.
#[derive(Debug, Clone)]
pub struct Census(pub Value);

/// The ids of a converged stack, to compare runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    pub service_id: String,
    pub api_id: String,
    pub pushback_url: String,
    /// The `chatstack:code-sha256` tag the three functions carry.
    pub code_sha: String,
}

/// Counts everything in the account of the cloud at `addr` (APPID [`CHAT_APPID`]), plus the
/// given buckets, through the official SDKs.
pub fn take(addr: SocketAddr, buckets: &[&str]) -> Census {
    let appid = CHAT_APPID.to_string();
    let out = support::run_python_with(
        addr,
        "stack_census.py",
        buckets,
        &[("CHATSTACK_TEST_APPID", &appid)],
    );
    Census(serde_json::from_slice(&out.stdout).expect("stack_census prints JSON"))
}

fn tag<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v["tags"][key].as_str()
}

impl Census {
    pub fn functions(&self) -> &[Value] {
        self.0["functions"].as_array().map_or(&[], Vec::as_slice)
    }

    pub fn services(&self) -> &[Value] {
        self.0["services"].as_array().map_or(&[], Vec::as_slice)
    }

    /// How many calls the census itself had to resend (fault injection hits it too).
    pub fn retries(&self) -> u64 {
        self.0["retries"].as_u64().unwrap_or(0)
    }

    /// Services carrying `stack`/`stage` tags.
    pub fn services_of(&self, stack: &str, stage: &str) -> Vec<&Value> {
        self.services()
            .iter()
            .filter(|s| {
                tag(s, "chatstack:stack") == Some(stack) && tag(s, "chatstack:stage") == Some(stage)
            })
            .collect()
    }

    /// The function named `name`, if it exists.
    pub fn function(&self, name: &str) -> Option<&Value> {
        self.functions().iter().find(|f| f["name"] == name)
    }

    /// Whether `bucket` exists.
    pub fn bucket_exists(&self, bucket: &str) -> bool {
        !self.0["buckets"][bucket].is_null()
    }

    /// A short summary for failure messages.
    pub fn summary(&self) -> String {
        let fns: Vec<String> = self
            .functions()
            .iter()
            .map(|f| format!("{}:{}", f["name"], f["status"]))
            .collect();
        let svcs: Vec<String> = self
            .services()
            .iter()
            .map(|s| {
                format!(
                    "{}({} {}/{} apis={} released={})",
                    s["id"],
                    s["name"],
                    tag(s, "chatstack:stack").unwrap_or("-"),
                    tag(s, "chatstack:stage").unwrap_or("-"),
                    s["apis"].as_array().map_or(0, Vec::len),
                    s["released"]
                )
            })
            .collect();
        format!(
            "census: functions {fns:?}; services {svcs:?}; buckets {}",
            self.0["buckets"]
        )
    }

    /// Exactly the chat stack (stack `ChatDemo`, stage `stage`, functions `names`, bucket
    /// `bucket`) and nothing else of that stage: one tagged service released to `release` with
    /// one WebSocket API on `/`, the functions `Active`, tagged, carrying one code hash (the `chatstack:code-sha256` tag) and the
    /// API's push-back URL in `url` and `PUSHBACK_URL`, and the bucket.
    pub fn assert_stage(
        &self,
        stage: &str,
        names: &[&str],
        bucket: &str,
        context: &str,
    ) -> Deployed {
        let context = format!("{context}\n{}", self.summary());
        let services = self.services_of("ChatDemo", stage);
        assert_eq!(
            services.len(),
            1,
            "one tagged service for {stage}\n{context}"
        );
        let s = services[0];
        assert_eq!(s["name"], "ChatDemo", "{context}");
        assert_eq!(s["released"], serde_json::json!(["release"]), "{context}");
        let apis = s["apis"].as_array().unwrap();
        assert_eq!(apis.len(), 1, "one API\n{context}");
        let api = &apis[0];
        assert_eq!(api["protocol"], "WEBSOCKET", "{context}");
        assert_eq!(api["path"], "/", "{context}");
        let pushback = api["internalDomain"].as_str().unwrap().to_owned();
        assert!(!pushback.is_empty(), "{context}");
        let mut sha = None;
        for name in names {
            let f = self
                .function(name)
                .unwrap_or_else(|| panic!("{name} missing\n{context}"));
            assert_eq!(f["status"], "Active", "{name}\n{context}");
            assert_eq!(tag(f, "chatstack:stack"), Some("ChatDemo"), "{context}");
            assert_eq!(tag(f, "chatstack:stage"), Some(stage), "{context}");
            assert_eq!(f["env"]["url"], pushback.as_str(), "{name}\n{context}");
            assert_eq!(
                f["env"]["PUSHBACK_URL"],
                pushback.as_str(),
                "{name}\n{context}"
            );
            assert_eq!(f["env"]["bucket"], bucket, "{name}\n{context}");
            // The code a function runs is its tag (kept current through the tag service), and
            // no longer a variable.
            assert!(
                f["env"].get("CHATSTACK_CODE_SHA256").is_none(),
                "{name}\n{context}"
            );
            let this = tag(f, "chatstack:code-sha256")
                .unwrap_or_default()
                .to_owned();
            assert_eq!(this.len(), 64, "{name}\n{context}");
            assert!(
                sha.get_or_insert_with(|| this.clone()) == &this,
                "{context}"
            );
        }
        let of_stage = self
            .functions()
            .iter()
            .filter(|f| tag(f, "chatstack:stage") == Some(stage))
            .count();
        assert_eq!(
            of_stage,
            names.len(),
            "no other function of {stage}\n{context}"
        );
        assert!(self.bucket_exists(bucket), "{context}");
        Deployed {
            service_id: s["id"].as_str().unwrap().to_owned(),
            api_id: api["id"].as_str().unwrap().to_owned(),
            pushback_url: pushback,
            code_sha: sha.unwrap(),
        }
    }

    /// Exactly the chat stack of stage `dev`, and nothing else at all in the account.
    pub fn assert_desired(&self, context: &str) -> Deployed {
        let d = self.assert_stage("dev", &FUNCTIONS, BUCKET, context);
        let context = format!("{context}\n{}", self.summary());
        assert_eq!(self.functions().len(), 3, "{context}");
        assert_eq!(self.services().len(), 1, "{context}");
        d
    }

    /// Nothing at all: no function, no service, and the bucket gone.
    pub fn assert_nothing(&self, context: &str) {
        let context = format!("{context}\n{}", self.summary());
        assert!(self.functions().is_empty(), "{context}");
        assert!(self.services().is_empty(), "{context}");
        assert!(!self.bucket_exists(BUCKET), "{context}");
    }

    /// Part of the stack at most, never twice: at most one service (tagged, one API at most),
    /// only the stack's functions. What an interrupted run may leave.
    pub fn assert_no_duplicates(&self, context: &str) {
        let context = format!("{context}\n{}", self.summary());
        assert!(self.services().len() <= 1, "{context}");
        for s in self.services() {
            assert!(s["apis"].as_array().unwrap().len() <= 1, "{context}");
            assert_eq!(tag(s, "chatstack:stack"), Some("ChatDemo"), "{context}");
        }
        for f in self.functions() {
            assert!(
                FUNCTIONS.contains(&f["name"].as_str().unwrap()),
                "{context}"
            );
        }
    }
}
