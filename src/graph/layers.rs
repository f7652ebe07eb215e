//! Builders for convolution, pooling, reshaping and dropout.
//!
//! Shape letters: `n` batch, `c` channels, `h`/`w` height and width (or `l` length in 1-D).

use super::window::{Window2d, as_4d};
use super::{Activation, Graph, NodeId, Op};
use crate::error::{Error, Result};
use crate::tensor::Shape;

/// Stride, zero padding, dilation and groups of a convolution, the same along every axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvOptions {
    /// Step between output positions.
    pub stride: usize,
    /// Zeros added on both sides of each spatial axis.
    pub padding: usize,
    /// Spacing between kernel taps.
    pub dilation: usize,
    /// Channel groups; only 1 is supported.
    pub groups: usize,
}

impl Default for ConvOptions {
    /// Stride 1, no padding, dilation 1, one group.
    fn default() -> Self {
        ConvOptions {
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
        }
    }
}

impl Graph {
    /// 1-D convolution of `x: [n, c_in, l]` with `weight: [c_out, c_in, k]` plus
    /// `bias: [c_out]`, giving `[n, c_out, l_out]`.
    pub fn conv1d(
        &mut self,
        x: NodeId,
        weight: NodeId,
        bias: NodeId,
        options: ConvOptions,
    ) -> Result<NodeId> {
        self.conv(x, weight, bias, options, 1)
    }

    /// 2-D convolution of `x: [n, c_in, h, w]` with `weight: [c_out, c_in, kh, kw]` plus
    /// `bias: [c_out]`, giving `[n, c_out, h_out, w_out]`.
    pub fn conv2d(
        &mut self,
        x: NodeId,
        weight: NodeId,
        bias: NodeId,
        options: ConvOptions,
    ) -> Result<NodeId> {
        self.conv(x, weight, bias, options, 2)
    }

    fn conv(
        &mut self,
        x: NodeId,
        weight: NodeId,
        bias: NodeId,
        options: ConvOptions,
        spatial: usize,
    ) -> Result<NodeId> {
        let op = if spatial == 1 { "conv1d" } else { "conv2d" };
        self.check(&[x, weight, bias])?;
        if options.groups != 1 {
            return Err(Error::shape(
                op,
                format!(
                    "groups = {} is not supported; only groups = 1 is",
                    options.groups
                ),
            ));
        }
        let (xs, ws, bs) = (
            self.shape(x).clone(),
            self.shape(weight).clone(),
            self.shape(bias),
        );
        let rank = spatial + 2;
        if xs.rank() != rank || ws.rank() != rank {
            return Err(Error::shape(
                op,
                format!("input and weight must be rank {rank}, got {xs} and {ws}"),
            ));
        }
        let (c_in, c_out) = (xs.dims()[1], ws.dims()[0]);
        if ws.dims()[1] != c_in {
            return Err(Error::shape(
                op,
                format!(
                    "weight {ws} expects {} input channels, input {xs} has {c_in}",
                    ws.dims()[1]
                ),
            ));
        }
        if bs.dims() != [c_out] {
            return Err(Error::shape(
                op,
                format!("bias must be [{c_out}], got {bs}"),
            ));
        }
        let k = as_4d(&ws);
        let window = if spatial == 1 {
            Window2d::along_width(k[3], options.stride, options.padding, options.dilation)
        } else {
            Window2d {
                kernel: [k[2], k[3]],
                stride: [options.stride; 2],
                padding: [options.padding; 2],
                dilation: [options.dilation; 2],
            }
        };
        let out = self.window_output(&xs, &window, c_out, op)?;
        let op = Op::Conv {
            window,
            activation: Activation::Identity,
        };
        Ok(self.push(op, vec![x, weight, bias], out))
    }

    /// The output shape of a window op on `input` with `channels` output channels.
    fn window_output(
        &self,
        input: &Shape,
        window: &Window2d,
        channels: usize,
        op: &'static str,
    ) -> Result<Shape> {
        let [n, _, h, w] = as_4d(input);
        let out_w = window.output_size(1, w, op)?;
        if input.rank() == 3 {
            return Ok(Shape::from([n, channels, out_w]));
        }
        let out_h = window.output_size(0, h, op)?;
        Ok(Shape::from([n, channels, out_h, out_w]))
    }

    /// Max pooling of `x: [n, c, l]`; `stride` defaults to `kernel`.
    pub fn max_pool1d(
        &mut self,
        x: NodeId,
        kernel: usize,
        stride: Option<usize>,
        padding: usize,
    ) -> Result<NodeId> {
        let window = Window2d::along_width(kernel, stride.unwrap_or(kernel), padding, 1);
        self.pool(x, window, 3, true)
    }

    /// Max pooling of `x: [n, c, h, w]` with a square window; `stride` defaults to `kernel`.
    pub fn max_pool2d(
        &mut self,
        x: NodeId,
        kernel: usize,
        stride: Option<usize>,
        padding: usize,
    ) -> Result<NodeId> {
        self.pool(x, square_window(kernel, stride, padding), 4, true)
    }

    /// Average pooling of `x: [n, c, l]` over real elements only; `stride` defaults to `kernel`.
    pub fn avg_pool1d(
        &mut self,
        x: NodeId,
        kernel: usize,
        stride: Option<usize>,
        padding: usize,
    ) -> Result<NodeId> {
        let window = Window2d::along_width(kernel, stride.unwrap_or(kernel), padding, 1);
        self.pool(x, window, 3, false)
    }

    /// Average pooling of `x: [n, c, h, w]` over real elements only, square window.
    pub fn avg_pool2d(
        &mut self,
        x: NodeId,
        kernel: usize,
        stride: Option<usize>,
        padding: usize,
    ) -> Result<NodeId> {
        self.pool(x, square_window(kernel, stride, padding), 4, false)
    }

    fn pool(&mut self, x: NodeId, window: Window2d, rank: usize, max: bool) -> Result<NodeId> {
        let op = if max { "max_pool" } else { "avg_pool" };
        self.check(&[x])?;
        let xs = self.shape(x).clone();
        if xs.rank() != rank {
            return Err(Error::shape(
                op,
                format!("input must be rank {rank}, got {xs}"),
            ));
        }
        for axis in 0..2 {
            if 2 * window.padding[axis] > window.kernel[axis] {
                return Err(Error::shape(
                    op,
                    format!(
                        "padding {} is more than half the kernel {}, so a window could hold only \
                         padding",
                        window.padding[axis], window.kernel[axis]
                    ),
                ));
            }
        }
        let out = self.window_output(&xs, &window, xs.dims()[1], op)?;
        let op = if max {
            Op::MaxPool { window }
        } else {
            Op::AvgPool { window }
        };
        Ok(self.push(op, vec![x], out))
    }

    /// Mean over all spatial positions: `[n, c, ...]` to `[n, c]`.
    pub fn global_avg_pool(&mut self, x: NodeId) -> Result<NodeId> {
        self.check(&[x])?;
        let xs = self.shape(x).clone();
        if xs.rank() < 3 {
            return Err(Error::shape(
                "global_avg_pool",
                format!("input must be [batch, channels, ...], got {xs}"),
            ));
        }
        let (n, c) = (xs.dims()[0], xs.dims()[1]);
        let spatial: usize = xs.dims()[2..].iter().product();
        let mut kept = vec![n, c];
        kept.resize(xs.rank(), 1);
        let sums = self.sum_to(x, kept.clone())?;
        let means = self.expand(sums, kept, 1.0 / spatial as f32)?;
        self.reshape(means, [n, c])
    }

    /// The same values under `shape`, which must have as many elements.
    pub fn reshape(&mut self, x: NodeId, shape: impl Into<Shape>) -> Result<NodeId> {
        self.check(&[x])?;
        let shape = shape.into();
        let from = self.shape(x);
        if from.numel() != shape.numel() {
            return Err(Error::shape(
                "reshape",
                format!(
                    "{from} has {} elements but {shape} has {}",
                    from.numel(),
                    shape.numel()
                ),
            ));
        }
        Ok(self.push(Op::Reshape, vec![x], shape))
    }

    /// `[n, ...]` to `[n, product of the rest]`.
    pub fn flatten(&mut self, x: NodeId) -> Result<NodeId> {
        self.check(&[x])?;
        let dims = self.shape(x).dims().to_vec();
        if dims.is_empty() {
            return Err(Error::shape("flatten", "input must have a batch dimension"));
        }
        let rest: usize = dims[1..].iter().product();
        self.reshape(x, [dims[0], rest])
    }

    /// Dropout with drop probability `p` in `[0, 1)`; see [`Op::Dropout`].
    pub fn dropout(&mut self, x: NodeId, p: f32, seed: u32) -> Result<NodeId> {
        self.check(&[x])?;
        if !(0.0..1.0).contains(&p) {
            return Err(Error::shape(
                "dropout",
                format!("p = {p} must lie in [0, 1)"),
            ));
        }
        let shape = self.shape(x).clone();
        Ok(self.push(Op::Dropout { p, seed }, vec![x], shape))
    }
}

fn square_window(kernel: usize, stride: Option<usize>, padding: usize) -> Window2d {
    let stride = stride.unwrap_or(kernel);
    Window2d {
        kernel: [kernel; 2],
        stride: [stride; 2],
        padding: [padding; 2],
        dilation: [1; 2],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv1d_output_floor_formula() {
        let mut g = Graph::new();
        let x = g.input("x", [2, 3, 10]).unwrap();
        let w = g.input("w", [4, 3, 3]).unwrap();
        let b = g.input("b", [4]).unwrap();
        let options = ConvOptions {
            stride: 3,
            padding: 1,
            dilation: 2,
            groups: 1,
        };
        let y = g.conv1d(x, w, b, options).unwrap();
        // (10 + 2 - 5) / 3 + 1 = 3
        assert_eq!(g.shape(y), &Shape::from([2, 4, 3]));
    }

    #[test]
    fn conv_wider_than_input_names_sizes() {
        let mut g = Graph::new();
        let x = g.input("x", [1, 1, 4]).unwrap();
        let w = g.input("w", [1, 1, 7]).unwrap();
        let b = g.input("b", [1]).unwrap();
        let err = g
            .conv1d(x, w, b, ConvOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("spans 7"), "{err}");
        assert!(err.contains("only 4"), "{err}");
    }

    #[test]
    fn pool_wider_than_input_omits_dilation() {
        let mut g = Graph::new();
        let x = g.input("x", [1, 1, 4]).unwrap();
        let err = g.max_pool1d(x, 6, None, 0).unwrap_err().to_string();
        assert!(err.contains("spans 6 elements (kernel 6)"), "{err}");
        assert!(!err.contains("dilation"), "{err}");
        assert!(err.contains("smaller kernel or more padding"), "{err}");
    }

    #[test]
    fn conv_groups_rejected() {
        let mut g = Graph::new();
        let x = g.input("x", [1, 2, 4]).unwrap();
        let w = g.input("w", [2, 2, 1]).unwrap();
        let b = g.input("b", [2]).unwrap();
        let options = ConvOptions {
            groups: 2,
            ..ConvOptions::default()
        };
        let err = g.conv1d(x, w, b, options).unwrap_err().to_string();
        assert!(err.contains("groups = 2"), "{err}");
    }

    #[test]
    fn pool_padding_over_half_rejected() {
        let mut g = Graph::new();
        let x = g.input("x", [1, 1, 8]).unwrap();
        let err = g.max_pool1d(x, 2, None, 2).unwrap_err().to_string();
        assert!(err.contains("padding 2"), "{err}");
    }

    #[test]
    fn flatten_and_global_pool_shapes() {
        let mut g = Graph::new();
        let x = g.input("x", [5, 3, 4, 2]).unwrap();
        let f = g.flatten(x).unwrap();
        assert_eq!(g.shape(f), &Shape::from([5, 24]));
        let p = g.global_avg_pool(x).unwrap();
        assert_eq!(g.shape(p), &Shape::from([5, 3]));
    }
}
