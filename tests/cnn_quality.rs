//! End-to-end quality of the convolutional models on the real datasets, on the GPU backend.
//!
//! Each test trains the documented recipe and checks the validation accuracy against a bar set
//! below the accuracy a PyTorch model of the same recipe reached (mean of 3 seeds, shown in each
//! test). The datasets are read from `EDGEGRAD_DATA`; without it the tests return early, unless
//! `EDGEGRAD_REQUIRE_DATA=1`, in which case they fail.

mod common;

use std::path::PathBuf;

use edgegrad::data::{SampleData, TargetEncoder, Task, load_channels, load_images, load_signal};
use edgegrad::spec::{ModelSpec, parse_layers};
use edgegrad::train::{Evaluation, TrainOptions, TrainSet, fit};

fn data_root() -> Option<PathBuf> {
    match std::env::var_os("EDGEGRAD_DATA") {
        Some(root) => Some(PathBuf::from(root)),
        None if std::env::var("EDGEGRAD_REQUIRE_DATA").as_deref() == Ok("1") => {
            panic!("EDGEGRAD_REQUIRE_DATA=1 but EDGEGRAD_DATA is not set")
        }
        None => {
            eprintln!("EDGEGRAD_DATA is not set: this test has nothing to read and returns early");
            None
        }
    }
}

/// Trains `layers` on `data` on the GPU and returns the validation accuracy.
fn gpu_accuracy(data: &SampleData, layers: &str, batch_size: usize, epochs: usize) -> Option<f64> {
    let gpu = common::gpu()?;
    let target = TargetEncoder::Classes {
        column: "label".into(),
        classes: data.classes.clone(),
    };
    let set = TrainSet {
        train: &data.train,
        val: &data.val,
        sample_shape: &data.sample_shape,
        task: Task::MultiClass,
        target: &target,
    };
    let spec = ModelSpec {
        input_shape: data.sample_shape.clone(),
        layers: parse_layers(layers).unwrap(),
    };
    let options = TrainOptions {
        epochs,
        batch_size,
        ..TrainOptions::default()
    };
    let fitted = fit(&set, &spec, &options, &gpu, &mut |_| {}).unwrap();
    let Evaluation::MultiClass(metrics) = fitted.validation else {
        panic!("expected multi-class metrics, got {:?}", fitted.validation);
    };
    Some(metrics.accuracy)
}

const HYDRAULIC_CHANNELS: [&str; 8] = [
    "TS1.txt", "TS2.txt", "TS3.txt", "TS4.txt", "VS1.txt", "CE.txt", "CP.txt", "SE.txt",
];

/// conv1d(8→16, k5, p2) relu maxpool2 conv1d(16→32, k5, p2) relu maxpool2 dense; Adam 1e-3,
/// batch 64, 40 epochs, on one column of the label file.
fn hydraulic_head(column: usize, classes: usize, bar: f64, head: &str) {
    let Some(root) = data_root() else { return };
    let channels: Vec<String> = HYDRAULIC_CHANNELS.map(String::from).to_vec();
    let dir = root.join("hydraulic_1hz");
    let data = load_channels(&dir, &channels, "profile.txt", column, 0.2, 0).unwrap();
    assert_eq!(
        data.classes.len(),
        classes,
        "{head} classes: {:?}",
        data.classes
    );
    let layers = format!(
        "conv1d:16:5:pad=2,relu,maxpool:2,conv1d:32:5:pad=2,relu,maxpool:2,flatten,dense:{classes}"
    );
    let Some(accuracy) = gpu_accuracy(&data, &layers, 64, 40) else {
        return;
    };
    eprintln!("hydraulic {head}: validation accuracy {accuracy:.4}");
    assert!(
        accuracy >= bar,
        "hydraulic {head} accuracy {accuracy:.4} < {bar}"
    );
}

#[test]
fn hydraulic_cooler_reaches_bar() {
    // PyTorch reference: 0.998.
    hydraulic_head(0, 3, 0.98, "cooler");
}

#[test]
fn hydraulic_valve_reaches_bar() {
    // PyTorch reference: 0.84.
    hydraulic_head(1, 4, 0.80, "valve");
}

#[test]
fn hydraulic_pump_reaches_bar() {
    // PyTorch reference: 0.989.
    hydraulic_head(2, 3, 0.96, "pump");
}

/// conv1d(1→16, k64, s8) relu maxpool2 conv1d(16→32, k3, p1) relu maxpool2 dense; Adam 1e-3,
/// batch 32, 30 epochs, on 1024-sample windows split by time within each file.
fn cwru(label: &str, classes: usize, bar: f64) {
    let Some(root) = data_root() else { return };
    let manifest = root.join("cwru").join("manifest.csv");
    let data = load_signal(&manifest, "f32_file", label, 1024, 1024, 0.2).unwrap();
    assert_eq!(
        data.classes.len(),
        classes,
        "{label} classes: {:?}",
        data.classes
    );
    let layers = format!(
        "conv1d:16:64:stride=8,relu,maxpool:2,conv1d:32:3:pad=1,relu,maxpool:2,flatten,dense:{classes}"
    );
    let Some(accuracy) = gpu_accuracy(&data, &layers, 32, 30) else {
        return;
    };
    eprintln!("CWRU {label}: validation accuracy {accuracy:.4}");
    assert!(
        accuracy >= bar,
        "CWRU {label} accuracy {accuracy:.4} < {bar}"
    );
}

#[test]
fn cwru_4_class_reaches_bar() {
    // PyTorch reference: 0.998.
    cwru("label4", 4, 0.97);
}

#[test]
fn cwru_10_class_reaches_bar() {
    // PyTorch reference: 0.96 to 0.97.
    cwru("label10", 10, 0.93);
}

#[test]
fn digits_reaches_bar() {
    // conv2d(1→16, 3×3, p1) relu maxpool2 conv2d(16→32, 3×3, p1) relu maxpool2 dense; Adam
    // 1e-3, batch 64, 30 epochs. PyTorch reference: 0.970.
    let Some(root) = data_root() else { return };
    let path = root.join("digits").join("digits.csv.gz");
    let data = load_images(&path, [1, 8, 8], None, 0.2, 0).unwrap();
    let layers =
        "conv2d:16:3:pad=1,relu,maxpool:2,conv2d:32:3:pad=1,relu,maxpool:2,flatten,dense:10";
    let Some(accuracy) = gpu_accuracy(&data, layers, 64, 30) else {
        return;
    };
    eprintln!("digits: validation accuracy {accuracy:.4}");
    assert!(accuracy >= 0.95, "digits accuracy {accuracy:.4} < 0.95");
}
