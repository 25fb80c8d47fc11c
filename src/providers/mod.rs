//! Cloud providers. Each speaks one cloud's wire protocols and knows nothing about YAML.

pub mod tencent;
