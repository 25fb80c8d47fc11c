//! Integration tests: one binary, topic modules (STYLE §3.6).

#![allow(unreachable_pub)]

mod localcloud_cos;
mod support;
