//! Compiled graphs and the devices that run them.
//!
//! A [`Session`] compiles a graph once: for training it appends the backward pass, fixes the
//! order of the nodes a step runs, and has the backend allocate every buffer and build every
//! kernel launch up front. Each [`Session::step`] then feeds the inputs, runs forward, backward
//! and the optimizer update, and returns the loss.

use std::collections::HashMap;
use std::sync::Arc;

use log::info;

use crate::cpu::CpuExecutor;
use crate::error::{Error, Result};
use crate::gpu::executor::{GpuExecutor, LOSS_LOG_CAPACITY};
use crate::gpu::{GpuContext, GpuStats};
use crate::graph::{Fusion, Graph, NodeId, Op};
use crate::memory::{MemoryPlan, MemoryReport, bytes};
use crate::optim::Optimizer;
use crate::tensor::Tensor;

/// The backend a session runs on.
#[derive(Clone, Debug)]
pub enum Device {
    /// The CPU reference backend.
    Cpu,
    /// A GPU through wgpu.
    Gpu(Arc<GpuContext>),
}

impl Device {
    /// Opens the GPU that wgpu's environment variables select, or the default adapter.
    pub fn gpu() -> Result<Self> {
        Ok(Device::Gpu(GpuContext::new()?))
    }

    /// A description for logs and reports: the adapter, or `CPU reference`.
    pub fn describe(&self) -> String {
        match self {
            Device::Cpu => "CPU reference".to_string(),
            Device::Gpu(ctx) => ctx.adapter_summary(),
        }
    }

    /// `cpu` or `gpu`.
    pub fn kind(&self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Gpu(_) => "gpu",
        }
    }
}

/// Whether a run trains or evaluates; dropout is active only in training mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Dropout drops; [`Session::step`] always runs in this mode.
    Train,
    /// Dropout is the identity; the default for [`Session::run`].
    #[default]
    Eval,
}

/// What a run tells the kernels beyond their inputs: the step number that seeds dropout masks,
/// and whether dropout is active.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RunState {
    pub step: u32,
    pub training: bool,
}

/// The nodes, parameters and optimizer a session runs each step.
struct Plan {
    loss: Option<NodeId>,
    trained: Vec<(NodeId, NodeId)>,
    step_nodes: Vec<NodeId>,
    step_inputs: Vec<NodeId>,
    optimizer: Option<Optimizer>,
    fusion: Fusion,
}

enum Backend {
    Cpu(CpuExecutor),
    Gpu(Box<GpuExecutor>),
}

/// The values an input accepts, from how the graph uses it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum FeedRule {
    /// Class indices `0..classes`, as the labels of a softmax cross-entropy.
    ClassIndex { classes: usize },
    /// Values in `[0, 1]`, as the targets of a binary cross-entropy.
    Probability,
    /// Non-negative row weights of a loss, not all zero.
    Weight,
}

/// A compiled graph bound to a device.
pub struct Session {
    graph: Graph,
    device: Device,
    backend: Backend,
    loss: Option<NodeId>,
    trained: Vec<(NodeId, NodeId)>,
    step_nodes: Vec<NodeId>,
    step_inputs: Vec<NodeId>,
    forward_plans: HashMap<NodeId, (Vec<NodeId>, Vec<NodeId>)>,
    rules: HashMap<NodeId, Vec<FeedRule>>,
    step: u64,
    mode: Mode,
    memory: MemoryReport,
    /// Losses of deferred steps already read back and not yet taken.
    ready_losses: Vec<f32>,
    /// The nodes folded into fused kernels when the graph was compiled.
    fusion: Fusion,
}

/// Settings of [`Session::training_with`] and [`Session::inference_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionOptions {
    /// Reject a plan whose device memory exceeds this many bytes, before allocating anything.
    pub memory_budget: Option<u64>,
    /// Keep every matrix product, bias add, convolution and activation as a kernel of its own
    /// instead of fusing the bias add and activation into the product's or convolution's
    /// epilogue (see [`Graph::fuse_epilogues`]). Fusion saves launches and buffers; without it
    /// [`Session::run`] can read every intermediate value.
    pub disable_fusion: bool,
}

impl Session {
    /// Compiles a training step: the backward pass of `loss` for every parameter of `graph`,
    /// followed by an `optimizer` update of each.
    pub fn training(
        graph: Graph,
        loss: NodeId,
        optimizer: Optimizer,
        device: &Device,
    ) -> Result<Self> {
        Self::training_with(graph, loss, optimizer, device, SessionOptions::default())
    }

    /// [`Session::training`] with options such as a memory budget.
    pub fn training_with(
        graph: Graph,
        loss: NodeId,
        optimizer: Optimizer,
        device: &Device,
        options: SessionOptions,
    ) -> Result<Self> {
        optimizer.validate()?;
        let mut graph = graph;
        graph.try_node(loss)?;
        let mut fusion = Fusion::default();
        fuse(&mut graph, &[loss], &mut fusion, &options);
        let params: Vec<NodeId> = graph.parameters().iter().map(|(id, _)| *id).collect();
        let grads = graph.backward(loss, &params)?;
        let trained: Vec<(NodeId, NodeId)> = params
            .iter()
            .map(|&p| {
                (
                    p,
                    grads
                        .get(p)
                        .expect("backward returns a gradient for every request"),
                )
            })
            .collect();
        let mut roots = vec![loss];
        roots.extend(trained.iter().map(|&(_, g)| g));
        fuse(&mut graph, &roots, &mut fusion, &options);
        let (step_nodes, step_inputs) = plan(&graph, &roots);
        let plan = Plan {
            loss: Some(loss),
            trained,
            step_nodes,
            step_inputs,
            optimizer: Some(optimizer),
            fusion,
        };
        Self::build(graph, device, plan, options)
    }

    /// Compiles a graph for evaluation only: [`Session::run`] computes any node from the inputs.
    pub fn inference(graph: Graph, device: &Device) -> Result<Self> {
        Self::inference_with(graph, device, SessionOptions::default())
    }

    /// [`Session::inference`] with options such as a memory budget.
    pub fn inference_with(graph: Graph, device: &Device, options: SessionOptions) -> Result<Self> {
        let mut graph = graph;
        let mut fusion = Fusion::default();
        fuse(&mut graph, &[], &mut fusion, &options);
        let plan = Plan {
            loss: None,
            trained: Vec::new(),
            step_nodes: Vec::new(),
            step_inputs: Vec::new(),
            optimizer: None,
            fusion,
        };
        Self::build(graph, device, plan, options)
    }

    fn build(graph: Graph, device: &Device, plan: Plan, options: SessionOptions) -> Result<Self> {
        let Plan {
            loss,
            trained,
            step_nodes,
            step_inputs,
            optimizer,
            fusion,
        } = plan;
        let computed: Vec<NodeId> = (0..graph.nodes().len())
            .map(NodeId)
            .filter(|&id| !graph.node(id).op.is_leaf() && !fusion.is_folded(id))
            .collect();
        let pinned: Vec<NodeId> = loss.into_iter().collect();
        let state_slots = optimizer.map_or(0, |o| o.state_slots());
        let dispatches = computed.len() + trained.len();
        let memory = MemoryPlan::new(&graph, &trained, &pinned, &fusion, state_slots, dispatches);
        // Every graph compiled in a debug build, which includes the test suite, has its plan
        // checked against a brute-force liveness scan.
        #[cfg(debug_assertions)]
        memory.verify(&graph, &pinned, &fusion)?;
        let report = memory.report().clone();
        log::debug!("memory plan: {report}");
        if let Some(budget) = options.memory_budget
            && report.total() > budget
        {
            let largest: Vec<String> = report
                .largest
                .iter()
                .map(|(name, size)| format!("{name}: {}", bytes(*size)))
                .collect();
            return Err(Error::MemoryBudget {
                planned: report.total(),
                budget,
                details: format!("{report}; largest buffers: {}", largest.join("; ")),
            });
        }
        let backend = match device {
            Device::Cpu => Backend::Cpu(CpuExecutor::new(&graph, &trained, optimizer)),
            Device::Gpu(ctx) => Backend::Gpu(Box::new(GpuExecutor::new(
                Arc::clone(ctx),
                &graph,
                &computed,
                &trained,
                optimizer,
                &memory,
            )?)),
        };
        info!(
            "compiled a {} session: {} nodes, {} computed per step, on {}",
            if optimizer.is_some() {
                "training"
            } else {
                "inference"
            },
            graph.nodes().len(),
            step_nodes.len(),
            device.describe()
        );
        let rules = feed_rules(&graph);
        Ok(Session {
            graph,
            device: device.clone(),
            backend,
            loss,
            trained,
            step_nodes,
            step_inputs,
            forward_plans: HashMap::new(),
            rules,
            step: 0,
            mode: Mode::Eval,
            memory: report,
            ready_losses: Vec::new(),
            fusion,
        })
    }

    /// The compiled graph, including the backward nodes of a training session.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The device the session runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The planned device memory, with and without buffer reuse. The CPU backend keeps one
    /// host buffer per value instead; the report still describes the plan a GPU would use.
    pub fn memory_report(&self) -> &MemoryReport {
        &self.memory
    }

    /// Sets the mode of later [`Session::run`] calls ([`Mode::Eval`] unless changed).
    pub fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
    }

    /// The number of training steps taken.
    pub fn steps_taken(&self) -> u64 {
        self.step
    }

    /// Counters of the last GPU step, or `None` on the CPU backend.
    pub fn gpu_stats(&self) -> Option<GpuStats> {
        match &self.backend {
            Backend::Gpu(exec) => Some(exec.stats()),
            Backend::Cpu(_) => None,
        }
    }

    /// Runs one training step on `feeds` (a value for every input the loss depends on) and
    /// returns the loss before the update.
    pub fn step(&mut self, feeds: &[(NodeId, &[f32])]) -> Result<f32> {
        let loss = self.loss.ok_or_else(|| {
            Error::InvalidNode("this session was compiled for inference and cannot train".into())
        })?;
        // Taken and put back rather than cloned, so a step allocates nothing on the host.
        let inputs = std::mem::take(&mut self.step_inputs);
        let fed = self.feed(feeds, &inputs);
        self.step_inputs = inputs;
        fed?;
        let step = self.step + 1;
        let state = RunState {
            step: step as u32,
            training: true,
        };
        let value = match &mut self.backend {
            Backend::Cpu(exec) => {
                exec.run(&self.graph, &self.step_nodes, Some(step), state)?;
                exec.read(loss)[0]
            }
            Backend::Gpu(exec) => exec.run(&self.step_nodes, Some(step), state, loss, 1)?[0],
        };
        self.step = step;
        if !value.is_finite() {
            return Err(Error::NonFinite {
                what: "loss",
                value,
                step,
            });
        }
        Ok(value)
    }

    /// Runs the forward and backward nodes of one training step with a wait after each kernel
    /// and returns each node's name and wall time in seconds, slowest first. The parameters
    /// are not updated. On the CPU backend the times are those of the reference loops.
    pub fn profile_step(&mut self, feeds: &[(NodeId, &[f32])]) -> Result<Vec<(String, f64)>> {
        // Taken and put back rather than cloned, so a step allocates nothing on the host.
        let inputs = std::mem::take(&mut self.step_inputs);
        let fed = self.feed(feeds, &inputs);
        self.step_inputs = inputs;
        fed?;
        let state = RunState {
            step: self.step as u32 + 1,
            training: true,
        };
        let nodes = self.step_nodes.clone();
        let times = match &mut self.backend {
            Backend::Gpu(exec) => exec.profile(&nodes, state)?,
            Backend::Cpu(exec) => {
                let mut times = Vec::new();
                for &id in &nodes {
                    let started = std::time::Instant::now();
                    exec.run(&self.graph, &[id], None, state)?;
                    times.push((id, started.elapsed().as_secs_f64()));
                }
                times
            }
        };
        let mut named: Vec<(String, f64)> = times
            .into_iter()
            .map(|(id, t)| {
                let node = self.graph.node(id);
                let shape = &node.shape;
                (format!("{}#{} {shape}", node.op.name(), id.0), t)
            })
            .collect();
        named.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(named)
    }

    /// Runs one training step like [`Session::step`] without waiting for its loss, so the host
    /// can prepare the next batch while the device works. The losses are kept, in order,
    /// until [`Session::take_losses`] reads them; every 1024 deferred steps they are read
    /// automatically, which waits for the device once.
    pub fn step_deferred(&mut self, feeds: &[(NodeId, &[f32])]) -> Result<()> {
        let loss = self.loss.ok_or_else(|| {
            Error::InvalidNode("this session was compiled for inference and cannot train".into())
        })?;
        // Taken and put back rather than cloned, so a step allocates nothing on the host.
        let inputs = std::mem::take(&mut self.step_inputs);
        let fed = self.feed(feeds, &inputs);
        self.step_inputs = inputs;
        fed?;
        let step = self.step + 1;
        let state = RunState {
            step: step as u32,
            training: true,
        };
        match &mut self.backend {
            Backend::Cpu(exec) => {
                exec.run(&self.graph, &self.step_nodes, Some(step), state)?;
                self.ready_losses.push(exec.read(loss)[0]);
            }
            Backend::Gpu(exec) => {
                let pending = exec.step_deferred(&self.step_nodes, step, state, loss);
                if pending == LOSS_LOG_CAPACITY {
                    let losses = exec.take_losses()?;
                    self.ready_losses.extend(losses);
                }
            }
        }
        self.step = step;
        Ok(())
    }

    /// Waits for the steps run by [`Session::step_deferred`] and returns their losses in order,
    /// or an error naming the first step whose loss is NaN or infinite.
    pub fn take_losses(&mut self) -> Result<Vec<f32>> {
        if let Backend::Gpu(exec) = &mut self.backend {
            let losses = exec.take_losses()?;
            self.ready_losses.extend(losses);
        }
        let losses = std::mem::take(&mut self.ready_losses);
        let first_step = self.step + 1 - losses.len() as u64;
        if let Some(i) = losses.iter().position(|l| !l.is_finite()) {
            return Err(Error::NonFinite {
                what: "loss",
                value: losses[i],
                step: first_step + i as u64,
            });
        }
        Ok(losses)
    }

    /// Returns the nodes folded into fused kernels when the graph was compiled.
    pub fn fusion(&self) -> &Fusion {
        &self.fusion
    }

    /// Computes `output` from `feeds` without updating anything.
    ///
    /// A value that compiling fused into a later kernel (a matrix product or bias add followed
    /// by its activation) is never stored, so asking for it is an error that names the fused
    /// node.
    pub fn run(&mut self, feeds: &[(NodeId, &[f32])], output: NodeId) -> Result<Tensor> {
        self.graph.try_node(output)?;
        if let Some(fused) = self.fusion.folded_into(output) {
            let node = self.graph.node(output);
            return Err(Error::InvalidNode(format!(
                "node {} ({}{}) was fused into the kernel of node {} ({}) when the session was \
                 compiled, so its value is never stored; compile with \
                 SessionOptions {{ disable_fusion: true, .. }} to read it",
                output.0,
                node.op.name(),
                node.name
                    .as_ref()
                    .map(|n| format!(" `{n}`"))
                    .unwrap_or_default(),
                fused.0,
                self.graph.node(fused).op.name(),
            )));
        }
        let (nodes, inputs) = self
            .forward_plans
            .entry(output)
            .or_insert_with(|| plan(&self.graph, &[output]))
            .clone();
        self.feed(feeds, &inputs)?;
        let shape = self.graph.shape(output).clone();
        let state = RunState {
            step: self.step as u32,
            training: self.mode == Mode::Train,
        };
        let values = match &mut self.backend {
            Backend::Cpu(exec) => {
                exec.run(&self.graph, &nodes, None, state)?;
                exec.read(output)
            }
            Backend::Gpu(exec) => exec.run(&nodes, None, state, output, shape.numel())?,
        };
        Tensor::new(shape, values)
    }

    /// The current value of every parameter, by name, in the order they were added.
    pub fn parameters(&mut self) -> Result<Vec<(String, Tensor)>> {
        let ids: Vec<NodeId> = self.graph.parameters().iter().map(|(id, _)| *id).collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let node = self.graph.node(id);
            let name = node.name.clone().unwrap_or_default();
            let shape = node.shape.clone();
            let values = match &mut self.backend {
                Backend::Cpu(exec) => exec.read(id),
                Backend::Gpu(exec) => exec.read(id, shape.numel())?,
            };
            out.push((name, Tensor::new(shape, values)?));
        }
        Ok(out)
    }

    /// Overwrites every computed value (not inputs, parameters or constants) with NaN.
    ///
    /// Tests call this before a run so that an element a kernel fails to write reads as NaN
    /// instead of a plausible leftover.
    pub fn poison(&mut self) {
        match &mut self.backend {
            Backend::Cpu(exec) => exec.poison(&self.graph, f32::NAN),
            Backend::Gpu(exec) => exec.poison(&self.graph, f32::NAN),
        }
    }

    /// The parameters being trained with their gradient nodes.
    pub fn trained(&self) -> &[(NodeId, NodeId)] {
        &self.trained
    }

    /// Validates `feeds` against the inputs `required` and uploads them.
    fn feed(&mut self, feeds: &[(NodeId, &[f32])], required: &[NodeId]) -> Result<()> {
        for &id in required {
            if !feeds.iter().any(|(fed, _)| *fed == id) {
                return Err(Error::Feed(format!(
                    "input `{}` was not fed",
                    self.graph.node(id).name.as_deref().unwrap_or("?")
                )));
            }
        }
        for &(id, data) in feeds {
            let node = self.graph.try_node(id)?;
            let name = node.name.as_deref().unwrap_or("?");
            if node.op != Op::Input {
                return Err(Error::Feed(format!("node `{name}` is not an input")));
            }
            if data.len() != node.shape.numel() {
                return Err(Error::Feed(format!(
                    "input `{name}` has shape {} ({} values) but {} values were fed",
                    node.shape,
                    node.shape.numel(),
                    data.len()
                )));
            }
            if let Some(i) = data.iter().position(|v| !v.is_finite()) {
                return Err(Error::Feed(format!(
                    "input `{name}` contains {} at index {i}; remove or impute NaN and infinite values",
                    data[i]
                )));
            }
            for rule in self.rules.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                check_rule(name, data, *rule)?;
            }
        }
        if let Backend::Gpu(exec) = &mut self.backend {
            exec.begin_step();
        }
        for &(id, data) in feeds {
            match &mut self.backend {
                Backend::Cpu(exec) => exec.write(id, data),
                Backend::Gpu(exec) => exec.write(id, data),
            }
        }
        Ok(())
    }
}

/// Fuses epilogues into their producers, keeping the values in `keep`, unless `options`
/// disable it.
fn fuse(graph: &mut Graph, keep: &[NodeId], fusion: &mut Fusion, options: &SessionOptions) {
    if !options.disable_fusion {
        graph.fuse_epilogues(keep, fusion);
    }
}

/// The computed nodes that `roots` depend on, in topological order, and the inputs they read.
fn plan(graph: &Graph, roots: &[NodeId]) -> (Vec<NodeId>, Vec<NodeId>) {
    let mut needed = vec![false; graph.nodes().len()];
    for root in roots {
        needed[root.0] = true;
    }
    for i in (0..graph.nodes().len()).rev() {
        if needed[i] {
            for input in &graph.nodes()[i].inputs {
                needed[input.0] = true;
            }
        }
    }
    let ids = (0..graph.nodes().len()).filter(|&i| needed[i]).map(NodeId);
    let (leaves, computed): (Vec<NodeId>, Vec<NodeId>) =
        ids.partition(|&id| graph.node(id).op.is_leaf());
    let inputs = leaves
        .into_iter()
        .filter(|&id| graph.node(id).op == Op::Input)
        .collect();
    (computed, inputs)
}

/// Collects the value rules of every input from the losses that read it.
fn feed_rules(graph: &Graph) -> HashMap<NodeId, Vec<FeedRule>> {
    let mut rules: HashMap<NodeId, Vec<FeedRule>> = HashMap::new();
    for node in graph.nodes() {
        let rule = match node.op {
            Op::SoftmaxCrossEntropy => Some(FeedRule::ClassIndex {
                classes: graph.shape(node.inputs[0]).dims()[1],
            }),
            Op::BinaryCrossEntropy => Some(FeedRule::Probability),
            _ => None,
        };
        if let Some(rule) = rule {
            rules.entry(node.inputs[1]).or_default().push(rule);
        }
        if node.op.is_loss() {
            rules
                .entry(node.inputs[2])
                .or_default()
                .push(FeedRule::Weight);
        }
    }
    rules
}

fn check_rule(name: &str, data: &[f32], rule: FeedRule) -> Result<()> {
    match rule {
        FeedRule::ClassIndex { classes } => {
            let bad = data
                .iter()
                .position(|&v| v < 0.0 || v.fract() != 0.0 || v >= classes as f32);
            if let Some(i) = bad {
                return Err(Error::Feed(format!(
                    "input `{name}` contains {} at index {i}, which is not a class index in 0..{classes}",
                    data[i]
                )));
            }
        }
        FeedRule::Probability => {
            if let Some(i) = data.iter().position(|&v| !(0.0..=1.0).contains(&v)) {
                return Err(Error::Feed(format!(
                    "input `{name}` contains {} at index {i}; binary targets must lie in [0, 1]",
                    data[i]
                )));
            }
        }
        FeedRule::Weight => {
            if let Some(i) = data.iter().position(|&v| v < 0.0) {
                return Err(Error::Feed(format!(
                    "input `{name}` holds the negative weight {} at index {i}",
                    data[i]
                )));
            }
            if data.iter().all(|&v| v == 0.0) {
                return Err(Error::Feed(format!(
                    "input `{name}` is all zero, so the weighted loss is undefined"
                )));
            }
        }
    }
    Ok(())
}
