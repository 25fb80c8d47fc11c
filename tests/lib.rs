//! Integration tests: one binary, topic modules.
