//! Helpers shared by the candle training examples: a seeded RNG, the
//! training-data split and the batch loop's shuffling.

use candle_core::{Device, Tensor};
use hecnn_nn::mnist::{Mnist, PIXELS};

/// First training image used for training (the ones before are client data).
pub const FIRST_TRAIN_INDEX: usize = 10_000;

/// SplitMix64: tiny, seedable, good enough for initialisation and shuffling.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    pub fn symmetric(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Fisher–Yates shuffle of `order` in place.
    pub fn shuffle(&mut self, order: &mut [u32]) {
        for i in (1..order.len()).rev() {
            order.swap(i, self.below(i + 1));
        }
    }
}

/// Images as an `[n, 1, 28, 28]` tensor with pixels / 255 in [0, 1].
pub fn image_tensor(images: &[u8], dev: &Device) -> candle_core::Result<Tensor> {
    let n = images.len() / PIXELS;
    let pixels: Vec<f32> = images.iter().map(|&p| f32::from(p) / 255.0).collect();
    Tensor::from_vec(pixels, (n, 1, 28, 28), dev)
}

/// Labels as a `u32` tensor.
pub fn label_tensor(labels: &[u8], dev: &Device) -> candle_core::Result<Tensor> {
    Tensor::from_vec(labels.iter().map(|&l| u32::from(l)).collect::<Vec<_>>(), labels.len(), dev)
}

/// The training split: images and labels with index >= [`FIRST_TRAIN_INDEX`].
pub fn training_split(mnist: &Mnist, dev: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let xs = image_tensor(&mnist.train_images.as_bytes()[FIRST_TRAIN_INDEX * PIXELS..], dev)?;
    let ys = label_tensor(&mnist.train_labels[FIRST_TRAIN_INDEX..], dev)?;
    Ok((xs, ys))
}
