//! Key material: the client's secret, and the public/evaluation keys a
//! server may hold.

pub mod public;
pub mod secret;
pub mod switching;
