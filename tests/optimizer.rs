//! Optimizer steps against values worked out by hand, on the CPU reference and the GPU.
//!
//! The graph is `loss = Σ_j x · p_j` with `x` fed, so every element of `p` receives the
//! gradient `x` and each update can be followed on paper. Expected values were computed by
//! hand from the update rules in `src/optim.rs` and cross-checked in f64.

mod common;

use common::assert_close;
use edgegrad::{AdamConfig, Device, Graph, Optimizer, Session, Tensor};

/// Runs `steps` updates of a one-element parameter starting at 1.0 with gradient `gradient`
/// and returns the parameter after each step.
fn trajectory(optimizer: Optimizer, gradient: f32, steps: usize, device: &Device) -> Vec<f32> {
    let mut g = Graph::new();
    let x = g.input("x", [1, 1]).unwrap();
    let p = g.parameter("p", Tensor::full([1, 1], 1.0)).unwrap();
    let product = g.matmul(x, p).unwrap();
    let loss = g.sum(product).unwrap();
    let mut session = Session::training(g, loss, optimizer, device).unwrap();
    (0..steps)
        .map(|_| {
            session.step(&[(x, &[gradient])]).unwrap();
            session.parameters().unwrap()[0].1.data()[0]
        })
        .collect()
}

/// The CPU reference and the GPU with and without wgpu's bounds checks.
fn devices() -> Vec<Device> {
    let mut devices = vec![Device::Cpu];
    if let Some(Device::Gpu(ctx)) = common::gpu() {
        devices.push(Device::Gpu(ctx.with_bounds_checks(true)));
        devices.push(Device::Gpu(ctx.with_bounds_checks(false)));
    }
    devices
}

fn check(name: &str, optimizer: Optimizer, gradient: f32, expected: &[f32]) {
    for device in devices() {
        let actual = trajectory(optimizer, gradient, expected.len(), &device);
        assert_close(
            &actual,
            expected,
            1e-5,
            1e-6,
            &format!("{name} on {}", device.describe()),
        );
    }
}

#[test]
fn sgd_momentum_weight_decay_by_hand() {
    // g = 1 + 0.01 p; v = 0.9 v + g; p -= 0.1 v
    // step 1: g = 1.01,       v = 1.01,       p = 0.899
    // step 2: g = 1.00899,    v = 1.91799,    p = 0.707201
    // step 3: g = 1.00707201, v = 2.73326301, p = 0.433874699
    let sgd = Optimizer::Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.01,
    };
    check("sgd momentum", sgd, 1.0, &[0.899, 0.707201, 0.433_874_7]);
}

#[test]
fn plain_sgd_by_hand() {
    // p -= 0.5 · 0.2 each step.
    check("plain sgd", Optimizer::sgd(0.5), 0.2, &[0.9, 0.8, 0.7]);
}

#[test]
fn adam_bias_correction_by_hand() {
    // With a constant gradient the bias-corrected moments are g and g², so each step moves p
    // by lr · g / (|g| + eps) = 0.1. Without the correction the first step would be 0.316.
    check("adam", Optimizer::adam(0.1), 1.0, &[0.9, 0.8, 0.7]);
}

#[test]
fn adam_epsilon_outside_square_root() {
    // g = 1e-6: the step is lr · 1e-6 / (1e-6 + 1e-8) = 0.0990099. With eps inside the root
    // it would be lr · 1e-6 / sqrt(1e-12 + 1e-8), about 0.001.
    check(
        "adam tiny gradient",
        Optimizer::adam(0.1),
        1e-6,
        &[0.900_990_1, 0.801_980_2, 0.702_970_3],
    );
}

#[test]
fn adam_l2_weight_decay_by_hand() {
    // g = 1 + 0.1 p; step 1: g = 1.1, m̂ = 1.1, v̂ = 1.21, p = 0.9;
    // step 2: g = 1.09, m = 0.208, m̂ = 1.0947368, v = 0.00239689, v̂ = 1.1990445,
    // p = 0.9 − 0.1 · 1.0947368 / 1.0950089 = 0.8000248.
    let adam = Optimizer::Adam(AdamConfig::with_lr(0.1, 0.1));
    check("adam l2", adam, 1.0, &[0.9, 0.800_024_8, 0.700_091_4]);
}

#[test]
fn adamw_decoupled_decay_by_hand() {
    // p *= 1 − 0.1 · 0.1, then p -= 0.1: 0.99 − 0.1 = 0.89; 0.8811 − 0.1 = 0.7811;
    // 0.773289 − 0.1 = 0.673289.
    let adamw = Optimizer::AdamW(AdamConfig::with_lr(0.1, 0.1));
    check("adamw", adamw, 1.0, &[0.89, 0.7811, 0.673_289]);
}

#[test]
fn adam_zero_gradient_keeps_parameter() {
    // m = v = 0, so the update is 0 / (0 + eps) = 0: no movement and no NaN.
    check(
        "adam zero gradient",
        Optimizer::adam(0.1),
        0.0,
        &[1.0, 1.0, 1.0],
    );
    let adamw = Optimizer::AdamW(AdamConfig::with_lr(0.1, 0.1));
    // Decoupled decay still shrinks the parameter: 0.99, 0.9801, 0.970299.
    check(
        "adamw zero gradient",
        adamw,
        0.0,
        &[0.99, 0.9801, 0.970_299],
    );
}

/// Builds a graph whose parameters take every update path. Only the optimizer reads the
/// gradients of `a` (7 × 33 values) and `q` (257), so the GPU packs both into shared buffers,
/// with padding between them, and updates them in one dispatch. The other three get one
/// dispatch each: `r` is a row bias whose gradient the weight gradient's kernel also reads, `c`
/// is unused (its gradient is a constant zero), and `p` is added to the loss as is (its
/// gradient is the constant seed).
fn mixed_parameters() -> (Graph, edgegrad::NodeId, edgegrad::NodeId) {
    let mut g = Graph::new();
    let x = g.input("x", [1, 7]).unwrap();
    let a = g
        .parameter("a", Tensor::uniform([7, 33], -0.5, 0.5, 11))
        .unwrap();
    let r = g
        .parameter("r", Tensor::uniform([1, 33], -0.5, 0.5, 12))
        .unwrap();
    let q = g
        .parameter("q", Tensor::uniform([257], -0.5, 0.5, 13))
        .unwrap();
    g.parameter("c", Tensor::uniform([7], -0.5, 0.5, 14))
        .unwrap();
    let p = g.parameter("p", Tensor::full([1], 0.3)).unwrap();

    let product = g.matmul(x, a).unwrap();
    let biased = g.add(product, r).unwrap();
    let activated = g.tanh(biased).unwrap();
    let dense_sum = g.sum(activated).unwrap();
    let squared_q = g.sum(q).unwrap();
    let partial = g.add(dense_sum, squared_q).unwrap();
    let loss = g.add(partial, p).unwrap();
    (g, x, loss)
}

#[test]
fn mixed_update_paths_match_reference() {
    let optimizers = [
        Optimizer::AdamW(AdamConfig::with_lr(0.05, 0.1)),
        Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
        },
    ];
    let x_values = Tensor::uniform([7], -1.0, 1.0, 15).into_data();
    for optimizer in optimizers {
        let mut trained = Vec::new();
        for device in devices() {
            let (g, x, loss) = mixed_parameters();
            let mut session = Session::training(g, loss, optimizer, &device).unwrap();
            for _ in 0..5 {
                session.step(&[(x, &x_values)]).unwrap();
            }
            if let Some(stats) = session.gpu_stats() {
                let kernels = session.profile_step(&[(x, &x_values)]).unwrap().len();
                // One packed update for `a` and `q`, one each for `r`, `c` and `p`.
                assert_eq!(stats.dispatches, kernels + 4, "{optimizer:?} dispatches");
            }
            trained.push((device.describe(), session.parameters().unwrap()));
        }
        let (_, reference) = &trained[0];
        for (device, parameters) in &trained[1..] {
            for ((name, actual), (_, expected)) in parameters.iter().zip(reference) {
                let what = format!("{optimizer:?}: `{name}` after 5 steps on {device}");
                assert_close(actual.data(), expected.data(), 1e-4, 1e-6, &what);
            }
        }
    }
}
