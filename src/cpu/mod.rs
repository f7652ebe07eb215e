//! The CPU reference backend: runs a compiled graph with the plain loops of [`kernels`].

pub mod kernels;
pub mod window;

use crate::error::{Error, Result};
use crate::graph::{Graph, NodeId, Op, as_4d};
use crate::optim::{Optimizer, update_cpu};
use crate::session::RunState;

/// Node values and optimizer state held in host memory.
pub(crate) struct CpuExecutor {
    values: Vec<Vec<f32>>,
    optimizer: Option<Optimizer>,
    trained: Vec<(NodeId, NodeId)>,
    state: Vec<Vec<Vec<f32>>>,
}

impl CpuExecutor {
    pub fn new(graph: &Graph, trained: &[(NodeId, NodeId)], optimizer: Option<Optimizer>) -> Self {
        let mut values = vec![Vec::new(); graph.nodes().len()];
        for (id, value) in graph.parameters() {
            values[id.0] = value.data().to_vec();
        }
        for (i, node) in graph.nodes().iter().enumerate() {
            if let Op::Fill { value } = node.op {
                values[i] = vec![value; node.shape.numel()];
            }
        }
        let slots = optimizer.map_or(0, |o| o.state_slots());
        let state = trained
            .iter()
            .map(|(param, _)| vec![vec![0.0; graph.shape(*param).numel()]; slots])
            .collect();
        CpuExecutor {
            values,
            optimizer,
            trained: trained.to_vec(),
            state,
        }
    }

    pub fn write(&mut self, id: NodeId, data: &[f32]) {
        self.values[id.0] = data.to_vec();
    }

    /// Overwrites the value of every computed node with `value`.
    pub fn poison(&mut self, graph: &Graph, value: f32) {
        for (i, node) in graph.nodes().iter().enumerate() {
            if !node.op.is_leaf() {
                self.values[i] = vec![value; node.shape.numel()];
            }
        }
    }

    pub fn read(&self, id: NodeId) -> Vec<f32> {
        self.values[id.0].clone()
    }

    /// Evaluates `nodes` in order, then applies the optimizer update at `update_step` if given.
    pub fn run(
        &mut self,
        graph: &Graph,
        nodes: &[NodeId],
        update_step: Option<u64>,
        state: RunState,
    ) -> Result<()> {
        for &id in nodes {
            let value = self.evaluate(graph, id, state)?;
            self.values[id.0] = value;
        }
        if let (Some(step), Some(optimizer)) = (update_step, self.optimizer) {
            for (i, &(param, grad)) in self.trained.iter().enumerate() {
                let grad = std::mem::take(&mut self.values[grad.0]);
                update_cpu(
                    &optimizer,
                    step,
                    &mut self.values[param.0],
                    &grad,
                    &mut self.state[i],
                );
                self.values[self.trained[i].1.0] = grad;
            }
        }
        Ok(())
    }

    fn evaluate(&self, graph: &Graph, id: NodeId, state: RunState) -> Result<Vec<f32>> {
        let node = graph.node(id);
        let input = |i: usize| self.values[node.inputs[i].0].as_slice();
        let shape_of = |i: usize| graph.shape(node.inputs[i]);
        let op_name = node.op.name();
        let out = &node.shape;
        Ok(match &node.op {
            Op::Input | Op::Parameter | Op::Fill { .. } => {
                return Err(Error::InvalidNode(format!(
                    "{op_name} node {} is not computed",
                    id.0
                )));
            }
            Op::MatMul {
                transpose_lhs,
                transpose_rhs,
            } => {
                let lhs = shape_of(0).dims();
                let k = if *transpose_lhs { lhs[0] } else { lhs[1] };
                let (m, n) = (out.dims()[0], out.dims()[1]);
                kernels::matmul(input(0), input(1), m, k, n, *transpose_lhs, *transpose_rhs)
            }
            Op::Linear {
                transpose_lhs,
                transpose_rhs,
                activation,
            } => {
                let lhs = shape_of(0).dims();
                let k = if *transpose_lhs { lhs[0] } else { lhs[1] };
                let (m, n) = (out.dims()[0], out.dims()[1]);
                let mut y =
                    kernels::matmul(input(0), input(1), m, k, n, *transpose_lhs, *transpose_rhs);
                kernels::bias_activation(&mut y, input(2), *activation);
                y
            }
            Op::Add => kernels::add(
                input(0),
                &shape_of(0).broadcast_strides(out, op_name)?,
                input(1),
                &shape_of(1).broadcast_strides(out, op_name)?,
                &out.padded(op_name)?,
            ),
            Op::Expand { scale } => kernels::expand(
                input(0),
                &shape_of(0).broadcast_strides(out, op_name)?,
                &out.padded(op_name)?,
                *scale,
            ),
            Op::SumTo => kernels::sum_to(
                input(0),
                &shape_of(0).padded(op_name)?,
                &out.padded(op_name)?,
            ),
            Op::Relu => kernels::relu(input(0)),
            Op::Sigmoid => kernels::sigmoid(input(0)),
            Op::Tanh => kernels::tanh(input(0)),
            Op::ReluBackward => kernels::relu_backward(input(0), input(1)),
            Op::SigmoidBackward => kernels::sigmoid_backward(input(0), input(1)),
            Op::TanhBackward => kernels::tanh_backward(input(0), input(1)),
            Op::Sum => vec![kernels::sum(input(0))],
            Op::Mean => vec![kernels::mean(input(0))],
            Op::SoftmaxCrossEntropy => {
                let classes = shape_of(0).dims()[1];
                vec![kernels::softmax_cross_entropy(
                    input(0),
                    input(1),
                    input(2),
                    classes,
                )]
            }
            Op::SoftmaxCrossEntropyBackward => {
                let classes = shape_of(0).dims()[1];
                let dloss = input(3)[0];
                kernels::softmax_cross_entropy_backward(
                    input(0),
                    input(1),
                    input(2),
                    dloss,
                    classes,
                )
            }
            Op::BinaryCrossEntropy => {
                vec![kernels::binary_cross_entropy(input(0), input(1), input(2))]
            }
            Op::BinaryCrossEntropyBackward => {
                kernels::binary_cross_entropy_backward(input(0), input(1), input(2), input(3)[0])
            }
            Op::MeanSquaredError => {
                let columns = shape_of(0).numel() / shape_of(0).dims()[0];
                vec![kernels::mean_squared_error(
                    input(0),
                    input(1),
                    input(2),
                    columns,
                )]
            }
            Op::MeanSquaredErrorBackward => {
                let columns = shape_of(0).numel() / shape_of(0).dims()[0];
                let dloss = input(3)[0];
                kernels::mean_squared_error_backward(input(0), input(1), input(2), dloss, columns)
            }
            Op::Conv { window, activation } => {
                let mut y = window::conv_forward(
                    input(0),
                    &as_4d(shape_of(0)),
                    input(1),
                    &as_4d(shape_of(1)),
                    input(2),
                    window,
                    &as_4d(out),
                );
                kernels::activate(&mut y, *activation);
                y
            }
            Op::ConvBackwardInput { window } => window::conv_backward_input(
                input(0),
                &as_4d(shape_of(0)),
                input(1),
                &as_4d(shape_of(1)),
                window,
                &as_4d(out),
            ),
            Op::ConvBackwardWeight { window } => window::conv_backward_weight(
                input(0),
                &as_4d(shape_of(0)),
                input(1),
                &as_4d(shape_of(1)),
                window,
                &as_4d(out),
            ),
            Op::ChannelSum => window::channel_sum(input(0), &as_4d(shape_of(0))),
            Op::MaxPool { window } => {
                window::max_pool(input(0), &as_4d(shape_of(0)), window, &as_4d(out))
            }
            Op::MaxPoolBackward { window, activation } => {
                let dx = window::max_pool_backward(
                    input(0),
                    &as_4d(shape_of(0)),
                    input(1),
                    window,
                    &as_4d(shape_of(1)),
                );
                kernels::activation_gradient(input(0), dx, *activation)
            }
            Op::AvgPool { window } => {
                window::avg_pool(input(0), &as_4d(shape_of(0)), window, &as_4d(out))
            }
            Op::AvgPoolBackward { window } => {
                window::avg_pool_backward(input(0), &as_4d(shape_of(0)), window, &as_4d(out))
            }
            Op::Reshape => input(0).to_vec(),
            Op::Dropout { p, seed } | Op::DropoutBackward { p, seed } => {
                if state.training {
                    window::dropout(input(0), *p, *seed, state.step)
                } else {
                    input(0).to_vec()
                }
            }
        })
    }
}
