//! The SCF emulator's pure rules: the parameter checks and the records' states.

use super::checks::*;
use crate::localcloud::model::function::rebase_environment;
use crate::localcloud::model::function::{
    DEFAULT_INIT_TIMEOUT, FunctionRecord, KeyValue, Status, TABLE, key,
};
use crate::localcloud::store::Store;

fn record(status: Status, settles_at_ms: i64) -> FunctionRecord {
    FunctionRecord {
        region: "ap-guangzhou".into(),
        namespace: "default".into(),
        name: "f".into(),
        function_id: "lam-1".into(),
        runtime: "Python3.9".into(),
        handler: "index.main".into(),
        description: String::new(),
        memory_size: 128,
        timeout: 3,
        init_timeout: DEFAULT_INIT_TIMEOUT,
        role: String::new(),
        function_type: "Event".into(),
        protocol_type: String::new(),
        ws_idle_timeout: 0,
        max_concurrency: 0,
        reserved_concurrency: None,
        environment: vec![],
        tags: vec![],
        code_blob: "b".into(),
        code_size: 1,
        code_sha256: String::new(),
        add_time: 0,
        mod_time: 0,
        status,
        settles_at_ms,
    }
}

#[test]
fn rebasing_rewrites_only_values_that_start_with_the_old_address() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut f = record(Status::Active, 0);
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: v.into(),
    };
    f.environment = vec![
        kv("url", "http://127.0.0.1:4000/api-abc"),
        kv("ws", "ws://127.0.0.1:4000/service-x/release/"),
        kv("base", "http://127.0.0.1:4000"),
        kv("other_port", "http://127.0.0.1:40001/api-abc"),
        kv("inside", "see http://127.0.0.1:4000/"),
    ];
    let k = key(&f.region, &f.namespace, &f.name);
    store.write(|t| t.put(TABLE, &k, &f)).unwrap();
    assert_eq!(
        rebase_environment(&store, "127.0.0.1:4000", "127.0.0.1:5000").unwrap(),
        3
    );
    let got: FunctionRecord = store.get(TABLE, &k).unwrap().unwrap();
    let values: Vec<&str> = got.environment.iter().map(|v| v.value.as_str()).collect();
    assert_eq!(
        values,
        [
            "http://127.0.0.1:5000/api-abc",
            "ws://127.0.0.1:5000/service-x/release/",
            "http://127.0.0.1:5000",
            "http://127.0.0.1:40001/api-abc",
            "see http://127.0.0.1:4000/",
        ]
    );
}

#[test]
fn states_resolve_at_their_deadline() {
    let c = record(Status::Creating, 1000);
    assert_eq!(c.clone().at(999).unwrap().status, Status::Creating);
    assert_eq!(c.at(1000).unwrap().status, Status::Active);
    assert_eq!(
        record(Status::Updating, 5).at(6).unwrap().status,
        Status::Active
    );
    assert!(record(Status::Deleting, 5).at(4).is_some());
    assert!(record(Status::Deleting, 5).at(5).is_none());
}

#[test]
fn names_follow_the_scf_rules() {
    for ok in ["ab", "chat-register", "a_1", &"a".repeat(60)] {
        assert!(check_name(ok).is_ok(), "{ok}");
    }
    for bad in [
        "a",
        "1abc",
        "ab-",
        "ab_",
        "a b",
        "ab.c",
        &"a".repeat(61),
        "中文",
    ] {
        assert!(check_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn memory_timeout_and_handlers() {
    assert!(check_memory(64).is_ok() && check_memory(3072).is_ok());
    assert!(check_memory(100).is_err() && check_memory(3200).is_err() && check_memory(0).is_err());
    assert!(check_timeout(1).is_ok() && check_timeout(900).is_ok());
    assert!(check_timeout(0).is_err() && check_timeout(901).is_err());
    assert!(check_init_timeout(1).is_ok() && check_init_timeout(300).is_ok());
    assert!(check_init_timeout(0).is_err() && check_init_timeout(301).is_err());
    assert!(check_handler("Python3.9", "index.main_handler").is_ok());
    assert!(check_handler("Python3.9", "src/app.handler").is_ok());
    assert!(check_handler("Python3.9", "index").is_err());
    assert!(check_handler("Python3.9", ".main").is_err());
    assert!(check_handler("Go1", "main").is_ok());
}

#[test]
fn environment_rules() {
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: v.into(),
    };
    assert!(check_environment(vec![kv("A", "1"), kv("B_2", "x")]).is_ok());
    for reserved in ["SCF_X", "QCLOUD_X", "TENCENTCLOUD_SECRETID"] {
        let e = check_environment(vec![kv(reserved, "1")]).unwrap_err();
        assert_eq!(e.code, "InvalidParameterValue.EnvironmentSystemProtect");
    }
    let e = check_environment(vec![kv("1A", "1")]).unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue.Environment");
    let e = check_environment(vec![kv("BIG", &"x".repeat(4094))]).unwrap_err();
    assert_eq!(e.code, "InvalidParameterValue.EnvironmentExceededLimit");
    assert!(check_environment(vec![kv("BIG", &"x".repeat(4093))]).is_ok());
}
