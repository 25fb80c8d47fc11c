//! Integration tests: one binary, topic modules (STYLE §3.6).

#![allow(unreachable_pub)]

mod deploy;
mod deploy_faults;
mod info;
mod local_command;
mod localcloud_api3;
mod localcloud_cos;
mod support;
