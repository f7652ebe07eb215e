//! Predicts with a model saved by `train --save`: reads new data the way the model's training
//! data was read (a CSV with its feature columns, or samples in its sample format) and writes,
//! for each row or sample, the predicted class and its probability (or the predicted value for
//! regression) as CSV on standard output.
//!
//! ```text
//! cargo run --release --example predict -- --model model.safetensors --data new_rows.csv
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use edgegrad::Device;
use edgegrad::data::{SampleSource, Table, TargetEncoder, Task, read_samples};
use edgegrad::model::{InputSpec, Model};
use edgegrad::train::{argmax, output_to_predictions, predict};

/// Predict with a model saved by `train --save`.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Model file written by `train --save`.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// New data in the model's input format: a CSV with the feature columns (other columns
    /// are ignored), a folder of channel files, a signal manifest, or a CSV of pixel rows. A
    /// relative path that does not exist is also looked up under $EDGEGRAD_DATA.
    #[arg(long, value_name = "PATH")]
    data: PathBuf,
    /// Where the network runs.
    #[arg(long, value_enum, default_value_t = BackendArg::Gpu)]
    backend: BackendArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Gpu,
    Cpu,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves `--data`: the path as given, or else under $EDGEGRAD_DATA when it is relative,
/// as the trainer does.
fn resolve_data_path(path: &Path) -> PathBuf {
    if path.exists() || path.is_absolute() {
        return path.to_path_buf();
    }
    match std::env::var_os("EDGEGRAD_DATA") {
        Some(root) if Path::new(&root).join(path).exists() => Path::new(&root).join(path),
        _ => path.to_path_buf(),
    }
}

/// Describes what --data must be for a model trained on samples read from `source`.
fn expected_data(source: &SampleSource) -> String {
    match source {
        SampleSource::Channels { channel_files, .. } => format!(
            "failed to read --data: this model was trained on channel files, so --data must be \
             a folder containing {}",
            channel_files.join(", ")
        ),
        SampleSource::Signal { .. } => "failed to read --data: this model was trained on signal \
             windows, so --data must be a manifest CSV that lists the signal files"
            .to_string(),
        SampleSource::Images { shape, .. } => format!(
            "failed to read --data: this model was trained on images of shape {shape:?}, so \
             --data must be a CSV (optionally gzip-compressed) of pixel rows"
        ),
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let model = Model::load(&args.model)
        .with_context(|| "failed to load --model, which takes a file `train --save` wrote")?;
    let data = resolve_data_path(&args.data);
    let (features, rows) = match &model.meta.input {
        InputSpec::Table { features } => {
            let table = Table::from_csv_path(&data).with_context(|| {
                "failed to read --data: this model was trained on a CSV table, so --data must \
                 be a CSV file with the same feature columns"
            })?;
            (features.encode(&table)?, table.n_rows())
        }
        InputSpec::Samples { source, norm } => {
            read_samples(&data, source, norm).with_context(|| expected_data(source))?
        }
    };
    let device = match args.backend {
        BackendArg::Gpu => Device::gpu()?,
        BackendArg::Cpu => Device::Cpu,
    };
    eprintln!(
        "predicting {rows} {} of {} with {} on {}",
        if rows == 1 { "row" } else { "rows" },
        data.display(),
        args.model.display(),
        device.describe()
    );
    let outputs = predict(&model, &features, rows, &device)?;
    let task = model.meta.task;
    let width = outputs.len() / rows.max(1);
    let predictions = output_to_predictions(task, &outputs, width);

    let stdout = std::io::stdout();
    let mut out = csv::Writer::from_writer(stdout.lock());
    match (&model.meta.target, task) {
        (TargetEncoder::Classes { classes, .. }, Task::Binary) => {
            out.write_record(["row", "predicted", "probability"])?;
            for (row, &p) in predictions.iter().enumerate() {
                let (class, probability) = if p >= 0.5 {
                    (&classes[1], p)
                } else {
                    (&classes[0], 1.0 - p)
                };
                out.write_record([
                    (row + 1).to_string(),
                    class.clone(),
                    format!("{probability:.6}"),
                ])?;
            }
        }
        (TargetEncoder::Classes { classes, .. }, _) => {
            out.write_record(["row", "predicted", "probability"])?;
            for (row, probabilities) in predictions.chunks(width).enumerate() {
                let best = argmax(probabilities);
                let record = [
                    (row + 1).to_string(),
                    classes[best].clone(),
                    format!("{:.6}", probabilities[best]),
                ];
                out.write_record(record)?;
            }
        }
        (target @ TargetEncoder::Regression { .. }, _) => {
            out.write_record(["row", "predicted"])?;
            for (row, &value) in predictions.iter().enumerate() {
                out.write_record([
                    (row + 1).to_string(),
                    format!("{}", target.decode_value(value)),
                ])?;
            }
        }
    }
    out.flush()?;
    std::io::stdout().flush()?;
    Ok(())
}
