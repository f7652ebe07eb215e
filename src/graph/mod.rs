//! The computation graph: nodes of [`Op`]s with shapes fixed at construction.
//!
//! The graph is append-only and every node's inputs are added before it, so node ids in
//! increasing order are a topological order. Builder methods infer the output shape and return
//! [`Error::Shape`] when the operands do not fit.

mod autodiff;
mod fuse;
mod layers;
mod op;
mod window;

pub use autodiff::Gradients;
pub use fuse::Fusion;
pub use layers::ConvOptions;
pub use op::{Activation, Op};
pub use window::{Window2d, as_4d};

use crate::error::{Error, Result};
use crate::tensor::{Shape, Tensor};

/// Identifies a node in one [`Graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

impl NodeId {
    /// The node's position in its graph.
    pub fn index(self) -> usize {
        self.0
    }
}

/// One node: an op, its inputs and its output shape.
#[derive(Clone, Debug)]
pub struct Node {
    /// The operation.
    pub op: Op,
    /// Operand nodes, in the order the op documents.
    pub inputs: Vec<NodeId>,
    /// Output shape.
    pub shape: Shape,
    /// Name for logs and saved weights; inputs and parameters always have one.
    pub name: Option<String>,
}

/// A computation graph with its parameters' initial values.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    nodes: Vec<Node>,
    initial_values: Vec<(NodeId, Tensor)>,
}

impl Graph {
    /// Creates an empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The nodes, indexed by [`NodeId::index`].
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with this id.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0]
    }

    /// The node with this id, or an error naming it when the id is not from this graph.
    pub fn try_node(&self, id: NodeId) -> Result<&Node> {
        self.nodes.get(id.0).ok_or_else(|| {
            Error::InvalidNode(format!(
                "node {} does not exist in this graph of {} nodes",
                id.0,
                self.nodes.len()
            ))
        })
    }

    /// The output shape of a node.
    pub fn shape(&self, id: NodeId) -> &Shape {
        &self.nodes[id.0].shape
    }

    /// Parameter nodes with their initial values, in the order they were added.
    pub fn parameters(&self) -> &[(NodeId, Tensor)] {
        &self.initial_values
    }

    /// Input nodes in the order they were added.
    pub fn inputs(&self) -> Vec<NodeId> {
        self.ids_where(|node| node.op == Op::Input)
    }

    /// The node named `name`, if any.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes
            .iter()
            .position(|n| n.name.as_deref() == Some(name))
            .map(NodeId)
    }

    fn ids_where(&self, keep: impl Fn(&Node) -> bool) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| keep(&self.nodes[i]))
            .map(NodeId)
            .collect()
    }

    /// Sets the name of a node, for logs and GPU labels.
    pub fn set_name(&mut self, id: NodeId, name: impl Into<String>) {
        self.nodes[id.0].name = Some(name.into());
    }

    pub(crate) fn push(&mut self, op: Op, inputs: Vec<NodeId>, shape: Shape) -> NodeId {
        self.nodes.push(Node {
            op,
            inputs,
            shape,
            name: None,
        });
        NodeId(self.nodes.len() - 1)
    }

    pub(crate) fn check(&self, ids: &[NodeId]) -> Result<()> {
        for &id in ids {
            self.try_node(id)?;
        }
        Ok(())
    }

    /// Adds an input fed at every step. Names must be unique among inputs and parameters.
    pub fn input(&mut self, name: &str, shape: impl Into<Shape>) -> Result<NodeId> {
        let shape = shape.into();
        self.check_new_name(name)?;
        check_not_empty(&shape, "input", name)?;
        let id = self.push(Op::Input, vec![], shape);
        self.set_name(id, name);
        Ok(id)
    }

    /// Adds a trainable parameter with its initial value.
    pub fn parameter(&mut self, name: &str, initial: Tensor) -> Result<NodeId> {
        self.check_new_name(name)?;
        check_not_empty(initial.shape(), "parameter", name)?;
        let id = self.push(Op::Parameter, vec![], initial.shape().clone());
        self.set_name(id, name);
        self.initial_values.push((id, initial));
        Ok(id)
    }

    /// Replaces the initial value of parameter `id`; the shape must stay the same.
    pub fn set_initial_value(&mut self, id: NodeId, value: Tensor) -> Result<()> {
        let slot = self
            .initial_values
            .iter_mut()
            .find(|(p, _)| *p == id)
            .ok_or_else(|| {
                Error::InvalidNode(format!("node {} is not a parameter of this graph", id.0))
            })?;
        if slot.1.shape() != value.shape() {
            return Err(Error::shape(
                "parameter",
                format!(
                    "new value has shape {} but the parameter is {}",
                    value.shape(),
                    slot.1.shape()
                ),
            ));
        }
        slot.1 = value;
        Ok(())
    }

    /// Adds a constant filled with `value`.
    pub fn fill(&mut self, shape: impl Into<Shape>, value: f32) -> NodeId {
        self.push(Op::Fill { value }, vec![], shape.into())
    }

    fn check_new_name(&self, name: &str) -> Result<()> {
        if self.find(name).is_some() {
            return Err(Error::InvalidNode(format!(
                "a node named `{name}` already exists; input and parameter names must be unique"
            )));
        }
        Ok(())
    }

    /// `lhs · rhs` for `lhs: [m, k]`, `rhs: [k, n]`, giving `[m, n]`.
    pub fn matmul(&mut self, lhs: NodeId, rhs: NodeId) -> Result<NodeId> {
        self.matmul_transposed(lhs, rhs, false, false)
    }

    /// `op(lhs) · op(rhs)` where each `op` transposes when its flag is set.
    pub fn matmul_transposed(
        &mut self,
        lhs: NodeId,
        rhs: NodeId,
        transpose_lhs: bool,
        transpose_rhs: bool,
    ) -> Result<NodeId> {
        self.check(&[lhs, rhs])?;
        let (a, b) = (self.shape(lhs).clone(), self.shape(rhs).clone());
        if a.rank() != 2 || b.rank() != 2 {
            return Err(Error::shape(
                "matmul",
                format!("operands must be rank 2, got {a} and {b}"),
            ));
        }
        let (m, k) = if transpose_lhs {
            (a.dims()[1], a.dims()[0])
        } else {
            (a.dims()[0], a.dims()[1])
        };
        let (k2, n) = if transpose_rhs {
            (b.dims()[1], b.dims()[0])
        } else {
            (b.dims()[0], b.dims()[1])
        };
        if k != k2 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "inner dimensions differ: lhs {a}{} has {k} columns, rhs {b}{} has {k2} rows",
                    if transpose_lhs { " (transposed)" } else { "" },
                    if transpose_rhs { " (transposed)" } else { "" },
                ),
            ));
        }
        let op = Op::MatMul {
            transpose_lhs,
            transpose_rhs,
        };
        Ok(self.push(op, vec![lhs, rhs], Shape::from([m, n])))
    }

    /// `lhs + rhs` with numpy broadcasting.
    pub fn add(&mut self, lhs: NodeId, rhs: NodeId) -> Result<NodeId> {
        self.check(&[lhs, rhs])?;
        let shape = self.shape(lhs).broadcast(self.shape(rhs), "add")?;
        shape.padded("add")?;
        Ok(self.push(Op::Add, vec![lhs, rhs], shape))
    }

    /// Rectified linear unit.
    pub fn relu(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(Op::Relu, x)
    }

    /// Logistic sigmoid.
    pub fn sigmoid(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(Op::Sigmoid, x)
    }

    /// Hyperbolic tangent.
    pub fn tanh(&mut self, x: NodeId) -> Result<NodeId> {
        self.unary(Op::Tanh, x)
    }

    fn unary(&mut self, op: Op, x: NodeId) -> Result<NodeId> {
        self.check(&[x])?;
        let shape = self.shape(x).clone();
        Ok(self.push(op, vec![x], shape))
    }

    /// Sum of all elements, shape `[1]`.
    pub fn sum(&mut self, x: NodeId) -> Result<NodeId> {
        self.check(&[x])?;
        Ok(self.push(Op::Sum, vec![x], Shape::from([1])))
    }

    /// Mean of all elements, shape `[1]`.
    pub fn mean(&mut self, x: NodeId) -> Result<NodeId> {
        self.check(&[x])?;
        Ok(self.push(Op::Mean, vec![x], Shape::from([1])))
    }

    /// Broadcasts `x` to `shape` and multiplies by `scale`.
    pub fn expand(&mut self, x: NodeId, shape: impl Into<Shape>, scale: f32) -> Result<NodeId> {
        self.check(&[x])?;
        let shape = shape.into();
        let broadcast = self.shape(x).broadcast(&shape, "expand")?;
        if broadcast != shape {
            return Err(Error::shape(
                "expand",
                format!("{} does not broadcast to {shape}", self.shape(x)),
            ));
        }
        shape.padded("expand")?;
        Ok(self.push(Op::Expand { scale }, vec![x], shape))
    }

    /// Sums `x` over the dimensions where `shape` has size 1 (or is missing), the reverse of a
    /// broadcast from `shape` to `x`'s shape.
    pub fn sum_to(&mut self, x: NodeId, shape: impl Into<Shape>) -> Result<NodeId> {
        self.check(&[x])?;
        let shape = shape.into();
        let from = self.shape(x).clone();
        if shape.broadcast(&from, "sum_to")? != from {
            return Err(Error::shape(
                "sum_to",
                format!("{shape} does not broadcast to {from}"),
            ));
        }
        from.padded("sum_to")?;
        Ok(self.push(Op::SumTo, vec![x], shape))
    }

    /// Weighted softmax cross-entropy from logits `[n, c]`, class-index labels `[n]` and row
    /// weights `[n]`.
    pub fn softmax_cross_entropy(
        &mut self,
        logits: NodeId,
        labels: NodeId,
        weights: NodeId,
    ) -> Result<NodeId> {
        const OP: &str = "softmax_cross_entropy";
        self.check(&[logits, labels, weights])?;
        let shape = self.shape(logits);
        if shape.rank() != 2 {
            return Err(Error::shape(
                OP,
                format!("logits must be [rows, classes], got {shape}"),
            ));
        }
        let rows = shape.dims()[0];
        self.check_rows(OP, "labels", labels, rows)?;
        self.check_rows(OP, "weights", weights, rows)?;
        Ok(self.push(
            Op::SoftmaxCrossEntropy,
            vec![logits, labels, weights],
            Shape::from([1]),
        ))
    }

    /// Weighted binary cross-entropy from logits `[n]` or `[n, 1]`, targets in `[0, 1]` and row
    /// weights, each with `n` elements.
    pub fn binary_cross_entropy(
        &mut self,
        logits: NodeId,
        targets: NodeId,
        weights: NodeId,
    ) -> Result<NodeId> {
        const OP: &str = "binary_cross_entropy";
        self.check(&[logits, targets, weights])?;
        let shape = self.shape(logits);
        let single_column = shape.rank() == 1 || (shape.rank() == 2 && shape.dims()[1] == 1);
        if !single_column {
            return Err(Error::shape(
                OP,
                format!("logits must be [rows] or [rows, 1], got {shape}"),
            ));
        }
        let rows = shape.dims()[0];
        self.check_rows(OP, "targets", targets, rows)?;
        self.check_rows(OP, "weights", weights, rows)?;
        Ok(self.push(
            Op::BinaryCrossEntropy,
            vec![logits, targets, weights],
            Shape::from([1]),
        ))
    }

    /// Weighted mean squared error between `prediction` and `target` of the same shape, with
    /// row weights `[n]` for the first dimension `n`; the other dimensions are averaged.
    pub fn mean_squared_error(
        &mut self,
        prediction: NodeId,
        target: NodeId,
        weights: NodeId,
    ) -> Result<NodeId> {
        const OP: &str = "mean_squared_error";
        self.check(&[prediction, target, weights])?;
        let shape = self.shape(prediction).clone();
        if shape.rank() == 0 {
            return Err(Error::shape(
                OP,
                "prediction must have at least one dimension",
            ));
        }
        if self.shape(target) != &shape {
            return Err(Error::shape(
                OP,
                format!(
                    "target shape {} differs from prediction shape {shape}",
                    self.shape(target)
                ),
            ));
        }
        self.check_rows(OP, "weights", weights, shape.dims()[0])?;
        Ok(self.push(
            Op::MeanSquaredError,
            vec![prediction, target, weights],
            Shape::from([1]),
        ))
    }

    fn check_rows(&self, op: &'static str, what: &str, id: NodeId, rows: usize) -> Result<()> {
        let shape = self.shape(id);
        if shape.numel() != rows || shape.rank() > 2 {
            return Err(Error::shape(
                op,
                format!("{what} must have one value per row ({rows}), got shape {shape}"),
            ));
        }
        Ok(())
    }
}

fn check_not_empty(shape: &Shape, what: &'static str, name: &str) -> Result<()> {
    if shape.numel() == 0 {
        return Err(Error::shape(
            what,
            format!("`{name}` has shape {shape} with no elements"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_infers_transposed_shapes() {
        let mut g = Graph::new();
        let a = g.input("a", [7, 3]).unwrap();
        let b = g.input("b", [5, 3]).unwrap();
        let c = g.matmul_transposed(a, b, false, true).unwrap();
        assert_eq!(g.shape(c), &Shape::from([7, 5]));
        let d = g.matmul_transposed(a, a, true, false).unwrap();
        assert_eq!(g.shape(d), &Shape::from([3, 3]));
    }

    #[test]
    fn matmul_mismatch_names_shapes() {
        let mut g = Graph::new();
        let a = g.input("a", [7, 3]).unwrap();
        let b = g.input("b", [4, 5]).unwrap();
        let err = g.matmul(a, b).unwrap_err().to_string();
        assert!(err.contains("[7, 3]"), "{err}");
        assert!(err.contains("[4, 5]"), "{err}");
    }

    #[test]
    fn loss_rejects_wrong_label_count() {
        let mut g = Graph::new();
        let logits = g.input("logits", [8, 3]).unwrap();
        let labels = g.input("labels", [7]).unwrap();
        let weights = g.input("weights", [8]).unwrap();
        let err = g
            .softmax_cross_entropy(logits, labels, weights)
            .unwrap_err()
            .to_string();
        assert!(err.contains("labels"), "{err}");
        assert!(err.contains("(8)"), "{err}");
    }

    #[test]
    fn duplicate_names_rejected() {
        let mut g = Graph::new();
        g.input("x", [1]).unwrap();
        let err = g.input("x", [2]).unwrap_err().to_string();
        assert!(err.contains("`x`"), "{err}");
    }
}
