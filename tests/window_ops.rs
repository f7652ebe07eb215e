//! Convolution, pooling, reshapes and dropout, forward and backward: GPU against the CPU
//! reference and the CPU reference against finite differences, at sizes no tile divides,
//! strides that leave an unused tail, dilation with padding, kernels as wide as the padded
//! input, single output positions, and batches of 1 and 33.

mod common;

use common::harness::{Case, check, check_on, evaluate};
use common::{assert_close, random};
use edgegrad::gpu::ConvVariant;
use edgegrad::graph::ConvOptions;
use edgegrad::{Device, Mode, Session, Tensor};

/// Values spaced at least 0.05 apart in a seeded order, so that no pooling window holds two
/// values within a finite-difference step of each other.
fn distinct(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let keys = random(&[n], 0.0, 1.0, seed);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| keys.data()[a].total_cmp(&keys.data()[b]));
    let mut values = vec![0.0; n];
    for (rank, &i) in order.iter().enumerate() {
        values[i] = rank as f32 * 0.05 - n as f32 * 0.025;
    }
    Tensor::new(shape.to_vec(), values).unwrap()
}

struct ConvCase {
    input: Vec<usize>,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
}

fn conv_case(c: &ConvCase, seed: u64) -> Case {
    let mut case = Case::new();
    let spatial = c.input.len() - 2;
    let mut weight_shape = vec![c.out_channels, c.input[1]];
    weight_shape.extend(std::iter::repeat_n(c.kernel, spatial));
    let x = case.param("x", random(&c.input, -1.0, 1.0, seed));
    let w = case.param("weight", random(&weight_shape, -0.5, 0.5, seed + 1));
    let b = case.param("bias", random(&[c.out_channels], -0.5, 0.5, seed + 2));
    let options = ConvOptions {
        stride: c.stride,
        padding: c.padding,
        dilation: c.dilation,
        groups: 1,
    };
    case.output = if spatial == 1 {
        case.graph.conv1d(x, w, b, options)
    } else {
        case.graph.conv2d(x, w, b, options)
    }
    .unwrap();
    case
}

fn conv(
    input: &[usize],
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
) -> ConvCase {
    ConvCase {
        input: input.to_vec(),
        out_channels,
        kernel,
        stride,
        padding,
        dilation,
    }
}

#[test]
fn conv1d_forward_backward() {
    let cases = [
        conv(&[1, 1, 7], 1, 3, 1, 0, 1),
        conv(&[2, 3, 33], 4, 5, 2, 1, 1), // stride 2, the last input element unused
        conv(&[3, 2, 32], 5, 4, 3, 0, 1), // stride 3, a one-element unused tail
        conv(&[2, 2, 17], 3, 3, 1, 2, 2), // dilation 2 with padding
        conv(&[1, 2, 5], 2, 7, 1, 1, 1),  // kernel as wide as the padded input: one output
        conv(&[33, 1, 9], 2, 3, 2, 0, 1), // batch 33
        conv(&[2, 1, 257], 4, 64, 8, 0, 1), // the vibration model's first layer, shortened
        conv(&[2, 5, 19], 7, 3, 1, 1, 1),
    ];
    for (i, c) in cases.iter().enumerate() {
        let seed = 2000 + 10 * i as u64;
        let name = format!(
            "conv1d {:?} k{} s{} p{} d{}",
            c.input, c.kernel, c.stride, c.padding, c.dilation
        );
        check_on(&name, conv_case(c, seed), seed + 5, &conv_variants());
    }
}

/// The GPU once per convolution kernel set, so both are checked at every shape.
fn conv_variants() -> Vec<Device> {
    let Some(Device::Gpu(ctx)) = common::gpu() else {
        return Vec::new();
    };
    [ConvVariant::Direct, ConvVariant::Blocked]
        .into_iter()
        .flat_map(|v| {
            let ctx = ctx.with_conv(v);
            [
                Device::Gpu(ctx.with_bounds_checks(true)),
                Device::Gpu(ctx.with_bounds_checks(false)),
            ]
        })
        .collect()
}

#[test]
fn conv2d_forward_backward() {
    let cases = [
        conv(&[1, 1, 8, 8], 2, 3, 1, 1, 1),
        conv(&[2, 3, 7, 9], 4, 3, 2, 0, 1), // stride 2 with unused tails
        conv(&[33, 1, 5, 6], 2, 2, 3, 1, 1), // batch 33, stride 3
        conv(&[1, 2, 6, 7], 3, 3, 1, 2, 2), // dilation 2 with padding
        conv(&[1, 1, 3, 3], 2, 5, 1, 1, 1), // kernel as wide as the padded input
        conv(&[2, 16, 4, 4], 5, 3, 1, 1, 1),
    ];
    for (i, c) in cases.iter().enumerate() {
        let seed = 2100 + 10 * i as u64;
        let name = format!(
            "conv2d {:?} k{} s{} p{} d{}",
            c.input, c.kernel, c.stride, c.padding, c.dilation
        );
        check_on(&name, conv_case(c, seed), seed + 5, &conv_variants());
    }
}

fn pool_case(
    input: &[usize],
    kernel: usize,
    stride: Option<usize>,
    padding: usize,
    max: bool,
    seed: u64,
) -> Case {
    let mut case = Case::new();
    let x = case.param("x", distinct(input, seed));
    let g = &mut case.graph;
    case.output = match (input.len(), max) {
        (3, true) => g.max_pool1d(x, kernel, stride, padding),
        (3, false) => g.avg_pool1d(x, kernel, stride, padding),
        (_, true) => g.max_pool2d(x, kernel, stride, padding),
        (_, false) => g.avg_pool2d(x, kernel, stride, padding),
    }
    .unwrap();
    case
}

type PoolShape = (&'static [usize], usize, Option<usize>, usize);

const POOLS: [PoolShape; 9] = [
    (&[1, 1, 7], 2, None, 0),      // default stride, one unused element
    (&[2, 3, 33], 3, Some(2), 1),  // overlapping windows with padding
    (&[33, 2, 10], 3, Some(3), 1), // batch 33, stride 3
    (&[1, 1, 5], 5, None, 2),      // a single output position
    (&[2, 2, 17], 4, Some(3), 0),  // stride 3 with an unused tail
    (&[1, 1, 6, 6], 2, None, 0),
    (&[2, 3, 7, 9], 3, Some(2), 1), // overlapping 2-D windows with padding
    (&[33, 1, 5, 5], 2, Some(3), 1),
    (&[1, 2, 3, 3], 3, None, 1),
];

#[test]
fn max_pool_forward_backward() {
    for (i, (shape, kernel, stride, padding)) in POOLS.into_iter().enumerate() {
        let seed = 2200 + 10 * i as u64;
        let name = format!("max_pool {shape:?} k{kernel} s{stride:?} p{padding}");
        check(
            &name,
            pool_case(shape, kernel, stride, padding, true, seed),
            seed + 5,
        );
    }
}

#[test]
fn avg_pool_forward_backward() {
    for (i, (shape, kernel, stride, padding)) in POOLS.into_iter().enumerate() {
        let seed = 2300 + 10 * i as u64;
        let name = format!("avg_pool {shape:?} k{kernel} s{stride:?} p{padding}");
        check(
            &name,
            pool_case(shape, kernel, stride, padding, false, seed),
            seed + 5,
        );
    }
}

#[test]
fn global_pool_flatten_reshape() {
    for (i, shape) in [&[1, 3, 7][..], &[33, 2, 5], &[2, 4, 3, 5]]
        .into_iter()
        .enumerate()
    {
        let seed = 2400 + 10 * i as u64;
        let mut case = Case::new();
        let x = case.param("x", random(shape, -1.0, 1.0, seed));
        case.output = case.graph.global_avg_pool(x).unwrap();
        check(&format!("global_avg_pool {shape:?}"), case, seed + 1);

        let mut case = Case::new();
        let x = case.param("x", random(shape, -1.0, 1.0, seed + 2));
        let flat = case.graph.flatten(x).unwrap();
        // A second reshape back, so the backward pass goes through two reshapes.
        let numel: usize = shape.iter().product();
        case.output = case.graph.reshape(flat, [numel]).unwrap();
        check(&format!("flatten {shape:?}"), case, seed + 3);
    }
}

#[test]
fn dropout_forward_backward() {
    for (i, shape) in [&[1][..], &[33, 7], &[257, 3]].into_iter().enumerate() {
        let seed = 2500 + 10 * i as u64;
        let mut case = Case::new();
        let x = case.param("x", random(shape, 0.5, 1.5, seed));
        case.output = case.graph.dropout(x, 0.3, 7 + i as u32).unwrap();
        check(&format!("dropout {shape:?}"), case, seed + 1);
    }
}

fn devices() -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    devices.extend(common::gpu());
    devices
}

#[test]
fn dropout_mask_rate_scale_and_eval_identity() {
    for device in devices() {
        let mut case = Case::new();
        let x = case.input("x", Tensor::full([4000], 1.0));
        case.output = case.graph.dropout(x, 0.25, 11).unwrap();
        let feeds: Vec<_> = case
            .feeds
            .iter()
            .map(|(id, v)| (*id, v.as_slice()))
            .collect();
        let mut session = Session::inference(case.graph.clone(), &device).unwrap();
        session.set_mode(Mode::Train);
        let trained = session.run(&feeds, case.output).unwrap();
        let kept = trained.data().iter().filter(|&&v| v != 0.0).count();
        let rate = 1.0 - kept as f32 / 4000.0;
        assert!(
            (rate - 0.25).abs() < 0.03,
            "drop rate {rate} on {}",
            device.describe()
        );
        let scale_ok = trained
            .data()
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6);
        assert!(
            scale_ok,
            "kept values are not scaled by 1 / (1 - p) on {}",
            device.describe()
        );
        session.set_mode(Mode::Eval);
        let evaluated = session.run(&feeds, case.output).unwrap();
        assert!(
            evaluated.data().iter().all(|&v| v == 1.0),
            "eval mode must be the identity"
        );
    }
}

/// A pooled input whose windows hold equal maxima: the whole gradient goes to the first.
#[test]
fn max_pool_tie_goes_to_first_maximum() {
    for device in devices() {
        let mut case = Case::new();
        let x = case.param(
            "x",
            Tensor::new([1, 1, 6], vec![2.0, 2.0, 5.0, 5.0, -1.0, -1.0]).unwrap(),
        );
        case.output = case.graph.max_pool1d(x, 2, None, 0).unwrap();
        let pooled = case.graph.sum(case.output).unwrap();
        case.output = pooled;
        let values = evaluate(&case, pooled, &device);
        let grad = &values[1].1;
        assert_eq!(
            grad,
            &vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0],
            "tie gradient on {}",
            device.describe()
        );
    }
}

/// All-negative input with padding: the output is the true maximum, never the padding's 0.
#[test]
fn max_pool_padding_never_wins() {
    for device in devices() {
        let mut case = Case::new();
        let x = case.param(
            "x",
            Tensor::new([1, 1, 4], vec![-3.0, -1.0, -4.0, -2.0]).unwrap(),
        );
        case.output = case.graph.max_pool1d(x, 3, Some(2), 1).unwrap();
        let loss = case.graph.sum(case.output).unwrap();
        let values = evaluate(&case, loss, &device);
        // Windows: [pad, -3, -1], [-1, -4, -2], [-2, pad, pad] cut to the real elements.
        assert_eq!(
            values[0].1,
            vec![-1.0, -1.0],
            "pooled values on {}",
            device.describe()
        );
    }
}

/// Average pooling with padding divides by the number of real elements in each window.
#[test]
fn avg_pool_divides_by_real_count() {
    for device in devices() {
        let mut case = Case::new();
        let x = case.param(
            "x",
            Tensor::new([1, 1, 5], vec![1.0, 2.0, 3.0, 4.0, 5.0]).unwrap(),
        );
        case.output = case.graph.avg_pool1d(x, 3, Some(2), 1).unwrap();
        let loss = case.graph.sum(case.output).unwrap();
        let values = evaluate(&case, loss, &device);
        // Windows [pad, 1, 2], [2, 3, 4], [4, 5, pad]: means 1.5, 3, 4.5.
        assert_close(
            &values[0].1,
            &[1.5, 3.0, 4.5],
            1e-6,
            1e-6,
            &format!("avg pool on {}", device.describe()),
        );
    }
}
