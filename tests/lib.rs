//! Integration tests: one binary, topic modules (STYLE §3.6).

#![allow(unreachable_pub)]

mod bad_input;
mod browser;
mod census;
mod chat;
mod chat_failures;
mod chat_fanout;
mod dependencies;
mod deploy;
mod deploy_concurrency;
mod deploy_faults;
mod dev;
mod info;
mod invoke;
mod local_command;
mod localcloud_api3;
mod localcloud_cos;
mod localcloud_gateway;
mod localcloud_runtime;
mod provider_localcloud;
mod reliability;
mod reliability_net;
mod roles;
mod security;
mod support;
