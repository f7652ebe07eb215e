//! Multilayer perceptrons and the model file that stores one with what it needs to predict.
//!
//! A model file is a safetensors file: the weights as `f32` tensors named `layers.{i}.weight`
//! (`[inputs, outputs]`) and `layers.{i}.bias` (`[outputs]`), and under the metadata key
//! `edgegrad` a JSON [`ModelMeta`] with the layer sizes, the task, and the feature and target
//! encodings learned from the training data.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::{FeatureEncoder, TargetEncoder, Task};
use crate::error::{Error, Result};
use crate::graph::{Graph, NodeId};
use crate::tensor::Tensor;

/// The metadata key under which a model file stores its [`ModelMeta`].
pub const METADATA_KEY: &str = "edgegrad";
/// Version of the model file layout; files of another version are rejected.
pub const FORMAT_VERSION: u32 = 1;

/// The activation between hidden layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// `max(x, 0)`.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
}

/// Layer sizes of a multilayer perceptron: `inputs → hidden… → outputs`, with an activation
/// after every hidden layer and none after the last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MlpSpec {
    /// Features per row.
    pub inputs: usize,
    /// Width of each hidden layer.
    pub hidden: Vec<usize>,
    /// Outputs per row (1 for binary classification and regression, else the class count).
    pub outputs: usize,
    /// Activation after each hidden layer.
    pub activation: Activation,
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        })
    }
}

impl MlpSpec {
    /// `(inputs, outputs)` of each dense layer.
    pub fn layer_sizes(&self) -> Vec<(usize, usize)> {
        let mut widths = vec![self.inputs];
        widths.extend(&self.hidden);
        widths.push(self.outputs);
        widths.windows(2).map(|w| (w[0], w[1])).collect()
    }

    /// The number of trained values.
    pub fn parameter_count(&self) -> usize {
        self.layer_sizes().iter().map(|(i, o)| i * o + o).sum()
    }

    /// Initial weights and biases drawn uniformly from `±1/√fan_in`, PyTorch's default for
    /// linear layers, from a generator seeded with `seed`.
    pub fn init(&self, seed: u64) -> Vec<(String, Tensor)> {
        let mut params = Vec::new();
        for (i, (fan_in, fan_out)) in self.layer_sizes().into_iter().enumerate() {
            let bound = 1.0 / (fan_in as f32).sqrt();
            let layer_seed = seed.wrapping_mul(1_000_003).wrapping_add(2 * i as u64);
            params.push((
                weight_name(i),
                Tensor::uniform([fan_in, fan_out], -bound, bound, layer_seed),
            ));
            params.push((
                bias_name(i),
                Tensor::uniform([fan_out], -bound, bound, layer_seed + 1),
            ));
        }
        params
    }

    /// Adds the network to `graph` on input `x: [rows, inputs]` with the given parameter
    /// values (named as [`MlpSpec::init`] names them) and returns the output `[rows, outputs]`.
    pub fn build(
        &self,
        graph: &mut Graph,
        x: NodeId,
        params: &[(String, Tensor)],
    ) -> Result<NodeId> {
        let lookup: HashMap<&str, &Tensor> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let layers = self.layer_sizes();
        let mut h = x;
        for (i, (fan_in, fan_out)) in layers.iter().enumerate() {
            let weight = find_param(&lookup, &weight_name(i), &[*fan_in, *fan_out])?;
            let bias = find_param(&lookup, &bias_name(i), &[*fan_out])?;
            let w = graph.parameter(&weight_name(i), weight.clone())?;
            let b = graph.parameter(&bias_name(i), bias.clone())?;
            let product = graph.matmul(h, w)?;
            h = graph.add(product, b)?;
            if i + 1 < layers.len() {
                h = match self.activation {
                    Activation::Relu => graph.relu(h)?,
                    Activation::Tanh => graph.tanh(h)?,
                    Activation::Sigmoid => graph.sigmoid(h)?,
                };
            }
        }
        Ok(h)
    }
}

fn weight_name(layer: usize) -> String {
    format!("layers.{layer}.weight")
}

fn bias_name(layer: usize) -> String {
    format!("layers.{layer}.bias")
}

fn find_param<'a>(
    lookup: &HashMap<&str, &'a Tensor>,
    name: &str,
    shape: &[usize],
) -> Result<&'a Tensor> {
    let tensor = lookup
        .get(name)
        .ok_or_else(|| Error::InvalidNode(format!("parameter `{name}` is missing")))?;
    if tensor.shape().dims() != shape {
        return Err(Error::shape(
            "mlp",
            format!(
                "parameter `{name}` has shape {} but the layer needs {shape:?}",
                tensor.shape()
            ),
        ));
    }
    Ok(tensor)
}

/// Everything besides the weights that predicting with a model needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// [`FORMAT_VERSION`] of the file.
    pub format_version: u32,
    /// The task the model was trained for.
    pub task: Task,
    /// Layer sizes and activation.
    pub mlp: MlpSpec,
    /// How to turn a CSV's columns into features.
    pub features: FeatureEncoder,
    /// Class names or the regression target's scaling.
    pub target: TargetEncoder,
}

/// A trained model: its metadata and weights.
#[derive(Clone, Debug)]
pub struct Model {
    /// Layer sizes and encodings.
    pub meta: ModelMeta,
    /// Weights and biases, named as [`MlpSpec::init`] names them.
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
        let buffer = fs::read(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
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
        for (i, _) in meta.mlp.layer_sizes().iter().enumerate() {
            for name in [weight_name(i), bias_name(i)] {
                let view = tensors
                    .tensor(&name)
                    .map_err(|_| describe(format!("tensor `{name}` is missing")))?;
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
        }
        // Building a throwaway graph checks every tensor's shape against the layer sizes.
        let mut graph = Graph::new();
        let x = graph.input("x", [1, meta.mlp.inputs])?;
        meta.mlp
            .build(&mut graph, x, &params)
            .map_err(|e| describe(e.to_string()))?;
        Ok(Model { meta, params })
    }
}

/// Writes `bytes` to a temporary sibling of `path`, syncs it, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let io_error = |source| Error::Io {
        path: path.display().to_string(),
        source,
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
