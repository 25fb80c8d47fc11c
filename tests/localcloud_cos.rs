//! The local cloud's COS XML API, refereed by the official Python COS SDK (`qcloud_cos`) in its
//! IP/Port mode (API-FACTS §7): requests go to 127.0.0.1:PORT carrying and signing the real
//! bucket host; and by the official Node.js COS SDK (`cos-nodejs-sdk-v5`, its `Ip` option, to
//! the same effect).

use crate::support::{Cloud, run_python, run_python_with};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cos_buckets_and_objects_through_the_official_sdk() {
    let cloud = Cloud::start();
    run_python(&cloud, "cos_basic.py", &[]);
}

#[test]
fn cos_lists_more_than_a_thousand_keys_with_prefixes_and_delimiters() {
    let cloud = Cloud::start();
    let out = run_python(&cloud, "cos_list.py", &[]);
    // Timings of the 1234 durable PUTs and the two pages, for the record.
    eprintln!("{}", stdout(&out));
}

#[test]
fn cos_refuses_bad_signatures_times_and_other_accounts() {
    let cloud = Cloud::start();
    for mode in [
        "wrong-key",
        "unknown-id",
        "expired",
        "future",
        "other-appid",
        "no-auth",
        "query-sign",
    ] {
        run_python(&cloud, "cos_auth.py", &[mode]);
    }
}

#[test]
fn cos_accepts_temporary_credentials_only_with_their_token() {
    let cloud = Cloud::start();
    let tmp = cloud.mint_temporary(3600);
    let env = [
        ("CHATSTACK_TEST_TMP_ID", tmp.secret_id.as_str()),
        ("CHATSTACK_TEST_TMP_KEY", tmp.secret_key.expose()),
        ("CHATSTACK_TEST_TMP_TOKEN", tmp.token.expose()),
    ];
    for mode in ["temporary", "temporary-no-token", "temporary-wrong-token"] {
        run_python_with(cloud.addr, "cos_auth.py", &[mode], &env);
    }
}

#[test]
fn cos_refuses_expired_temporary_credentials() {
    let cloud = Cloud::start();
    let tmp = cloud.mint_temporary(0);
    // Valid through the second they were minted in; refused after it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let env = [
        ("CHATSTACK_TEST_TMP_ID", tmp.secret_id.as_str()),
        ("CHATSTACK_TEST_TMP_KEY", tmp.secret_key.expose()),
        ("CHATSTACK_TEST_TMP_TOKEN", tmp.token.expose()),
    ];
    run_python_with(cloud.addr, "cos_auth.py", &["temporary-expired"], &env);
}

#[test]
fn cos_multipart_uploads_through_upload_file_and_by_hand() {
    let cloud = Cloud::start();
    run_python(&cloud, "cos_multipart.py", &[]);
    // Nothing left behind once the bucket is gone: no part or object files.
    let blobs = std::fs::read_dir(cloud.data_dir.join("blobs"))
        .unwrap()
        .count();
    assert_eq!(blobs, 0);
}

#[test]
fn cos_buckets_and_objects_through_the_official_nodejs_sdk() {
    // cos-nodejs-sdk-v5 with `Ip: "127.0.0.1:PORT"` and `Protocol: "http:"`: the bucket's own
    // host in `Host` and in the signature, the connection to the local cloud.
    let cloud = Cloud::start();
    let out = crate::support::run_node(&cloud, "cos_basic.js");
    assert!(stdout(&out).contains("node cos ok"));
}
