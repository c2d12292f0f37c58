//! Prints, per affine step of the bundled classifier at N = 2^16, the
//! baby/giant structure its BSGS program uses (diagonals, babies, giants,
//! power-of-two hops), to see where the key switches go.
use hecnn_ml::cnn::{compile, CompileOptions, KeyMode};
fn main() {
    let model = hecnn_nn::backbone::bundled_classifier().unwrap();
    let mnist = hecnn_nn::mnist::Mnist::load_dir(hecnn_nn::mnist::bundled_mnist_dir()).unwrap();
    let calib = hecnn_nn::features::image_tensors::<f64>(&mnist.train_images.slice(10_000..10_200));
    let key_mode = if std::env::args().any(|a| a == "exact") { KeyMode::Exact } else { KeyMode::PowerOfTwo };
    let opts = CompileOptions { slots: 1 << 15, batch: 32, alpha: Some(4), key_mode, ..CompileOptions::default() };
    let c = compile(&model, &calib, &calib, &opts).unwrap();
    for (i, p) in c.programs.iter().enumerate() {
        let Some(p) = p else { continue };
        let diags: usize = p.outs.iter().flat_map(|o| o.values()).map(|l| l.len()).sum();
        let giants: usize = p.outs.iter().map(|o| o.keys().filter(|&&g| g != 0).count()).sum();
        let hops: usize =
            p.outs.iter().flat_map(|o| o.keys()).map(|&g| hecnn_ml::cnn::server::naf(g * 32, 1 << 15).len()).sum();
        let babies: Vec<i64> = p.babies.iter().map(|b| b.2).collect();
        println!(
            "step {i}: outs {} babies {} diags {diags} giants {giants} giant hops {hops} babies {:?} giants {:?}",
            p.outs.len(),
            p.babies.len(),
            &babies[..babies.len().min(40)],
            p.outs[0].keys().collect::<Vec<_>>()
        );
    }
    println!("rotation keys: {}", c.rotation_steps().len());
}
