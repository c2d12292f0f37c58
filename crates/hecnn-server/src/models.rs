//! The models a server runs encrypted inference with. Each is compiled on
//! first use (calibration and the choice of α take a while) and kept; its
//! published spec is what clients fetch before they make keys, and what an
//! inference upload names by [`PublishedModel::id`].

use std::sync::{Arc, OnceLock};

use hecnn_ml::cnn::roles::{bundled_model, PublishedModel};

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
            if !["bundled", "residual"].contains(&name.as_str()) {
                return Err(format!("unknown model {name:?} (bundled, residual)"));
            }
            let n = name.clone();
            models = models.with(name, Box::new(move || bundled_model(&n).map_err(|e| format!("model {n}: {e}"))));
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
