//! Must not compile: the server side cannot reach the training client.
pub use hecnn_ml::mlr::client::TrainingClient;
