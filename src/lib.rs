//! hrm: a hospital consortium's health-record approval on Ethereum.
//!
//! The binary (`src/main.rs`, `src/cli/`) is a thin layer over this library; the library never
//! prints.

pub mod access;
pub mod audit;
pub mod bench;
pub mod chain;
pub mod config;
pub mod devnet;
pub mod directory;
pub mod doctor;
pub mod erasure;
pub mod exchange;
pub mod fhir;
pub mod follower;
pub mod fsutil;
pub mod identity;
pub mod import;
pub mod listing;
pub mod metrics;
pub mod migration;
pub mod ml;
pub mod prediction;
pub mod readiness;
pub mod records;
pub mod recovery;
pub mod scenario;
pub mod serialize;
pub mod siwe;
pub mod store;
pub mod submission;
pub mod tools;
pub mod voting;
