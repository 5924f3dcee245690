//! The roles the shards run: the registrar (REGISTER, digest, the location service) and the
//! stateful proxy (initial requests, dialogs, forking, NAT, privacy, limits, media), and the
//! state they share across shards.

pub(crate) mod actions;
pub(crate) mod media_control;
pub(crate) mod proxy;
pub mod registrar;
pub(crate) mod shared;
