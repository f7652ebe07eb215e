//! Fault-prediction trainer: trains an MLP on a CSV (or on the built-in milling-machine
//! simulator) on the GPU or the CPU reference, prints validation metrics, and saves the model.
//!
//! ```text
//! cargo run --release --example train                      # built-in simulator, GPU
//! cargo run --release --example train -- --data "$EDGEGRAD_DATA/ai4i2020.csv" \
//!     --target "Machine failure" --drop UDI,"Product ID",TWF,HDF,PWF,OSF,RNF --save model.safetensors
//! ```

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use edgegrad::data::{PrepareOptions, Prepared, Table, Task, prepare, simulate_milling};
use edgegrad::metrics::format_confusion;
use edgegrad::model::{Activation, MlpSpec};
use edgegrad::train::{
    ClassWeight, Evaluation, Fitted, StepProgress, TrainOptions, fit, output_width,
};
use edgegrad::{AdamConfig, Device, Optimizer};
use indicatif::{ProgressBar, ProgressStyle};

/// Train a fault-prediction MLP with edgegrad.
///
/// With no --data it trains on a built-in, seeded simulator of milling-machine telemetry
/// (modelled on the AI4I 2020 generation rules), so it runs with no files.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// CSV file with a header row. A relative path that does not exist is also looked up
    /// under $EDGEGRAD_DATA.
    #[arg(long, value_name = "FILE.csv")]
    data: Option<PathBuf>,
    /// Column to predict [default with --data: none, required; without: Machine failure].
    #[arg(long, value_name = "COLUMN")]
    target: Option<String>,
    /// Columns to ignore (ids, or columns that leak the label); comma-separated or repeated.
    #[arg(long, value_name = "COL,COL", value_delimiter = ',')]
    drop: Vec<String>,
    /// Task; inferred from the target column when omitted.
    #[arg(long, value_enum)]
    task: Option<TaskArg>,
    /// Share of rows held out for validation, stratified by class.
    #[arg(long, default_value_t = 0.2, value_name = "FRACTION")]
    val_fraction: f64,
    /// Seed of the split, the initial weights and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Class whose precision, recall and F1 are reported [default: the rarer class].
    #[arg(long, value_name = "VALUE")]
    positive: Option<String>,
    /// `auto` weights each class inversely to its frequency in the loss.
    #[arg(long, value_enum, default_value_t = ClassWeightArg::None)]
    class_weight: ClassWeightArg,
    /// Where training runs.
    #[arg(long, value_enum, default_value_t = BackendArg::Gpu)]
    backend: BackendArg,
    /// Passes over the training rows.
    #[arg(long, default_value_t = 50)]
    epochs: usize,
    /// Rows per training step.
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Update rule.
    #[arg(long, value_enum, default_value_t = OptimizerArg::Adam)]
    optimizer: OptimizerArg,
    /// Momentum of SGD.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// Weight decay [default: 0.01 for adamw, 0 otherwise].
    #[arg(long)]
    weight_decay: Option<f32>,
    /// Hidden layer widths, comma-separated; an empty string trains a linear model.
    #[arg(long, default_value = "64,64", value_name = "N,N")]
    hidden: String,
    /// Activation after each hidden layer.
    #[arg(long, value_enum, default_value_t = ActivationArg::Relu)]
    activation: ActivationArg,
    /// Rows the built-in simulator generates when --data is not given.
    #[arg(long, default_value_t = 10_000)]
    simulated_rows: usize,
    /// Write the trained model (safetensors with its encodings) to this file.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Write the validation metrics, epoch losses, backend and adapter as JSON to this file.
    #[arg(long, value_name = "FILE")]
    metrics_json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum TaskArg {
    Binary,
    Multiclass,
    Regression,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ClassWeightArg {
    None,
    Auto,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BackendArg {
    Gpu,
    Cpu,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum OptimizerArg {
    Sgd,
    Adam,
    Adamw,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ActivationArg {
    Relu,
    Tanh,
    Sigmoid,
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

/// Resolves `--data`: the path as given, or else under $EDGEGRAD_DATA when it is relative.
fn resolve_data_path(path: &Path) -> PathBuf {
    if path.exists() || path.is_absolute() {
        return path.to_path_buf();
    }
    match std::env::var_os("EDGEGRAD_DATA") {
        Some(root) if Path::new(&root).join(path).exists() => Path::new(&root).join(path),
        _ => path.to_path_buf(),
    }
}

fn parse_hidden(text: &str) -> anyhow::Result<Vec<usize>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let width: usize = part.trim().parse().with_context(|| {
                format!("invalid --hidden width `{part}`; expected positive integers such as 64,64")
            })?;
            if width == 0 {
                bail!("invalid --hidden width 0; every layer needs at least one unit");
            }
            Ok(width)
        })
        .collect()
}

fn optimizer(args: &Args) -> anyhow::Result<Optimizer> {
    if !(args.lr.is_finite() && args.lr > 0.0) {
        bail!(
            "invalid --lr {}; the learning rate must be a positive number",
            args.lr
        );
    }
    Ok(match args.optimizer {
        OptimizerArg::Sgd => Optimizer::Sgd {
            lr: args.lr,
            momentum: args.momentum,
            weight_decay: args.weight_decay.unwrap_or(0.0),
        },
        OptimizerArg::Adam => Optimizer::Adam(AdamConfig::with_lr(
            args.lr,
            args.weight_decay.unwrap_or(0.0),
        )),
        OptimizerArg::Adamw => Optimizer::AdamW(AdamConfig::with_lr(
            args.lr,
            args.weight_decay.unwrap_or(0.01),
        )),
    })
}

fn load(args: &Args) -> anyhow::Result<(Table, String, String)> {
    match &args.data {
        Some(path) => {
            let path = resolve_data_path(path);
            let table = Table::from_csv_path(&path)?;
            let Some(target) = args.target.clone() else {
                bail!(
                    "--target is required with --data; name the column to predict, one of: {}",
                    table.names().join(", ")
                );
            };
            Ok((table, target, path.display().to_string()))
        }
        None => {
            let table = simulate_milling(args.simulated_rows, args.seed);
            let target = args
                .target
                .clone()
                .unwrap_or_else(|| "Machine failure".to_string());
            let source = format!(
                "built-in milling simulator, {} rows, seed {}",
                args.simulated_rows, args.seed
            );
            Ok((table, target, source))
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let hidden = parse_hidden(&args.hidden)?;
    let optimizer = optimizer(args)?;
    let (table, target, source) = load(args)?;
    let mut options = PrepareOptions::new(target.clone());
    options.drop = args
        .drop
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    options.task = args.task.map(|t| match t {
        TaskArg::Binary => Task::Binary,
        TaskArg::Multiclass => Task::MultiClass,
        TaskArg::Regression => Task::Regression,
    });
    options.val_fraction = args.val_fraction;
    options.seed = args.seed;
    options.positive = args.positive.clone();
    let data = prepare(&table, &options)?;
    describe_data(&data, &source, &target, args);

    let device = match args.backend {
        BackendArg::Gpu => Device::gpu()?,
        BackendArg::Cpu => Device::Cpu,
    };
    println!("backend: {} ({})", device.kind(), device.describe());
    if let Device::Gpu(ctx) = &device
        && ctx.is_software()
    {
        println!("         a software adapter: the GPU kernels run on the CPU");
    }

    let train_options = TrainOptions {
        epochs: args.epochs,
        batch_size: args.batch_size,
        optimizer,
        hidden,
        activation: match args.activation {
            ActivationArg::Relu => Activation::Relu,
            ActivationArg::Tanh => Activation::Tanh,
            ActivationArg::Sigmoid => Activation::Sigmoid,
        },
        seed: args.seed,
        class_weight: match args.class_weight {
            ClassWeightArg::None => ClassWeight::None,
            ClassWeightArg::Auto => ClassWeight::Balanced,
        },
        max_steps: None,
    };
    let spec = MlpSpec {
        inputs: data.features.n_features(),
        hidden: train_options.hidden.clone(),
        outputs: output_width(data.task, data.target.classes().len()),
        activation: train_options.activation,
    };
    let parameter_count = spec.parameter_count();
    let widths: Vec<String> = std::iter::once(spec.inputs)
        .chain(spec.hidden.iter().copied())
        .chain(std::iter::once(spec.outputs))
        .map(|w| w.to_string())
        .collect();
    println!(
        "model:   MLP {} ({}), {} parameters; {}; batch {}, {} epochs",
        widths.join(" → "),
        train_options.activation,
        parameter_count,
        optimizer,
        train_options.batch_size,
        train_options.epochs
    );

    let mut progress = Progress::new(args.epochs);
    let fitted = fit(&data, &train_options, &device, &mut |p| progress.update(p))?;
    progress.finish();
    report(&data, &fitted, &device);

    if let Some(path) = &args.save {
        fitted.model.save(path)?;
        println!("saved the model to {}", path.display());
    }
    if let Some(path) = &args.metrics_json {
        write_metrics_json(path, args, &data, &fitted, &device, &source)?;
        println!("wrote metrics to {}", path.display());
    }
    Ok(())
}

fn describe_data(data: &Prepared, source: &str, target: &str, args: &Args) {
    println!("data:    {source}");
    let classes = data.target.classes();
    match data.task {
        Task::Binary => {
            let positives = data
                .train
                .targets
                .iter()
                .chain(&data.val.targets)
                .filter(|&&t| t == 1.0)
                .count();
            let rows = data.train.rows + data.val.rows;
            println!(
                "task:    binary classification of `{target}`; positive class `{}` ({positives} of {rows} rows, {:.2} %)",
                classes[1],
                100.0 * positives as f64 / rows as f64
            );
        }
        Task::MultiClass => {
            println!(
                "task:    {}-class classification of `{target}`: {}",
                classes.len(),
                classes.join(", ")
            );
        }
        Task::Regression => println!("task:    regression of `{target}`"),
    }
    let names = data.features.feature_names();
    println!("features ({}): {}", names.len(), names.join(", "));
    println!(
        "split:   {} training rows, {} validation rows ({}, seed {})",
        data.train.rows,
        data.val.rows,
        if data.task == Task::Regression {
            "shuffled"
        } else {
            "stratified by class"
        },
        args.seed
    );
}

/// Progress output: a bar per epoch on a terminal, a line per epoch otherwise.
struct Progress {
    epochs: usize,
    bar: Option<ProgressBar>,
    interactive: bool,
}

impl Progress {
    fn new(epochs: usize) -> Self {
        Progress {
            epochs,
            bar: None,
            interactive: std::io::stderr().is_terminal(),
        }
    }

    fn update(&mut self, p: &StepProgress) {
        if p.batch == 0 {
            self.finish();
            if self.interactive {
                let bar = ProgressBar::new(p.batches as u64);
                let template = "{prefix} [{bar:30}] {pos}/{len} batches {msg}";
                if let Ok(style) = ProgressStyle::with_template(template) {
                    bar.set_style(style.progress_chars("=> "));
                }
                bar.set_prefix(format!("epoch {:>3}/{}", p.epoch + 1, self.epochs));
                self.bar = Some(bar);
            }
        }
        if let Some(bar) = &self.bar {
            bar.set_position(p.batch as u64 + 1);
            bar.set_message(format!("loss {:.5}", p.epoch_loss));
        }
        if !self.interactive && p.batch + 1 == p.batches {
            eprintln!(
                "epoch {:>3}/{}: loss {:.5}",
                p.epoch + 1,
                self.epochs,
                p.epoch_loss
            );
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

fn report(data: &Prepared, fitted: &Fitted, device: &Device) {
    let steps = fitted.step_losses.len();
    let per_step = 1e3 * fitted.train_seconds / steps.max(1) as f64;
    println!(
        "trained: {steps} steps in {:.2} s ({per_step:.2} ms per step); first step done {:.2} s after compiling began",
        fitted.train_seconds, fitted.first_step_seconds
    );
    if let Some(stats) = fitted.gpu_stats {
        println!(
            "         {} dispatches and {} submission per step, {} bytes uploaded per step, {} buffers ({} bytes) on {}",
            stats.dispatches,
            stats.submissions,
            stats.bytes_uploaded,
            stats.buffers,
            stats.buffer_bytes,
            device.describe()
        );
    }
    println!("validation ({} rows):", data.val.rows);
    let classes = data.target.classes();
    match &fitted.validation {
        Evaluation::Binary(m) => {
            println!(
                "  accuracy {:.4}  precision {:.4}  recall {:.4}  F1 {:.4}  ROC AUC {:.4}  (positive class `{}`)",
                m.accuracy, m.precision, m.recall, m.f1, m.roc_auc, classes[1]
            );
            let confusion: Vec<Vec<u64>> = m.confusion.iter().map(|row| row.to_vec()).collect();
            print!("{}", indent(&format_confusion(&confusion, classes)));
        }
        Evaluation::MultiClass(m) => {
            println!("  accuracy {:.4}  macro F1 {:.4}", m.accuracy, m.macro_f1);
            print!("{}", indent(&format_confusion(&m.confusion, classes)));
        }
        Evaluation::Regression(m) => println!("  RMSE {:.6}  MAE {:.6}", m.rmse, m.mae),
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}

fn write_metrics_json(
    path: &Path,
    args: &Args,
    data: &Prepared,
    fitted: &Fitted,
    device: &Device,
    source: &str,
) -> anyhow::Result<()> {
    let adapter = match device {
        Device::Gpu(ctx) => Some(ctx.adapter_summary()),
        Device::Cpu => None,
    };
    let classes = data.target.classes();
    let record = serde_json::json!({
        "data": source,
        "target": data.target.column(),
        "task": data.task.to_string(),
        "classes": classes,
        "positive_class": (data.task == Task::Binary).then(|| classes[1].clone()),
        "backend": device.kind(),
        "adapter": adapter,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "hidden": fitted.model.meta.mlp.hidden,
        "training_rows": data.train.rows,
        "validation_rows": data.val.rows,
        "epoch_losses": fitted.epoch_losses,
        "train_seconds": fitted.train_seconds,
        "steps": fitted.step_losses.len(),
        "dispatches_per_step": fitted.gpu_stats.map(|s| s.dispatches),
        "submissions_per_step": fitted.gpu_stats.map(|s| s.submissions),
        "validation": fitted.validation,
    });
    let text = serde_json::to_string_pretty(&record)?;
    edgegrad::model::write_atomically(path, text.as_bytes())?;
    Ok(())
}
