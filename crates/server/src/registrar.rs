//! The registrar role (RFC 3261 §10): the location service and, on top of it, REGISTER
//! handling with digest authentication against the provisioning snapshot.

pub mod auth;
pub mod location;
pub mod request;
