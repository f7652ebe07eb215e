//! The closed set of graph operations and their properties.

use super::window::Window2d;

/// The activation a fused op applies to its result before writing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    /// The result unchanged.
    #[default]
    Identity,
    /// `max(x, 0)`, as [`Op::Relu`].
    Relu,
    /// `1 / (1 + e^-x)`, as [`Op::Sigmoid`].
    Sigmoid,
    /// Hyperbolic tangent, as [`Op::Tanh`].
    Tanh,
}

impl Activation {
    /// Returns the activation that `op` applies on its own, if it is one.
    pub fn of(op: &Op) -> Option<Activation> {
        match op {
            Op::Relu => Some(Activation::Relu),
            Op::Sigmoid => Some(Activation::Sigmoid),
            Op::Tanh => Some(Activation::Tanh),
            _ => None,
        }
    }

    /// Returns the activation whose gradient `op` computes, if it is one.
    pub fn backward_of(op: &Op) -> Option<Activation> {
        match op {
            Op::ReluBackward => Some(Activation::Relu),
            Op::SigmoidBackward => Some(Activation::Sigmoid),
            Op::TanhBackward => Some(Activation::Tanh),
            _ => None,
        }
    }

    /// Returns the gradient op of this activation, which reads `(y, dy)` with `y` the activated
    /// output, or `None` for the identity.
    pub fn backward_op(self) -> Option<Op> {
        match self {
            Activation::Identity => None,
            Activation::Relu => Some(Op::ReluBackward),
            Activation::Sigmoid => Some(Op::SigmoidBackward),
            Activation::Tanh => Some(Op::TanhBackward),
        }
    }

    /// Returns the code the kernels read in `Params.flags.x`, as `activate` in
    /// `shaders/common.wgsl` decodes it.
    pub fn code(self) -> u32 {
        match self {
            Activation::Identity => 0,
            Activation::Relu => 1,
            Activation::Sigmoid => 2,
            Activation::Tanh => 3,
        }
    }
}

/// One operation in a [`Graph`](super::Graph). The output shape of every node is fixed when the
/// node is added, so the op itself carries only what shapes cannot say.
///
/// Shape letters: `n` rows (batch), `k` contraction, `c` classes or columns.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A value fed by the caller at every step.
    Input,
    /// A trainable value that persists across steps and is updated by the optimizer.
    Parameter,
    /// A value fixed when the graph is built, filled with one number.
    Fill {
        /// The number every element holds.
        value: f32,
    },
    /// `op(lhs) · op(rhs)` where `op` transposes when its flag is set: `[m, k] · [k, n]`.
    MatMul {
        /// Read `lhs` as its transpose (`lhs` is stored `[k, m]`).
        transpose_lhs: bool,
        /// Read `rhs` as its transpose (`rhs` is stored `[n, k]`).
        transpose_rhs: bool,
    },
    /// `activation(op(lhs) · op(rhs) + bias)`: a matrix product with its bias add and
    /// activation fused into one kernel. Inputs `(lhs, rhs, bias [n])`. The session builds it
    /// from a [`Op::MatMul`], an [`Op::Add`] of a row bias and an optional activation.
    Linear {
        /// Read `lhs` as its transpose.
        transpose_lhs: bool,
        /// Read `rhs` as its transpose.
        transpose_rhs: bool,
        /// Applied to each element of the result.
        activation: Activation,
    },
    /// Elementwise sum with numpy broadcasting.
    Add,
    /// `max(x, 0)`.
    Relu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Gradient of [`Op::Relu`]: inputs `(y, dy)` with `y` the forward output, giving `dy`
    /// where `y > 0`, else 0.
    ReluBackward,
    /// Gradient of [`Op::Sigmoid`]: inputs `(y, dy)` with `y` the forward output.
    SigmoidBackward,
    /// Gradient of [`Op::Tanh`]: inputs `(y, dy)` with `y` the forward output.
    TanhBackward,
    /// Sum of all elements, shape `[1]`.
    Sum,
    /// Mean of all elements, shape `[1]`.
    Mean,
    /// Broadcasts the input to the node's shape and multiplies it by `scale`.
    Expand {
        /// Factor applied to every element.
        scale: f32,
    },
    /// Sums the input over the dimensions that broadcasting stretched, giving the node's shape.
    /// The backward pass of a broadcast.
    SumTo,
    /// Weighted mean softmax cross-entropy from logits: inputs `(logits [n, c], labels [n],
    /// weights [n])`, labels holding class indices; output `[1]` =
    /// `Σ w_i · (logsumexp(x_i) − x_i[y_i]) / Σ w_i`.
    SoftmaxCrossEntropy,
    /// Gradient of [`Op::SoftmaxCrossEntropy`] for the logits: inputs `(logits, labels, weights,
    /// dloss [1])`.
    SoftmaxCrossEntropyBackward,
    /// Weighted mean binary cross-entropy from logits: inputs `(logits [n] or [n, 1], targets
    /// [n], weights [n])`, output `[1]`, computed as `max(x, 0) − x·y + ln(1 + e^−|x|)`.
    BinaryCrossEntropy,
    /// Gradient of [`Op::BinaryCrossEntropy`] for the logits: inputs `(logits, targets, weights,
    /// dloss [1])`.
    BinaryCrossEntropyBackward,
    /// Weighted mean squared error: inputs `(prediction [n, ...], target of the same shape,
    /// weights [n])`, output `[1]` = `Σ_i w_i · mean_j (p_ij − t_ij)² / Σ w_i` where `j` runs
    /// over the elements of row `i`.
    MeanSquaredError,
    /// Gradient of [`Op::MeanSquaredError`] for the prediction: inputs `(prediction, target,
    /// weights, dloss [1])`.
    MeanSquaredErrorBackward,
    /// Cross-correlation plus bias, as deep-learning frameworks define convolution: inputs
    /// `(x [n, c_in, (h,) w], weight [c_out, c_in, (kh,) kw], bias [c_out])`.
    Conv {
        /// Kernel, stride, padding and dilation.
        window: Window2d,
        /// Applied to each output element; the session fuses a following activation here.
        activation: Activation,
    },
    /// Gradient of [`Op::Conv`] for its input: inputs `(dy, weight)`.
    ConvBackwardInput {
        /// The forward op's window.
        window: Window2d,
    },
    /// Gradient of [`Op::Conv`] for its weight: inputs `(dy, x)`.
    ConvBackwardWeight {
        /// The forward op's window.
        window: Window2d,
    },
    /// Sum over every dimension but the channel dimension 1: `[n, c, ...]` to `[c]`. The
    /// gradient of a convolution's bias.
    ChannelSum,
    /// Maximum over each window; padding never wins (it counts as −∞).
    MaxPool {
        /// Kernel, stride and padding; dilation is 1.
        window: Window2d,
    },
    /// Gradient of [`Op::MaxPool`]: inputs `(x, dy)`. Each window's gradient goes to the first
    /// maximum in row-major window order; overlapping windows add up. When the pooled `x` is
    /// the output of `activation`, the session folds that activation's gradient in: each
    /// element is then multiplied by the activation's derivative, computed from `x` itself.
    MaxPoolBackward {
        /// The forward op's window.
        window: Window2d,
        /// The activation whose gradient follows, [`Activation::Identity`] for none.
        activation: Activation,
    },
    /// Mean over each window's real (non-padded) elements.
    AvgPool {
        /// Kernel, stride and padding; dilation is 1.
        window: Window2d,
    },
    /// Gradient of [`Op::AvgPool`]: input `dy`, output the forward input's shape.
    AvgPoolBackward {
        /// The forward op's window.
        window: Window2d,
    },
    /// The same values under the node's shape.
    Reshape,
    /// In training mode, zeroes each element with probability `p` and scales the others by
    /// `1 / (1 − p)`; the identity in evaluation mode. The mask is a hash of `seed`, the step
    /// number and the element index, so runs repeat and both backends draw the same mask.
    Dropout {
        /// Probability of dropping an element, in `[0, 1)`.
        p: f32,
        /// Seed of the mask.
        seed: u32,
    },
    /// Gradient of [`Op::Dropout`]: input `dy`, the same mask and scale.
    DropoutBackward {
        /// The forward op's probability.
        p: f32,
        /// The forward op's seed.
        seed: u32,
    },
}

impl Op {
    /// A short lower-case name for logs, errors and GPU labels.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Input => "input",
            Op::Parameter => "parameter",
            Op::Fill { .. } => "fill",
            Op::MatMul { .. } => "matmul",
            Op::Linear { .. } => "linear",
            Op::Add => "add",
            Op::Relu => "relu",
            Op::Sigmoid => "sigmoid",
            Op::Tanh => "tanh",
            Op::ReluBackward => "relu_backward",
            Op::SigmoidBackward => "sigmoid_backward",
            Op::TanhBackward => "tanh_backward",
            Op::Sum => "sum",
            Op::Mean => "mean",
            Op::Expand { .. } => "expand",
            Op::SumTo => "sum_to",
            Op::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Op::SoftmaxCrossEntropyBackward => "softmax_cross_entropy_backward",
            Op::BinaryCrossEntropy => "binary_cross_entropy",
            Op::BinaryCrossEntropyBackward => "binary_cross_entropy_backward",
            Op::MeanSquaredError => "mean_squared_error",
            Op::MeanSquaredErrorBackward => "mean_squared_error_backward",
            Op::Conv { .. } => "conv",
            Op::ConvBackwardInput { .. } => "conv_backward_input",
            Op::ConvBackwardWeight { .. } => "conv_backward_weight",
            Op::ChannelSum => "channel_sum",
            Op::MaxPool { .. } => "max_pool",
            Op::MaxPoolBackward { .. } => "max_pool_backward",
            Op::AvgPool { .. } => "avg_pool",
            Op::AvgPoolBackward { .. } => "avg_pool_backward",
            Op::Reshape => "reshape",
            Op::Dropout { .. } => "dropout",
            Op::DropoutBackward { .. } => "dropout_backward",
        }
    }

    /// Whether the node's value comes from outside the graph (fed, trained or fixed) rather
    /// than from a kernel.
    pub fn is_leaf(&self) -> bool {
        matches!(self, Op::Input | Op::Parameter | Op::Fill { .. })
    }

    /// Whether the op maps each output element from the same-index input elements, with
    /// broadcasting.
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            Op::Add
                | Op::Relu
                | Op::Sigmoid
                | Op::Tanh
                | Op::ReluBackward
                | Op::SigmoidBackward
                | Op::TanhBackward
        )
    }

    /// Whether the op is a loss: a scalar `[1]` computed from a prediction, a target and
    /// per-row weights.
    pub fn is_loss(&self) -> bool {
        matches!(
            self,
            Op::SoftmaxCrossEntropy | Op::BinaryCrossEntropy | Op::MeanSquaredError
        )
    }
}
