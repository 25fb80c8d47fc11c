//! Desired vs observed → plan → apply. This issue lays down observation (`observe`), which
//! `info` uses and `plan`/`deploy` build on.
