//! quick-xml types of the COS XML API.
