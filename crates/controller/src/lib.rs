//! postern-controller

pub mod sessions;
