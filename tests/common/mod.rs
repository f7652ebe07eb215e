//! Helpers shared by the integration tests: the GPU device, seeded inputs and a tolerance
//! comparison.
#![allow(dead_code)]

pub mod harness;

use std::sync::OnceLock;

use edgegrad::{Device, Tensor, gpu::DRIVER_HINT};

/// Environment variable that, set to `1`, lets GPU tests return early when no adapter exists.
/// Without it a missing adapter fails the test.
pub const SKIP_GPU_VAR: &str = "EDGEGRAD_SKIP_GPU_TESTS";

/// The GPU device shared by every test in this binary, or `None` when no adapter exists and
/// the environment explicitly asks to skip GPU tests.
///
/// # Panics
/// When no adapter exists and the skip variable is not set, with the driver hint.
pub fn gpu() -> Option<Device> {
    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    let device = DEVICE.get_or_init(|| match Device::gpu() {
        Ok(device) => {
            eprintln!("GPU tests run on {}", device.describe());
            Ok(device)
        }
        Err(e) => Err(e.to_string()),
    });
    match device {
        Ok(device) => Some(device.clone()),
        Err(message) if std::env::var(SKIP_GPU_VAR).as_deref() == Ok("1") => {
            eprintln!("skipping a GPU test because {SKIP_GPU_VAR}=1: {message}");
            None
        }
        Err(message) => panic!(
            "GPU tests need an adapter: {message}\n{DRIVER_HINT}\nTo skip GPU tests on purpose, \
             set {SKIP_GPU_VAR}=1."
        ),
    }
}

/// Seeded uniform values in `[low, high)`.
pub fn random(shape: &[usize], low: f32, high: f32, seed: u64) -> Tensor {
    Tensor::uniform(shape.to_vec(), low, high, seed)
}

/// Seeded values in `[-high, -low] ∪ [low, high]`, away from zero, for ops with a kink at 0.
pub fn random_away_from_zero(shape: &[usize], low: f32, high: f32, seed: u64) -> Tensor {
    let magnitudes = Tensor::uniform(shape.to_vec(), low, high, seed);
    let signs = Tensor::uniform(shape.to_vec(), -1.0, 1.0, seed ^ 0x5eed);
    let data = magnitudes
        .data()
        .iter()
        .zip(signs.data())
        .map(|(&m, &s)| if s < 0.0 { -m } else { m })
        .collect();
    Tensor::new(shape.to_vec(), data).unwrap()
}

/// Asserts `|actual − expected| ≤ atol + rtol·|expected|` elementwise. NaN never passes, so a
/// poisoned element that a kernel did not write fails here.
#[track_caller]
pub fn assert_close(actual: &[f32], expected: &[f32], rtol: f32, atol: f32, what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length differs");
    let mut worst: Option<(usize, f32)> = None;
    for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
        let diff = (a - e).abs();
        let allowed = atol + rtol * e.abs();
        // Written so that a NaN difference counts as a mismatch.
        let within = diff <= allowed;
        let bad = !within || a.is_nan() != e.is_nan();
        if bad && worst.is_none_or(|(_, d)| diff > d || diff.is_nan()) {
            worst = Some((i, diff));
        }
    }
    if let Some((i, diff)) = worst {
        panic!(
            "{what}: element {i} is {} but expected {} (difference {diff}, allowed {} + {}·|expected|)",
            actual[i], expected[i], atol, rtol
        );
    }
}
