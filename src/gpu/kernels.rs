//! The WGSL kernels: which file each entry point lives in, its bindings and its parameters.
//!
//! Every kernel reads a read-only [`ParamBlock`] at binding 0, writes its result at binding 1 and
//! reads its operands from binding 2 on, except the optimizer kernels, which update the
//! parameter at binding 1 in place. Shapes always arrive in the parameter block, never pasted
//! into the WGSL source, so one compiled pipeline serves every shape.

use bytemuck::{Pod, Zeroable};
use glam::{UVec4, Vec4};

/// Invocations per workgroup of the one-dimensional kernels.
pub const WORKGROUP_SIZE: u32 = 256;
/// Output tile edge of `matmul_tiled`; its workgroups are `TILE × TILE` invocations.
pub const MATMUL_TILE: u32 = 16;
/// Output tile edge of one `matmul_blocked` workgroup: 8 × 8 invocations of 4 × 4 outputs.
pub const MATMUL_BLOCKED_TILE: u32 = 32;

/// The definitions every shader file starts with.
const COMMON: &str = include_str!("../../shaders/common.wgsl");

/// One WGSL file of `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ShaderFile {
    /// `matmul.wgsl`.
    Matmul,
    /// `elementwise.wgsl`: broadcasting add, expand and the activations.
    Elementwise,
    /// `reduce.wgsl`: full sums and broadcast reductions.
    Reduce,
    /// `loss.wgsl`: the loss functions and their gradients.
    Loss,
    /// `optimizer.wgsl`: parameter updates.
    Optimizer,
    /// `conv.wgsl`: convolution and its gradients.
    Conv,
    /// `pool.wgsl`: max and average pooling and their gradients.
    Pool,
}

impl ShaderFile {
    /// Every shader file.
    pub const ALL: [ShaderFile; 7] = [
        ShaderFile::Matmul,
        ShaderFile::Elementwise,
        ShaderFile::Reduce,
        ShaderFile::Loss,
        ShaderFile::Optimizer,
        ShaderFile::Conv,
        ShaderFile::Pool,
    ];

    /// The file name under `shaders/`.
    pub fn file_name(self) -> &'static str {
        match self {
            ShaderFile::Matmul => "matmul.wgsl",
            ShaderFile::Elementwise => "elementwise.wgsl",
            ShaderFile::Reduce => "reduce.wgsl",
            ShaderFile::Loss => "loss.wgsl",
            ShaderFile::Optimizer => "optimizer.wgsl",
            ShaderFile::Conv => "conv.wgsl",
            ShaderFile::Pool => "pool.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            ShaderFile::Matmul => include_str!("../../shaders/matmul.wgsl"),
            ShaderFile::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            ShaderFile::Reduce => include_str!("../../shaders/reduce.wgsl"),
            ShaderFile::Loss => include_str!("../../shaders/loss.wgsl"),
            ShaderFile::Optimizer => include_str!("../../shaders/optimizer.wgsl"),
            ShaderFile::Conv => include_str!("../../shaders/conv.wgsl"),
            ShaderFile::Pool => include_str!("../../shaders/pool.wgsl"),
        }
    }

    /// The complete WGSL module: the common definitions followed by the file.
    pub fn source(self) -> String {
        format!("{COMMON}\n{}", self.body())
    }
}

/// How a kernel uses a storage binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `var<storage, read>`.
    Read,
    /// `var<storage, read_write>`.
    ReadWrite,
}

use Access::{Read, ReadWrite};

/// One compute entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Tiled matrix product with optional transposed operands, through workgroup memory.
    MatmulTiled,
    /// Register-blocked matrix product: 4 × 4 outputs per invocation, no workgroup memory.
    MatmulBlocked,
    /// `MatmulBlocked` reading both operands as `vec4`, for shapes whose contiguous dimensions
    /// are multiples of 4.
    MatmulVec4,
    /// `MatmulTiled` with a fused bias add and activation.
    LinearTiled,
    /// `MatmulBlocked` with a fused bias add and activation.
    LinearBlocked,
    /// `MatmulVec4` with a fused bias add and activation.
    LinearVec4,
    /// Broadcasting add.
    AddForward,
    /// Broadcast with a scale.
    ExpandForward,
    /// `max(x, 0)`.
    ReluForward,
    /// Gradient of relu.
    ReluBackward,
    /// Logistic sigmoid.
    SigmoidForward,
    /// Gradient of sigmoid.
    SigmoidBackward,
    /// Hyperbolic tangent.
    TanhForward,
    /// Gradient of tanh.
    TanhBackward,
    /// Sum of all elements times a scale, in one workgroup.
    SumAll,
    /// Sum over broadcast dimensions.
    SumTo,
    /// Weighted softmax cross-entropy.
    SoftmaxCrossEntropyForward,
    /// Its gradient.
    SoftmaxCrossEntropyBackward,
    /// Weighted binary cross-entropy from logits.
    BinaryCrossEntropyForward,
    /// Its gradient.
    BinaryCrossEntropyBackward,
    /// Weighted mean squared error.
    MeanSquaredErrorForward,
    /// Its gradient.
    MeanSquaredErrorBackward,
    /// SGD without momentum.
    SgdStep,
    /// SGD with a velocity buffer.
    SgdMomentumStep,
    /// Adam or AdamW.
    AdamStep,
    /// Copy, for reshapes.
    CopyForward,
    /// Dropout mask and scale, forward and backward.
    DropoutForward,
    /// Convolution plus bias, one output per invocation.
    ConvForward,
    /// Convolution plus bias, 4 channels × 4 positions per invocation.
    ConvForwardBlocked,
    /// Convolution gradient for the input, one element per invocation.
    ConvBackwardInput,
    /// Convolution gradient for the input, 4 channels × 4 positions per invocation.
    ConvBackwardInputBlocked,
    /// Convolution gradient for the weight, one weight per invocation.
    ConvBackwardWeight,
    /// Convolution gradient for the weight, 4 channels × 4 kernel columns per invocation.
    ConvBackwardWeightBlocked,
    /// Per-channel sum, the bias gradient.
    ChannelSum,
    /// Max pooling.
    MaxPoolForward,
    /// Max pooling gradient, gathered per input element.
    MaxPoolBackward,
    /// Max pooling gradient for windows that do not overlap, written per window.
    MaxPoolBackwardWindows,
    /// Average pooling.
    AvgPoolForward,
    /// Average pooling gradient.
    AvgPoolBackward,
}

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 39] = [
        Kernel::MatmulTiled,
        Kernel::MatmulBlocked,
        Kernel::MatmulVec4,
        Kernel::LinearTiled,
        Kernel::LinearBlocked,
        Kernel::LinearVec4,
        Kernel::AddForward,
        Kernel::ExpandForward,
        Kernel::ReluForward,
        Kernel::ReluBackward,
        Kernel::SigmoidForward,
        Kernel::SigmoidBackward,
        Kernel::TanhForward,
        Kernel::TanhBackward,
        Kernel::SumAll,
        Kernel::SumTo,
        Kernel::SoftmaxCrossEntropyForward,
        Kernel::SoftmaxCrossEntropyBackward,
        Kernel::BinaryCrossEntropyForward,
        Kernel::BinaryCrossEntropyBackward,
        Kernel::MeanSquaredErrorForward,
        Kernel::MeanSquaredErrorBackward,
        Kernel::SgdStep,
        Kernel::SgdMomentumStep,
        Kernel::AdamStep,
        Kernel::CopyForward,
        Kernel::DropoutForward,
        Kernel::ConvForward,
        Kernel::ConvForwardBlocked,
        Kernel::ConvBackwardInput,
        Kernel::ConvBackwardInputBlocked,
        Kernel::ConvBackwardWeight,
        Kernel::ConvBackwardWeightBlocked,
        Kernel::ChannelSum,
        Kernel::MaxPoolForward,
        Kernel::MaxPoolBackward,
        Kernel::MaxPoolBackwardWindows,
        Kernel::AvgPoolForward,
        Kernel::AvgPoolBackward,
    ];

    /// The file holding the entry point.
    pub fn shader(self) -> ShaderFile {
        use Kernel::*;
        match self {
            MatmulTiled | MatmulBlocked | MatmulVec4 | LinearTiled | LinearBlocked | LinearVec4 => {
                ShaderFile::Matmul
            }
            AddForward | ExpandForward | ReluForward | ReluBackward | SigmoidForward
            | SigmoidBackward | TanhForward | TanhBackward => ShaderFile::Elementwise,
            SumAll | SumTo => ShaderFile::Reduce,
            SoftmaxCrossEntropyForward
            | SoftmaxCrossEntropyBackward
            | BinaryCrossEntropyForward
            | BinaryCrossEntropyBackward
            | MeanSquaredErrorForward
            | MeanSquaredErrorBackward => ShaderFile::Loss,
            SgdStep | SgdMomentumStep | AdamStep => ShaderFile::Optimizer,
            CopyForward | DropoutForward => ShaderFile::Elementwise,
            ConvForward
            | ConvForwardBlocked
            | ConvBackwardInput
            | ConvBackwardInputBlocked
            | ConvBackwardWeight
            | ConvBackwardWeightBlocked
            | ChannelSum => ShaderFile::Conv,
            MaxPoolForward
            | MaxPoolBackward
            | MaxPoolBackwardWindows
            | AvgPoolForward
            | AvgPoolBackward => ShaderFile::Pool,
        }
    }

    /// The WGSL entry point's name.
    pub fn entry_point(self) -> &'static str {
        use Kernel::*;
        match self {
            MatmulTiled => "matmul_tiled",
            MatmulBlocked => "matmul_blocked",
            MatmulVec4 => "matmul_vec4",
            LinearTiled => "linear_tiled",
            LinearBlocked => "linear_blocked",
            LinearVec4 => "linear_vec4",
            AddForward => "add_forward",
            ExpandForward => "expand_forward",
            ReluForward => "relu_forward",
            ReluBackward => "relu_backward",
            SigmoidForward => "sigmoid_forward",
            SigmoidBackward => "sigmoid_backward",
            TanhForward => "tanh_forward",
            TanhBackward => "tanh_backward",
            SumAll => "sum_all",
            SumTo => "sum_to",
            SoftmaxCrossEntropyForward => "softmax_cross_entropy_forward",
            SoftmaxCrossEntropyBackward => "softmax_cross_entropy_backward",
            BinaryCrossEntropyForward => "binary_cross_entropy_forward",
            BinaryCrossEntropyBackward => "binary_cross_entropy_backward",
            MeanSquaredErrorForward => "mean_squared_error_forward",
            MeanSquaredErrorBackward => "mean_squared_error_backward",
            SgdStep => "sgd_step",
            SgdMomentumStep => "sgd_momentum_step",
            AdamStep => "adam_step",
            CopyForward => "copy_forward",
            DropoutForward => "dropout_forward",
            ConvForward => "conv_forward",
            ConvForwardBlocked => "conv_forward_blocked",
            ConvBackwardInput => "conv_backward_input",
            ConvBackwardInputBlocked => "conv_backward_input_blocked",
            ConvBackwardWeight => "conv_backward_weight",
            ConvBackwardWeightBlocked => "conv_backward_weight_blocked",
            ChannelSum => "channel_sum",
            MaxPoolForward => "max_pool_forward",
            MaxPoolBackward => "max_pool_backward",
            MaxPoolBackwardWindows => "max_pool_backward_windows",
            AvgPoolForward => "avg_pool_forward",
            AvgPoolBackward => "avg_pool_backward",
        }
    }

    /// Storage bindings from binding 1 on, in order.
    pub fn storage_bindings(self) -> &'static [Access] {
        use Kernel::*;
        match self {
            ReluForward | SigmoidForward | TanhForward | ExpandForward | SumAll | SumTo
            | CopyForward | ChannelSum | MaxPoolForward | AvgPoolForward | AvgPoolBackward => {
                &[ReadWrite, Read]
            }
            DropoutForward
            | ConvBackwardInput
            | ConvBackwardInputBlocked
            | ConvBackwardWeight
            | ConvBackwardWeightBlocked
            | MaxPoolBackward
            | MaxPoolBackwardWindows => &[ReadWrite, Read, Read],
            ConvForward | ConvForwardBlocked | LinearTiled | LinearBlocked | LinearVec4 => {
                &[ReadWrite, Read, Read, Read]
            }
            MatmulTiled | MatmulBlocked | MatmulVec4 | AddForward | ReluBackward
            | SigmoidBackward | TanhBackward => &[ReadWrite, Read, Read],
            SoftmaxCrossEntropyForward | BinaryCrossEntropyForward | MeanSquaredErrorForward => {
                &[ReadWrite, Read, Read, Read]
            }
            SoftmaxCrossEntropyBackward | BinaryCrossEntropyBackward | MeanSquaredErrorBackward => {
                &[ReadWrite, Read, Read, Read, Read]
            }
            SgdStep => &[ReadWrite, Read],
            SgdMomentumStep => &[ReadWrite, Read, ReadWrite],
            AdamStep => &[ReadWrite, Read, ReadWrite, ReadWrite],
        }
    }
}

/// The parameter block every kernel reads at binding 0 (`Params` in `shaders/common.wgsl`).
/// Each kernel's WGSL documents which fields it uses.
///
/// It is bound as a read-only storage buffer rather than a uniform buffer. Mesa's software
/// Vulkan driver (llvmpipe) recompiles a shader whenever the values of a uniform buffer that
/// it has specialised the shader on change, and one pipeline runs with different parameter
/// blocks several times per step. Storage buffers are never specialised, and the block is read
/// once per invocation, so hardware adapters lose nothing measurable.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct ParamBlock {
    /// First block of sizes, usually the output dimensions.
    pub dims_a: UVec4,
    /// Second block of sizes or strides.
    pub dims_b: UVec4,
    /// Third block of sizes or strides.
    pub dims_c: UVec4,
    /// Element counts and flags.
    pub sizes: UVec4,
    /// Scalar operands, for example a scale or a learning rate.
    pub scalars: Vec4,
    /// More scalar operands.
    pub scalars2: Vec4,
    /// Codes: `x` is the activation of the kernels with a fused epilogue.
    pub flags: UVec4,
}

/// Converts padded dimensions or strides to the `vec4<u32>` the kernels read.
pub fn uvec4(values: &[usize; 4]) -> UVec4 {
    UVec4::new(
        values[0] as u32,
        values[1] as u32,
        values[2] as u32,
        values[3] as u32,
    )
}
