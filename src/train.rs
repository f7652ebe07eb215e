//! Training and evaluating a model on prepared data.
//!
//! [`fit`] compiles one training step for a fixed batch size and runs it over shuffled batches
//! for a number of epochs. The last batch of an epoch is padded with rows of weight zero, which
//! the weighted losses ignore, so every row is used and the compiled shapes never change.

use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::cpu::kernels::sigmoid_scalar;
use crate::data::{Dataset, Prepared, TargetEncoder, Task, balanced_class_weights};
use crate::error::{Error, Result};
use crate::gpu::GpuStats;
use crate::graph::{Graph, NodeId};
use crate::memory::MemoryReport;
use crate::metrics::{
    BinaryMetrics, MultiClassMetrics, RegressionMetrics, binary_metrics, multiclass_metrics,
    regression_metrics,
};
use crate::model::Model;
use crate::optim::Optimizer;
use crate::session::{Device, Session, SessionOptions};
use crate::spec::ModelSpec;
use crate::tensor::Tensor;

/// How rows are weighted in the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClassWeight {
    /// Every row counts once.
    None,
    /// Each class's rows are weighted by `rows / (classes · rows of that class)`.
    Balanced,
}

/// Settings of a training run.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// Passes over the training split.
    pub epochs: usize,
    /// Rows per step.
    pub batch_size: usize,
    /// Update rule and learning rate.
    pub optimizer: Optimizer,
    /// Seed of the weight initialisation and of the batch order.
    pub seed: u64,
    /// Row weighting of classification losses.
    pub class_weight: ClassWeight,
    /// Stops after this many steps when set.
    pub max_steps: Option<u64>,
    /// Rejects a plan needing more device memory than this many bytes, before any step.
    pub memory_budget: Option<u64>,
}

impl Default for TrainOptions {
    /// 50 epochs of batch 256, Adam at 1e-3, seed 0.
    fn default() -> Self {
        TrainOptions {
            epochs: 50,
            batch_size: 256,
            optimizer: Optimizer::adam(1e-3),
            seed: 0,
            class_weight: ClassWeight::None,
            max_steps: None,
            memory_budget: None,
        }
    }
}

/// What [`fit`] reports to its callback.
#[derive(Clone, Copy, Debug)]
pub enum TrainEvent<'a> {
    /// The step is compiled; sent once, before the first step.
    Compiled {
        /// The planned device memory.
        memory: &'a MemoryReport,
    },
    /// A step was submitted; its loss is read at the end of the epoch.
    Step(StepProgress),
    /// An epoch finished.
    Epoch {
        /// Epoch, from 0.
        epoch: usize,
        /// Mean training loss of the epoch, weighted by rows.
        loss: f32,
    },
}

/// Where training is, passed to the progress callback after every step.
#[derive(Clone, Copy, Debug)]
pub struct StepProgress {
    /// Epoch, from 0.
    pub epoch: usize,
    /// Batch within the epoch, from 0.
    pub batch: usize,
    /// Batches per epoch.
    pub batches: usize,
}

/// Training and validation data with what the loss needs to know about the target.
#[derive(Clone, Copy, Debug)]
pub struct TrainSet<'a> {
    /// Rows the model learns from.
    pub train: &'a Dataset,
    /// Rows the metrics are computed on.
    pub val: &'a Dataset,
    /// Shape of one sample; its product is the datasets' `n_features`.
    pub sample_shape: &'a [usize],
    /// The task, which picks the loss and the metrics.
    pub task: Task,
    /// Class names, or the regression target's scaling.
    pub target: &'a TargetEncoder,
}

impl<'a> TrainSet<'a> {
    /// The training set of prepared tabular data: one sample is one row of features.
    pub fn from_prepared(data: &'a Prepared, sample_shape: &'a [usize]) -> Self {
        TrainSet {
            train: &data.train,
            val: &data.val,
            sample_shape,
            task: data.task,
            target: &data.target,
        }
    }

    /// The width of the model's output for this task.
    pub fn output_width(&self) -> usize {
        output_width(self.task, self.target.classes().len())
    }
}

/// The result of [`fit`].
#[derive(Clone, Debug)]
pub struct Fitted {
    /// The trained parameters by name.
    pub params: Vec<(String, Tensor)>,
    /// Mean training loss of each epoch, weighted by rows.
    pub epoch_losses: Vec<f32>,
    /// The loss of every step, in order.
    pub step_losses: Vec<f32>,
    /// Metrics on the validation split.
    pub validation: Evaluation,
    /// Seconds spent in training steps.
    pub train_seconds: f64,
    /// Seconds from the start of compilation to the end of the first step.
    pub first_step_seconds: f64,
    /// Counters of the last GPU step.
    pub gpu_stats: Option<GpuStats>,
    /// The planned device memory.
    pub memory: MemoryReport,
}

/// Validation metrics for the task.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum Evaluation {
    /// Binary classification, on the positive class.
    Binary(BinaryMetrics),
    /// Multi-class classification.
    #[serde(rename = "multiclass")]
    MultiClass(MultiClassMetrics),
    /// Regression, in the target's own units.
    Regression(RegressionMetrics),
}

/// The inputs of a compiled model graph.
struct ModelGraph {
    graph: Graph,
    x: NodeId,
    output: NodeId,
    targets: NodeId,
    weights: NodeId,
    loss: NodeId,
}

/// Builds `spec` on a batch of `rows` with the loss of `task`, with the given parameters or
/// fresh ones from `seed`.
fn model_graph(
    spec: &ModelSpec,
    params: Option<&[(String, Tensor)]>,
    seed: u64,
    task: Task,
    rows: usize,
) -> Result<ModelGraph> {
    let (mut graph, x, output) = spec.build(rows, params, seed)?;
    let weights = graph.input("row weights", [rows])?;
    let (targets, loss) = match task {
        Task::Binary => {
            let t = graph.input("targets", [rows])?;
            (t, graph.binary_cross_entropy(output, t, weights)?)
        }
        Task::MultiClass => {
            let t = graph.input("targets", [rows])?;
            (t, graph.softmax_cross_entropy(output, t, weights)?)
        }
        Task::Regression => {
            let t = graph.input("targets", [rows, 1])?;
            (t, graph.mean_squared_error(output, t, weights)?)
        }
    };
    Ok(ModelGraph {
        graph,
        x,
        output,
        targets,
        weights,
        loss,
    })
}

/// The network's output width for a task.
pub fn output_width(task: Task, classes: usize) -> usize {
    match task {
        Task::Binary | Task::Regression => 1,
        Task::MultiClass => classes,
    }
}

/// Trains `spec` on `data.train` and evaluates it on `data.val`.
///
/// `on_event` receives the memory plan once compiled and the progress after every step.
pub fn fit(
    data: &TrainSet,
    spec: &ModelSpec,
    options: &TrainOptions,
    device: &Device,
    on_event: &mut dyn FnMut(&TrainEvent),
) -> Result<Fitted> {
    if options.batch_size == 0 || options.epochs == 0 {
        return Err(Error::Feed(format!(
            "batch size ({}) and epochs ({}) must both be at least 1",
            options.batch_size, options.epochs
        )));
    }
    let width: usize = spec.input_shape.iter().product();
    if spec.input_shape != data.sample_shape || data.train.n_features != width {
        return Err(Error::Feed(format!(
            "the model takes samples of shape {:?} but the data has shape {:?} ({} values each)",
            spec.input_shape, data.sample_shape, data.train.n_features
        )));
    }
    let classes = data.target.classes().len();
    let train = data.train;
    let batch = options.batch_size.min(train.rows.max(1));
    let row_weights = match (options.class_weight, data.task) {
        (ClassWeight::Balanced, Task::Binary | Task::MultiClass) => {
            let per_class = balanced_class_weights(&train.targets, classes);
            train
                .targets
                .iter()
                .map(|&t| per_class[t as usize])
                .collect()
        }
        _ => vec![1.0; train.rows],
    };

    let started = Instant::now();
    let mg = model_graph(spec, None, options.seed, data.task, batch)?;
    let session_options = SessionOptions {
        memory_budget: options.memory_budget,
        ..SessionOptions::default()
    };
    let mut session = Session::training_with(
        mg.graph,
        mg.loss,
        options.optimizer,
        device,
        session_options,
    )?;
    let memory = session.memory_report().clone();
    on_event(&TrainEvent::Compiled { memory: &memory });
    let mut first_step_seconds = None;

    let batches = train.rows.div_ceil(batch);
    let mut buffers = BatchBuffers::new(batch, width);
    let mut order: Vec<usize> = (0..train.rows).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed ^ 0x0BA7_C4E5);
    let mut epoch_losses = Vec::new();
    let mut step_losses = Vec::new();
    let mut steps_taken = 0u64;
    let train_start = Instant::now();
    for epoch in 0..options.epochs {
        if options.max_steps.is_some_and(|max| steps_taken >= max) {
            break;
        }
        order.shuffle(&mut rng);
        // Each epoch's losses stay on the device until its last step, so the host never waits
        // for the device inside an epoch.
        let mut batch_rows = Vec::with_capacity(batches);
        let mut first_losses = Vec::new();
        for b in 0..batches {
            if options.max_steps.is_some_and(|max| steps_taken >= max) {
                break;
            }
            let rows = &order[b * batch..((b + 1) * batch).min(train.rows)];
            buffers.fill(train, rows, &row_weights);
            let feeds = [
                (mg.x, buffers.features.as_slice()),
                (mg.targets, buffers.targets.as_slice()),
                (mg.weights, buffers.weights.as_slice()),
            ];
            if steps_taken == 0 {
                // The first step waits for its loss, which times compilation plus one step.
                first_losses.push(session.step(&feeds)?);
                first_step_seconds = Some(started.elapsed().as_secs_f64());
            } else {
                session.step_deferred(&feeds)?;
            }
            steps_taken += 1;
            batch_rows.push(rows.len());
            on_event(&TrainEvent::Step(StepProgress {
                epoch,
                batch: b,
                batches,
            }));
        }
        let mut losses = std::mem::take(&mut first_losses);
        losses.extend(session.take_losses()?);
        let rows_seen: usize = batch_rows.iter().sum();
        let total: f64 = losses
            .iter()
            .zip(&batch_rows)
            .map(|(&l, &r)| l as f64 * r as f64)
            .sum();
        step_losses.extend_from_slice(&losses);
        if rows_seen > 0 {
            let loss = (total / rows_seen as f64) as f32;
            epoch_losses.push(loss);
            on_event(&TrainEvent::Epoch { epoch, loss });
        }
    }
    let train_seconds = train_start.elapsed().as_secs_f64();
    let gpu_stats = session.gpu_stats();

    let outputs = run_batched(&mut session, mg.x, mg.output, data.val, batch)?;
    let validation = evaluate(data, &outputs);
    let params = session.parameters()?;
    Ok(Fitted {
        params,
        epoch_losses,
        step_losses,
        validation,
        train_seconds,
        first_step_seconds: first_step_seconds.unwrap_or(0.0),
        gpu_stats,
        memory,
    })
}

/// Host staging of one batch, reused across steps; padding rows have weight 0.
struct BatchBuffers {
    features: Vec<f32>,
    targets: Vec<f32>,
    weights: Vec<f32>,
    width: usize,
}

impl BatchBuffers {
    fn new(batch: usize, width: usize) -> Self {
        BatchBuffers {
            features: vec![0.0; batch * width],
            targets: vec![0.0; batch],
            weights: vec![0.0; batch],
            width,
        }
    }

    fn fill(&mut self, data: &Dataset, rows: &[usize], row_weights: &[f32]) {
        self.features.fill(0.0);
        self.targets.fill(0.0);
        self.weights.fill(0.0);
        let w = self.width;
        for (slot, &row) in rows.iter().enumerate() {
            self.features[slot * w..(slot + 1) * w]
                .copy_from_slice(&data.features[row * w..(row + 1) * w]);
            self.targets[slot] = data.targets[row];
            self.weights[slot] = row_weights[row];
        }
    }
}

/// Runs `output` over all rows of `data` in batches of `batch`, padding the last one, and
/// returns the outputs row-major.
fn run_batched(
    session: &mut Session,
    x: NodeId,
    output: NodeId,
    data: &Dataset,
    batch: usize,
) -> Result<Vec<f32>> {
    let width = data.n_features;
    let out_width = session.graph().shape(output).numel() / batch;
    let mut features = vec![0.0; batch * width];
    let mut outputs = Vec::with_capacity(data.rows * out_width);
    for start in (0..data.rows).step_by(batch) {
        let end = (start + batch).min(data.rows);
        features.fill(0.0);
        features[..(end - start) * width]
            .copy_from_slice(&data.features[start * width..end * width]);
        let values = session.run(&[(x, &features)], output)?;
        outputs.extend_from_slice(&values.data()[..(end - start) * out_width]);
    }
    Ok(outputs)
}

/// Turns raw network outputs into per-row predictions: the positive-class probability
/// (binary, one value per row), class probabilities (multi-class, one row each), or the value
/// in the target's units (regression).
pub fn output_to_predictions(task: Task, outputs: &[f32], width: usize) -> Vec<f32> {
    match task {
        Task::Binary => outputs.iter().map(|&x| sigmoid_scalar(x)).collect(),
        Task::MultiClass => outputs.chunks(width).flat_map(softmax).collect(),
        Task::Regression => outputs.to_vec(),
    }
}

fn softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let exps: Vec<f32> = row.iter().map(|&v| (v - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

/// Index of the largest value.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

fn evaluate(data: &TrainSet, outputs: &[f32]) -> Evaluation {
    let val = data.val;
    match data.task {
        Task::Binary => {
            let scores = output_to_predictions(Task::Binary, outputs, 1);
            let labels: Vec<bool> = val.targets.iter().map(|&t| t == 1.0).collect();
            Evaluation::Binary(binary_metrics(&scores, &labels, 0.5))
        }
        Task::MultiClass => {
            let classes = data.target.classes().len();
            let predicted: Vec<usize> = outputs.chunks(classes).map(argmax).collect();
            let actual: Vec<usize> = val.targets.iter().map(|&t| t as usize).collect();
            Evaluation::MultiClass(multiclass_metrics(&predicted, &actual, classes))
        }
        Task::Regression => {
            let predicted: Vec<f64> = outputs
                .iter()
                .map(|&v| data.target.decode_value(v))
                .collect();
            let actual: Vec<f64> = val
                .targets
                .iter()
                .map(|&v| data.target.decode_value(v))
                .collect();
            Evaluation::Regression(regression_metrics(&predicted, &actual))
        }
    }
}

/// Runs a saved model on encoded samples (`rows × product of the input shape`, row-major)
/// and returns the raw outputs, row-major.
pub fn predict(model: &Model, samples: &[f32], rows: usize, device: &Device) -> Result<Vec<f32>> {
    let spec = &model.meta.model;
    let width: usize = spec.input_shape.iter().product();
    if samples.len() != rows * width {
        return Err(Error::Feed(format!(
            "{} values do not make {rows} samples of shape {:?}",
            samples.len(),
            spec.input_shape
        )));
    }
    if rows == 0 {
        return Ok(Vec::new());
    }
    let batch = rows.min(1024);
    let mg = model_graph(spec, Some(&model.params), 0, model.meta.task, batch)?;
    let mut session = Session::inference(mg.graph, device)?;
    let data = Dataset {
        features: samples.to_vec(),
        targets: vec![0.0; rows],
        rows,
        n_features: width,
    };
    run_batched(&mut session, mg.x, mg.output, &data, batch)
}
