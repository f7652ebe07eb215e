//! Fused epilogues: a matrix product with its bias add and activation, and a convolution with
//! its activation, run as one kernel. Each fused kernel is checked against the CPU reference
//! (forward, backward and finite differences) at sizes no tile divides, on every matmul and
//! convolution variant with and without bounds checks, and against the unfused sequence of
//! kernels on every backend.

mod common;

use common::harness::{Case, check_fusion, check_on};
use common::random;
use edgegrad::gpu::{ConvVariant, MatmulVariant};
use edgegrad::graph::{Activation, ConvOptions};
use edgegrad::{Device, Error, Graph, Op, Session, SessionOptions, Tensor};

const ACTIVATIONS: [Activation; 4] = [
    Activation::Identity,
    Activation::Relu,
    Activation::Sigmoid,
    Activation::Tanh,
];

/// Every GPU kernel set a test should cover, each with and without bounds checks.
fn gpus(matmul: bool) -> Vec<Device> {
    let Some(Device::Gpu(ctx)) = common::gpu() else {
        return Vec::new();
    };
    let contexts: Vec<_> = if matmul {
        [
            MatmulVariant::Tiled,
            MatmulVariant::Blocked,
            MatmulVariant::Vec4,
        ]
        .into_iter()
        .map(|v| ctx.with_matmul(v))
        .collect()
    } else {
        [ConvVariant::Direct, ConvVariant::Blocked]
            .into_iter()
            .map(|v| ctx.with_conv(v))
            .collect()
    };
    contexts
        .into_iter()
        .flat_map(|ctx| {
            [
                Device::Gpu(ctx.with_bounds_checks(true)),
                Device::Gpu(ctx.with_bounds_checks(false)),
            ]
        })
        .collect()
}

fn activate(graph: &mut Graph, x: edgegrad::NodeId, activation: Activation) -> edgegrad::NodeId {
    match activation {
        Activation::Identity => x,
        Activation::Relu => graph.relu(x).unwrap(),
        Activation::Sigmoid => graph.sigmoid(x).unwrap(),
        Activation::Tanh => graph.tanh(x).unwrap(),
    }
}

/// Builds values for a layer whose pre-activations stay clear of relu's kink at 0, so that a
/// finite-difference step never crosses it. Inputs lie in [0.1, 1], and weights and bias have
/// a sign fixed per output channel and magnitudes in [0.1, 0.5]. Every pre-activation then has
/// magnitude at least 0.1 (the bias alone), far beyond what a 0.01 step can move.
fn signed_by_channel(shape: &[usize], channel_of: impl Fn(usize) -> usize, seed: u64) -> Tensor {
    let magnitudes = random(shape, 0.1, 0.5, seed);
    let data = magnitudes
        .data()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            if channel_of(i).is_multiple_of(2) {
                v
            } else {
                -v
            }
        })
        .collect();
    Tensor::new(shape.to_vec(), data).unwrap()
}

/// How one dense-layer case lays out its operands.
#[derive(Clone, Copy, Debug)]
struct Layout {
    transpose_lhs: bool,
    transpose_rhs: bool,
    /// Bias shaped `[1, n]` instead of `[n]`.
    bias_row: bool,
    /// `bias + product` instead of `product + bias`.
    bias_first: bool,
}

fn linear_case(
    (m, k, n): (usize, usize, usize),
    layout: Layout,
    activation: Activation,
    seed: u64,
) -> Case {
    let lhs_shape = if layout.transpose_lhs { [k, m] } else { [m, k] };
    let rhs_shape = if layout.transpose_rhs { [n, k] } else { [k, n] };
    let bias_shape: &[usize] = if layout.bias_row { &[1, n] } else { &[n] };
    let (x, w, b) = if activation == Activation::Relu {
        let column = |i: usize| if layout.transpose_rhs { i / k } else { i % n };
        (
            random(&lhs_shape, 0.1, 1.0, seed),
            signed_by_channel(&rhs_shape, column, seed + 1),
            signed_by_channel(bias_shape, |i| i, seed + 2),
        )
    } else {
        (
            random(&lhs_shape, -1.0, 1.0, seed),
            random(&rhs_shape, -0.5, 0.5, seed + 1),
            random(bias_shape, -0.5, 0.5, seed + 2),
        )
    };

    let mut case = Case::new();
    let x = case.param("x", x);
    let w = case.param("w", w);
    let b = case.param("b", b);
    let g = &mut case.graph;
    let product = g
        .matmul_transposed(x, w, layout.transpose_lhs, layout.transpose_rhs)
        .unwrap();
    let sum = if layout.bias_first {
        g.add(b, product).unwrap()
    } else {
        g.add(product, b).unwrap()
    };
    case.output = activate(g, sum, activation);
    case
}

#[test]
fn linear_epilogue_matches_unfused() {
    let sizes = [
        (1, 1, 1),
        (7, 5, 3),
        (33, 17, 65),
        (257, 14, 7),
        (65, 64, 33),
        // Shapes the vec4 kernels take, with a partial row block.
        (33, 8, 12),
        (256, 64, 64),
    ];
    let gpus = gpus(true);
    for (i, &size) in sizes.iter().enumerate() {
        for (j, activation) in ACTIVATIONS.into_iter().enumerate() {
            let case_index = i * ACTIVATIONS.len() + j;
            let layout = Layout {
                transpose_lhs: case_index % 2 == 1,
                transpose_rhs: case_index % 3 == 1,
                bias_row: case_index % 5 == 2,
                bias_first: case_index % 4 == 3,
            };
            let seed = 5000 + 10 * case_index as u64;
            let name = format!("linear {size:?} {activation:?} {layout:?}");
            let case = linear_case(size, layout, activation, seed);
            let folded = if activation == Activation::Identity {
                1
            } else {
                2
            };
            check_fusion(&name, case.clone(), seed + 5, &gpus, folded);
            check_on(&name, case, seed + 5, &gpus);
        }
    }
}

fn conv_case(input: &[usize], out_channels: usize, activation: Activation, seed: u64) -> Case {
    let spatial = input.len() - 2;
    let mut weight_shape = vec![out_channels, input[1]];
    weight_shape.extend(std::iter::repeat_n(3, spatial));
    let (x, w, b) = if activation == Activation::Relu {
        let per_channel: usize = weight_shape[1..].iter().product();
        (
            random(input, 0.1, 1.0, seed),
            signed_by_channel(&weight_shape, |i| i / per_channel, seed + 1),
            signed_by_channel(&[out_channels], |i| i, seed + 2),
        )
    } else {
        (
            random(input, -1.0, 1.0, seed),
            random(&weight_shape, -0.5, 0.5, seed + 1),
            random(&[out_channels], -0.5, 0.5, seed + 2),
        )
    };

    let mut case = Case::new();
    let x = case.param("x", x);
    let w = case.param("weight", w);
    let b = case.param("bias", b);
    let options = ConvOptions {
        stride: 2,
        padding: 1,
        dilation: 1,
        groups: 1,
    };
    let g = &mut case.graph;
    let y = if spatial == 1 {
        g.conv1d(x, w, b, options)
    } else {
        g.conv2d(x, w, b, options)
    }
    .unwrap();
    case.output = activate(g, y, activation);
    case
}

#[test]
fn conv_epilogue_matches_unfused() {
    let inputs: [&[usize]; 4] = [&[1, 1, 7], &[2, 3, 33], &[33, 2, 9], &[2, 3, 7, 9]];
    let gpus = gpus(false);
    for (i, input) in inputs.into_iter().enumerate() {
        for (j, activation) in ACTIVATIONS.into_iter().skip(1).enumerate() {
            let seed = 6000 + 10 * (i * 3 + j) as u64;
            let name = format!("conv {input:?} {activation:?}");
            let case = conv_case(input, 5, activation, seed);
            check_fusion(&name, case.clone(), seed + 5, &gpus, 1);
            check_on(&name, case, seed + 5, &gpus);
        }
    }
}

/// Pooled activations: the activation's gradient folds into the max-pooling gradient. The
/// values are spaced 0.05 apart and at least 0.025 from zero, so neither a window's maximum
/// nor relu's kink moves under a finite-difference step.
#[test]
fn max_pool_gradient_fuses_activation() {
    let shapes: [&[usize]; 3] = [&[1, 1, 7], &[33, 2, 10], &[2, 3, 7, 9]];
    let gpus: Vec<Device> = common::gpu()
        .and_then(|d| match d {
            Device::Gpu(ctx) => Some(vec![
                Device::Gpu(ctx.with_bounds_checks(true)),
                Device::Gpu(ctx.with_bounds_checks(false)),
            ]),
            Device::Cpu => None,
        })
        .unwrap_or_default();
    for (i, shape) in shapes.into_iter().enumerate() {
        for (j, activation) in ACTIVATIONS.into_iter().skip(1).enumerate() {
            let seed = 7000 + 10 * (i * 3 + j) as u64;
            let n: usize = shape.iter().product();
            let keys = random(&[n], 0.0, 1.0, seed);
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by(|&a, &b| keys.data()[a].total_cmp(&keys.data()[b]));
            let mut values = vec![0.0; n];
            for (rank, &index) in order.iter().enumerate() {
                values[index] = (rank as f32 - (n / 2) as f32) * 0.05 + 0.025;
            }
            let mut case = Case::new();
            let x = case.param("x", Tensor::new(shape.to_vec(), values).unwrap());
            let g = &mut case.graph;
            let y = activate(g, x, activation);
            // Overlapping windows on even cases, windows with gaps between them on odd ones,
            // so both max-pool gradient kernels apply the activation.
            let (kernel, stride) = if (i + j) % 2 == 0 { (3, 2) } else { (2, 3) };
            case.output = if shape.len() == 3 {
                g.max_pool1d(y, kernel, Some(stride), 1)
            } else {
                g.max_pool2d(y, kernel, Some(stride), 1)
            }
            .unwrap();
            let name = format!("max_pool {shape:?} after {activation:?}");
            check_fusion(&name, case.clone(), seed + 5, &gpus, 1);
            check_on(&name, case, seed + 5, &gpus);
        }
    }
}

/// Builds a two-layer model whose hidden pre-activation is folded into the fused first layer.
fn two_layers() -> (Graph, edgegrad::NodeId, edgegrad::NodeId, edgegrad::NodeId) {
    let mut g = Graph::new();
    let x = g.input("x", [3, 4]).unwrap();
    let w1 = g
        .parameter("w1", Tensor::uniform([4, 5], -1.0, 1.0, 1))
        .unwrap();
    let b1 = g
        .parameter("b1", Tensor::uniform([5], -1.0, 1.0, 2))
        .unwrap();
    let w2 = g
        .parameter("w2", Tensor::uniform([5, 2], -1.0, 1.0, 3))
        .unwrap();
    let b2 = g
        .parameter("b2", Tensor::uniform([2], -1.0, 1.0, 4))
        .unwrap();
    let product = g.matmul(x, w1).unwrap();
    let hidden = g.add(product, b1).unwrap();
    let a = g.relu(hidden).unwrap();
    let product2 = g.matmul(a, w2).unwrap();
    let logits = g.add(product2, b2).unwrap();
    (g, x, hidden, logits)
}

#[test]
fn folded_value_is_reported_not_read() {
    let (g, x, hidden, logits) = two_layers();
    let feed = Tensor::uniform([3, 4], -1.0, 1.0, 5).into_data();
    let mut session = Session::inference(g.clone(), &Device::Cpu).unwrap();
    assert!(matches!(session.graph().node(logits).op, Op::Linear { .. }));
    let err = session.run(&[(x, &feed)], hidden).unwrap_err();
    assert!(matches!(err, Error::InvalidNode(_)), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("fused into the kernel of node"),
        "{message}"
    );
    assert!(message.contains("disable_fusion"), "{message}");

    let options = SessionOptions {
        disable_fusion: true,
        ..SessionOptions::default()
    };
    let mut unfused = Session::inference_with(g, &Device::Cpu, options).unwrap();
    assert_eq!(unfused.fusion().folded_count(), 0);
    let hidden_value = unfused.run(&[(x, &feed)], hidden).unwrap();
    assert!(hidden_value.data().iter().all(|v| v.is_finite()));
    let fused_logits = session.run(&[(x, &feed)], logits).unwrap();
    let unfused_logits = unfused.run(&[(x, &feed)], logits).unwrap();
    assert_eq!(fused_logits.data(), unfused_logits.data());
}
