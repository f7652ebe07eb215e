//! Sliding-window geometry shared by convolution and pooling.
//!
//! One- and two-dimensional ops share a single description: a 1-D op over `[batch, channels,
//! length]` is the 2-D op over `[batch, channels, 1, length]` with a window of height 1. The
//! kernels and the CPU reference only ever see the 2-D form.

use crate::error::{Error, Result};
use crate::tensor::Shape;

/// Kernel size, stride, zero padding and dilation along (height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window2d {
    /// Window extent in input elements before dilation.
    pub kernel: [usize; 2],
    /// Step between window positions.
    pub stride: [usize; 2],
    /// Elements added on both sides of each spatial axis.
    pub padding: [usize; 2],
    /// Spacing between the window's taps (1 = dense).
    pub dilation: [usize; 2],
}

impl Window2d {
    /// A 1-D window along the width axis.
    pub fn along_width(kernel: usize, stride: usize, padding: usize, dilation: usize) -> Self {
        Window2d {
            kernel: [1, kernel],
            stride: [1, stride],
            padding: [0, padding],
            dilation: [1, dilation],
        }
    }

    /// The span one window covers along an axis: `dilation · (kernel − 1) + 1`.
    pub fn span(&self, axis: usize) -> usize {
        self.dilation[axis] * (self.kernel[axis] - 1) + 1
    }

    /// Output size along `axis` for an input of size `input`: the floor formula
    /// `(input + 2·padding − span) / stride + 1`. Fails when the window is wider than the
    /// padded input or a size is zero.
    pub fn output_size(&self, axis: usize, input: usize, op: &'static str) -> Result<usize> {
        let names = ["height", "width"];
        // Pooling windows always have dilation 1, so it is named only where it was set.
        let dilation = match self.dilation[axis] {
            1 => String::new(),
            d => format!(", dilation {d}"),
        };
        if self.kernel[axis] == 0 || self.stride[axis] == 0 || self.dilation[axis] == 0 {
            return Err(Error::shape(
                op,
                format!(
                    "kernel {}, stride {}{dilation}: each must be at least 1 along the {}",
                    self.kernel[axis], self.stride[axis], names[axis]
                ),
            ));
        }
        let padded = input + 2 * self.padding[axis];
        let span = self.span(axis);
        if span > padded {
            return Err(Error::shape(
                op,
                format!(
                    "the window spans {span} elements (kernel {}{dilation}) but the padded input \
                     {} is only {padded} ({input} + 2 × padding {}); use a smaller kernel or \
                     more padding",
                    self.kernel[axis], names[axis], self.padding[axis]
                ),
            ));
        }
        Ok((padded - span) / self.stride[axis] + 1)
    }
}

/// The `[batch, channels, height, width]` view of a 3-D `[batch, channels, length]` or 4-D
/// shape.
pub fn as_4d(shape: &Shape) -> [usize; 4] {
    let d = shape.dims();
    match d.len() {
        3 => [d[0], d[1], 1, d[2]],
        _ => [d[0], d[1], d[2], d[3]],
    }
}
