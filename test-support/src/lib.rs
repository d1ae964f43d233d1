//! Helpers the workspace's integration tests share, so each exists once.

pub mod privacyidea;
