//! Runs a compiled graph on the GPU.
//!
//! Everything a step needs is created once, when the executor is built: one storage buffer per
//! node, one uniform parameter block per dispatch, every pipeline and every bind group. A step
//! then writes the fed inputs, records all dispatches in one compute pass, copies the value it
//! reads into a staging buffer, and submits once.

use std::collections::HashMap;
use std::sync::Arc;

use glam::{UVec4, Vec4};
use log::trace;
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels::{Kernel, MATMUL_BLOCKED_TILE, MATMUL_TILE, ParamBlock, WORKGROUP_SIZE, uvec4};
use crate::error::{Error, Result};
use crate::graph::{Activation, Graph, NodeId, Op, Window2d, as_4d};
use crate::memory::MemoryPlan;
use crate::optim::Optimizer;
use crate::session::RunState;
use crate::tensor::Shape;

/// A storage binding: a buffer, the byte offset of the bound range and its size in bytes.
type Binding<'a> = (&'a wgpu::Buffer, u64, u64);

/// The parameters of a training session packed into one buffer and their gradients into
/// another, each at the same offset in both, so that one optimizer dispatch updates them all.
/// Offsets are multiples of the device's storage-binding offset alignment, and the padding
/// between values stays zero, which every update rule leaves at zero.
struct Arena {
    /// Each trained (parameter, gradient) pair with its byte offset.
    members: Vec<(NodeId, NodeId, u64)>,
    /// Size in bytes of each of the two buffers.
    bytes: u64,
}

impl Arena {
    /// Lays out the pairs of `trained` whose gradient only the optimizer reads, or returns
    /// `None` when there are none. Three kinds of gradient keep a buffer of their own. One that
    /// a kernel reads stays apart because no dispatch may read one range of a buffer while
    /// writing another. A constant one (the loss does not depend on its parameter) and one
    /// shared by two parameters have no place of their own in the packed layout.
    /// So does every pair that would take the buffers past `limit` bytes, the largest binding
    /// the device allows, which also leaves an oversized parameter to the per-buffer check.
    fn layout(
        graph: &Graph,
        trained: &[(NodeId, NodeId)],
        alignment: u64,
        limit: u64,
    ) -> Option<Arena> {
        let mut read = vec![false; graph.nodes().len()];
        for node in graph.nodes() {
            for input in &node.inputs {
                read[input.0] = true;
            }
        }
        let shared = |grad: NodeId| trained.iter().filter(|&&(_, g)| g == grad).count() > 1;
        let mut members = Vec::new();
        let mut bytes = 0u64;
        for &(param, grad) in trained {
            if read[grad.0] || graph.node(grad).op.is_leaf() || shared(grad) {
                continue;
            }
            let offset = bytes.div_ceil(alignment) * alignment;
            let end = offset + (graph.shape(param).numel() * 4) as u64;
            if end > limit {
                continue;
            }
            members.push((param, grad, offset));
            bytes = end;
        }
        (!members.is_empty()).then_some(Arena { members, bytes })
    }

    /// Reports whether `param` is updated through the arena.
    fn contains(&self, param: NodeId) -> bool {
        self.members.iter().any(|&(p, _, _)| p == param)
    }
}

/// One recorded kernel launch.
struct Dispatch {
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

/// Counters of the GPU work a step records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Kernel launches in the last step.
    pub dispatches: usize,
    /// Queue submissions in the last step.
    pub submissions: usize,
    /// Bytes written from the host in the last step.
    pub bytes_uploaded: u64,
    /// Storage buffers holding node values and optimizer state.
    pub buffers: usize,
    /// Bytes of those buffers.
    pub buffer_bytes: u64,
    /// Buffers and bind groups the session has created so far; it stops growing once every
    /// read-back has run once. Pipelines are compiled once per context and shared, and all of
    /// a session's are compiled before its first step.
    pub objects_created: u64,
}

pub(crate) struct GpuExecutor {
    ctx: Arc<GpuContext>,
    /// The buffer of each node and the byte offset of its value there; values that share
    /// storage hold clones of one buffer.
    buffers: Vec<Option<(wgpu::Buffer, u64)>>,
    /// The size in bytes of each node's value, which is what its bindings cover.
    node_bytes: Vec<u64>,
    dispatches: Vec<Option<Dispatch>>,
    updates: Vec<Dispatch>,
    update_params: Option<wgpu::Buffer>,
    optimizer: Option<Optimizer>,
    staging: HashMap<NodeId, wgpu::Buffer>,
    run_state: wgpu::Buffer,
    stats: GpuStats,
    /// Buffers and bind groups created so far, counted where `&self` creates them.
    objects: std::cell::Cell<u64>,
    /// Device-side log of deferred losses and its read-back buffer, created on first use.
    loss_log: Option<(wgpu::Buffer, wgpu::Buffer)>,
    /// Losses in the log that have not been read.
    pending: usize,
}

/// Losses a session can record without reading them back.
pub const LOSS_LOG_CAPACITY: usize = 1024;

impl GpuExecutor {
    /// Allocates the buffers of `plan` and builds the dispatch of every node in `nodes`, and
    /// the optimizer updates of `trained` (parameter, gradient) pairs.
    pub fn new(
        ctx: Arc<GpuContext>,
        graph: &Graph,
        nodes: &[NodeId],
        trained: &[(NodeId, NodeId)],
        optimizer: Option<Optimizer>,
        plan: &MemoryPlan,
    ) -> Result<Self> {
        let mut exec = GpuExecutor {
            ctx: Arc::clone(&ctx),
            buffers: (0..graph.nodes().len()).map(|_| None).collect(),
            node_bytes: graph
                .nodes()
                .iter()
                .map(|n| (n.shape.numel() * 4) as u64)
                .collect(),
            dispatches: (0..graph.nodes().len()).map(|_| None).collect(),
            updates: Vec::new(),
            update_params: None,
            optimizer,
            staging: HashMap::new(),
            run_state: ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("edgegrad run state"),
                size: 8,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            stats: GpuStats::default(),
            objects: std::cell::Cell::new(1),
            loss_log: None,
            pending: 0,
        };
        let limits = ctx.limits();
        let alignment = u64::from(limits.min_storage_buffer_offset_alignment);
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let arena = optimizer
            .is_some()
            .then(|| Arena::layout(graph, trained, alignment, limit))
            .flatten();
        if let Some(arena) = &arena {
            exec.allocate_arena(graph, arena);
        }
        exec.allocate(graph, plan)?;
        for &id in nodes {
            let dispatch = exec.build_dispatch(graph, id)?;
            exec.dispatches[id.0] = Some(dispatch);
        }
        if let Some(optimizer) = optimizer {
            let uniform = exec.update_params_buffer();
            if let Some(arena) = &arena {
                exec.build_arena_update(arena, &optimizer, &uniform)?;
            }
            let alone: Vec<(NodeId, NodeId)> = trained
                .iter()
                .copied()
                .filter(|&(p, _)| !arena.as_ref().is_some_and(|a| a.contains(p)))
                .collect();
            exec.build_updates(graph, &alone, &optimizer, &uniform)?;
            exec.update_params = Some(uniform);
        }
        exec.ctx.check_device()?;
        Ok(exec)
    }

    pub fn stats(&self) -> GpuStats {
        GpuStats {
            objects_created: self.objects.get(),
            ..self.stats
        }
    }

    fn count_objects(&self, created: u64) {
        self.objects.set(self.objects.get() + created);
    }

    /// Creates the parameter and gradient buffers of `arena`, with the parameters' initial
    /// values, and places each trained pair in them.
    fn allocate_arena(&mut self, graph: &Graph, arena: &Arena) {
        let mut contents = vec![0f32; (arena.bytes / 4) as usize];
        for &(param, _, offset) in &arena.members {
            let initial = graph.parameters().iter().find(|(p, _)| *p == param);
            if let Some((_, value)) = initial {
                let start = (offset / 4) as usize;
                contents[start..start + value.data().len()].copy_from_slice(value.data());
            }
        }
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        let params = self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("edgegrad parameters"),
                contents: bytemuck::cast_slice(&contents),
                usage,
            });
        // New buffers start zeroed, so the padding between gradients reads as zero.
        let grads = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("edgegrad gradients"),
            size: arena.bytes,
            usage,
            mapped_at_creation: false,
        });
        for &(param, grad, offset) in &arena.members {
            self.buffers[param.0] = Some((params.clone(), offset));
            self.buffers[grad.0] = Some((grads.clone(), offset));
        }
        self.stats.buffers += 2;
        self.stats.buffer_bytes += 2 * arena.bytes;
        self.count_objects(2);
        trace!(
            "allocated two arenas of {} bytes for parameters and gradients",
            arena.bytes
        );
    }

    /// Creates one buffer per slot of `plan` and hands each node its slot's buffer, except the
    /// nodes already placed in the arena. Parameters and constants get their initial contents.
    fn allocate(&mut self, graph: &Graph, plan: &MemoryPlan) -> Result<()> {
        let limit = self.ctx.limits().max_storage_buffer_binding_size;
        let mut physical: Vec<Option<wgpu::Buffer>> = vec![None; plan.buffer_sizes().len()];
        let usage = wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_DST
            | wgpu::BufferUsages::COPY_SRC;
        for (i, node) in graph.nodes().iter().enumerate() {
            let Some(slot) = plan.slot(NodeId(i)) else {
                continue;
            };
            if self.buffers[i].is_some() {
                continue;
            }
            if let Some(buffer) = &physical[slot] {
                self.buffers[i] = Some((buffer.clone(), 0));
                continue;
            }
            let bytes = plan.buffer_sizes()[slot];
            let name = node
                .name
                .clone()
                .unwrap_or_else(|| format!("{}#{i}", node.op.name()));
            if bytes > limit {
                return Err(Error::DeviceLimit {
                    what: format!("the value of `{name}` (shape {})", node.shape),
                    requested: bytes,
                    limit,
                    unit: "bytes",
                    limit_name: "max_storage_buffer_binding_size",
                    hint: "use a smaller batch or layer",
                });
            }
            let label = format!("edgegrad {name}");
            let initial = graph.parameters().iter().find(|(p, _)| p.0 == i);
            let buffer = match (&node.op, initial) {
                (Op::Parameter, Some((_, value))) => {
                    self.ctx
                        .device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some(&label),
                            contents: bytemuck::cast_slice(value.data()),
                            usage,
                        })
                }
                (Op::Fill { value }, _) => {
                    let values = vec![*value; node.shape.numel()];
                    self.ctx
                        .device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some(&label),
                            contents: bytemuck::cast_slice(&values),
                            usage,
                        })
                }
                _ => self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&label),
                    size: bytes,
                    usage,
                    mapped_at_creation: false,
                }),
            };
            trace!("allocated {bytes} bytes for {name}");
            self.stats.buffers += 1;
            self.stats.buffer_bytes += bytes;
            self.count_objects(1);
            physical[slot] = Some(buffer.clone());
            self.buffers[i] = Some((buffer, 0));
        }
        Ok(())
    }

    /// Returns the buffer of node `id`, the offset of its value and the size its bindings
    /// cover.
    fn binding(&self, id: NodeId) -> Binding<'_> {
        let (buffer, offset) = self.buffers[id.0]
            .as_ref()
            .expect("the memory plan gives every node a dispatch touches a buffer");
        (buffer, *offset, self.node_bytes[id.0])
    }

    /// Splits a one-dimensional grid of `len` invocations into workgroups, spreading it over
    /// the y axis when x alone would pass the device's per-dimension limit.
    fn grid_1d(&self, len: usize, what: &str) -> Result<[u32; 3]> {
        let max = self.ctx.limits().max_compute_workgroups_per_dimension as u64;
        let groups = (len as u64).div_ceil(WORKGROUP_SIZE as u64).max(1);
        let x = groups.min(max);
        let y = groups.div_ceil(x);
        if y > max {
            return Err(Error::DeviceLimit {
                what: format!("{what} over {len} elements"),
                requested: groups,
                limit: max * max,
                unit: "workgroups",
                limit_name: "max_compute_workgroups_per_dimension squared",
                hint: "split the work into smaller tensors",
            });
        }
        Ok([x as u32, y as u32, 1])
    }

    fn build_dispatch(&mut self, graph: &Graph, id: NodeId) -> Result<Dispatch> {
        let node = graph.node(id);
        let inputs = &node.inputs;
        let out_shape = &node.shape;
        let len = out_shape.numel();
        let shape_of = |i: usize| graph.shape(inputs[i]);
        let mut params = ParamBlock {
            sizes: UVec4::new(len as u32, 0, 0, 0),
            ..Default::default()
        };
        let op_name = node.op.name();
        let (kernel, workgroups) = match &node.op {
            Op::Input | Op::Parameter | Op::Fill { .. } => {
                return Err(Error::InvalidNode(format!(
                    "{op_name} node {} has no kernel",
                    id.0
                )));
            }
            Op::MatMul {
                transpose_lhs,
                transpose_rhs,
            } => self.matmul_grid(
                &mut params,
                shape_of(0),
                out_shape,
                [*transpose_lhs, *transpose_rhs],
                None,
            )?,
            Op::Linear {
                transpose_lhs,
                transpose_rhs,
                activation,
            } => self.matmul_grid(
                &mut params,
                shape_of(0),
                out_shape,
                [*transpose_lhs, *transpose_rhs],
                Some(*activation),
            )?,
            Op::Add => {
                params.dims_a = uvec4(&out_shape.padded(op_name)?);
                params.dims_b = uvec4(&shape_of(0).broadcast_strides(out_shape, op_name)?);
                params.dims_c = uvec4(&shape_of(1).broadcast_strides(out_shape, op_name)?);
                (Kernel::AddForward, self.grid_1d(len, op_name)?)
            }
            Op::Expand { scale } => {
                params.dims_a = uvec4(&out_shape.padded(op_name)?);
                params.dims_b = uvec4(&shape_of(0).broadcast_strides(out_shape, op_name)?);
                params.scalars = Vec4::new(*scale, 0.0, 0.0, 0.0);
                (Kernel::ExpandForward, self.grid_1d(len, op_name)?)
            }
            Op::SumTo => {
                params.dims_a = uvec4(&out_shape.padded(op_name)?);
                params.dims_b = uvec4(&shape_of(0).padded(op_name)?);
                (Kernel::SumTo, self.grid_1d(len, op_name)?)
            }
            Op::Relu => (Kernel::ReluForward, self.grid_1d(len, op_name)?),
            Op::Sigmoid => (Kernel::SigmoidForward, self.grid_1d(len, op_name)?),
            Op::Tanh => (Kernel::TanhForward, self.grid_1d(len, op_name)?),
            Op::ReluBackward => (Kernel::ReluBackward, self.grid_1d(len, op_name)?),
            Op::SigmoidBackward => (Kernel::SigmoidBackward, self.grid_1d(len, op_name)?),
            Op::TanhBackward => (Kernel::TanhBackward, self.grid_1d(len, op_name)?),
            Op::Sum | Op::Mean => {
                let n = shape_of(0).numel();
                let scale = if node.op == Op::Mean {
                    1.0 / n as f32
                } else {
                    1.0
                };
                params.sizes.x = n as u32;
                params.scalars = Vec4::new(scale, 0.0, 0.0, 0.0);
                (Kernel::SumAll, [1, 1, 1])
            }
            Op::SoftmaxCrossEntropy
            | Op::SoftmaxCrossEntropyBackward
            | Op::BinaryCrossEntropy
            | Op::BinaryCrossEntropyBackward
            | Op::MeanSquaredError
            | Op::MeanSquaredErrorBackward => {
                let prediction = shape_of(0);
                let rows = prediction.dims()[0];
                let columns = prediction.numel() / rows;
                params.sizes = UVec4::new(rows as u32, columns as u32, 0, 0);
                let kernel = match node.op {
                    Op::SoftmaxCrossEntropy => Kernel::SoftmaxCrossEntropyForward,
                    Op::SoftmaxCrossEntropyBackward => Kernel::SoftmaxCrossEntropyBackward,
                    Op::BinaryCrossEntropy => Kernel::BinaryCrossEntropyForward,
                    Op::BinaryCrossEntropyBackward => Kernel::BinaryCrossEntropyBackward,
                    Op::MeanSquaredError => Kernel::MeanSquaredErrorForward,
                    _ => Kernel::MeanSquaredErrorBackward,
                };
                (kernel, [1, 1, 1])
            }
            Op::Reshape => (Kernel::CopyForward, self.grid_1d(len, op_name)?),
            Op::Dropout { p, seed } | Op::DropoutBackward { p, seed } => {
                params.sizes = UVec4::new(len as u32, *seed, 0, 0);
                params.scalars = Vec4::new(*p, 0.0, 0.0, 0.0);
                (Kernel::DropoutForward, self.grid_1d(len, op_name)?)
            }
            Op::Conv { window, activation } => {
                let od = as_4d(out_shape);
                window_params(&mut params, as_4d(shape_of(0)), od, window);
                params.flags.x = activation.code();
                if self.ctx.conv_blocked() {
                    let blocks = od[0] * od[1].div_ceil(4) * od[2] * od[3].div_ceil(4);
                    (Kernel::ConvForwardBlocked, self.grid_1d(blocks, op_name)?)
                } else {
                    (Kernel::ConvForward, self.grid_1d(len, op_name)?)
                }
            }
            Op::ConvBackwardInput { window } => {
                let xd = as_4d(out_shape);
                window_params(&mut params, xd, as_4d(shape_of(0)), window);
                if self.ctx.conv_blocked() {
                    let blocks = xd[0] * xd[1].div_ceil(4) * xd[2] * xd[3].div_ceil(4);
                    let grid = self.grid_1d(blocks, op_name)?;
                    (Kernel::ConvBackwardInputBlocked, grid)
                } else {
                    (Kernel::ConvBackwardInput, self.grid_1d(len, op_name)?)
                }
            }
            Op::ConvBackwardWeight { window } => {
                window_params(&mut params, as_4d(shape_of(1)), as_4d(shape_of(0)), window);
                if self.ctx.conv_blocked() {
                    // One workgroup per block of weights.
                    let wd = as_4d(out_shape);
                    let blocks = wd[0].div_ceil(4) * wd[1] * wd[2] * wd[3].div_ceil(4);
                    let grid = self.grid_1d(blocks * WORKGROUP_SIZE as usize, op_name)?;
                    (Kernel::ConvBackwardWeightBlocked, grid)
                } else {
                    (Kernel::ConvBackwardWeight, self.grid_1d(len, op_name)?)
                }
            }
            Op::ChannelSum => {
                params.dims_a = uvec4(&as_4d(shape_of(0)));
                (Kernel::ChannelSum, self.grid_1d(len, op_name)?)
            }
            Op::MaxPool { window } => {
                window_params(&mut params, as_4d(shape_of(0)), as_4d(out_shape), window);
                (Kernel::MaxPoolForward, self.grid_1d(len, op_name)?)
            }
            Op::MaxPoolBackward { window, activation } => {
                let od = as_4d(shape_of(1));
                window_params(&mut params, as_4d(shape_of(0)), od, window);
                params.flags.x = activation.code();
                // Windows that do not overlap tile the input, so each can write its own block.
                let disjoint = (0..2).all(|axis| window.stride[axis] >= window.kernel[axis]);
                if disjoint {
                    let windows = od.iter().product();
                    let grid = self.grid_1d(windows, op_name)?;
                    (Kernel::MaxPoolBackwardWindows, grid)
                } else {
                    (Kernel::MaxPoolBackward, self.grid_1d(len, op_name)?)
                }
            }
            Op::AvgPool { window } => {
                window_params(&mut params, as_4d(shape_of(0)), as_4d(out_shape), window);
                (Kernel::AvgPoolForward, self.grid_1d(len, op_name)?)
            }
            Op::AvgPoolBackward { window } => {
                window_params(&mut params, as_4d(out_shape), as_4d(shape_of(0)), window);
                (Kernel::AvgPoolBackward, self.grid_1d(len, op_name)?)
            }
        };
        let mut buffers = vec![self.binding(id)];
        buffers.extend(inputs.iter().map(|&input| self.binding(input)));
        if kernel == Kernel::DropoutForward {
            buffers.push((&self.run_state, 0, 8));
        }
        debug_assert_eq!(buffers.len(), kernel.storage_bindings().len(), "{kernel:?}");
        let label = format!("{op_name}#{}", id.0);
        self.make_dispatch(kernel, &params, &buffers, workgroups, &label)
    }

    /// Fills the parameters of a matrix product of `lhs` giving `out` and returns its kernel
    /// and grid. `epilogue` is the fused activation of an [`Op::Linear`].
    fn matmul_grid(
        &self,
        params: &mut ParamBlock,
        lhs: &Shape,
        out: &Shape,
        [transpose_lhs, transpose_rhs]: [bool; 2],
        epilogue: Option<Activation>,
    ) -> Result<(Kernel, [u32; 3])> {
        let k = if transpose_lhs {
            lhs.dims()[0]
        } else {
            lhs.dims()[1]
        };
        let (m, n) = (out.dims()[0], out.dims()[1]);
        let flags = u32::from(transpose_lhs) | (u32::from(transpose_rhs) << 1);
        params.sizes = UVec4::new(m as u32, n as u32, k as u32, flags);
        params.flags.x = epilogue.map_or(0, Activation::code);

        let transposed = [transpose_lhs, transpose_rhs];
        let kernel = self
            .ctx
            .matmul_kernel([m, n, k], transposed, epilogue.is_some());
        let tile = match kernel {
            Kernel::MatmulTiled | Kernel::LinearTiled => MATMUL_TILE,
            _ => MATMUL_BLOCKED_TILE,
        };

        let x = (n as u32).div_ceil(tile);
        let y = (m as u32).div_ceil(tile);
        let max = self.ctx.limits().max_compute_workgroups_per_dimension;
        if x.max(y) > max {
            return Err(Error::DeviceLimit {
                what: format!("matmul with output {out}"),
                requested: x.max(y) as u64,
                limit: max as u64,
                unit: "workgroups",
                limit_name: "max_compute_workgroups_per_dimension",
                hint: "split the matrix into smaller blocks",
            });
        }
        Ok((kernel, [x, y, 1]))
    }

    fn make_dispatch(
        &self,
        kernel: Kernel,
        params: &ParamBlock,
        buffers: &[Binding<'_>],
        workgroups: [u32; 3],
        label: &str,
    ) -> Result<Dispatch> {
        let uniform = self
            .ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: bytemuck::bytes_of(params),
                usage: wgpu::BufferUsages::STORAGE,
            });
        self.count_objects(1);
        self.bind(kernel, &uniform, buffers, workgroups, label)
    }

    fn bind(
        &self,
        kernel: Kernel,
        uniform: &wgpu::Buffer,
        buffers: &[Binding<'_>],
        workgroups: [u32; 3],
        label: &str,
    ) -> Result<Dispatch> {
        let pipeline = self.ctx.pipeline(kernel)?;
        debug_assert_eq!(buffers.len(), kernel.storage_bindings().len());
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        for (i, &(buffer, offset, size)) in buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer,
                    offset,
                    size: wgpu::BufferSize::new(size),
                }),
            });
        }
        self.count_objects(1);
        let bind_group = self
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(label),
                layout: &pipeline.layout,
                entries: &entries,
            });
        Ok(Dispatch {
            pipeline: pipeline.pipeline.clone(),
            bind_group,
            workgroups,
        })
    }

    /// Builds one update dispatch per (parameter, gradient) pair of `trained`.
    fn build_updates(
        &mut self,
        graph: &Graph,
        trained: &[(NodeId, NodeId)],
        optimizer: &Optimizer,
        uniform: &wgpu::Buffer,
    ) -> Result<()> {
        for &(param, grad) in trained {
            let shape = graph.shape(param).clone();
            let name = graph.node(param).name.clone().unwrap_or_default();
            let states: Vec<wgpu::Buffer> = (0..optimizer.state_slots())
                .map(|slot| self.zeroed_state(&shape, &format!("{name} state {slot}")))
                .collect();
            let kernel = update_kernel(optimizer, states.len());
            let mut buffers = vec![self.binding(param), self.binding(grad)];
            buffers.extend(states.iter().map(|b| (b, 0, b.size())));
            let workgroups = self.grid_1d(shape.numel(), "optimizer update")?;
            let dispatch = self.bind(
                kernel,
                uniform,
                &buffers,
                workgroups,
                &format!("update {name}"),
            )?;
            self.updates.push(dispatch);
        }
        Ok(())
    }

    /// Builds the one dispatch that updates every parameter of `arena`, with optimizer state
    /// buffers laid out like the arena.
    fn build_arena_update(
        &mut self,
        arena: &Arena,
        optimizer: &Optimizer,
        uniform: &wgpu::Buffer,
    ) -> Result<()> {
        let elements = Shape::from([(arena.bytes / 4) as usize]);
        let states: Vec<wgpu::Buffer> = (0..optimizer.state_slots())
            .map(|slot| self.zeroed_state(&elements, &format!("optimizer state {slot}")))
            .collect();
        let kernel = update_kernel(optimizer, states.len());
        let (param, grad, _) = arena.members[0];
        let params = self.buffers[param.0]
            .as_ref()
            .expect("placed by allocate_arena");
        let grads = self.buffers[grad.0]
            .as_ref()
            .expect("placed by allocate_arena");
        let mut buffers = vec![(&params.0, 0, arena.bytes), (&grads.0, 0, arena.bytes)];
        buffers.extend(states.iter().map(|b| (b, 0, b.size())));
        let workgroups = self.grid_1d(elements.numel(), "optimizer update")?;
        let dispatch = self.bind(kernel, uniform, &buffers, workgroups, "update parameters")?;
        self.updates.push(dispatch);
        Ok(())
    }

    /// Creates the parameter block of the optimizer updates, written at every step.
    fn update_params_buffer(&self) -> wgpu::Buffer {
        self.count_objects(1);
        self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("edgegrad optimizer step"),
            size: std::mem::size_of::<ParamBlock>() as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn zeroed_state(&mut self, shape: &Shape, label: &str) -> wgpu::Buffer {
        let bytes = (shape.numel() * 4) as u64;
        self.stats.buffers += 1;
        self.stats.buffer_bytes += bytes;
        self.count_objects(1);
        self.ctx
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &vec![0u8; bytes as usize],
                usage: wgpu::BufferUsages::STORAGE,
            })
    }

    /// Uploads a fed value; its length was checked by the session.
    pub fn write(&mut self, id: NodeId, data: &[f32]) {
        let (buffer, offset, _) = self.binding(id);
        self.ctx
            .queue
            .write_buffer(buffer, offset, bytemuck::cast_slice(data));
        self.stats.bytes_uploaded += (data.len() * 4) as u64;
    }

    /// Writes the per-run uniforms and records the dispatches of `nodes`, then the optimizer
    /// update at `update_step` when given, in one compute pass.
    fn encode(
        &mut self,
        nodes: &[NodeId],
        update_step: Option<u64>,
        state: RunState,
    ) -> wgpu::CommandEncoder {
        let words = [state.step, u32::from(state.training)];
        self.ctx
            .queue
            .write_buffer(&self.run_state, 0, bytemuck::cast_slice(&words));
        self.stats.bytes_uploaded += 8;
        if let (Some(step), Some(optimizer), Some(uniform)) =
            (update_step, self.optimizer, self.update_params.as_ref())
        {
            let s = optimizer.step_scalars(step);
            let params = ParamBlock {
                sizes: UVec4::new(0, u32::from(s.decoupled), 0, 0),
                scalars: Vec4::new(s.lr, s.beta1, s.beta2, s.eps),
                scalars2: Vec4::new(s.weight_decay, s.bias_correction1, s.bias_correction2, 0.0),
                ..Default::default()
            };
            self.ctx
                .queue
                .write_buffer(uniform, 0, bytemuck::bytes_of(&params));
            self.stats.bytes_uploaded += std::mem::size_of::<ParamBlock>() as u64;
        }

        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("edgegrad step"),
            });
        let mut count = 0;
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("edgegrad step"),
                timestamp_writes: None,
            });
            let updates = if update_step.is_some() {
                self.updates.as_slice()
            } else {
                &[]
            };
            let planned = nodes.iter().filter_map(|id| self.dispatches[id.0].as_ref());
            for dispatch in planned.chain(updates) {
                pass.set_pipeline(&dispatch.pipeline);
                pass.set_bind_group(0, &dispatch.bind_group, &[]);
                let [x, y, z] = dispatch.workgroups;
                pass.dispatch_workgroups(x, y, z);
                count += 1;
            }
        }
        self.stats.dispatches = count;
        self.stats.submissions = 1;
        encoder
    }

    /// Records the dispatches of `nodes`, then the optimizer update at `update_step` when
    /// given, submits them in one command buffer, and reads back `read`.
    pub fn run(
        &mut self,
        nodes: &[NodeId],
        update_step: Option<u64>,
        state: RunState,
        read: NodeId,
        read_len: usize,
    ) -> Result<Vec<f32>> {
        let mut encoder = self.encode(nodes, update_step, state);
        let bytes = (read_len * 4) as u64;
        if !self.staging.contains_key(&read) {
            let staging = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("edgegrad read-back"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.count_objects(1);
            self.staging.insert(read, staging);
        }
        let staging = &self.staging[&read];
        let (buffer, offset, _) = self.binding(read);
        encoder.copy_buffer_to_buffer(buffer, offset, staging, 0, bytes);
        self.ctx.queue.submit([encoder.finish()]);
        let values = self.map_read(staging, bytes)?;
        self.ctx.check_device()?;
        Ok(values)
    }

    /// Like [`GpuExecutor::run`] with a training update, but instead of waiting for the loss it
    /// copies it into slot `pending` of a device-side log and returns at once; the host keeps
    /// recording steps while the device works. [`GpuExecutor::take_losses`] reads the log.
    /// Returns the number of losses now waiting, at most [`LOSS_LOG_CAPACITY`].
    pub fn step_deferred(
        &mut self,
        nodes: &[NodeId],
        step: u64,
        state: RunState,
        loss: NodeId,
    ) -> usize {
        if self.loss_log.is_none() {
            let bytes = LOSS_LOG_CAPACITY as u64 * 4;
            let log = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("edgegrad loss log"),
                size: bytes,
                usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            let staging = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("edgegrad loss log read-back"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.count_objects(2);
            self.loss_log = Some((log, staging));
        }
        let mut encoder = self.encode(nodes, Some(step), state);
        let (log, _) = self.loss_log.as_ref().expect("created above");
        let (buffer, offset, _) = self.binding(loss);
        encoder.copy_buffer_to_buffer(buffer, offset, log, self.pending as u64 * 4, 4);
        self.ctx.queue.submit([encoder.finish()]);
        self.pending += 1;
        self.pending
    }

    /// Waits for the steps recorded by [`GpuExecutor::step_deferred`] and returns their losses
    /// in order.
    pub fn take_losses(&mut self) -> Result<Vec<f32>> {
        let Some((log, staging)) = self.loss_log.as_ref() else {
            return Ok(Vec::new());
        };
        if self.pending == 0 {
            return Ok(Vec::new());
        }
        let bytes = self.pending as u64 * 4;
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(log, 0, staging, 0, bytes);
        self.ctx.queue.submit([encoder.finish()]);
        let values = self.map_read(staging, bytes)?;
        self.pending = 0;
        self.ctx.check_device()?;
        Ok(values)
    }

    /// Runs each dispatch of `nodes` in its own submission and waits for it, returning the
    /// wall time of each; a diagnostic that shows which kernels dominate a step.
    pub fn profile(&mut self, nodes: &[NodeId], state: RunState) -> Result<Vec<(NodeId, f64)>> {
        let words = [state.step, u32::from(state.training)];
        self.ctx
            .queue
            .write_buffer(&self.run_state, 0, bytemuck::cast_slice(&words));
        let mut times = Vec::new();
        for &id in nodes {
            let Some(dispatch) = self.dispatches[id.0].as_ref() else {
                continue;
            };
            let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
            {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&dispatch.pipeline);
                pass.set_bind_group(0, &dispatch.bind_group, &[]);
                let [x, y, z] = dispatch.workgroups;
                pass.dispatch_workgroups(x, y, z);
            }
            let started = std::time::Instant::now();
            self.ctx.queue.submit([encoder.finish()]);
            self.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| Error::Device(format!("waiting for the GPU failed: {e}")))?;
            times.push((id, started.elapsed().as_secs_f64()));
        }
        self.ctx.check_device()?;
        Ok(times)
    }

    /// Resets the per-step counters; called at the start of each step.
    pub fn begin_step(&mut self) {
        self.stats.bytes_uploaded = 0;
    }

    fn map_read(&self, staging: &wgpu::Buffer, bytes: u64) -> Result<Vec<f32>> {
        let (sender, receiver) = std::sync::mpsc::channel();
        staging
            .slice(..bytes)
            .map_async(wgpu::MapMode::Read, move |result| {
                let _ = sender.send(result);
            });
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Device(format!("waiting for the GPU failed: {e}")))?;
        receiver
            .recv()
            .map_err(|_| Error::Device("the read-back callback never ran".into()))?
            .map_err(|e| Error::Device(format!("mapping the read-back buffer failed: {e}")))?;
        let values = {
            let view = staging
                .slice(..bytes)
                .get_mapped_range()
                .map_err(|e| Error::Device(format!("reading the mapped buffer failed: {e}")))?;
            bytemuck::cast_slice(&view).to_vec()
        };
        staging.unmap();
        Ok(values)
    }

    /// Overwrites the buffer of every computed node with `value`.
    pub fn poison(&mut self, graph: &Graph, value: f32) {
        for (i, placed) in self.buffers.iter().enumerate() {
            let node = &graph.nodes()[i];
            if let (Some((buffer, offset)), false) = (placed, node.op.is_leaf()) {
                let values = vec![value; node.shape.numel()];
                self.ctx
                    .queue
                    .write_buffer(buffer, *offset, bytemuck::cast_slice(&values));
            }
        }
    }

    /// Reads the current value of a node without running anything.
    pub fn read(&mut self, id: NodeId, len: usize) -> Result<Vec<f32>> {
        self.run(&[], None, RunState::default(), id, len)
    }
}

/// Picks the update kernel of `optimizer` with `states` state buffers per parameter.
fn update_kernel(optimizer: &Optimizer, states: usize) -> Kernel {
    match (optimizer, states) {
        (Optimizer::Sgd { .. }, 0) => Kernel::SgdStep,
        (Optimizer::Sgd { .. }, _) => Kernel::SgdMomentumStep,
        _ => Kernel::AdamStep,
    }
}

/// Fills the window parameters that `conv.wgsl` and `pool.wgsl` read: input dims, output
/// dims, kernel and stride, padding and dilation.
fn window_params(params: &mut ParamBlock, input: [usize; 4], output: [usize; 4], w: &Window2d) {
    params.dims_a = uvec4(&input);
    params.dims_b = uvec4(&output);
    params.dims_c = uvec4(&[w.kernel[0], w.kernel[1], w.stride[0], w.stride[1]]);
    params.sizes = uvec4(&[w.padding[0], w.padding[1], w.dilation[0], w.dilation[1]]);
}
