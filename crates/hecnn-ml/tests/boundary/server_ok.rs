//! Everything a training server needs compiles without the client feature.
use hecnn_ckks::{EvaluationKeySet, SeededCiphertext};
use hecnn_ml::mlr::server::{EncryptedDataset, TrainProgress, TrainingServer};
use hecnn_ml::upload;

pub fn train(dir: &std::path::Path, out: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
    let up = upload::load_upload(dir)?;
    let server = TrainingServer::new(up.keys)?;
    let (model, _) = server.train(&up.data, 2, &mut |_: TrainProgress| {})?;
    upload::save_model(out, server.keys(), &up.data, &model)?;
    Ok(())
}

pub fn keys_only(keys: &EvaluationKeySet, _d: &EncryptedDataset<SeededCiphertext>) -> usize {
    keys.galois().elements().count()
}
