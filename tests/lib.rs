//! Integration tests: one binary, topic modules (STYLE §3.6).

#![allow(unreachable_pub)]

mod localcloud_api3;
mod localcloud_runtime;
mod support;
