//! Must not compile: the server side cannot name a decryptor.
pub fn f(_: &hecnn_ckks::Decryptor<'_>) {}
