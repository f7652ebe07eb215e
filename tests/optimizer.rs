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
