//! Integration tests: one binary, topic modules (STYLE §3.6).

#![allow(unreachable_pub)]

mod info;
mod localcloud_api3;
mod localcloud_gateway;
mod support;
