//! Must not compile: the server side cannot name a secret key.
pub fn f(_: &hecnn_ckks::SecretKey) {}
