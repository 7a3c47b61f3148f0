//! End-to-end tests: the real server over TLS on a random port with a fresh SQLite
//! database, driven by the real client library and the real `trialog` binaries.

mod attacks;
mod bad_input;
mod cli;
mod full_case;
mod names;
mod revocation;
mod server;
