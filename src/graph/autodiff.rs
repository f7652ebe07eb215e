//! Reverse-mode differentiation that appends the backward pass to the graph.
//!
//! [`Graph::backward`] walks the nodes from the loss towards the leaves and adds, for each op,
//! the nodes that compute its inputs' gradients. A value used by several ops gets the sum of
//! their gradients; an operand that broadcasting stretched gets its gradient summed back to its
//! own shape with [`Op::SumTo`].

use std::collections::HashMap;

use super::{Activation, Graph, NodeId, Op};
use crate::error::{Error, Result};

/// The gradient node of each requested node.
#[derive(Clone, Debug, Default)]
pub struct Gradients {
    map: HashMap<NodeId, NodeId>,
}

impl Gradients {
    /// The node holding `d loss / d node`, if `node` was requested and the loss depends on it.
    pub fn get(&self, node: NodeId) -> Option<NodeId> {
        self.map.get(&node).copied()
    }
}

impl Graph {
    /// Appends the nodes computing `d loss / d x` for every `x` in `wrt` and returns them.
    ///
    /// `loss` must have shape `[1]`. A node in `wrt` that the loss does not depend on gets a
    /// gradient of zeros.
    pub fn backward(&mut self, loss: NodeId, wrt: &[NodeId]) -> Result<Gradients> {
        self.try_node(loss)?;
        if self.shape(loss).numel() != 1 {
            return Err(Error::InvalidNode(format!(
                "the loss must be a single value, but node {} has shape {}",
                loss.0,
                self.shape(loss)
            )));
        }
        for &id in wrt {
            self.try_node(id)?;
        }

        // A node needs a gradient when it is requested or depends on a requested node.
        let mut needs_grad = vec![false; loss.0 + 1];
        for &id in wrt {
            if id.0 <= loss.0 {
                needs_grad[id.0] = true;
            }
        }
        for i in 0..=loss.0 {
            if self.nodes[i].inputs.iter().any(|input| needs_grad[input.0]) {
                needs_grad[i] = true;
            }
        }

        let mut pending: Vec<Vec<NodeId>> = vec![Vec::new(); loss.0 + 1];
        let seed = self.fill([1], 1.0);
        pending[loss.0].push(seed);
        let mut grads = HashMap::new();

        for i in (0..=loss.0).rev() {
            if !needs_grad[i] || pending[i].is_empty() {
                continue;
            }
            let parts = std::mem::take(&mut pending[i]);
            let dy = self.accumulate(parts)?;
            grads.insert(NodeId(i), dy);
            for (input, dx) in self.input_gradients(NodeId(i), dy, &needs_grad)? {
                pending[input.0].push(dx);
            }
        }

        let mut map = HashMap::new();
        for &id in wrt {
            let grad = match grads.get(&id) {
                Some(&g) => g,
                None => {
                    let shape = self.shape(id).clone();
                    self.fill(shape, 0.0)
                }
            };
            map.insert(id, grad);
        }
        Ok(Gradients { map })
    }

    /// Sums the gradient contributions of one node.
    fn accumulate(&mut self, parts: Vec<NodeId>) -> Result<NodeId> {
        let mut total = parts[0];
        for &part in &parts[1..] {
            total = self.add(total, part)?;
        }
        Ok(total)
    }

    /// Adds the nodes for the gradients of `node`'s inputs given `dy = d loss / d node`.
    fn input_gradients(
        &mut self,
        node: NodeId,
        dy: NodeId,
        needs_grad: &[bool],
    ) -> Result<Vec<(NodeId, NodeId)>> {
        let op = self.nodes[node.0].op.clone();
        let inputs = self.nodes[node.0].inputs.clone();
        let wants = |i: usize| needs_grad[inputs[i].0];
        let mut out = Vec::new();
        match op {
            Op::Input | Op::Parameter | Op::Fill { .. } => {}
            Op::MatMul {
                transpose_lhs,
                transpose_rhs,
            } => {
                self.matmul_gradients(
                    &inputs,
                    dy,
                    [transpose_lhs, transpose_rhs],
                    &wants,
                    &mut out,
                )?;
            }
            Op::Linear {
                transpose_lhs,
                transpose_rhs,
                activation,
            } => {
                let dz = self.activation_gradient(node, dy, activation);
                self.matmul_gradients(
                    &inputs,
                    dz,
                    [transpose_lhs, transpose_rhs],
                    &wants,
                    &mut out,
                )?;
                if wants(2) {
                    out.push((inputs[2], self.unbroadcast(dz, inputs[2])?));
                }
            }
            Op::Add => {
                for (i, &input) in inputs.iter().enumerate() {
                    if wants(i) {
                        out.push((input, self.unbroadcast(dy, input)?));
                    }
                }
            }
            Op::Relu => {
                // The output, not the input: y > 0 exactly where x > 0, and reading y lets the
                // input's buffer be reused once the forward relu has run.
                let dx = self.push(Op::ReluBackward, vec![node, dy], self.shape(node).clone());
                out.push((inputs[0], dx));
            }
            Op::Sigmoid => {
                let dx = self.push(
                    Op::SigmoidBackward,
                    vec![node, dy],
                    self.shape(node).clone(),
                );
                out.push((inputs[0], dx));
            }
            Op::Tanh => {
                let dx = self.push(Op::TanhBackward, vec![node, dy], self.shape(node).clone());
                out.push((inputs[0], dx));
            }
            Op::Sum | Op::Mean => {
                let shape = self.shape(inputs[0]).clone();
                let scale = if op == Op::Mean {
                    1.0 / shape.numel() as f32
                } else {
                    1.0
                };
                out.push((inputs[0], self.expand(dy, shape, scale)?));
            }
            Op::Expand { scale } => {
                let mut dx = self.unbroadcast(dy, inputs[0])?;
                if scale != 1.0 {
                    let shape = self.shape(dx).clone();
                    dx = self.expand(dx, shape, scale)?;
                }
                out.push((inputs[0], dx));
            }
            Op::SumTo => {
                let shape = self.shape(inputs[0]).clone();
                out.push((inputs[0], self.expand(dy, shape, 1.0)?));
            }
            Op::SoftmaxCrossEntropy | Op::BinaryCrossEntropy | Op::MeanSquaredError => {
                if wants(1) || wants(2) {
                    return Err(Error::InvalidNode(format!(
                        "{} is differentiable only with respect to its prediction, but its \
                         targets or weights depend on a trained value",
                        op.name()
                    )));
                }
                let backward = match op {
                    Op::SoftmaxCrossEntropy => Op::SoftmaxCrossEntropyBackward,
                    Op::BinaryCrossEntropy => Op::BinaryCrossEntropyBackward,
                    _ => Op::MeanSquaredErrorBackward,
                };
                let shape = self.shape(inputs[0]).clone();
                let dx = self.push(backward, vec![inputs[0], inputs[1], inputs[2], dy], shape);
                out.push((inputs[0], dx));
            }
            Op::Conv { window, activation } => {
                let dy = self.activation_gradient(node, dy, activation);
                let (x, weight, bias) = (inputs[0], inputs[1], inputs[2]);
                if wants(0) {
                    let shape = self.shape(x).clone();
                    let dx = self.push(Op::ConvBackwardInput { window }, vec![dy, weight], shape);
                    out.push((x, dx));
                }
                if wants(1) {
                    let shape = self.shape(weight).clone();
                    let dw = self.push(Op::ConvBackwardWeight { window }, vec![dy, x], shape);
                    out.push((weight, dw));
                }
                if wants(2) {
                    let shape = self.shape(bias).clone();
                    out.push((bias, self.push(Op::ChannelSum, vec![dy], shape)));
                }
            }
            Op::MaxPool { window } => {
                let shape = self.shape(inputs[0]).clone();
                let op = Op::MaxPoolBackward {
                    window,
                    activation: Activation::Identity,
                };
                let dx = self.push(op, vec![inputs[0], dy], shape);
                out.push((inputs[0], dx));
            }
            Op::AvgPool { window } => {
                let shape = self.shape(inputs[0]).clone();
                let dx = self.push(Op::AvgPoolBackward { window }, vec![dy], shape);
                out.push((inputs[0], dx));
            }
            Op::Reshape => {
                let shape = self.shape(inputs[0]).clone();
                out.push((inputs[0], self.reshape(dy, shape)?));
            }
            Op::Dropout { p, seed } => {
                let shape = self.shape(inputs[0]).clone();
                let dx = self.push(Op::DropoutBackward { p, seed }, vec![dy], shape);
                out.push((inputs[0], dx));
            }
            Op::ReluBackward
            | Op::SigmoidBackward
            | Op::TanhBackward
            | Op::SoftmaxCrossEntropyBackward
            | Op::BinaryCrossEntropyBackward
            | Op::MeanSquaredErrorBackward
            | Op::ConvBackwardInput { .. }
            | Op::ConvBackwardWeight { .. }
            | Op::ChannelSum
            | Op::MaxPoolBackward { .. }
            | Op::AvgPoolBackward { .. }
            | Op::DropoutBackward { .. } => {
                return Err(Error::InvalidNode(format!(
                    "{} has no gradient: second derivatives are not supported",
                    op.name()
                )));
            }
        }
        Ok(out)
    }

    /// Appends the gradients of a matrix product's operands given `dy` for its result:
    /// `transposed` contains the forward op's flags for `(lhs, rhs)`.
    fn matmul_gradients(
        &mut self,
        inputs: &[NodeId],
        dy: NodeId,
        transposed: [bool; 2],
        wants: &dyn Fn(usize) -> bool,
        out: &mut Vec<(NodeId, NodeId)>,
    ) -> Result<()> {
        let (a, b) = (inputs[0], inputs[1]);
        let [ta, tb] = transposed;
        if wants(0) {
            // C = op(A)·op(B): dA = dC·op(B)ᵀ, or its transpose op(B)·dCᵀ when A is stored
            // transposed.
            let da = if ta {
                self.matmul_transposed(b, dy, tb, true)?
            } else {
                self.matmul_transposed(dy, b, false, !tb)?
            };
            out.push((a, da));
        }
        if wants(1) {
            // dB = op(A)ᵀ·dC, or dCᵀ·op(A) when B is stored transposed.
            let db = if tb {
                self.matmul_transposed(dy, a, true, ta)?
            } else {
                self.matmul_transposed(a, dy, !ta, false)?
            };
            out.push((b, db));
        }
        Ok(())
    }

    /// Returns the gradient before a fused activation: `dy` passed through the activation's
    /// backward op, which reads the fused node's own (activated) output.
    fn activation_gradient(&mut self, node: NodeId, dy: NodeId, activation: Activation) -> NodeId {
        match activation.backward_op() {
            Some(op) => self.push(op, vec![node, dy], self.shape(node).clone()),
            None => dy,
        }
    }

    /// Reduces `dy` back to the shape of `input` when the forward op broadcast it.
    fn unbroadcast(&mut self, dy: NodeId, input: NodeId) -> Result<NodeId> {
        let shape = self.shape(input).clone();
        if self.shape(dy) == &shape {
            Ok(dy)
        } else {
            self.sum_to(dy, shape)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::{Shape, Tensor};

    #[test]
    fn bias_gradient_is_summed_over_rows() {
        let mut g = Graph::new();
        let x = g.input("x", [4, 3]).unwrap();
        let b = g.parameter("b", Tensor::full([3], 0.5)).unwrap();
        let y = g.add(x, b).unwrap();
        let loss = g.sum(y).unwrap();
        let grads = g.backward(loss, &[b]).unwrap();
        let db = grads.get(b).unwrap();
        assert_eq!(g.node(db).op, Op::SumTo);
        assert_eq!(g.shape(db), &Shape::from([3]));
    }

    #[test]
    fn value_used_twice_gets_summed_gradient() {
        let mut g = Graph::new();
        let w = g.parameter("w", Tensor::full([2], 1.0)).unwrap();
        let y = g.add(w, w).unwrap();
        let loss = g.sum(y).unwrap();
        let grads = g.backward(loss, &[w]).unwrap();
        let dw = grads.get(w).unwrap();
        assert_eq!(g.node(dw).op, Op::Add);
    }

    #[test]
    fn unused_parameter_gets_zero_gradient() {
        let mut g = Graph::new();
        let w = g.parameter("w", Tensor::full([2], 1.0)).unwrap();
        let v = g.parameter("v", Tensor::full([3], 1.0)).unwrap();
        let loss = g.sum(w).unwrap();
        let grads = g.backward(loss, &[v]).unwrap();
        let dv = grads.get(v).unwrap();
        assert_eq!(g.node(dv).op, Op::Fill { value: 0.0 });
    }

    #[test]
    fn non_scalar_loss_rejected() {
        let mut g = Graph::new();
        let w = g.parameter("w", Tensor::full([2], 1.0)).unwrap();
        let err = g.backward(w, &[w]).unwrap_err().to_string();
        assert!(err.contains("[2]"), "{err}");
    }
}
