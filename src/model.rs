//! The model file: a trained model with everything it needs to predict.
//!
//! A model file is a safetensors file: the parameters as `f32` tensors named
//! `layers.{i}.weight` and `layers.{i}.bias` after the index of their layer, and under the
//! metadata key `edgegrad` a JSON [`ModelMeta`] with the layer list, the task, and the input
//! and target encodings learned from the training data.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{ChannelNorm, FeatureEncoder, SampleSource, TargetEncoder, Task};
use crate::error::{Error, Result};
use crate::spec::ModelSpec;
use crate::tensor::Tensor;

/// The metadata key under which a model file stores its [`ModelMeta`].
pub const METADATA_KEY: &str = "edgegrad";
/// Version of the model file layout; files of another version are rejected.
pub const FORMAT_VERSION: u32 = 2;

/// How raw data becomes model input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum InputSpec {
    /// CSV columns turned into standardised and one-hot features.
    Table {
        /// The encodings learned from the training split.
        features: FeatureEncoder,
    },
    /// Fixed-shape samples read by one of the sample loaders.
    Samples {
        /// The loader and its settings.
        source: SampleSource,
        /// Per-channel standardisation learned from the training split.
        norm: ChannelNorm,
    },
}

/// Everything besides the weights that predicting with a model needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// [`FORMAT_VERSION`] of the file.
    pub format_version: u32,
    /// The task the model was trained for.
    pub task: Task,
    /// Input shape and layers.
    pub model: ModelSpec,
    /// How to read and standardise input data.
    pub input: InputSpec,
    /// Class names or the regression target's scaling.
    pub target: TargetEncoder,
}

/// A trained model: its metadata and weights.
#[derive(Clone, Debug)]
pub struct Model {
    /// Layers and encodings.
    pub meta: ModelMeta,
    /// Weights and biases by name.
    pub params: Vec<(String, Tensor)>,
}

impl Model {
    /// Writes the model as safetensors to `path` atomically: to a temporary file in the same
    /// folder, flushed to disk, then renamed over `path`, so a crash never leaves a partial
    /// model behind.
    pub fn save(&self, path: &Path) -> Result<()> {
        let meta = serde_json::to_string(&self.meta).map_err(|e| Error::Model {
            path: path.display().to_string(),
            message: format!("failed to encode the metadata: {e}"),
        })?;
        let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = self
            .params
            .iter()
            .map(|(name, t)| {
                (
                    name.clone(),
                    bytemuck::cast_slice(t.data()).to_vec(),
                    t.shape().dims().to_vec(),
                )
            })
            .collect();
        let mut views = Vec::new();
        for (name, data, shape) in &bytes {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                    .map_err(|e| Error::Model {
                        path: path.display().to_string(),
                        message: format!("tensor `{name}`: {e}"),
                    })?;
            views.push((name.clone(), view));
        }
        let info = HashMap::from([(METADATA_KEY.to_string(), meta)]);
        let encoded = safetensors::serialize(views, Some(info)).map_err(|e| Error::Model {
            path: path.display().to_string(),
            message: format!("failed to encode the tensors: {e}"),
        })?;
        write_atomically(path, &encoded)
    }

    /// Reads a model written by [`Model::save`], rejecting files that are not edgegrad models.
    pub fn load(path: &Path) -> Result<Model> {
        let describe = |message: String| Error::Model {
            path: path.display().to_string(),
            message,
        };
        let buffer = fs::read(path).map_err(|error| Error::Io {
            path: path.display().to_string(),
            error,
        })?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&buffer).map_err(|e| {
            describe(format!(
                "not a safetensors file ({e}); pass a model written by `train --save`"
            ))
        })?;
        let meta_json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(METADATA_KEY))
            .ok_or_else(|| {
                describe(format!(
                    "a safetensors file without `{METADATA_KEY}` metadata, so not an edgegrad \
                     model; pass a model written by `train --save`"
                ))
            })?;
        let meta: ModelMeta = serde_json::from_str(meta_json)
            .map_err(|e| describe(format!("invalid edgegrad metadata: {e}")))?;
        if meta.format_version != FORMAT_VERSION {
            return Err(describe(format!(
                "model format version {} is not supported (this build reads version {FORMAT_VERSION})",
                meta.format_version
            )));
        }
        let tensors = safetensors::SafeTensors::deserialize(&buffer)
            .map_err(|e| describe(format!("invalid tensor data: {e}")))?;
        let mut params = Vec::new();
        for (name, view) in tensors.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(describe(format!(
                    "tensor `{name}` is {:?}, not F32",
                    view.dtype()
                )));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            params.push((name, Tensor::new(view.shape().to_vec(), values)?));
        }
        // Building the model once checks that every tensor is present with its layer's shape.
        meta.model
            .build(1, Some(&params), 0)
            .map_err(|e| describe(e.to_string()))?;
        Ok(Model { meta, params })
    }
}

/// Writes `bytes` to a temporary sibling of `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_error = |error| Error::Io {
        path: path.display().to_string(),
        error,
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| Error::Model {
        path: path.display().to_string(),
        message: "the path does not name a file".into(),
    })?;
    let temporary = folder.join(format!(
        ".{}.tmp-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(io_error)
}
