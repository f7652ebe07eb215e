//! Shapes and host tensors.
//!
//! A [`Shape`] lists dimension sizes outermost first (row-major). A [`Tensor`] is a shape plus
//! its `f32` values in row-major order; it lives in host memory and is what feeds, parameters
//! and read-backs are made of.

use std::fmt;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};

/// The highest rank that broadcasting kernels support.
pub const MAX_RANK: usize = 4;

/// Dimension sizes, outermost first.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(Vec<usize>);

impl Shape {
    /// Creates a shape from its dimension sizes.
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Shape(dims.into())
    }

    /// The dimension sizes.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// The number of dimensions.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The number of elements (1 for a rank-0 shape).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// The dimensions padded with leading ones to [`MAX_RANK`].
    ///
    /// Fails when the rank is above [`MAX_RANK`].
    pub fn padded(&self, op: &'static str) -> Result<[usize; MAX_RANK]> {
        if self.rank() > MAX_RANK {
            return Err(Error::shape(
                op,
                format!(
                    "rank {} of {self} is above the supported maximum of {MAX_RANK}",
                    self.rank()
                ),
            ));
        }
        let mut out = [1; MAX_RANK];
        out[MAX_RANK - self.rank()..].copy_from_slice(&self.0);
        Ok(out)
    }

    /// Returns the shape both operands broadcast to, numpy style (trailing dimensions aligned,
    /// a size of 1 stretches).
    pub fn broadcast(&self, other: &Shape, op: &'static str) -> Result<Shape> {
        let rank = self.rank().max(other.rank());
        let mut dims = vec![0; rank];
        for (i, dim) in dims.iter_mut().enumerate() {
            let a = dim_from_end(self, rank - 1 - i);
            let b = dim_from_end(other, rank - 1 - i);
            *dim = match (a, b) {
                (a, b) if a == b => a,
                (1, b) => b,
                (a, 1) => a,
                _ => {
                    return Err(Error::shape(
                        op,
                        format!("cannot broadcast {self} with {other}: dimension {a} vs {b}"),
                    ));
                }
            };
        }
        Ok(Shape(dims))
    }

    /// Row-major strides of this shape padded to [`MAX_RANK`], with stride 0 on every
    /// dimension of size 1, the ones broadcasting stretches to `target`'s size. Fails when
    /// either rank is above [`MAX_RANK`].
    pub fn broadcast_strides(&self, target: &Shape, op: &'static str) -> Result<[usize; MAX_RANK]> {
        let dims = self.padded(op)?;
        target.padded(op)?;
        let mut strides = [0; MAX_RANK];
        let mut stride = 1;
        for d in (0..MAX_RANK).rev() {
            // A size-1 dimension only has coordinate 0, so its stride is 0 whether or not
            // broadcasting stretches it.
            strides[d] = if dims[d] == 1 { 0 } else { stride };
            stride *= dims[d];
        }
        Ok(strides)
    }
}

/// Size of the dimension `from_end` places from the last one, 1 past the rank.
fn dim_from_end(shape: &Shape, from_end: usize) -> usize {
    if from_end < shape.rank() {
        shape.0[shape.rank() - 1 - from_end]
    } else {
        1
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<const N: usize> From<[usize; N]> for Shape {
    fn from(dims: [usize; N]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<&[usize]> for Shape {
    fn from(dims: &[usize]) -> Self {
        Shape(dims.to_vec())
    }
}

impl From<Vec<usize>> for Shape {
    fn from(dims: Vec<usize>) -> Self {
        Shape(dims)
    }
}

/// A row-major `f32` tensor in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Shape,
    data: Vec<f32>,
}

impl Tensor {
    /// Creates a tensor, checking that `data` has as many values as `shape` has elements.
    pub fn new(shape: impl Into<Shape>, data: Vec<f32>) -> Result<Self> {
        let shape = shape.into();
        if shape.numel() != data.len() {
            return Err(Error::shape(
                "tensor",
                format!(
                    "shape {shape} has {} elements but {} values were given",
                    shape.numel(),
                    data.len()
                ),
            ));
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor filled with one value.
    pub fn full(shape: impl Into<Shape>, value: f32) -> Self {
        let shape = shape.into();
        let data = vec![value; shape.numel()];
        Tensor { shape, data }
    }

    /// A tensor of values drawn uniformly from `[low, high)` by a ChaCha8 generator seeded with
    /// `seed`, so the same seed gives the same values on every platform.
    pub fn uniform(shape: impl Into<Shape>, low: f32, high: f32, seed: u64) -> Self {
        let shape = shape.into();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data = (0..shape.numel())
            .map(|_| rng.random_range(low..high))
            .collect();
        Tensor { shape, data }
    }

    /// The shape.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Consumes the tensor and returns its values.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_bias_over_rows() {
        let out = Shape::from([5, 3])
            .broadcast(&Shape::from([3]), "add")
            .unwrap();
        assert_eq!(out, Shape::from([5, 3]));
    }

    #[test]
    fn broadcast_rejects_mismatch() {
        let err = Shape::from([5, 3])
            .broadcast(&Shape::from([4]), "add")
            .unwrap_err();
        assert!(err.to_string().contains("[5, 3]"), "{err}");
    }

    #[test]
    fn broadcast_strides_zero_on_stretched_dims() {
        let strides = Shape::from([3])
            .broadcast_strides(&Shape::from([5, 3]), "add")
            .unwrap();
        assert_eq!(strides, [0, 0, 0, 1]);
        let strides = Shape::from([5, 1])
            .broadcast_strides(&Shape::from([5, 3]), "add")
            .unwrap();
        assert_eq!(strides, [0, 0, 1, 0]);
    }

    #[test]
    fn tensor_new_checks_length() {
        let err = Tensor::new([2, 3], vec![1.0; 5]).unwrap_err();
        assert!(err.to_string().contains("6 elements"), "{err}");
    }
}
