//! Stack-file tests: our chat stack (`tests/fixtures/chat-demo/`) and, where its files are at
//! hand, the article's, parse into the expected stack; each invalid file fails with the right
//! kind at the right place (tables in the manner of just's `analysis_error!`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;

/// Where [`BASE`] is parsed: `functions/chat/`, whose `code/` holds the project's own chat
/// functions (and whose `chatstack.yml` is a file that is not a directory).
fn base_dir() -> PathBuf {
    crate::test_support::manifest_dir().join("functions/chat")
}

fn opts() -> LoadOptions {
    LoadOptions {
        stage: "dev".to_owned(),
        env: BTreeMap::from([("CHAT_SUFFIX".to_owned(), "x1".to_owned())]),
    }
}

/// A valid stack in the article's shape, resolved as if it sat in [`base_dir`], beside
/// `code/`.
const BASE: &str = r#"Conf:
  component: serverless-global
  inputs:
    region: ap-guangzhou
    bucket: chat-cos-1256773370
    secret_id:
    secret_key:

myBucket:
  component: cos
  inputs:
    bucket: ${Conf.bucket}
    region: ${Conf.region}

restApi:
  component: apigateway
  inputs:
    region: ${Conf.region}
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
    runtime: Python3.6
    region: ${Conf.region}
    environment:
      variables:
        bucket: ${Conf.bucket}

ChatTrans:
  component: scf
  inputs:
    name: ChatTrans
    codeUri: ./code
    handler: trans.main_handler
    runtime: Python3.6

ChatClean:
  component: scf
  inputs:
    name: ChatClean
    codeUri: ./code
    handler: clean.main_handler
    runtime: Python3.6
"#;

fn parse_in_base(yaml: &str, opts: &LoadOptions) -> Result<Stack, Error> {
    parse(yaml, &base_dir().join("stack.yml"), opts)
}

#[test]
fn base_is_valid() {
    let stack = parse_in_base(BASE, &opts()).unwrap();
    assert_eq!(stack.functions.len(), 3);
    assert!(stack.warnings.is_empty(), "{:?}", stack.warnings);
}

/// The article's stack file, as the article wrote it.
#[test]
fn seed_stack_file() {
    let Some(seed) = crate::test_support::article_dir("config::tests::seed_stack_file") else {
        return;
    };
    let path = seed.join("serverless.yml");
    check_chat_stack(&path, "Python3.6", "./code", "serverless.yml:49:14", None);
}

/// Our own stack file in the article's shape (`tests/fixtures/chat-demo/`), deploying the
/// project's chat functions: the same stack as the article's, to the line of each warning.
#[test]
fn chat_demo_stack_file() {
    let path = crate::test_support::fixture("chat-demo/serverless.yml");
    let code_uri = "../../../functions/chat/code";
    check_chat_stack(
        &path,
        "Python3.9",
        code_uri,
        "serverless.yml:57:14",
        Some("ChatDemo-chat"),
    );
    let code = crate::test_support::manifest_dir().join("functions/chat/code");
    let stack = load(&path, &opts()).unwrap();
    assert_eq!(
        stack.functions[0].code_dir.canonicalize().unwrap(),
        code.canonicalize().unwrap()
    );
}

/// `path` (a stack in the article's shape, its keys left empty) parses into the article's
/// stack: `ChatDemo`, bucket `chat-cos-1256773370`, the three functions with `runtime` and
/// their code in `code_uri` (as written, relative to the file), and one warning per function
/// for its hard-coded push-back `url`, the first at `first_warning` (`FILE:LINE:COLUMN`).
fn check_chat_stack(
    path: &Path,
    runtime: &str,
    code_uri: &str,
    first_warning: &str,
    exec_role: Option<&str>,
) {
    let stack = load(path, &opts()).unwrap();
    assert_eq!(stack.name, "ChatDemo");
    assert_eq!(stack.stage, "dev");
    assert_eq!(stack.region, "ap-guangzhou");
    assert!(stack.file_credentials.is_none());
    assert_eq!(
        stack.bucket,
        Bucket {
            instance: "myBucket".to_owned(),
            name: "chat-cos-1256773370".to_owned(),
            appid: Some(1_256_773_370),
            region: "ap-guangzhou".to_owned(),
        }
    );
    assert_eq!(stack.bucket.full_name(1), "chat-cos-1256773370");
    let gw = &stack.gateway;
    assert_eq!(gw.instance, "restApi");
    assert_eq!(gw.service_name, "ChatDemo");
    assert_eq!(gw.protocols, vec![Protocol::Http, Protocol::Https]);
    assert_eq!(gw.protocol_value(), "http&https");
    assert_eq!(gw.environment, "release");
    assert_eq!(
        gw.websocket,
        WebSocketEndpoint {
            path: "/".to_owned(),
            timeout: 800,
            register: "ChatReg".to_owned(),
            transport: "ChatTrans".to_owned(),
            cleanup: "ChatClean".to_owned(),
        }
    );

    let expect = [
        ("ChatReg", FunctionRole::Register, "reg.main_handler"),
        ("ChatTrans", FunctionRole::Transport, "trans.main_handler"),
        ("ChatClean", FunctionRole::Cleanup, "clean.main_handler"),
    ];
    assert_eq!(stack.functions.len(), 3);
    let code_dir = std::path::absolute(path.parent().unwrap().join(code_uri)).unwrap();
    let code_dir: PathBuf = code_dir
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    for (f, (name, role, handler)) in stack.functions.iter().zip(expect) {
        assert_eq!(f.instance, name);
        assert_eq!(f.name, name);
        assert_eq!(f.role, Some(role));
        assert_eq!(f.handler, handler);
        assert_eq!(f.runtime, runtime);
        assert_eq!(f.region, "ap-guangzhou");
        assert_eq!(f.namespace, "default");
        assert_eq!(f.timeout, 3);
        assert_eq!(f.memory_size, 128);
        assert_eq!(f.exec_role.as_deref(), exec_role);
        assert_eq!(f.code_dir, code_dir);
        assert!(f.code_dir.join("reg.py").is_file());
        assert!(f.handler_location.contains("serverless.yml:"));
        let env: Vec<(&str, &Value, bool)> = f
            .environment
            .iter()
            .map(|v| (v.key.as_str(), &v.value, v.sensitive))
            .collect();
        let pushback = Value(vec![Segment::Deferred(Deferred::PushbackUrl)]);
        assert_eq!(
            env,
            vec![
                ("region", &Value::literal("ap-guangzhou"), false),
                ("bucket", &Value::literal("chat-cos-1256773370"), false),
                ("secret_id", &Value::literal(""), true),
                ("secret_key", &Value::literal(""), true),
                ("url", &pushback, false),
                ("PUSHBACK_URL", &pushback, false),
            ]
        );
    }
    // One warning per hard-coded push-back URL, pointing at it, naming the gateway instance.
    assert_eq!(stack.warnings.len(), 3, "{:#?}", stack.warnings);
    let w = &stack.warnings[0];
    assert!(w.location.ends_with(first_warning), "{}", w.location);
    assert!(
        w.message.contains("${restApi.internalDomain}"),
        "{}",
        w.message
    );
    assert!(
        w.message
            .contains("ChatReg.inputs.environment.variables.url")
    );
}

#[test]
fn outputs_and_chained_references() {
    let yaml = BASE
        .replace(
            "    secret_key:\n",
            "    secret_key:\n    pushback: ${restApi.url[0].internalDomain}\n    \
             names: {bucket: '${myBucket.bucket}'}\n    list: [a, {b: '${stage}'}]\n",
        )
        .replace(
            "        bucket: ${Conf.bucket}\n",
            "        bucket: ${Conf.names.bucket}\n        P: ${Conf.pushback}\n        \
             A: ${restApi.apis.0.internalDomain}\n        C: 'ws ${restApi.url} ${restApi.serviceId}'\n        \
             S: ${Conf.list.1.b}-${env:CHAT_SUFFIX}\n        PUSHBACK_URL: custom\n",
        );
    let stack = parse_in_base(&yaml, &opts()).unwrap();
    let f = &stack.functions[0];
    let get = |k: &str| &f.environment.iter().find(|v| v.key == k).unwrap().value;
    assert_eq!(get("bucket"), &Value::literal("chat-cos-1256773370"));
    let pushback = Value(vec![Segment::Deferred(Deferred::PushbackUrl)]);
    assert_eq!(get("P"), &pushback);
    assert_eq!(get("A"), &pushback);
    assert_eq!(
        get("C"),
        &Value(vec![
            Segment::Literal("ws ".to_owned()),
            Segment::Deferred(Deferred::ClientUrl),
            Segment::Literal(" ".to_owned()),
            Segment::Deferred(Deferred::ServiceId),
        ])
    );
    assert_eq!(get("S"), &Value::literal("dev-x1"));
    // The user's own PUSHBACK_URL is kept and not duplicated.
    assert_eq!(get("PUSHBACK_URL"), &Value::literal("custom"));
    assert_eq!(
        f.environment
            .iter()
            .filter(|v| v.key == "PUSHBACK_URL")
            .count(),
        1
    );
    // Functions not in the file's variables still get it.
    assert_eq!(stack.functions[1].environment.len(), 1);
    assert_eq!(stack.functions[1].environment[0].value, pushback);
}

#[test]
fn reference_fan_out_is_bounded() {
    // v40 would be 2^40 bytes: refused once a value passes 64 KiB (v17), quickly.
    let mut conf = String::from("    v0: x\n");
    for i in 1..=40 {
        conf.push_str(&format!(
            "    v{i}: ${{Conf.v{}}}${{Conf.v{}}}\n",
            i - 1,
            i - 1
        ));
    }
    let yaml = BASE.replace("    secret_key:\n", &format!("    secret_key:\n{conf}"));
    let start = std::time::Instant::now();
    let e = parse_in_base(&yaml, &opts()).unwrap_err();
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert_eq!((e.line(), e.column()), (Some(25), Some(10)), "{e}");
    assert_eq!(e.yaml_path(), Some("Conf.inputs.v17"));
}

#[test]
fn credentials_in_file_and_secrets_in_functions() {
    let yaml = BASE
        .replace("    secret_id:\n", "    secret_id: AKIDexample\n")
        .replace("    secret_key:\n", "    secret_key: '${env:SK}'\n")
        .replace(
            "        bucket: ${Conf.bucket}\n",
            "        bucket: ${Conf.bucket}\n        KEY: ${Conf.secret_key}\n        \
             DB_PASSWORD: hunter2\n        EMPTY_TOKEN: ''\n",
        );
    let mut o = opts();
    o.env.insert("SK".to_owned(), "s3cr3t".to_owned());
    let stack = parse_in_base(&yaml, &o).unwrap();
    let creds = stack.file_credentials.as_ref().unwrap();
    assert_eq!(creds.secret_id, "AKIDexample");
    assert_eq!(creds.secret_key.expose(), "s3cr3t");
    let env = &stack.functions[0].environment;
    let var = |k: &str| env.iter().find(|v| v.key == k).unwrap();
    assert!(var("KEY").sensitive);
    assert_eq!(var("KEY").display_value(), "** redacted **");
    assert!(var("DB_PASSWORD").sensitive);
    assert!(!var("bucket").sensitive);
    let messages: Vec<&str> = stack.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(messages[0].contains("KEY") && messages[0].contains("execution role"));
    assert!(messages[1].contains("DB_PASSWORD"));
    assert!(messages[2].contains("credentials"));
    assert!(!format!("{stack:?}").contains("s3cr3t"));
}

#[test]
fn defaults_and_options() {
    let yaml = BASE
        .replace("component: scf\n", "component: '@serverless/tencent-scf@0.2.0'\n")
        .replace(
            "    runtime: Python3.6\n    region",
            "    runtime: Python3.9\n    timeout: 900\n    memorySize: 64\n    namespace: chat\n    \
             role: SCF_ChatRole\n    description: chat register\n    exclude: ['*.md', tests/]\n    region",
        );
    let stack = parse_in_base(&yaml, &opts()).unwrap();
    let f = &stack.functions[0];
    assert_eq!((f.timeout, f.memory_size), (900, 64));
    assert_eq!(f.namespace, "chat");
    assert_eq!(f.runtime, "Python3.9");
    assert_eq!(f.exec_role.as_deref(), Some("SCF_ChatRole"));
    assert_eq!(f.description.as_deref(), Some("chat register"));
    assert_eq!(f.exclude, vec!["*.md".to_owned(), "tests/".to_owned()]);
    assert_eq!(stack.functions[1].memory_size, 128);
}

#[test]
fn unbound_function_is_deployed_with_a_warning() {
    let yaml = format!(
        "{BASE}\nHelper:\n  component: scf\n  inputs:\n    name: ChatHelper\n    \
         codeUri: ./code\n    handler: reg.main_handler\n    runtime: Python3.6\n"
    );
    let stack = parse_in_base(&yaml, &opts()).unwrap();
    let f = &stack.functions[3];
    assert_eq!((f.name.as_str(), f.role), ("ChatHelper", None));
    assert!(
        f.environment.is_empty(),
        "no PUSHBACK_URL for unbound functions"
    );
    assert_eq!(stack.warnings.len(), 1);
    assert!(stack.warnings[0].location.ends_with("stack.yml:62:11"));
    assert!(stack.warnings[0].message.contains("not bound"));
}

#[test]
fn bucket_without_appid() {
    let yaml = BASE.replace("bucket: chat-cos-1256773370", "bucket: chat-cos");
    let stack = parse_in_base(&yaml, &opts()).unwrap();
    assert_eq!(stack.bucket.appid, None);
    assert_eq!(stack.bucket.full_name(1_250_000_000), "chat-cos-1250000000");
}

#[test]
fn chinese_text_before_an_error_keeps_columns_in_characters() {
    let yaml = BASE
        .replace(
            "    region: ap-guangzhou\n",
            "    note: 你好世界\n    region: ap-guangzhou\n",
        )
        .replace(
            "    name: ChatReg\n",
            "    description: 聊天 ${Conf.nope}\n    name: ChatReg\n",
        );
    let e = parse_in_base(&yaml, &opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnknownReference);
    assert_eq!((e.line(), e.column()), (Some(35), Some(21)));
}

#[test]
fn io_error_names_the_file() {
    let e = load(Path::new("/nonexistent/chatstack.yml"), &opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(e.line(), None);
    assert!(e.to_string().contains("/nonexistent/chatstack.yml"));
}

#[test]
fn not_a_stack() {
    for (src, kind, line) in [
        ("", ErrorKind::MissingInstance, 1),
        ("# only a comment\n", ErrorKind::MissingInstance, 2),
        ("- a\n- b\n", ErrorKind::WrongType, 1),
        ("Conf: 3\n", ErrorKind::WrongType, 1),
    ] {
        let e = parse(src, Path::new("x.yml"), &opts()).unwrap_err();
        assert_eq!((e.kind(), e.line()), (kind, Some(line)), "{src:?}: {e}");
        assert!(e.help_text().is_some(), "{e}");
    }
}

#[test]
fn invalid_stage() {
    let mut o = opts();
    o.stage = "Prod".to_owned();
    let e = parse_in_base(BASE, &o).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidStage);
    assert_eq!(e.line(), None);
}

#[test]
fn suggestions() {
    let cases = [
        (("component: cos", "component: coss"), "did you mean `cos`?"),
        (
            ("handler: reg.main_handler", "handlr: reg.main_handler"),
            "did you mean `handler`?",
        ),
        (
            (
                "bucket: ${Conf.bucket}\n    region",
                "bucket: ${Conf.bukcet}\n    region",
            ),
            "did you mean `bucket`?",
        ),
        (
            (
                "region: ${Conf.region}\n\nrestApi",
                "region: ${Cnof.region}\n\nrestApi",
            ),
            "did you mean `Conf`?",
        ),
        (
            (
                "runtime: Python3.6\n    region",
                "runtime: python3.6\n    region",
            ),
            "did you mean `Python3.6`?",
        ),
        (
            (
                "registerFunctionName: ChatReg",
                "registerFunctionName: ChatRge",
            ),
            "did you mean `ChatReg`?",
        ),
        (
            (
                "        bucket: ${Conf.bucket}",
                "        url: ${restApi.internalDomian}",
            ),
            "did you mean `internalDomain`?",
        ),
    ];
    for ((from, to), help) in cases {
        assert!(BASE.contains(from), "{from}");
        let e = parse_in_base(&BASE.replacen(from, to, 1), &opts()).unwrap_err();
        assert_eq!(e.help_text(), Some(help), "{e}");
    }
}

/// `name: edit => Kind at (line, column) path` — the edit is applied to [`BASE`].
macro_rules! stack_error {
    ($($name:ident: [$(($from:expr, $to:expr)),+ $(,)?] => $kind:ident at ($line:expr, $col:expr) $path:expr;)+) => {
        $(
            #[test]
            fn $name() {
                let mut yaml = BASE.to_owned();
                $(
                    assert!(yaml.contains($from), "edit {:?} does not apply", $from);
                    yaml = yaml.replacen($from, $to, 1);
                )+
                let e = parse_in_base(&yaml, &opts()).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::$kind, "{e}");
                assert_eq!((e.line(), e.column()), (Some($line), Some($col)), "{e}");
                let path: Option<&str> = $path;
                assert_eq!(e.yaml_path(), path, "{e}");
                assert!(e.help_text().is_some(), "no help: {e}");
                // The rendered error names the file, line and column.
                assert!(e.to_string().contains(&format!("stack.yml:{}:{}", $line, $col)), "{e}");
            }
        )+
    };
}

stack_error! {
    unknown_component: [("component: cos", "component: coss")]
        => UnknownComponent at (10, 14) Some("myBucket.component");
    unknown_component_long_name: [("component: apigateway", "component: '@serverless/tencent-apigw'")]
        => UnknownComponent at (16, 14) Some("restApi.component");
    misspelled_handler_key: [("handler: reg.main_handler", "handlr: reg.main_handler")]
        => UnknownField at (36, 5) Some("ChatReg.inputs.handlr");
    misspelled_inputs_key: [("  inputs:\n    name: ChatReg", "  inptus:\n    name: ChatReg")]
        => UnknownField at (33, 3) Some("ChatReg.inptus");
    unknown_endpoint_field: [("        serviceTimeout: 800", "        timeout: 800")]
        => UnknownField at (25, 9) Some("restApi.inputs.endpoints.0.timeout");
    tab_indentation: [("\n    name: ChatTrans", "\n\tname: ChatTrans")]
        => Syntax at (46, 1) None;
    unclosed_flow_list: [("[http, https]", "[http, https")]
        => Syntax at (21, 14) None;
    unclosed_quote: [("serviceName: ChatDemo", "serviceName: \"ChatDemo")]
        => Syntax at (19, 18) None;
    timeout_not_a_number: [("runtime: Python3.6\n    region", "runtime: Python3.6\n    timeout: fast\n    region")]
        => WrongType at (38, 14) Some("ChatReg.inputs.timeout");
    timeout_too_long: [("runtime: Python3.6\n    region", "runtime: Python3.6\n    timeout: 901\n    region")]
        => InvalidTimeout at (38, 14) Some("ChatReg.inputs.timeout");
    timeout_zero: [("runtime: Python3.6\n    region", "runtime: Python3.6\n    timeout: 0\n    region")]
        => InvalidTimeout at (38, 14) Some("ChatReg.inputs.timeout");
    memory_not_a_step: [("runtime: Python3.6\n    region", "runtime: Python3.6\n    memorySize: 100\n    region")]
        => InvalidMemorySize at (38, 17) Some("ChatReg.inputs.memorySize");
    memory_too_large: [("runtime: Python3.6\n    region", "runtime: Python3.6\n    memorySize: 3200\n    region")]
        => InvalidMemorySize at (38, 17) Some("ChatReg.inputs.memorySize");
    duplicate_key: [("    name: ChatTrans\n", "    name: ChatTrans\n    name: ChatTrans2\n")]
        => DuplicateKey at (47, 5) Some("ChatTrans.inputs.name");
    duplicate_instance_key: [("ChatClean:\n", "ChatTrans:\n")]
        => DuplicateKey at (51, 1) Some("ChatTrans");
    missing_code_dir: [("codeUri: ./code\n    handler: clean", "codeUri: ./nope\n    handler: clean")]
        => CodeUriNotFound at (55, 14) Some("ChatClean.inputs.codeUri");
    code_uri_is_a_file: [("codeUri: ./code\n    handler: clean", "codeUri: ./chatstack.yml\n    handler: clean")]
        => CodeUriNotFound at (55, 14) Some("ChatClean.inputs.codeUri");
    unknown_runtime: [("trans.main_handler\n    runtime: Python3.6", "trans.main_handler\n    runtime: Python3.8")]
        => UnknownRuntime at (49, 14) Some("ChatTrans.inputs.runtime");
    retired_runtime: [("trans.main_handler\n    runtime: Python3.6", "trans.main_handler\n    runtime: Nodejs8.9")]
        => UnknownRuntime at (49, 14) Some("ChatTrans.inputs.runtime");
    function_name_starts_with_digit: [("name: ChatReg", "name: 1ChatReg")]
        => InvalidFunctionName at (34, 11) Some("ChatReg.inputs.name");
    function_name_ends_with_dash: [("name: ChatClean", "name: ChatClean-")]
        => InvalidFunctionName at (54, 11) Some("ChatClean.inputs.name");
    function_name_with_dot: [("name: ChatClean", "name: chat.clean")]
        => InvalidFunctionName at (54, 11) Some("ChatClean.inputs.name");
    function_name_too_long: [("name: ChatClean", "name: ChatCleanChatCleanChatCleanChatCleanChatCleanChatCleanChatClean")]
        => InvalidFunctionName at (54, 11) Some("ChatClean.inputs.name");
    duplicate_function_name: [("name: ChatClean", "name: ChatTrans")]
        => DuplicateFunction at (54, 11) Some("ChatClean.inputs.name");
    bucket_with_uppercase_through_reference: [("bucket: chat-cos-1256773370", "bucket: Chat_Cos-1256773370")]
        => InvalidBucketName at (12, 13) Some("myBucket.inputs.bucket");
    bucket_ending_with_dash: [("bucket: chat-cos-1256773370", "bucket: chat-cos-")]
        => InvalidBucketName at (12, 13) Some("myBucket.inputs.bucket");
    misspelled_reference: [("bucket: ${Conf.bucket}\n    region", "bucket: ${Conf.bukcet}\n    region")]
        => UnknownReference at (12, 13) Some("myBucket.inputs.bucket");
    unknown_instance_in_reference: [("region: ${Conf.region}\n\nrestApi", "region: ${Cnof.region}\n\nrestApi")]
        => UnknownInstance at (13, 13) Some("myBucket.inputs.region");
    unset_env: [("        bucket: ${Conf.bucket}", "        bucket: ${env:CHAT_BUCKET}")]
        => UnsetEnv at (41, 17) Some("ChatReg.inputs.environment.variables.bucket");
    unset_env_inside_text: [("        bucket: ${Conf.bucket}", "        bucket: chat-${env:CHAT_BUCKET}-x")]
        => UnsetEnv at (41, 22) Some("ChatReg.inputs.environment.variables.bucket");
    unset_env_in_quoted_text: [("        bucket: ${Conf.bucket}", "        bucket: \"chat-${env:CHAT_BUCKET}\"")]
        => UnsetEnv at (41, 23) Some("ChatReg.inputs.environment.variables.bucket");
    unclosed_reference: [("region: ${Conf.region}\n\nrestApi", "region: ${Conf.region\n\nrestApi")]
        => BadInterpolation at (13, 13) Some("myBucket.inputs.region");
    reference_cycle: [("    secret_key:\n", "    secret_key:\n    a: ${Conf.b}\n    b: ${Conf.a}\n")]
        => ReferenceCycle at (9, 8) Some("Conf.inputs.b");
    reference_to_an_ancestor: [("    secret_key:\n", "    secret_key:\n    a:\n      b: ${Conf.a}\n")]
        => ReferenceCycle at (9, 10) Some("Conf.inputs.a.b");
    self_reference: [("    secret_key:\n", "    secret_key:\n    a: x${Conf.a}\n")]
        => ReferenceCycle at (8, 9) Some("Conf.inputs.a");
    two_websocket_endpoints: [("          cleanupFunctionName: ChatClean\n", "          cleanupFunctionName: ChatClean\n      - path: /two\n        protocol: WEBSOCKET\n")]
        => MultipleWebSocketEndpoints at (31, 19) Some("restApi.inputs.endpoints.1.protocol");
    http_endpoint: [("protocol: WEBSOCKET", "protocol: HTTP")]
        => UnsupportedEndpoint at (24, 19) Some("restApi.inputs.endpoints.0.protocol");
    unknown_gateway_field: [("    endpoints:\n      - path: /", "    endpoints: []\n    old:\n      - path: /")]
        => UnknownField at (22, 5) Some("restApi.inputs.old");
    no_websocket_endpoint: [("    endpoints:\n      - path: /\n        method: GET\n        protocol: WEBSOCKET\n        serviceTimeout: 800\n        function:\n          transportFunctionName: ChatTrans\n          registerFunctionName: ChatReg\n          cleanupFunctionName: ChatClean\n", "    endpoints: []\n")]
        => NoWebSocketEndpoint at (21, 16) Some("restApi.inputs.endpoints");
    websocket_method_post: [("method: GET", "method: POST")]
        => InvalidWsMethod at (23, 17) Some("restApi.inputs.endpoints.0.method");
    endpoint_names_undefined_function: [("registerFunctionName: ChatReg", "registerFunctionName: ChatRegister")]
        => UnknownFunction at (28, 33) Some("restApi.inputs.endpoints.0.function.registerFunctionName");
    endpoint_misses_a_function: [("          cleanupFunctionName: ChatClean\n", "")]
        => MissingField at (26, 9) Some("restApi.inputs.endpoints.0.function.cleanupFunctionName");
    one_function_two_roles: [("cleanupFunctionName: ChatClean", "cleanupFunctionName: ChatReg")]
        => InvalidValue at (29, 32) Some("restApi.inputs.endpoints.0.function.cleanupFunctionName");
    service_timeout_zero: [("serviceTimeout: 800", "serviceTimeout: 0")]
        => InvalidValue at (25, 25) Some("restApi.inputs.endpoints.0.serviceTimeout");
    mismatched_region: [("    region: ${Conf.region}\n    environment", "    region: ap-shanghai\n    environment")]
        => RegionMismatch at (38, 13) Some("ChatReg.inputs.region");
    malformed_region: [("region: ap-guangzhou", "region: Guangzhou")]
        => InvalidRegion at (18, 13) Some("restApi.inputs.region");
    reserved_env_prefix: [("        bucket: ${Conf.bucket}", "        bucket: ${Conf.bucket}\n        SCF_MODE: fast")]
        => ReservedEnvKey at (42, 9) Some("ChatReg.inputs.environment.variables.SCF_MODE");
    reserved_env_prefix_tencentcloud: [("        bucket: ${Conf.bucket}", "        TENCENTCLOUD_REGION: x")]
        => ReservedEnvKey at (41, 9) Some("ChatReg.inputs.environment.variables.TENCENTCLOUD_REGION");
    invalid_env_key: [("        bucket: ${Conf.bucket}", "        chat-bucket: x")]
        => InvalidEnvKey at (41, 9) Some("ChatReg.inputs.environment.variables.chat-bucket");
    env_over_4kb: [("        bucket: ${Conf.bucket}", &format!("        big: {}", "x".repeat(5000)))]
        => EnvTooLarge at (39, 5) Some("ChatReg.inputs.environment.variables");
    env_list_instead_of_map: [("        bucket: ${Conf.bucket}", "        - bucket")]
        => WrongType at (41, 9) Some("ChatReg.inputs.environment.variables");
    deferred_output_in_handler: [("handler: reg.main_handler", "handler: ${restApi.internalDomain}")]
        => DeferredNotAllowed at (36, 14) Some("ChatReg.inputs.handler");
    deferred_output_through_conf: [("bucket: ${Conf.bucket}\n    region", "bucket: ${Conf.gw}\n    region"), ("    secret_key:\n", "    secret_key:\n    gw: ${restApi.url}\n")]
        => DeferredNotAllowed at (13, 13) Some("myBucket.inputs.bucket");
    handler_without_function: [("handler: reg.main_handler", "handler: reg")]
        => InvalidHandler at (36, 14) Some("ChatReg.inputs.handler");
    handler_list: [("handler: reg.main_handler", "handler: [reg.main_handler]")]
        => WrongType at (36, 14) Some("ChatReg.inputs.handler");
    missing_handler: [("    handler: trans.main_handler\n", "")]
        => MissingField at (45, 3) Some("ChatTrans.inputs.handler");
    missing_component: [("  component: scf\n  inputs:\n    name: ChatClean", "  inputs:\n    name: ChatClean")]
        => MissingField at (51, 1) Some("ChatClean.component");
    no_bucket_instance: [("myBucket:\n  component: cos\n", "myBucket:\n  component: scf\n")]
        => MissingInstance at (1, 1) None;
    two_buckets: [("restApi:\n", "other:\n  component: cos\n  inputs: {bucket: b, region: ap-guangzhou}\n\nrestApi:\n")]
        => DuplicateInstance at (15, 1) Some("other");
    top_level_scalar: [("Conf:\n", "name: chat\nConf:\n")]
        => WrongType at (1, 1) Some("name");
    bad_protocol: [("[http, https]", "[http, wss]")]
        => InvalidValue at (20, 23) Some("restApi.inputs.protocols.1");
    inputs_not_a_mapping: [("  inputs:\n    name: ChatClean\n    codeUri: ./code\n    handler: clean.main_handler\n    runtime: Python3.6", "  inputs: 3")]
        => WrongType at (53, 11) Some("ChatClean.inputs");
    endpoint_not_a_mapping: [("      - path: /\n", "      - /\n      - path: /\n")]
        => WrongType at (22, 9) Some("restApi.inputs.endpoints.0");
    exclude_not_a_list: [("    runtime: Python3.6\n    region", "    runtime: Python3.6\n    exclude: '*.md'\n    region")]
        => WrongType at (38, 14) Some("ChatReg.inputs.exclude");
    env_value_is_a_list_through_reference: [("        bucket: ${Conf.bucket}", "        bucket: ${restApi.endpoints}")]
        => WrongType at (41, 17) Some("ChatReg.inputs.environment.variables.bucket");
    list_embedded_in_a_string: [("        bucket: ${Conf.bucket}", "        bucket: a${restApi.endpoints}")]
        => BadInterpolation at (41, 18) Some("ChatReg.inputs.environment.variables.bucket");
    reference_to_a_whole_instance: [("        bucket: ${Conf.bucket}", "        bucket: ${Conf}")]
        => BadInterpolation at (41, 17) Some("ChatReg.inputs.environment.variables.bucket");
    empty_env_reference: [("        bucket: ${Conf.bucket}", "        bucket: ${env:}")]
        => BadInterpolation at (41, 17) Some("ChatReg.inputs.environment.variables.bucket");
    reference_into_a_single_value: [("        bucket: ${Conf.bucket}", "        bucket: ${Conf.region.x}")]
        => UnknownReference at (41, 17) Some("ChatReg.inputs.environment.variables.bucket");
    misspelled_stage: [("        bucket: ${Conf.bucket}", "        bucket: ${stge}")]
        => UnknownInstance at (41, 17) Some("ChatReg.inputs.environment.variables.bucket");
    bad_release_environment: [("    serviceName: ChatDemo\n", "    serviceName: ChatDemo\n    environment: prod\n")]
        => InvalidValue at (20, 18) Some("restApi.inputs.environment");
}

#[test]
fn rendered_diagnostics() {
    let cases = [
        (
            "unknown_reference",
            BASE.replacen(
                "bucket: ${Conf.bucket}\n    region",
                "bucket: ${Conf.bukcet}\n    region",
                1,
            ),
        ),
        ("ws_method", BASE.replacen("method: GET", "method: POST", 1)),
        (
            "tab",
            BASE.replacen("\n    name: ChatTrans", "\n\tname: ChatTrans", 1),
        ),
    ];
    for (name, yaml) in cases {
        let e = parse(&yaml, Path::new("stack.yml"), &opts()).unwrap_err();
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(100)
            .render_report(&mut out, &e)
            .unwrap();
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn rendered_diagnostic_with_paths_redacted() {
    let yaml = BASE.replacen("codeUri: ./code", "codeUri: ./cdoe", 1);
    let e = parse_in_base(&yaml, &opts()).unwrap_err();
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(1000)
        .render_report(&mut out, &e)
        .unwrap();
    let base = base_dir().display().to_string();
    let absolute = std::path::absolute(base_dir())
        .unwrap()
        .display()
        .to_string();
    // Wide enough that the machine-dependent path never wraps.
    let one_line = e
        .to_string()
        .replace(&absolute, "[BASE]")
        .replace(&base, "[BASE]");
    assert_eq!(
        one_line,
        "[BASE]/stack.yml:35:14: ChatReg.inputs.codeUri: codeUri `./cdoe` does not exist \
         ([BASE]/cdoe)"
    );
    insta::with_settings!({filters => vec![
        (regex_escape(&absolute).as_str(), "[BASE]"),
        (regex_escape(&base).as_str(), "[BASE]"),
    ]}, {
        insta::assert_snapshot!("code_uri_not_found", out);
    });
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if "\\.+*?()|[]{}^$#&-~".contains(c) {
                format!("\\{c}")
            } else {
                c.to_string()
            }
        })
        .collect()
}

proptest::proptest! {
    /// Whatever an environment variable holds reaches the function unchanged (no second round
    /// of interpolation, no trimming), and text around the reference is kept.
    #[test]
    fn env_values_pass_through(value in "\\PC{0,40}", prefix in "[a-z]{0,5}") {
        let yaml = BASE.replacen(
            "        bucket: ${Conf.bucket}",
            &format!("        bucket: {prefix}${{env:CHAT_VALUE}}"),
            1,
        );
        let mut o = opts();
        o.env.insert("CHAT_VALUE".to_owned(), value.clone());
        let stack = parse_in_base(&yaml, &o).unwrap();
        let v = &stack.functions[0].environment[0];
        proptest::prop_assert_eq!(&v.value, &Value::literal(format!("{prefix}{value}")));
    }
}

/// A secret in the stack file never reaches an error, whether the mistake is on the line next
/// to it, on its own line, or in the parser's own message.
#[test]
fn secret_values_are_redacted_in_rendered_errors() {
    const SK: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
    let with_secret = BASE.replacen("    secret_key:\n", &format!("    secret_key: {SK}\n"), 1);
    let cases = [
        // The line after `secret_key` is broken YAML.
        with_secret.replacen("\nmyBucket:", "\n  \tbad: [\nmyBucket:", 1),
        // The line before it is.
        with_secret.replacen("    secret_id:\n", "    secret_id: [\n", 1),
        // The error is on the secret's own line.
        BASE.replacen(
            "    secret_key:\n",
            &format!("    secret_key: {SK}${{Conf.nope}}\n"),
            1,
        ),
        BASE.replacen(
            "    secret_key:\n",
            &format!("    secret_key: \"{SK}\" # the key\n    region: x\n"),
            1,
        ),
        BASE.replacen(
            "    secret_key:\n",
            &format!("    secret_key: |\n      {SK}\n    region: [\n"),
            1,
        ),
        // In a function's environment.
        BASE.replacen(
            "        bucket: ${Conf.bucket}",
            &format!("        DB_PASSWORD: {SK}\n        bucket: ${{Conf.bukcet}}"),
            1,
        ),
    ];
    let mut masked = 0;
    for yaml in cases {
        let e = parse(&yaml, Path::new("stack.yml"), &opts()).unwrap_err();
        let mut out = String::new();
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_width(200)
            .render_report(&mut out, &e)
            .unwrap();
        let all = format!("{out}\n{e}\n{e:?}");
        assert!(!all.contains(&SK[..12]), "secret shown:\n{all}");
        masked += usize::from(out.contains("********"));
    }
    // Most excerpts do show the secret's line, masked.
    assert!(masked >= 4, "{masked}");
}
