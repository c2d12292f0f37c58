//! Feature extraction: the frozen backbone turns each image into the vector
//! the encrypted logistic regression trains on (method 1, transfer learning).
//!
//! ```
//! use hecnn_nn::{backbone, features, mnist};
//! let test = mnist::load_images(mnist::bundled_mnist_dir().join("t10k-images.idx3-ubyte.gz")).unwrap();
//! let feats = features::extract_features(&backbone::bundled_backbone().unwrap(), &test.slice(0..4)).unwrap();
//! assert_eq!((feats.len(), feats[0].len()), (4, backbone::FEATURE_DIM));
//! ```

use rayon::prelude::*;

use crate::mnist::{Images, SIDE};
use crate::model::{Exact, Model, ModelError, Scalar, Tensor};

/// Image `i` of `images` as a `[1, 28, 28]` tensor with pixels in `[0, 1]`.
pub fn image_tensor<S: Scalar>(images: &Images, i: usize) -> Tensor<S> {
    let data = images.image(i).iter().map(|&p| S::from_f64(f64::from(p) / 255.0)).collect();
    Tensor::new(vec![1, SIDE, SIDE], data).expect("an MNIST image has 28x28 pixels")
}

/// All images as `[1, 28, 28]` tensors.
pub fn image_tensors<S: Scalar>(images: &Images) -> Vec<Tensor<S>> {
    (0..images.len()).into_par_iter().map(|i| image_tensor(images, i)).collect()
}

/// The model's output, flattened, for every image (in parallel, f64, exact
/// activations). With [`bundled_backbone`](crate::backbone::bundled_backbone)
/// this gives the 240 features per image.
pub fn extract_features(model: &Model, images: &Images) -> Result<Vec<Vec<f64>>, ModelError> {
    (0..images.len())
        .into_par_iter()
        .map(|i| model.forward_with(&image_tensor::<f64>(images, i), &Exact).map(Tensor::into_data))
        .collect()
}

/// Predicted class (index of the largest output) of every image, in f32.
pub fn classify(model: &Model, images: &Images) -> Result<Vec<usize>, ModelError> {
    (0..images.len())
        .into_par_iter()
        .map(|i| {
            let out = model.forward_with(&image_tensor::<f32>(images, i), &Exact)?;
            Ok(out.argmax().unwrap_or(0))
        })
        .collect()
}

/// Fraction of images whose predicted class equals the label.
pub fn accuracy(model: &Model, images: &Images, labels: &[u8]) -> Result<f64, ModelError> {
    let pred = classify(model, images)?;
    let correct = pred.iter().zip(labels).filter(|(p, l)| **p == usize::from(**l)).count();
    Ok(correct as f64 / labels.len().max(1) as f64)
}
