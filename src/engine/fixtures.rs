//! Hand-built stacks and observed states for the engine's table tests (no network).

use crate::config::{LoadOptions, Outputs, Stack};
use crate::package::Package;
use crate::providers::tencent::Tag;
use crate::providers::tencent::scf::{Environment, FunctionInfo, Variable};

use super::backend::apigw::{Api, Gateway};
use super::observed::{Observed, ObservedBucket, ObservedFunction};
use super::tags;

/// The push-back URL the deployed fixture's API has.
pub(crate) const PUSHBACK: &str = "http://set-abc.apigateway.tencentyun.com/api-1";

/// A chat stack (three bound functions, one with a `${restApi.url}` variable), stage `dev`.
pub(crate) fn stack() -> Stack {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("code")).unwrap();
    let yaml = r#"
myBucket:
  component: cos
  inputs:
    bucket: chat-1250000000
    region: ap-guangzhou
restApi:
  component: apigateway
  inputs:
    region: ap-guangzhou
    serviceName: ChatDemo
    protocols: [http, https]
    endpoints:
      - path: /
        method: GET
        protocol: WEBSOCKET
        serviceTimeout: 800
        function:
          transportFunctionName: ChatTrans
          registerFunctionName: ChatReg
          cleanupFunctionName: ChatClean
ChatReg:
  component: scf
  inputs:
    name: ChatReg
    codeUri: ./code
    handler: reg.main_handler
    runtime: Python3.9
    region: ap-guangzhou
    environment:
      variables:
        bucket: chat-1250000000
        clientUrl: ${restApi.url}
ChatTrans:
  component: scf
  inputs:
    name: ChatTrans
    codeUri: ./code
    handler: trans.main_handler
    runtime: Python3.9
ChatClean:
  component: scf
  inputs:
    name: ChatClean
    codeUri: ./code
    handler: clean.main_handler
    runtime: Python3.9
"#;
    let opts = LoadOptions {
        stage: "dev".to_owned(),
        env: Default::default(),
    };
    crate::config::parse(yaml, &dir.path().join("chatstack.yml"), &opts).unwrap()
}

/// One package per function; all share code `sha`.
pub(crate) fn packages(stack: &Stack, sha: &str) -> Vec<Package> {
    stack
        .functions
        .iter()
        .map(|_| Package {
            zip: Vec::new(),
            sha256: sha.to_owned(),
            file_count: 0,
            files: Vec::new(),
            file_hashes: Default::default(),
            dependencies: None,
        })
        .collect()
}

/// The outputs of the deployed fixture's gateway.
pub(crate) fn outputs() -> Outputs {
    Outputs {
        pushback_url: Some(PUSHBACK.to_owned()),
        client_url: Some("wss://service-abc-125.gz.apigw.tencentcs.com/release/".to_owned()),
        service_id: Some("service-abc".to_owned()),
    }
}

/// Nothing of the stack exists.
pub(crate) fn empty(_stack: &Stack) -> Observed {
    Observed {
        bucket: ObservedBucket {
            name: "chat-1250000000".to_owned(),
            region: "ap-guangzhou".to_owned(),
            exists: false,
        },
        ..Observed::default()
    }
}

/// GetFunction's answer for a function deployed from `stack` with code `sha`.
pub(crate) fn function_info(stack: &Stack, name: &str, sha: &str) -> FunctionInfo {
    let f = stack.functions.iter().find(|f| f.name == name).unwrap();
    let outputs = outputs();
    let variables: Vec<Variable> = f
        .environment
        .iter()
        .map(|v| Variable::new(v.key.clone(), v.value.resolve(&outputs).unwrap()))
        .collect();
    FunctionInfo {
        function_name: f.name.clone(),
        namespace: f.namespace.clone(),
        runtime: f.runtime.clone(),
        handler: f.handler.clone(),
        description: f.description.clone().unwrap_or_default(),
        timeout: f.timeout,
        memory_size: f.memory_size,
        role: f.exec_role.clone().unwrap_or_default(),
        environment: Environment { variables },
        status: "Active".to_owned(),
        tags: vec![
            Tag::new(tags::STACK, &stack.name),
            Tag::new(tags::STAGE, &stack.stage),
            Tag::new(tags::CODE_SHA256, sha),
        ],
        ..FunctionInfo::default()
    }
}

/// Everything of `stack` deployed with code `sha` and in step with the file.
pub(crate) fn deployed(stack: &Stack, sha: &str) -> Observed {
    let mut o = empty(stack);
    o.bucket.exists = true;
    o.functions = stack
        .functions
        .iter()
        .map(|f| ObservedFunction {
            name: f.name.clone(),
            role: f.role,
            status: Some("Active".to_owned()),
            code_sha256: Some(sha.to_owned()),
            deps_sha256: None,
            detail: Some(function_info(stack, &f.name, sha)),
        })
        .collect();
    o.entry = Some(gateway(stack).entry(stack));
    o
}

/// The deployed fixture's API Gateway service, API and release.
pub(crate) fn gateway(_stack: &Stack) -> Gateway {
    Gateway {
        service_id: "service-abc".to_owned(),
        outer_sub_domain: "service-abc-125.gz.apigw.tencentcs.com".to_owned(),
        protocol: "http&https".to_owned(),
        tagged: true,
        secure: true,
        api: Some(Api {
            api_id: "api-1".to_owned(),
            path: "/".to_owned(),
            timeout: 800,
            internal_domain: Some(PUSHBACK.to_owned()),
            register: Some("ChatReg".to_owned()),
            transport: Some("ChatTrans".to_owned()),
            cleanup: Some("ChatClean".to_owned()),
        }),
        released: vec!["release".to_owned()],
    }
}

/// `o` with its gateway changed by `f`.
pub(crate) fn with_gateway(stack: &Stack, o: &mut Observed, f: impl FnOnce(&mut Gateway)) {
    let mut g = gateway(stack);
    f(&mut g);
    o.entry = Some(g.entry(stack));
}

/// The function `name` of `o`.
pub(crate) fn function<'a>(o: &'a mut Observed, name: &str) -> &'a mut FunctionInfo {
    o.functions
        .iter_mut()
        .find(|f| f.name == name)
        .and_then(|f| f.detail.as_mut())
        .unwrap()
}

/// `(resource, action, fields)` of each change, for comparing with a table.
pub(crate) fn summary(changes: &[super::plan::Change]) -> Vec<(String, String, Vec<String>)> {
    changes
        .iter()
        .map(|c| (c.resource.clone(), c.action.to_string(), c.fields.clone()))
        .collect()
}

/// A table row.
pub(crate) fn row(resource: &str, action: &str, fields: &[&str]) -> (String, String, Vec<String>) {
    (
        resource.to_owned(),
        action.to_owned(),
        fields.iter().map(|f| (*f).to_owned()).collect(),
    )
}

/// A cloud that is never called (graphs are built, not run).
pub(crate) fn cloud() -> crate::providers::tencent::TencentCloud {
    let creds = crate::providers::tencent::Credentials::new(
        "AKIDtest",
        crate::secret::Secret::new("not-a-key"),
        None,
    );
    let endpoint = url::Url::parse("http://127.0.0.1:9").unwrap();
    crate::providers::tencent::TencentCloud::new(creds, "ap-guangzhou", Some(endpoint)).unwrap()
}
