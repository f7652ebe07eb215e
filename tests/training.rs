//! End-to-end training: GPU and CPU reference losses agree step by step, and the trainer
//! reaches the AI4I 2020 quality bar.
//!
//! Tests that read the real datasets look for them under `EDGEGRAD_DATA`. When it is unset
//! they return early with a message, unless `EDGEGRAD_REQUIRE_DATA=1` (which CI sets), in
//! which case a missing dataset fails the test.

mod common;

use std::path::PathBuf;

use edgegrad::data::{PrepareOptions, Prepared, Table, prepare, simulate_milling};
use edgegrad::spec::{Layer, ModelSpec, mlp_layers};
use edgegrad::train::{Evaluation, Fitted, TrainOptions, TrainSet, fit};
use edgegrad::{Device, Optimizer};

/// The AI4I file, or `None` when the data folder is not configured and not required.
fn ai4i_path() -> Option<PathBuf> {
    let required = std::env::var("EDGEGRAD_REQUIRE_DATA").as_deref() == Ok("1");
    match std::env::var_os("EDGEGRAD_DATA") {
        Some(root) => {
            let path = PathBuf::from(root).join("ai4i2020.csv");
            assert!(
                path.exists(),
                "EDGEGRAD_DATA is set but {} does not exist",
                path.display()
            );
            Some(path)
        }
        None if required => panic!("EDGEGRAD_REQUIRE_DATA=1 but EDGEGRAD_DATA is not set"),
        None => {
            eprintln!("EDGEGRAD_DATA is not set: this test has nothing to read and returns early");
            None
        }
    }
}

/// AI4I prepared as documented: target `Machine failure`, without the ids and the five
/// failure-mode flags, which leak the label.
fn ai4i(path: &std::path::Path) -> Prepared {
    let table = Table::from_csv_path(path).unwrap();
    let mut options = PrepareOptions::new("Machine failure");
    options.drop = ["UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"]
        .map(String::from)
        .to_vec();
    prepare(&table, &options).unwrap()
}

fn simulated() -> Prepared {
    prepare(
        &simulate_milling(4000, 3),
        &PrepareOptions::new("Machine failure"),
    )
    .unwrap()
}

/// Trains the documented MLP, inputs → 64 → 64 → 1 with relu, on `data`.
fn train(data: &Prepared, options: &TrainOptions, device: &Device) -> Fitted {
    let shape = [data.features.n_features()];
    let spec = ModelSpec {
        input_shape: shape.to_vec(),
        layers: mlp_layers(&[64, 64], Layer::Relu, 1),
    };
    let set = TrainSet::from_prepared(data, &shape);
    fit(&set, &spec, options, device, &mut |_| {}).unwrap()
}

fn assert_losses_agree(data: &Prepared, options: &TrainOptions, what: &str) {
    let Some(gpu) = common::gpu() else { return };
    let cpu_run = train(data, options, &Device::Cpu);
    let gpu_run = train(data, options, &gpu);
    assert_eq!(
        cpu_run.step_losses.len(),
        50,
        "{what}: the CPU run took 50 steps"
    );
    assert_eq!(
        gpu_run.step_losses.len(),
        50,
        "{what}: the GPU run took 50 steps"
    );
    for (step, (c, g)) in cpu_run
        .step_losses
        .iter()
        .zip(&gpu_run.step_losses)
        .enumerate()
    {
        let relative = (c - g).abs() / c.abs().max(1e-12);
        assert!(
            relative <= 1e-4,
            "{what}: step {} loss is {g} on the GPU and {c} on the CPU (relative difference \
             {relative:e})",
            step + 1
        );
    }
    assert!(
        cpu_run.step_losses[49] < cpu_run.step_losses[0],
        "{what}: the loss did not fall over 50 steps: {:?}",
        cpu_run.step_losses
    );
}

fn fifty_steps(optimizer: Optimizer) -> TrainOptions {
    TrainOptions {
        optimizer,
        max_steps: Some(50),
        ..TrainOptions::default()
    }
}

#[test]
fn gpu_cpu_losses_agree_simulated() {
    let data = simulated();
    assert_losses_agree(
        &data,
        &fifty_steps(Optimizer::adam(1e-3)),
        "simulated, adam",
    );
    let sgd = Optimizer::Sgd {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 1e-4,
    };
    assert_losses_agree(&data, &fifty_steps(sgd), "simulated, sgd momentum");
}

#[test]
fn gpu_cpu_losses_agree_ai4i() {
    let Some(path) = ai4i_path() else { return };
    let data = ai4i(&path);
    assert_losses_agree(&data, &fifty_steps(Optimizer::adam(1e-3)), "AI4I, adam");
}

/// The documented recipe: seed 0, stratified 80/20, MLP 8→64→64→1, Adam 1e-3, batch 256,
/// 50 epochs. A PyTorch MLP with this recipe reached F1 0.595 ± 0.012 and ROC AUC
/// 0.956 ± 0.004; the bar allows for a single run's spread.
#[test]
fn ai4i_quality_bar() {
    let Some(path) = ai4i_path() else { return };
    let data = ai4i(&path);
    let mut devices = vec![Device::Cpu];
    devices.extend(common::gpu());
    for device in devices {
        let fitted = train(&data, &TrainOptions::default(), &device);
        let Evaluation::Binary(metrics) = &fitted.validation else {
            panic!("AI4I must be a binary task, got {:?}", fitted.validation);
        };
        let name = device.describe();
        assert!(
            metrics.roc_auc >= 0.93,
            "ROC AUC {} < 0.93 on {name}",
            metrics.roc_auc
        );
        assert!(metrics.f1 >= 0.53, "F1 {} < 0.53 on {name}", metrics.f1);
        eprintln!(
            "AI4I on {name}: F1 {:.4}, ROC AUC {:.4}",
            metrics.f1, metrics.roc_auc
        );
    }
}
