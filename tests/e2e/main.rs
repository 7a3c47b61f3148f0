//! End-to-end tests: the real server over TLS on a random port with a fresh SQLite
//! database, driven by the real client library and the real `trialog` binaries.

mod attacks;
mod attestation;
mod bad_input;
mod bench;
mod certificate;
mod cli;
mod consent_over_time;
mod crash;
mod devices;
mod full_case;
mod limits;
mod live;
mod metrics;
mod names;
mod need_to_know;
mod operations;
mod operator;
mod reenrolment;
mod revocation;
mod server;
mod web;
