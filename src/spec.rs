//! Model descriptions: a list of layers, parsed from a short text or a TOML file, that builds
//! a graph, initialises its parameters and prints a summary.
//!
//! The text form is a comma-separated list of layers, each `name[:value...][:key=value...]`:
//!
//! ```text
//! conv1d:16:5:pad=2,relu,maxpool:2,conv1d:32:5:pad=2,relu,maxpool:2,flatten,dense:4
//! ```
//!
//! | layer | positional values | options |
//! |---|---|---|
//! | `conv1d`, `conv2d` | output channels, kernel | `stride`, `pad`, `dilation` |
//! | `maxpool`, `avgpool` | kernel | `stride` (default: kernel), `pad` |
//! | `globalavgpool`, `flatten`, `relu`, `tanh`, `sigmoid` | none | none |
//! | `dropout` | drop probability | none |
//! | `dense` | output units | none |
//!
//! Pooling is 1-D or 2-D after the rank of its input. The TOML form is an array of tables,
//! `[[layers]]`, each with `type` and the same fields by their full names (`out_channels`,
//! `kernel`, `stride`, `padding`, `dilation`, `units`, `p`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::graph::{ConvOptions, Graph, NodeId};
use crate::tensor::{Shape, Tensor};

/// One layer of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Layer {
    /// 1-D convolution with bias over `[batch, channels, length]`.
    Conv1d {
        /// Output channels.
        out_channels: usize,
        /// Kernel width.
        kernel: usize,
        /// Step between outputs.
        #[serde(default = "one")]
        stride: usize,
        /// Zeros on each side.
        #[serde(default)]
        padding: usize,
        /// Spacing between taps.
        #[serde(default = "one")]
        dilation: usize,
    },
    /// 2-D convolution with bias over `[batch, channels, height, width]`, square kernel.
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Kernel height and width.
        kernel: usize,
        /// Step between outputs.
        #[serde(default = "one")]
        stride: usize,
        /// Zeros on each side.
        #[serde(default)]
        padding: usize,
        /// Spacing between taps.
        #[serde(default = "one")]
        dilation: usize,
    },
    /// Max pooling, 1-D or 2-D after the input's rank.
    MaxPool {
        /// Window size.
        kernel: usize,
        /// Step between windows; the kernel size when absent.
        #[serde(default)]
        stride: Option<usize>,
        /// Elements of padding on each side, never chosen as the maximum.
        #[serde(default)]
        padding: usize,
    },
    /// Average pooling over real elements, 1-D or 2-D after the input's rank.
    AvgPool {
        /// Window size.
        kernel: usize,
        /// Step between windows; the kernel size when absent.
        #[serde(default)]
        stride: Option<usize>,
        /// Elements of padding on each side, left out of the mean.
        #[serde(default)]
        padding: usize,
    },
    /// Mean over all positions: `[batch, channels, ...]` to `[batch, channels]`.
    GlobalAvgPool,
    /// `[batch, ...]` to `[batch, features]`.
    Flatten,
    /// Rectified linear unit.
    Relu,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Dropout with drop probability `p` during training.
    Dropout {
        /// Drop probability in `[0, 1)`.
        p: f32,
    },
    /// Fully connected layer over `[batch, features]`.
    Dense {
        /// Output units.
        units: usize,
    },
}

fn one() -> usize {
    1
}

/// A model: the shape of one sample and the layers applied to a batch of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Shape of one sample: `[features]`, `[channels, length]` or `[channels, height, width]`.
    pub input_shape: Vec<usize>,
    /// Layers in order.
    pub layers: Vec<Layer>,
}

/// One row of a model summary.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerSummary {
    /// The layer as text, for example `conv1d:16:5:pad=2`.
    pub layer: String,
    /// Output shape for a batch of one.
    pub output: Shape,
    /// Trained values in the layer.
    pub parameters: usize,
}

impl Layer {
    /// The layer in the text form.
    pub fn describe(&self) -> String {
        let conv = |name: &str, out: usize, k: usize, s: usize, p: usize, d: usize| {
            let mut text = format!("{name}:{out}:{k}");
            if s != 1 {
                text += &format!(":stride={s}");
            }
            if p != 0 {
                text += &format!(":pad={p}");
            }
            if d != 1 {
                text += &format!(":dilation={d}");
            }
            text
        };
        let pool = |name: &str, k: usize, s: Option<usize>, p: usize| {
            let mut text = format!("{name}:{k}");
            if let Some(s) = s {
                text += &format!(":stride={s}");
            }
            if p != 0 {
                text += &format!(":pad={p}");
            }
            text
        };
        match *self {
            Layer::Conv1d {
                out_channels,
                kernel,
                stride,
                padding,
                dilation,
            } => conv("conv1d", out_channels, kernel, stride, padding, dilation),
            Layer::Conv2d {
                out_channels,
                kernel,
                stride,
                padding,
                dilation,
            } => conv("conv2d", out_channels, kernel, stride, padding, dilation),
            Layer::MaxPool {
                kernel,
                stride,
                padding,
            } => pool("maxpool", kernel, stride, padding),
            Layer::AvgPool {
                kernel,
                stride,
                padding,
            } => pool("avgpool", kernel, stride, padding),
            Layer::GlobalAvgPool => "globalavgpool".into(),
            Layer::Flatten => "flatten".into(),
            Layer::Relu => "relu".into(),
            Layer::Tanh => "tanh".into(),
            Layer::Sigmoid => "sigmoid".into(),
            Layer::Dropout { p } => format!("dropout:{p}"),
            Layer::Dense { units } => format!("dense:{units}"),
        }
    }
}

/// Parses the text form of a layer list.
pub fn parse_layers(text: &str) -> Result<Vec<Layer>> {
    let mut layers = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(layer_error(
                text,
                "an empty item between commas; remove the extra comma",
            ));
        }
        layers.push(parse_layer(item)?);
    }
    if layers.is_empty() {
        return Err(layer_error(text, "the description has no layers"));
    }
    Ok(layers)
}

fn layer_error(item: &str, message: impl std::fmt::Display) -> Error {
    Error::Layers(format!("`{item}`: {message}"))
}

fn parse_layer(item: &str) -> Result<Layer> {
    let mut parts = item.split(':').map(str::trim);
    let name = parts.next().unwrap_or_default().to_ascii_lowercase();
    let mut positional = Vec::new();
    let mut options = Vec::new();
    for part in parts {
        match part.split_once('=') {
            Some((key, value)) => options.push((key.trim().to_ascii_lowercase(), value.trim())),
            None => positional.push(part),
        }
    }
    let number = |text: &str, what: &str| -> Result<usize> {
        match text.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            Ok(_) => Err(layer_error(item, format!("{what} must be at least 1"))),
            Err(_) => Err(layer_error(
                item,
                format!("{what} `{text}` is not a positive whole number"),
            )),
        }
    };
    let count = |text: &str, what: &str| -> Result<usize> {
        text.parse::<usize>()
            .map_err(|_| layer_error(item, format!("{what} `{text}` is not a whole number")))
    };
    // Padding may be 0; every other option must be at least 1.
    let option = |key: &str, default: usize| -> Result<usize> {
        match options.iter().find(|(k, _)| k == key) {
            Some((_, v)) if key.starts_with("pad") => count(v, key),
            Some((_, v)) => number(v, key),
            None => Ok(default),
        }
    };
    let allowed = |keys: &[&str]| -> Result<()> {
        match options.iter().find(|(k, _)| !keys.contains(&k.as_str())) {
            Some((k, _)) => Err(layer_error(
                item,
                format!("unknown option `{k}`; this layer takes {}", keys.join(", ")),
            )),
            None => Ok(()),
        }
    };
    let expect_positional = |count: usize, meaning: &str| -> Result<()> {
        if positional.len() != count {
            return Err(layer_error(
                item,
                format!("expected {meaning}, got {} value(s)", positional.len()),
            ));
        }
        Ok(())
    };
    let layer = match name.as_str() {
        "conv1d" | "conv2d" => {
            expect_positional(2, "output channels and kernel size, as in conv1d:16:5")?;
            allowed(&["stride", "pad", "padding", "dilation"])?;
            let out_channels = number(positional[0], "output channels")?;
            let kernel = number(positional[1], "kernel size")?;
            let stride = option("stride", 1)?;
            let padding = option("pad", option("padding", 0)?)?;
            let dilation = option("dilation", 1)?;
            if name == "conv1d" {
                Layer::Conv1d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    dilation,
                }
            } else {
                Layer::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    dilation,
                }
            }
        }
        "maxpool" | "avgpool" | "maxpool1d" | "maxpool2d" | "avgpool1d" | "avgpool2d" => {
            expect_positional(1, "a kernel size, as in maxpool:2")?;
            allowed(&["stride", "pad", "padding"])?;
            let kernel = number(positional[0], "kernel size")?;
            let stride = match options.iter().find(|(k, _)| k == "stride") {
                Some((_, v)) => Some(number(v, "stride")?),
                None => None,
            };
            let padding = option("pad", option("padding", 0)?)?;
            if name.starts_with("max") {
                Layer::MaxPool {
                    kernel,
                    stride,
                    padding,
                }
            } else {
                Layer::AvgPool {
                    kernel,
                    stride,
                    padding,
                }
            }
        }
        "dense" | "linear" => {
            expect_positional(1, "a unit count, as in dense:64")?;
            allowed(&[])?;
            Layer::Dense {
                units: number(positional[0], "unit count")?,
            }
        }
        "dropout" => {
            expect_positional(1, "a drop probability, as in dropout:0.2")?;
            allowed(&[])?;
            let p: f32 = positional[0].parse().map_err(|_| {
                layer_error(
                    item,
                    format!("probability `{}` is not a number", positional[0]),
                )
            })?;
            Layer::Dropout { p }
        }
        "globalavgpool" | "flatten" | "relu" | "tanh" | "sigmoid" => {
            expect_positional(0, "no values")?;
            allowed(&[])?;
            match name.as_str() {
                "globalavgpool" => Layer::GlobalAvgPool,
                "flatten" => Layer::Flatten,
                "relu" => Layer::Relu,
                "tanh" => Layer::Tanh,
                _ => Layer::Sigmoid,
            }
        }
        _ => {
            return Err(layer_error(
                item,
                "unknown layer; expected conv1d, conv2d, maxpool, avgpool, globalavgpool, \
                 flatten, dense, relu, tanh, sigmoid or dropout",
            ));
        }
    };
    Ok(layer)
}

/// The TOML form: `[[layers]]` tables with a `type` key.
#[derive(Deserialize)]
struct LayerFile {
    layers: Vec<Layer>,
}

/// Parses the TOML form of a layer list.
pub fn parse_layers_toml(text: &str) -> Result<Vec<Layer>> {
    let file: LayerFile = toml::from_str(text)
        .map_err(|e| Error::Layers(format!("invalid model TOML: {e}{TOML_KEYS}")))?;
    if file.layers.is_empty() {
        return Err(Error::Layers(format!(
            "the model TOML has no [[layers]] tables{TOML_KEYS}"
        )));
    }
    Ok(file.layers)
}

/// The keys each `[[layers]]` table takes, appended to TOML errors.
const TOML_KEYS: &str = "\nEach [[layers]] table has a `type` and that type's keys: \
    conv1d and conv2d: out_channels, kernel, and optionally stride, padding, dilation; \
    max_pool and avg_pool: kernel, and optionally stride, padding; dense: units; dropout: p; \
    global_avg_pool, flatten, relu, tanh, sigmoid: none.";

/// A multilayer perceptron: dense layers of the `hidden` widths with `activation` after each,
/// then a dense layer of `outputs`.
pub fn mlp_layers(hidden: &[usize], activation: Layer, outputs: usize) -> Vec<Layer> {
    let mut layers = Vec::new();
    for &units in hidden {
        layers.push(Layer::Dense { units });
        layers.push(activation.clone());
    }
    layers.push(Layer::Dense { units: outputs });
    layers
}

/// The most values one parameter may hold: 2^28, a 1 GiB tensor, far beyond what an edge
/// device trains, and small enough that a typo fails with an error instead of an attempted
/// allocation of terabytes.
const MAX_PARAMETER_VALUES: usize = 1 << 28;

/// Prefixes an error with the 1-based position and text of the layer that caused it.
fn layer_failed(index: usize, layer: &Layer, error: Error) -> Error {
    Error::Layers(format!(
        "layer {} `{}`: {error}",
        index + 1,
        layer.describe()
    ))
}

fn weight_name(layer: usize) -> String {
    format!("layers.{layer}.weight")
}

fn bias_name(layer: usize) -> String {
    format!("layers.{layer}.bias")
}

impl ModelSpec {
    /// Builds the model on a batch of `batch` samples with freshly initialised parameters
    /// (seeded) or the given ones, and returns the input node, the output node and the
    /// graph. Shape errors name the layer at fault.
    pub fn build(
        &self,
        batch: usize,
        params: Option<&[(String, Tensor)]>,
        seed: u64,
    ) -> Result<(Graph, NodeId, NodeId)> {
        let mut graph = Graph::new();
        let mut shape = vec![batch];
        shape.extend(&self.input_shape);
        let x = graph.input("samples", shape)?;
        let output = self.add_layers(&mut graph, x, params, seed)?;
        Ok((graph, x, output))
    }

    /// Adds the layers to `graph` after node `x` and returns the output node.
    pub fn add_layers(
        &self,
        graph: &mut Graph,
        x: NodeId,
        params: Option<&[(String, Tensor)]>,
        seed: u64,
    ) -> Result<NodeId> {
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = add_layer(graph, h, i, layer, params, seed)
                .map_err(|e| layer_failed(i, layer, e))?;
        }
        Ok(h)
    }

    /// Each layer with its output shape for one sample and its parameter count.
    pub fn summary(&self) -> Result<Vec<LayerSummary>> {
        let mut graph = Graph::new();
        let mut shape = vec![1];
        shape.extend(&self.input_shape);
        let mut h = graph.input("samples", shape)?;
        let mut rows = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let before = graph.parameters().len();
            h = add_layer(&mut graph, h, i, layer, None, 0)
                .map_err(|e| layer_failed(i, layer, e))?;
            let parameters = graph.parameters()[before..]
                .iter()
                .map(|(_, t)| t.data().len())
                .sum();
            rows.push(LayerSummary {
                layer: layer.describe(),
                output: graph.shape(h).clone(),
                parameters,
            });
        }
        Ok(rows)
    }

    /// The number of trained values.
    pub fn parameter_count(&self) -> Result<usize> {
        Ok(self.summary()?.iter().map(|r| r.parameters).sum())
    }

    /// The layers as text.
    pub fn describe(&self) -> String {
        self.layers
            .iter()
            .map(Layer::describe)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A parameter from `params` by name with the expected shape, or a fresh one drawn uniformly
/// from `±1/√fan_in` (PyTorch's default for linear and convolution layers) by the generator
/// `stream`.
fn parameter(
    graph: &mut Graph,
    params: Option<&[(String, Tensor)]>,
    name: String,
    shape: &[usize],
    fan_in: usize,
    stream: u64,
) -> Result<NodeId> {
    let values = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    if values.is_none_or(|v| v > MAX_PARAMETER_VALUES) {
        return Err(Error::shape(
            "model",
            format!(
                "parameter `{name}` of shape {shape:?} would hold more than {MAX_PARAMETER_VALUES} \
                 values; use fewer units or channels"
            ),
        ));
    }
    let value = match params {
        Some(list) => {
            let tensor = list
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t)
                .ok_or_else(|| Error::InvalidNode(format!("parameter `{name}` is missing")))?;
            if tensor.shape().dims() != shape {
                return Err(Error::shape(
                    "model",
                    format!(
                        "parameter `{name}` has shape {} but the layer needs {shape:?}",
                        tensor.shape()
                    ),
                ));
            }
            tensor.clone()
        }
        None => {
            let bound = 1.0 / (fan_in as f32).sqrt();
            Tensor::uniform(shape.to_vec(), -bound, bound, stream)
        }
    };
    graph.parameter(&name, value)
}

/// Seeds of the generators that draw the initial weight and bias of the `ordinal`-th layer
/// with parameters (counting from 0): distinct for every such layer and run seed.
fn streams(seed: u64, ordinal: usize) -> (u64, u64) {
    let base = seed
        .wrapping_mul(1_000_003)
        .wrapping_add(2 * ordinal as u64);
    (base, base + 1)
}

fn add_layer(
    graph: &mut Graph,
    h: NodeId,
    index: usize,
    layer: &Layer,
    params: Option<&[(String, Tensor)]>,
    seed: u64,
) -> Result<NodeId> {
    let shape = graph.shape(h).clone();
    let rank = shape.rank();
    match *layer {
        Layer::Conv1d {
            out_channels,
            kernel,
            stride,
            padding,
            dilation,
        }
        | Layer::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
            dilation,
        } => {
            let two_d = matches!(layer, Layer::Conv2d { .. });
            let expected = if two_d { 4 } else { 3 };
            if rank != expected {
                return Err(Error::shape(
                    "model",
                    format!(
                        "needs input [batch, channels, {}], got {shape}; convolutions need \
                         samples with a channel axis, not rows of table features",
                        if two_d { "height, width" } else { "length" }
                    ),
                ));
            }
            let c_in = shape.dims()[1];
            let mut w_shape = vec![out_channels, c_in, kernel];
            if two_d {
                w_shape.push(kernel);
            }
            let fan_in: usize = w_shape[1..].iter().product();
            let (w_seed, b_seed) = streams(seed, graph.parameters().len() / 2);
            let w = parameter(graph, params, weight_name(index), &w_shape, fan_in, w_seed)?;
            let b = parameter(
                graph,
                params,
                bias_name(index),
                &[out_channels],
                fan_in,
                b_seed,
            )?;
            let options = ConvOptions {
                stride,
                padding,
                dilation,
                groups: 1,
            };
            if two_d {
                graph.conv2d(h, w, b, options)
            } else {
                graph.conv1d(h, w, b, options)
            }
        }
        Layer::MaxPool {
            kernel,
            stride,
            padding,
        } => match rank {
            3 => graph.max_pool1d(h, kernel, stride, padding),
            4 => graph.max_pool2d(h, kernel, stride, padding),
            _ => Err(Error::shape(
                "model",
                format!("pooling needs rank 3 or 4 input, got {shape}"),
            )),
        },
        Layer::AvgPool {
            kernel,
            stride,
            padding,
        } => match rank {
            3 => graph.avg_pool1d(h, kernel, stride, padding),
            4 => graph.avg_pool2d(h, kernel, stride, padding),
            _ => Err(Error::shape(
                "model",
                format!("pooling needs rank 3 or 4 input, got {shape}"),
            )),
        },
        Layer::GlobalAvgPool => graph.global_avg_pool(h),
        Layer::Flatten => graph.flatten(h),
        Layer::Relu => graph.relu(h),
        Layer::Tanh => graph.tanh(h),
        Layer::Sigmoid => graph.sigmoid(h),
        Layer::Dropout { p } => graph.dropout(h, p, 0x5EED ^ index as u32),
        Layer::Dense { units } => {
            if rank != 2 {
                return Err(Error::shape(
                    "model",
                    format!(
                        "dense needs input [batch, features], got {shape}; add flatten before it"
                    ),
                ));
            }
            let fan_in = shape.dims()[1];
            let (w_seed, b_seed) = streams(seed, graph.parameters().len() / 2);
            let w = parameter(
                graph,
                params,
                weight_name(index),
                &[fan_in, units],
                fan_in,
                w_seed,
            )?;
            let b = parameter(graph, params, bias_name(index), &[units], fan_in, b_seed)?;
            let product = graph.matmul(h, w)?;
            graph.add(product, b)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cnn_description() {
        let layers = parse_layers(
            "conv1d:16:5:pad=2,relu,maxpool:2,conv1d:32:5:pad=2,relu,maxpool:2,flatten,dense:4",
        )
        .unwrap();
        assert_eq!(layers.len(), 8);
        assert_eq!(
            layers[0],
            Layer::Conv1d {
                out_channels: 16,
                kernel: 5,
                stride: 1,
                padding: 2,
                dilation: 1
            }
        );
        let round_trip: Vec<String> = layers.iter().map(Layer::describe).collect();
        assert_eq!(parse_layers(&round_trip.join(",")).unwrap(), layers);
    }

    #[test]
    fn toml_error_lists_layer_keys() {
        let err = parse_layers_toml("[[layers]]\ntype = \"conv1d\"\nchannels = 16\n").unwrap_err();
        assert!(matches!(err, Error::Layers(_)), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("invalid model TOML"), "{message}");
        assert!(message.contains("out_channels, kernel"), "{message}");
        let empty = parse_layers_toml("layers = []").unwrap_err().to_string();
        assert!(empty.contains("no [[layers]] tables"), "{empty}");
    }

    #[test]
    fn toml_matches_text() {
        let toml = r#"
            [[layers]]
            type = "conv2d"
            out_channels = 16
            kernel = 3
            padding = 1
            [[layers]]
            type = "relu"
            [[layers]]
            type = "max_pool"
            kernel = 2
            [[layers]]
            type = "flatten"
            [[layers]]
            type = "dense"
            units = 10
        "#;
        let from_toml = parse_layers_toml(toml).unwrap();
        let from_text = parse_layers("conv2d:16:3:pad=1,relu,maxpool:2,flatten,dense:10").unwrap();
        assert_eq!(from_toml, from_text);
    }

    #[test]
    fn unknown_layer_and_option_named() {
        let err = parse_layers("conv1d:16:5,swish").unwrap_err().to_string();
        assert!(err.contains("`swish`"), "{err}");
        let err = parse_layers("conv1d:16:5:groups=2")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`groups`"), "{err}");
        let err = parse_layers("dense:x").unwrap_err().to_string();
        assert!(err.contains("`x`"), "{err}");
    }

    #[test]
    fn summary_shapes_and_parameter_counts() {
        let spec = ModelSpec {
            input_shape: vec![8, 60],
            layers: parse_layers(
                "conv1d:16:5:pad=2,relu,maxpool:2,conv1d:32:5:pad=2,relu,maxpool:2,flatten,dense:3",
            )
            .unwrap(),
        };
        let rows = spec.summary().unwrap();
        assert_eq!(rows[0].output, Shape::from([1, 16, 60]));
        assert_eq!(rows[0].parameters, 16 * 8 * 5 + 16);
        assert_eq!(rows[5].output, Shape::from([1, 32, 15]));
        assert_eq!(rows[6].output, Shape::from([1, 480]));
        assert_eq!(rows[7].parameters, 480 * 3 + 3);
    }

    /// Weights and biases once came from the same generator stream, so every bias equalled the
    /// first weights of its layer; that correlation cost several points of F1 on AI4I.
    #[test]
    fn bias_not_drawn_from_weight_stream() {
        let spec = ModelSpec {
            input_shape: vec![8],
            layers: mlp_layers(&[64], Layer::Relu, 1),
        };
        let (graph, _, _) = spec.build(4, None, 0).unwrap();
        let params = graph.parameters();
        let (weight, bias) = (&params[0].1, &params[1].1);
        assert_ne!(
            &weight.data()[..64],
            bias.data(),
            "bias repeats the weight stream"
        );
        let (next_weight, _) = (&params[2].1, &params[3].1);
        assert_ne!(
            &weight.data()[..64],
            &next_weight.data()[..64],
            "layers share a stream"
        );
    }

    #[test]
    fn dense_on_rank_three_names_layer_and_fix() {
        let spec = ModelSpec {
            input_shape: vec![1, 32],
            layers: parse_layers("conv1d:4:3,dense:2").unwrap(),
        };
        let err = spec.build(2, None, 0).unwrap_err().to_string();
        assert!(err.contains("layer 2 `dense:2`"), "{err}");
        assert!(err.contains("add flatten"), "{err}");
    }
}
