//! Every op, forward and backward: the GPU kernels against the CPU reference, and the CPU
//! reference's gradients against central finite differences.
//!
//! Each case builds a small graph whose trained parameters are the op's operands, filled with
//! seeded random values at awkward sizes (1, 7, 33, 257 and others that no tile divides). Ops
//! with a non-scalar output are reduced to a loss by a weighted mean squared error against a
//! random target, so the gradient arriving at the op differs from element to element.

mod common;

use common::harness::{Case, check, check_on, evaluate};
use common::{assert_close, random, random_away_from_zero};
use edgegrad::Device;
use edgegrad::Tensor;
use edgegrad::gpu::{MatmulVariant, matmul_vec4_fits};

/// The GPU once per matmul kernel, so that each variant is checked at every shape.
fn matmul_variants() -> Vec<Device> {
    let Some(Device::Gpu(ctx)) = common::gpu() else {
        return Vec::new();
    };
    [
        MatmulVariant::Tiled,
        MatmulVariant::Blocked,
        MatmulVariant::Vec4,
    ]
    .into_iter()
    .flat_map(|v| {
        let ctx = ctx.with_matmul(v);
        [
            Device::Gpu(ctx.with_bounds_checks(true)),
            Device::Gpu(ctx.with_bounds_checks(false)),
        ]
    })
    .collect()
}

#[test]
fn matmul_all_transposes_awkward_sizes() {
    let sizes = [
        (1, 1, 1),
        (7, 33, 5),
        (33, 7, 257),
        (257, 33, 17),
        (1, 257, 7),
        (16, 16, 16),
        // Shapes the vec4 kernels take: every transpose, partial row and column blocks, and
        // a contraction that is not a multiple of 4 (36 × 5 · 5 × 4 with lhs transposed).
        (12, 8, 20),
        (7, 8, 12),
        (36, 5, 4),
        (257, 12, 33),
    ];
    for transposed in [[false, false], [true, false], [false, true], [true, true]] {
        assert!(matmul_vec4_fits(12, 20, 8, transposed));
    }
    assert!(matmul_vec4_fits(36, 4, 5, [true, false]));
    assert!(matmul_vec4_fits(257, 33, 12, [false, true]));
    assert!(!matmul_vec4_fits(7, 5, 33, [false, false]));
    let gpus = matmul_variants();
    let mut seed = 0;
    for (m, k, n) in sizes {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            seed += 10;
            let mut case = Case::new();
            let lhs_shape = if ta { [k, m] } else { [m, k] };
            let rhs_shape = if tb { [n, k] } else { [k, n] };
            let lhs = case.param("lhs", random(&lhs_shape, -1.0, 1.0, seed));
            let rhs = case.param("rhs", random(&rhs_shape, -1.0, 1.0, seed + 1));
            case.output = case.graph.matmul_transposed(lhs, rhs, ta, tb).unwrap();
            let name = format!("matmul m={m} k={k} n={n} ta={ta} tb={tb}");
            check_on(&name, case, seed + 2, &gpus);
        }
    }
}

#[test]
fn add_broadcasting_shapes() {
    let pairs: [(&[usize], &[usize]); 7] = [
        (&[1], &[1]),
        (&[257], &[257]),
        (&[33, 7], &[7]),
        (&[33, 7], &[33, 1]),
        (&[1], &[257, 3]),
        (&[7, 1, 3], &[5, 1]),
        (&[2, 3, 1, 5], &[4, 1]),
    ];
    for (i, (a, b)) in pairs.into_iter().enumerate() {
        let seed = 100 + 10 * i as u64;
        let mut case = Case::new();
        let lhs = case.param("lhs", random(a, -1.0, 1.0, seed));
        let rhs = case.param("rhs", random(b, -1.0, 1.0, seed + 1));
        case.output = case.graph.add(lhs, rhs).unwrap();
        check(&format!("add {a:?} + {b:?}"), case, seed + 2);
    }
}

#[test]
fn shared_operand_gradients_sum() {
    // x is used twice, so its gradient is the sum of both uses' gradients.
    let mut case = Case::new();
    let x = case.param("x", random(&[33, 7], -1.0, 1.0, 5));
    let y = case.graph.tanh(x).unwrap();
    case.output = case.graph.add(x, y).unwrap();
    check("x + tanh(x)", case, 6);
}

const ELEMENTWISE_SHAPES: [&[usize]; 5] = [&[1], &[7], &[33, 7], &[257, 3], &[1000]];

#[test]
fn relu_forward_backward() {
    for (i, shape) in ELEMENTWISE_SHAPES.into_iter().enumerate() {
        let mut case = Case::new();
        let x = case.param("x", random_away_from_zero(shape, 0.05, 2.0, 200 + i as u64));
        case.output = case.graph.relu(x).unwrap();
        check(&format!("relu {shape:?}"), case, 210 + i as u64);
    }
}

#[test]
fn sigmoid_forward_backward() {
    for (i, shape) in ELEMENTWISE_SHAPES.into_iter().enumerate() {
        let mut case = Case::new();
        let x = case.param("x", random(shape, -6.0, 6.0, 300 + i as u64));
        case.output = case.graph.sigmoid(x).unwrap();
        check(&format!("sigmoid {shape:?}"), case, 310 + i as u64);
    }
}

#[test]
fn tanh_forward_backward() {
    for (i, shape) in ELEMENTWISE_SHAPES.into_iter().enumerate() {
        let mut case = Case::new();
        let x = case.param("x", random(shape, -3.0, 3.0, 400 + i as u64));
        case.output = case.graph.tanh(x).unwrap();
        check(&format!("tanh {shape:?}"), case, 410 + i as u64);
    }
}

#[test]
fn sum_and_mean_reductions() {
    let shapes: [&[usize]; 5] = [&[1], &[7, 33], &[257, 5], &[2000], &[3, 1, 4, 7]];
    for (i, shape) in shapes.into_iter().enumerate() {
        for mean in [false, true] {
            let seed = 500 + 10 * i as u64 + u64::from(mean);
            let mut case = Case::new();
            let x = case.param("x", random(shape, -1.0, 1.0, seed));
            let reduced = if mean {
                case.graph.mean(x)
            } else {
                case.graph.sum(x)
            }
            .unwrap();
            // A sigmoid on top keeps the incoming gradient away from exactly 1.
            case.output = case.graph.sigmoid(reduced).unwrap();
            let out = case.output;
            case.output = case.graph.sum(out).unwrap();
            check(
                &format!("{} {shape:?}", if mean { "mean" } else { "sum" }),
                case,
                seed,
            );
        }
    }
}

#[test]
fn expand_and_sum_to() {
    let cases: [(&[usize], &[usize], f32); 4] = [
        (&[3], &[257, 3], 0.5),
        (&[33, 1], &[33, 7], -2.0),
        (&[1], &[7], 1.0),
        (&[3, 1, 5], &[2, 3, 4, 5], 1.5),
    ];
    for (i, (small, big, scale)) in cases.into_iter().enumerate() {
        let seed = 600 + 10 * i as u64;
        let mut case = Case::new();
        let x = case.param("x", random(small, -1.0, 1.0, seed));
        case.output = case.graph.expand(x, big.to_vec(), scale).unwrap();
        check(&format!("expand {small:?} to {big:?}"), case, seed + 1);

        let mut case = Case::new();
        let x = case.param("x", random(big, -1.0, 1.0, seed + 2));
        case.output = case.graph.sum_to(x, small.to_vec()).unwrap();
        check(&format!("sum_to {big:?} to {small:?}"), case, seed + 3);
    }
}

fn class_labels(rows: usize, classes: usize, seed: u64) -> Tensor {
    let r = random(&[rows], 0.0, classes as f32, seed);
    let labels = r
        .data()
        .iter()
        .map(|&v| (v.floor()).min(classes as f32 - 1.0))
        .collect();
    Tensor::new([rows], labels).unwrap()
}

#[test]
fn softmax_cross_entropy_forward_backward() {
    for (i, (rows, classes)) in [(1, 1), (1, 3), (7, 2), (33, 5), (257, 3), (300, 10)]
        .into_iter()
        .enumerate()
    {
        let seed = 700 + 10 * i as u64;
        let mut case = Case::new();
        let logits = case.param("logits", random(&[rows, classes], -3.0, 3.0, seed));
        let labels = case.input("labels", class_labels(rows, classes, seed + 1));
        let weights = case.input("weights", random(&[rows], 0.2, 3.0, seed + 2));
        case.output = case
            .graph
            .softmax_cross_entropy(logits, labels, weights)
            .unwrap();
        check(
            &format!("softmax cross-entropy {rows}x{classes}"),
            case,
            seed + 3,
        );
    }
}

#[test]
fn binary_cross_entropy_forward_backward() {
    let shapes: [&[usize]; 5] = [&[1], &[7, 1], &[33], &[257, 1], &[1000]];
    for (i, shape) in shapes.into_iter().enumerate() {
        let seed = 800 + 10 * i as u64;
        let rows = shape[0];
        let mut case = Case::new();
        let logits = case.param("logits", random(shape, -4.0, 4.0, seed));
        let targets = random(&[rows], 0.0, 1.0, seed + 1);
        let targets = targets
            .data()
            .iter()
            .map(|&t| if t < 0.3 { 1.0 } else { 0.0 })
            .collect();
        let targets = case.input("targets", Tensor::new([rows], targets).unwrap());
        let weights = case.input("weights", random(&[rows], 0.2, 3.0, seed + 2));
        case.output = case
            .graph
            .binary_cross_entropy(logits, targets, weights)
            .unwrap();
        check(&format!("binary cross-entropy {shape:?}"), case, seed + 3);
    }
}

#[test]
fn mean_squared_error_forward_backward() {
    let shapes: [&[usize]; 4] = [&[1, 1], &[7, 3], &[257, 2], &[33]];
    for (i, shape) in shapes.into_iter().enumerate() {
        let seed = 900 + 10 * i as u64;
        let mut case = Case::new();
        let prediction = case.param("prediction", random(shape, -2.0, 2.0, seed));
        let target = case.input("target", random(shape, -2.0, 2.0, seed + 1));
        let weights = case.input("weights", random(&[shape[0]], 0.2, 3.0, seed + 2));
        case.output = case
            .graph
            .mean_squared_error(prediction, target, weights)
            .unwrap();
        check(&format!("mean squared error {shape:?}"), case, seed + 3);
    }
}

/// Logits of ±1e4 overflow a naive exp; the log-sum-exp and stable BCE forms stay finite and
/// both backends agree.
#[test]
fn losses_stable_for_huge_logits() {
    let rows = 33;
    let logits_value = random_away_from_zero(&[rows, 3], 5e3, 1e4, 1000);
    let labels = class_labels(rows, 3, 1001);
    let weights = random(&[rows], 0.5, 1.5, 1002);
    let bce_logits = random_away_from_zero(&[rows], 5e3, 1e4, 1003);
    let targets: Vec<f32> = (0..rows).map(|i| (i % 2) as f32).collect();

    let mut devices = vec![Device::Cpu];
    devices.extend(common::gpu());
    let mut results = Vec::new();
    for device in &devices {
        let mut case = Case::new();
        let logits = case.param("logits", logits_value.clone());
        let l = case.input("labels", labels.clone());
        let w = case.input("weights", weights.clone());
        case.output = case.graph.softmax_cross_entropy(logits, l, w).unwrap();
        let sce = evaluate(&case, case.output, device);

        let mut case = Case::new();
        let logits = case.param("logits", bce_logits.clone());
        let t = case.input("targets", Tensor::new([rows], targets.clone()).unwrap());
        let w = case.input("weights", weights.clone());
        case.output = case.graph.binary_cross_entropy(logits, t, w).unwrap();
        let bce = evaluate(&case, case.output, device);
        for (what, values) in sce.iter().chain(&bce) {
            assert!(
                values.iter().all(|v| v.is_finite()),
                "{what} on {}: {values:?}",
                device.describe()
            );
        }
        results.push((sce, bce));
    }
    if let [(cpu_sce, cpu_bce), (gpu_sce, gpu_bce)] = results.as_slice() {
        for (cpu, gpu) in [(cpu_sce, gpu_sce), (cpu_bce, gpu_bce)] {
            for ((what, expected), (_, actual)) in cpu.iter().zip(gpu.iter()) {
                assert_close(
                    actual,
                    expected,
                    1e-4,
                    1e-4,
                    &format!("huge logits: GPU {what}"),
                );
            }
        }
    }
}
