//! The models a server runs encrypted inference with. Each is compiled on
//! first use (calibration and the choice of α take a while) and kept; its
//! published spec is what clients fetch before they make keys, and what an
//! inference upload names by [`PublishedModel::id`].

use std::sync::{Arc, OnceLock};

use hecnn_ml::cnn::roles::{compile_for_mnist, PublishedModel};
use hecnn_nn::mnist::{bundled_mnist_dir, Mnist};

/// Makes a model (compiles it); runs once.
pub type Builder = Box<dyn Fn() -> Result<PublishedModel, String> + Send + Sync>;

struct Entry {
    name: String,
    built: OnceLock<Result<Arc<PublishedModel>, String>>,
    build: Builder,
}

/// Name → model, compiled lazily.
#[derive(Default)]
pub struct Models {
    entries: Vec<Entry>,
}

/// Calibration and validation images of the bundled models (the CLI's defaults).
const CALIBRATION_IMAGES: usize = 2000;
const VALIDATION_IMAGES: usize = 1000;
/// Images per ciphertext at N = 2^16 (the CLI's default).
const BATCH: usize = 32;

impl Models {
    /// No models.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds model `name`, made by `build` on first use.
    pub fn with(mut self, name: &str, build: Builder) -> Self {
        self.entries.push(Entry { name: name.to_string(), built: OnceLock::new(), build });
        self
    }

    /// The bundled MNIST models by name (`bundled`, `residual`), compiled as
    /// `hecnn infer-server` compiles them by default (128-bit parameters).
    pub fn bundled(names: &[String]) -> Result<Self, String> {
        let mut models = Self::new();
        for name in names {
            let load = match name.as_str() {
                "bundled" => hecnn_nn::backbone::bundled_classifier,
                "residual" => hecnn_nn::backbone::bundled_residual,
                other => return Err(format!("unknown model {other:?} (bundled, residual)")),
            };
            let n = name.clone();
            models = models.with(
                name,
                Box::new(move || {
                    let model = load().map_err(|e| format!("model {n}: {e}"))?;
                    let mnist = Mnist::load_dir(bundled_mnist_dir()).map_err(|e| format!("MNIST: {e}"))?;
                    let compiled =
                        compile_for_mnist(&model, &mnist, CALIBRATION_IMAGES, VALIDATION_IMAGES, None, BATCH)
                            .map_err(|e| format!("compiling {n}: {e}"))?;
                    PublishedModel::new(&n, compiled, false).map_err(|e| e.to_string())
                }),
            );
        }
        Ok(models)
    }

    /// The names served.
    pub fn names(&self) -> Vec<String> {
        self.entries.iter().map(|e| e.name.clone()).collect()
    }

    /// Model `name` (compiled now if it is the first use); `None` if not served.
    pub fn get(&self, name: &str) -> Option<Result<Arc<PublishedModel>, String>> {
        let e = self.entries.iter().find(|e| e.name == name)?;
        Some(e.built.get_or_init(|| (e.build)().map(Arc::new)).clone())
    }

    /// The served model whose spec has id `id` (compiling models as needed).
    pub fn by_spec_id(&self, id: &str) -> Option<Arc<PublishedModel>> {
        self.entries.iter().find_map(|e| self.get(&e.name)?.ok().filter(|m| m.id() == id))
    }
}
