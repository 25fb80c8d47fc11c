//! Integration tests: one binary, topic modules (STYLE §3.6).

#![allow(unreachable_pub)]

mod local_command;
mod localcloud_cos;
mod support;
