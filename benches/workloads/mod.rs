//! The fixed workloads that the criterion benches and `examples/bench.rs` measure, defined once
//! so their figures compare across backends and with other engines.
//!
//! Inputs, labels and initial parameters are drawn from fixed seeds, so every run times the same
//! arithmetic on the same values.
#![allow(
    dead_code,
    reason = "each bench target and the bench example use a different part of this module"
)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use criterion::Criterion;
use edgegrad::gpu::GpuContext;
use edgegrad::graph::ConvOptions;
use edgegrad::spec::{ModelSpec, parse_layers};
use edgegrad::{Device, Graph, NodeId, Op, Optimizer, Result, Session, SessionOptions, Tensor};

/// Seed of the generators behind every benchmark input and initial parameter.
pub const SEED: u64 = 7;

/// Learning rate of the SGD update in both training workloads.
pub const LEARNING_RATE: f32 = 0.01;

/// Classes of the softmax cross-entropy in both training workloads.
pub const CLASSES: usize = 2;

/// Criterion settings that keep a full `cargo bench` to a few minutes on a two-core machine: one
/// second of warm-up, then 10 samples over about 3 seconds. Command-line options such as
/// `--measurement-time` and `--sample-size` override them.
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
}

/// Opens the GPU that the criterion benches share, once per bench binary. Returns `None` after a
/// warning when no adapter opens, so that the CPU reference is still measured.
pub fn bench_gpu() -> Option<Arc<GpuContext>> {
    static GPU: OnceLock<Option<Arc<GpuContext>>> = OnceLock::new();
    GPU.get_or_init(|| match GpuContext::new() {
        Ok(ctx) => {
            let note = if ctx.is_software() {
                ": a software adapter, so GPU figures are CPU time"
            } else {
                ""
            };
            eprintln!("GPU benchmarks run on {}{note}", ctx.adapter_summary());
            Some(ctx)
        }
        Err(e) => {
            eprintln!("warning: GPU benchmarks skipped because no adapter opened: {e}");
            None
        }
    })
    .clone()
}

/// A training-step workload: a model from the layer text, softmax cross-entropy over
/// [`CLASSES`] classes with a row weight of 1 per sample, and SGD at [`LEARNING_RATE`].
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Short name used in tables and benchmark ids.
    pub name: &'static str,
    /// Shape of one sample, without the batch dimension.
    pub sample_shape: &'static [usize],
    /// Layers in the text form of [`edgegrad::spec::parse_layers`].
    pub layers: &'static str,
    /// Samples per step.
    pub batch: usize,
}

/// A tabular MLP: input [256, 14], two hidden layers of 64 with ReLU, 2 outputs.
pub const MLP: Workload = Workload {
    name: "mlp",
    sample_shape: &[14],
    layers: "dense:64,relu,dense:64,relu,dense:2",
    batch: 256,
};

/// A 1-D CNN over windows of signal: input [64, 1, 1024], two unpadded convolution blocks with
/// max pooling, then a dense layer to 2 outputs.
pub const CNN: Workload = Workload {
    name: "cnn",
    sample_shape: &[1, 1024],
    layers: "conv1d:16:7,relu,maxpool:4,conv1d:32:5,relu,maxpool:4,flatten,dense:2",
    batch: 64,
};

/// Both training workloads.
pub const WORKLOADS: [Workload; 2] = [MLP, CNN];

/// A compiled training step of a [`Workload`] with its fixed feeds.
pub struct TrainingStep {
    /// The compiled session.
    pub session: Session,
    feeds: Feeds,
    /// Floating-point operations per step: see [`step_flops`].
    pub flops: u64,
}

/// The input nodes of a training step and the values fed to them at every step.
struct Feeds {
    samples: NodeId,
    labels: NodeId,
    weights: NodeId,
    sample_values: Vec<f32>,
    label_values: Vec<f32>,
    weight_values: Vec<f32>,
}

impl Feeds {
    fn list(&self) -> [(NodeId, &[f32]); 3] {
        [
            (self.samples, self.sample_values.as_slice()),
            (self.labels, self.label_values.as_slice()),
            (self.weights, self.weight_values.as_slice()),
        ]
    }
}

impl TrainingStep {
    /// Builds `workload` with `batch` samples per step and compiles its training step on
    /// `device`.
    pub fn new(workload: &Workload, batch: usize, device: &Device) -> Result<Self> {
        Self::with_options(workload, batch, device, SessionOptions::default())
    }

    /// [`TrainingStep::new`] with the session compiled with `options`.
    pub fn with_options(
        workload: &Workload,
        batch: usize,
        device: &Device,
        options: SessionOptions,
    ) -> Result<Self> {
        let spec = ModelSpec {
            input_shape: workload.sample_shape.to_vec(),
            layers: parse_layers(workload.layers)?,
        };
        let (mut graph, samples, logits) = spec.build(batch, None, SEED)?;
        let labels = graph.input("labels", [batch])?;
        let weights = graph.input("weights", [batch])?;
        let loss = graph.softmax_cross_entropy(logits, labels, weights)?;

        let mut input_shape = vec![batch];
        input_shape.extend(workload.sample_shape);
        let sample_values = Tensor::uniform(input_shape, -1.0, 1.0, SEED).into_data();
        let label_values = class_labels(batch, SEED + 1);
        let weight_values = vec![1.0; batch];

        let sgd = Optimizer::sgd(LEARNING_RATE);
        let session = Session::training_with(graph, loss, sgd, device, options)?;
        let flops = step_flops(&session);
        let feeds = Feeds {
            samples,
            labels,
            weights,
            sample_values,
            label_values,
            weight_values,
        };
        Ok(TrainingStep {
            session,
            feeds,
            flops,
        })
    }

    /// Runs one training step, which returns only after the loss has been read back, and
    /// returns the loss.
    pub fn run(&mut self) -> Result<f32> {
        self.session.step(&self.feeds.list())
    }

    /// Times each kernel of one step with a wait after each: see [`Session::profile_step`].
    pub fn profile(&mut self) -> Result<Vec<(String, f64)>> {
        self.session.profile_step(&self.feeds.list())
    }
}

/// Seeded class indices in `0..CLASSES`.
fn class_labels(len: usize, seed: u64) -> Vec<f32> {
    let top = (CLASSES - 1) as f32;
    Tensor::uniform([len], 0.0, CLASSES as f32, seed)
        .into_data()
        .into_iter()
        .map(|v| v.floor().min(top))
        .collect()
}

/// Floating-point operations in the matmul and convolution kernels of `session`'s graph,
/// counting a multiply-add as two. Elementwise ops, pooling, the loss and the optimizer update
/// are not counted, so the GFLOP/s derived from it is a lower bound on the work done.
pub fn step_flops(session: &Session) -> u64 {
    let graph = session.graph();
    let folded: Vec<usize> = session.fusion().folded().map(NodeId::index).collect();
    let mut flops = 0u64;
    for (i, node) in graph.nodes().iter().enumerate() {
        if folded.contains(&i) {
            continue;
        }
        let shape_of = |i: usize| graph.shape(node.inputs[i]).dims();
        let macs = match node.op {
            Op::MatMul { transpose_lhs, .. } | Op::Linear { transpose_lhs, .. } => {
                let lhs = shape_of(0);
                let k = if transpose_lhs { lhs[0] } else { lhs[1] };
                node.shape.numel() * k
            }
            // Every output of a convolution, and every element of the output gradient in its two
            // backward ops, meets one weight per input channel and kernel tap.
            Op::Conv { .. } => {
                let weight = graph.shape(node.inputs[1]);
                node.shape.numel() * weight.numel() / weight.dims()[0]
            }
            Op::ConvBackwardInput { .. } => {
                let weight = graph.shape(node.inputs[1]);
                graph.shape(node.inputs[0]).numel() * weight.numel() / weight.dims()[0]
            }
            Op::ConvBackwardWeight { .. } => {
                let output_gradient = graph.shape(node.inputs[0]);
                output_gradient.numel() * node.shape.numel() / node.shape.dims()[0]
            }
            _ => 0,
        };
        flops += 2 * macs as u64;
    }
    flops
}

/// Matrix-product shapes `(m, k, n)` for `[m, k] · [k, n]`: square sizes and the products of the
/// MLP workload's first two layers.
pub const MATMUL_SHAPES: [(usize, usize, usize); 5] = [
    (64, 64, 64),
    (256, 256, 256),
    (1024, 1024, 1024),
    (256, 14, 64),
    (256, 64, 64),
];

/// A compiled graph that evaluates one op on parameters, so a run uploads nothing and reads
/// back only the op's output.
pub struct SingleOp {
    /// The compiled inference session.
    pub session: Session,
    /// The node a run computes.
    pub output: NodeId,
    /// Floating-point operations per run, counting a multiply-add as two.
    pub flops: u64,
}

impl SingleOp {
    /// Computes the output and reads it back.
    pub fn run(&mut self) -> Result<Tensor> {
        self.session.run(&[], self.output)
    }
}

/// Compiles `[m, k] · [k, n]` on seeded parameters.
pub fn matmul(m: usize, k: usize, n: usize, device: &Device) -> Result<SingleOp> {
    let mut graph = Graph::new();
    let lhs = graph.parameter("lhs", Tensor::uniform([m, k], -1.0, 1.0, SEED))?;
    let rhs = graph.parameter("rhs", Tensor::uniform([k, n], -1.0, 1.0, SEED + 1))?;
    let output = graph.matmul(lhs, rhs)?;
    let session = Session::inference(graph, device)?;
    Ok(SingleOp {
        session,
        output,
        flops: 2 * (m * k * n) as u64,
    })
}

/// A convolution shape used by the signal and image trainers.
#[derive(Clone, Copy, Debug)]
pub struct ConvCase {
    /// Benchmark id.
    pub name: &'static str,
    /// Input `[batch, channels, length]` (1-D) or `[batch, channels, height, width]` (2-D).
    pub input: &'static [usize],
    /// Output channels.
    pub out_channels: usize,
    /// Kernel width (and height in 2-D).
    pub kernel: usize,
    /// Stride and zero padding.
    pub options: ConvOptions,
}

/// The first convolution of the README's training recipes: the hydraulic rig (8 channels × 60
/// samples, batch 64), CWRU vibration windows (1024 samples, batch 32) and 8×8 digits (batch 64).
pub const CONV_CASES: [ConvCase; 3] = [
    ConvCase {
        name: "conv1d_64x8x60_k5_p2_c16",
        input: &[64, 8, 60],
        out_channels: 16,
        kernel: 5,
        options: ConvOptions {
            stride: 1,
            padding: 2,
            dilation: 1,
            groups: 1,
        },
    },
    ConvCase {
        name: "conv1d_32x1x1024_k64_s8_c16",
        input: &[32, 1, 1024],
        out_channels: 16,
        kernel: 64,
        options: ConvOptions {
            stride: 8,
            padding: 0,
            dilation: 1,
            groups: 1,
        },
    },
    ConvCase {
        name: "conv2d_64x1x8x8_k3_p1_c16",
        input: &[64, 1, 8, 8],
        out_channels: 16,
        kernel: 3,
        options: ConvOptions {
            stride: 1,
            padding: 1,
            dilation: 1,
            groups: 1,
        },
    },
];

/// Compiles the forward convolution of `case` on seeded parameters.
pub fn conv(case: &ConvCase, device: &Device) -> Result<SingleOp> {
    let two_d = case.input.len() == 4;
    let in_channels = case.input[1];
    let mut weight_shape = vec![case.out_channels, in_channels, case.kernel];
    if two_d {
        weight_shape.push(case.kernel);
    }
    let mut graph = Graph::new();
    let input = graph.parameter("input", Tensor::uniform(case.input, -1.0, 1.0, SEED))?;
    let weight = graph.parameter("weight", Tensor::uniform(weight_shape, -0.5, 0.5, SEED + 1))?;
    let bias = graph.parameter(
        "bias",
        Tensor::uniform([case.out_channels], -0.5, 0.5, SEED + 2),
    )?;
    let output = if two_d {
        graph.conv2d(input, weight, bias, case.options)?
    } else {
        graph.conv1d(input, weight, bias, case.options)?
    };
    let session = Session::inference(graph, device)?;
    let flops = step_flops(&session);
    Ok(SingleOp {
        session,
        output,
        flops,
    })
}
