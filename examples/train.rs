//! Fault-prediction trainer: trains a model on tabular data (a CSV, or the built-in
//! milling-machine simulator) or on windows of signal (aligned channel files, raw signal files,
//! image rows) on the GPU or the CPU reference, prints validation metrics, and saves the model.
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
use edgegrad::data::{
    Dataset, PrepareOptions, SampleData, Table, TargetEncoder, Task, load_channels, load_images,
    load_signal, prepare, simulate_milling,
};
use edgegrad::memory::{MemoryReport, bytes};
use edgegrad::metrics::format_confusion;
use edgegrad::model::{FORMAT_VERSION, InputSpec, Model, ModelMeta};
use edgegrad::spec::{Layer, ModelSpec, mlp_layers, parse_layers, parse_layers_toml};
use edgegrad::train::{
    ClassWeight, Evaluation, Fitted, StepProgress, TrainEvent, TrainOptions, TrainSet, fit,
    output_width,
};
use edgegrad::{AdamConfig, Device, Optimizer};
use indicatif::{ProgressBar, ProgressStyle};

/// Train a fault-prediction model with edgegrad.
///
/// With no --data it trains on a built-in, seeded simulator of milling-machine telemetry
/// (modelled on the AI4I 2020 generation rules), so it runs with no files.
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Args {
    /// Input path: a CSV with a header (csv), a folder (channels), a manifest CSV (signal) or
    /// a CSV or .csv.gz of pixel rows (images). A relative path that does not exist is also
    /// looked up under $EDGEGRAD_DATA.
    #[arg(long, value_name = "PATH")]
    data: Option<PathBuf>,
    /// How to read --data.
    #[arg(long, value_enum, default_value_t = FormatArg::Csv)]
    format: FormatArg,
    /// channels: the channel files in the --data folder, comma-separated, in channel order.
    #[arg(long, value_name = "FILE,FILE", value_delimiter = ',')]
    channels: Vec<String>,
    /// channels: the label file in the --data folder.
    #[arg(long, value_name = "FILE")]
    labels: Option<String>,
    /// Label column: a 0-based index for channels and images (default for images: the last
    /// column), a column name of the manifest for signal.
    #[arg(long, value_name = "COLUMN")]
    label_column: Option<String>,
    /// signal: the manifest column that names each signal file.
    #[arg(long, default_value = "f32_file", value_name = "COLUMN")]
    file_column: String,
    /// signal: samples per window.
    #[arg(long, default_value_t = 1024)]
    window: usize,
    /// signal: samples between the starts of consecutive windows [default: the window].
    #[arg(long)]
    stride: Option<usize>,
    /// images: the shape of one image as channels,height,width.
    #[arg(long, value_name = "C,H,W", value_delimiter = ',')]
    image_shape: Vec<usize>,
    /// Layers of the model, such as "conv1d:16:5:pad=2,relu,maxpool:2,flatten,dense:4"
    /// [default: an MLP from --hidden on tables, a two-block CNN on samples]. The last layer
    /// must be a dense layer with one unit per class (one for binary tasks and regression).
    #[arg(long, value_name = "LAYERS")]
    layers: Option<String>,
    /// Read the layers from a TOML file of [[layers]] tables instead.
    #[arg(long, value_name = "FILE.toml", conflicts_with = "layers")]
    layers_file: Option<PathBuf>,
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
    /// Hidden layer widths of the default MLP, comma-separated; an empty string trains a
    /// linear model.
    #[arg(
        long,
        default_value = "64,64",
        value_name = "N,N",
        conflicts_with_all = ["layers", "layers_file"]
    )]
    hidden: String,
    /// Activation after each hidden layer of the default MLP.
    #[arg(
        long,
        value_enum,
        default_value_t = ActivationArg::Relu,
        conflicts_with_all = ["layers", "layers_file"]
    )]
    activation: ActivationArg,
    /// Rows the built-in simulator generates when --data is not given.
    #[arg(long, default_value_t = 10_000)]
    simulated_rows: usize,
    /// Reject a plan that needs more device memory than this many bytes, before training.
    #[arg(long, value_name = "BYTES")]
    memory_budget: Option<u64>,
    /// Write the trained model (safetensors with its encodings) to this file.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Write the validation metrics, epoch losses, backend and adapter as JSON to this file.
    #[arg(long, value_name = "FILE")]
    metrics_json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// A CSV with a header: numeric and text columns become features.
    Csv,
    /// Aligned text files, one per channel, one row per sample, plus a label file.
    Channels,
    /// Raw little-endian f32 files cut into windows, labelled by a manifest CSV.
    Signal,
    /// Rows of pixels with a label column, optionally gzip-compressed.
    Images,
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

/// Data ready for training, whichever format it came from.
struct Loaded {
    train: Dataset,
    val: Dataset,
    sample_shape: Vec<usize>,
    task: Task,
    target: TargetEncoder,
    input: InputSpec,
    /// Lines describing the data, printed before training.
    description: Vec<String>,
    /// Names the data in the metrics JSON.
    source: String,
}

fn load(args: &Args) -> anyhow::Result<Loaded> {
    match args.format {
        FormatArg::Csv => load_table(args),
        _ => load_samples(args),
    }
}

fn load_table(args: &Args) -> anyhow::Result<Loaded> {
    let (table, target, source) = match &args.data {
        Some(path) => {
            let path = resolve_data_path(path);
            let table = Table::from_csv_path(&path)?;
            let Some(target) = args.target.clone() else {
                bail!(
                    "--target is required with --data; name the column to predict, one of: {}",
                    table.names().join(", ")
                );
            };
            (table, target, path.display().to_string())
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
            (table, target, source)
        }
    };
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
    let data = match prepare(&table, &options) {
        Ok(data) => data,
        // The simulator's own rows are at fault, not a file the user chose: point at the
        // option that sets how many there are.
        Err(error) if args.data.is_none() => bail!(
            "{error}\nthe built-in simulator made {} rows with seed {}; try a larger \
             --simulated-rows (the default is 10000)",
            args.simulated_rows,
            args.seed
        ),
        Err(error) => return Err(error.into()),
    };

    let mut description = vec![format!("data:    {source}")];
    let classes = data.target.classes();
    description.push(match data.task {
        Task::Binary => {
            let all = data.train.targets.iter().chain(&data.val.targets);
            let positives = all.filter(|&&t| t == 1.0).count();
            let rows = data.train.rows + data.val.rows;
            format!(
                "task:    binary classification of `{target}`; positive class `{}` ({positives} of \
                 {rows} rows, {:.2} %)",
                classes[1],
                100.0 * positives as f64 / rows as f64
            )
        }
        Task::MultiClass => format!(
            "task:    {}-class classification of `{target}`: {}",
            classes.len(),
            classes.join(", ")
        ),
        Task::Regression => format!("task:    regression of `{target}`"),
    });
    let names = data.features.feature_names();
    description.push(format!("features ({}): {}", names.len(), names.join(", ")));
    description.push(format!(
        "split:   {} training rows, {} validation rows ({}, seed {})",
        data.train.rows,
        data.val.rows,
        if data.task == Task::Regression {
            "shuffled"
        } else {
            "stratified by class"
        },
        args.seed
    ));
    Ok(Loaded {
        sample_shape: vec![data.features.n_features()],
        task: data.task,
        input: InputSpec::Table {
            features: data.features.clone(),
        },
        target: data.target,
        train: data.train,
        val: data.val,
        description,
        source,
    })
}

fn label_index(args: &Args) -> anyhow::Result<Option<usize>> {
    match &args.label_column {
        None => Ok(None),
        Some(text) => text.trim().parse().map(Some).with_context(|| {
            format!("invalid --label-column `{text}`; this format takes a 0-based column index")
        }),
    }
}

fn load_samples(args: &Args) -> anyhow::Result<Loaded> {
    let Some(path) = &args.data else {
        bail!("--format {:?} needs --data", args.format);
    };
    if args.task.is_some_and(|t| matches!(t, TaskArg::Regression)) {
        bail!("--task regression needs --format csv; the sample formats hold class labels");
    }
    if args.target.is_some() || !args.drop.is_empty() {
        bail!("--target and --drop apply to --format csv; the sample formats take --label-column");
    }
    let path = resolve_data_path(path);
    let data: SampleData = match args.format {
        FormatArg::Channels => {
            if args.channels.is_empty() {
                bail!("--format channels needs --channels FILE,FILE,… naming the channel files");
            }
            let Some(labels) = &args.labels else {
                bail!("--format channels needs --labels FILE naming the label file");
            };
            let Some(column) = label_index(args)? else {
                bail!("--format channels needs --label-column N, the 0-based label column");
            };
            load_channels(
                &path,
                &args.channels,
                labels,
                column,
                args.val_fraction,
                args.seed,
            )?
        }
        FormatArg::Signal => {
            let Some(column) = &args.label_column else {
                bail!("--format signal needs --label-column NAME, a column of the manifest");
            };
            let stride = args.stride.unwrap_or(args.window);
            load_signal(
                &path,
                &args.file_column,
                column,
                args.window,
                stride,
                args.val_fraction,
            )?
        }
        FormatArg::Images => {
            let [c, h, w] = args.image_shape[..] else {
                if args.image_shape.is_empty() {
                    bail!("--format images needs --image-shape C,H,W, for example 1,8,8");
                }
                bail!(
                    "--image-shape takes 3 values, channels,height,width, but {} were given",
                    args.image_shape.len()
                );
            };
            load_images(
                &path,
                [c, h, w],
                label_index(args)?,
                args.val_fraction,
                args.seed,
            )?
        }
        FormatArg::Csv => unreachable!("tables are loaded by load_table"),
    };
    let classes = data.classes.clone();
    let task = if classes.len() == 2 {
        Task::Binary
    } else {
        Task::MultiClass
    };
    let label = args
        .label_column
        .clone()
        .unwrap_or_else(|| "label".to_string());
    let description = vec![
        format!("data:    {} ({:?} format)", path.display(), args.format).to_lowercase(),
        format!(
            "task:    {}-class classification of `{label}`: {}",
            classes.len(),
            classes.join(", ")
        ),
        format!(
            "samples: shape {:?}, standardised per channel",
            data.sample_shape
        ),
        format!(
            "split:   {} training samples, {} validation samples ({})",
            data.train.rows, data.val.rows, data.split_description
        ),
    ];
    Ok(Loaded {
        train: data.train,
        val: data.val,
        sample_shape: data.sample_shape,
        task,
        target: TargetEncoder::Classes {
            column: label,
            classes,
        },
        input: InputSpec::Samples {
            source: data.source,
            norm: data.norm,
        },
        description,
        source: path.display().to_string(),
    })
}

/// The layers: --layers, --layers-file, or a default for the data's shape.
fn model_layers(args: &Args, sample_shape: &[usize], outputs: usize) -> anyhow::Result<Vec<Layer>> {
    if let Some(text) = &args.layers {
        return Ok(parse_layers(text)?);
    }
    if let Some(path) = &args.layers_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read --layers-file {}", path.display()))?;
        return Ok(parse_layers_toml(&text)?);
    }
    let activation = match args.activation {
        ActivationArg::Relu => Layer::Relu,
        ActivationArg::Tanh => Layer::Tanh,
        ActivationArg::Sigmoid => Layer::Sigmoid,
    };
    let text = match sample_shape.len() {
        1 => {
            return Ok(mlp_layers(
                &parse_hidden(&args.hidden)?,
                activation,
                outputs,
            ));
        }
        2 => format!(
            "conv1d:16:5:pad=2,relu,maxpool:2,conv1d:32:5:pad=2,relu,maxpool:2,flatten,dense:{outputs}"
        ),
        _ => format!(
            "conv2d:16:3:pad=1,relu,maxpool:2,conv2d:32:3:pad=1,relu,maxpool:2,flatten,dense:{outputs}"
        ),
    };
    Ok(parse_layers(&text)?)
}

/// Fails unless `path` can name a new file: its folder exists and it is not itself a folder.
/// Checked before training so that a typo does not cost a finished run.
fn check_output_path(path: &Path, flag: &str) -> anyhow::Result<()> {
    if path.is_dir() {
        bail!(
            "--{flag} {} is a folder; give a file name inside it",
            path.display()
        );
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        bail!(
            "--{flag} {}: the folder {} does not exist; create it first",
            path.display(),
            folder.display()
        );
    }
    Ok(())
}

fn run(args: &Args) -> anyhow::Result<()> {
    if args.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if let Some(path) = &args.save {
        check_output_path(path, "save")?;
    }
    if let Some(path) = &args.metrics_json {
        check_output_path(path, "metrics-json")?;
    }
    let optimizer = optimizer(args)?;
    let data = load(args)?;
    for line in &data.description {
        println!("{line}");
    }

    let outputs = output_width(data.task, data.target.classes().len());
    let spec = ModelSpec {
        input_shape: data.sample_shape.clone(),
        layers: model_layers(args, &data.sample_shape, outputs)?,
    };
    match spec.layers.last() {
        Some(Layer::Dense { units }) if *units == outputs => {}
        last => bail!(
            "the last layer must be dense:{outputs}, one unit per output of this {} task, but it \
             is `{}`",
            data.task,
            last.map(Layer::describe).unwrap_or_default()
        ),
    }
    print_summary(&spec)?;
    let layers = spec.describe();

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
        seed: args.seed,
        class_weight: match args.class_weight {
            ClassWeightArg::None => ClassWeight::None,
            ClassWeightArg::Auto => ClassWeight::Balanced,
        },
        max_steps: None,
        memory_budget: args.memory_budget,
    };
    // The library caps the batch at the number of training rows, so print the batch the steps
    // use and the reason, not the requested size.
    let batch = train_options.batch_size.min(data.train.rows.max(1));
    let capped = if batch < train_options.batch_size {
        format!(
            " (--batch-size {} is more than the {} training rows)",
            train_options.batch_size, data.train.rows
        )
    } else {
        String::new()
    };
    println!(
        "training: {optimizer}; batch {batch}{capped}, {}",
        plural(train_options.epochs, "epoch", "epochs")
    );

    let set = TrainSet {
        train: &data.train,
        val: &data.val,
        sample_shape: &data.sample_shape,
        task: data.task,
        target: &data.target,
    };
    let mut progress = Progress::new(args.epochs);
    let fitted = fit(
        &set,
        &spec,
        &train_options,
        &device,
        &mut |event| match event {
            TrainEvent::Compiled { memory } => print_memory(memory),
            TrainEvent::Step(p) => progress.update(p),
            TrainEvent::Epoch { epoch, loss } => progress.epoch_done(*epoch, *loss),
        },
    )?;
    progress.finish();
    report(&set, &fitted, &device);

    if let Some(path) = &args.save {
        let model = Model {
            meta: ModelMeta {
                format_version: FORMAT_VERSION,
                task: data.task,
                model: spec,
                input: data.input.clone(),
                target: data.target.clone(),
            },
            params: fitted.params.clone(),
        };
        model.save(path)?;
        println!("saved the model to {}", path.display());
    }
    if let Some(path) = &args.metrics_json {
        write_metrics_json(path, args, &set, &fitted, &device, &data.source, &layers)?;
        println!("wrote metrics to {}", path.display());
    }
    Ok(())
}

fn print_memory(memory: &MemoryReport) {
    println!(
        "memory:  planned {} on the device ({} with one buffer per value and no fusion)",
        bytes(memory.total()),
        bytes(memory.total_without_reuse())
    );
    println!(
        "         parameters {}, gradients {}, optimizer state {}, inputs {}, scratch {}",
        bytes(memory.parameters),
        bytes(memory.gradients),
        bytes(memory.optimizer_state),
        bytes(memory.inputs),
        bytes(memory.scratch)
    );
    println!(
        "         activations {} in shared buffers; the values alive at one time peak at {}",
        bytes(memory.activations),
        bytes(memory.peak_activations)
    );
}

/// `count` followed by `one` when it is 1, else by `many`.
fn plural(count: usize, one: &str, many: &str) -> String {
    if count == 1 {
        format!("{count} {one}")
    } else {
        format!("{count} {many}")
    }
}

/// Formats a shape with its leading batch dimension written as `batch`.
fn batch_shape(dims: &[usize]) -> String {
    let rest: Vec<String> = dims.iter().skip(1).map(usize::to_string).collect();
    if rest.is_empty() {
        "[batch]".to_string()
    } else {
        format!("[batch, {}]", rest.join(", "))
    }
}

fn print_summary(spec: &ModelSpec) -> anyhow::Result<()> {
    let rows = spec.summary()?;
    let total: usize = rows.iter().map(|r| r.parameters).sum();
    println!("model:   {} parameters", total);
    let width = rows.iter().map(|r| r.layer.len()).max().unwrap_or(5).max(5);
    println!(
        "  {:<width$}  {:<18}  {:>10}",
        "layer", "output shape", "parameters"
    );
    let mut input = vec![1];
    input.extend(&spec.input_shape);
    println!(
        "  {:<width$}  {:<18}  {:>10}",
        "input",
        batch_shape(&input),
        0
    );
    for row in rows {
        let shape = batch_shape(row.output.dims());
        println!(
            "  {:<width$}  {shape:<18}  {:>10}",
            row.layer, row.parameters
        );
    }
    Ok(())
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
        }
    }

    /// Shows the epoch's loss, read back once per epoch.
    fn epoch_done(&mut self, epoch: usize, loss: f32) {
        match &self.bar {
            Some(bar) => bar.set_message(format!("loss {loss:.5}")),
            None => eprintln!("epoch {:>3}/{}: loss {loss:.5}", epoch + 1, self.epochs),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

fn report(data: &TrainSet, fitted: &Fitted, device: &Device) {
    let steps = fitted.step_losses.len();
    let per_step = 1e3 * fitted.train_seconds / steps.max(1) as f64;
    println!(
        "trained: {} in {:.2} s ({per_step:.2} ms per step); first step done {:.2} s after compiling began",
        plural(steps, "step", "steps"),
        fitted.train_seconds,
        fitted.first_step_seconds
    );
    if let Some(stats) = fitted.gpu_stats {
        println!(
            "         per step: {}, {}, {} uploaded (the batch and the step's settings)",
            plural(stats.dispatches, "dispatch", "dispatches"),
            plural(stats.submissions, "submission", "submissions"),
            bytes(stats.bytes_uploaded),
        );
        println!(
            "         {} storage buffers, {} in all, on {}",
            stats.buffers,
            bytes(stats.buffer_bytes),
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
    data: &TrainSet,
    fitted: &Fitted,
    device: &Device,
    source: &str,
    layers: &str,
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
        "layers": layers,
        "training_rows": data.train.rows,
        "validation_rows": data.val.rows,
        "epoch_losses": fitted.epoch_losses,
        "train_seconds": fitted.train_seconds,
        "steps": fitted.step_losses.len(),
        "dispatches_per_step": fitted.gpu_stats.map(|s| s.dispatches),
        "planned_bytes": fitted.memory.total(),
        "planned_bytes_without_reuse": fitted.memory.total_without_reuse(),
        "submissions_per_step": fitted.gpu_stats.map(|s| s.submissions),
        "validation": fitted.validation,
    });
    let text = serde_json::to_string_pretty(&record)?;
    edgegrad::model::write_atomically(path, text.as_bytes())?;
    Ok(())
}
