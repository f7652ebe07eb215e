//! Epilogue fusion: folds a bias add and an activation into the kernel that produces their
//! operand, so a dense layer or a convolution with its activation costs one kernel launch and
//! one buffer instead of three. In the backward pass it also folds an activation's gradient
//! into the max-pooling gradient that feeds it.
//!
//! The rewrite happens in place. The node that ends a fused chain keeps its id, shape and name
//! and takes the fused op. The nodes folded into it stay in the graph unchanged but no longer
//! feed anything, and a session gives them neither a buffer nor a kernel. A chain is folded
//! only when each folded value has exactly one consumer, the next op of the chain, so no other
//! op ever needs the intermediate values.

use std::collections::HashMap;

use super::op::Activation;
use super::{Graph, NodeId, Op};

/// The result of [`Graph::fuse_epilogues`]: which node each folded node now lives in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fusion {
    folded: HashMap<NodeId, NodeId>,
}

impl Fusion {
    /// Returns the fused node that computes `node`'s value as an intermediate, if `node` was
    /// folded.
    pub fn folded_into(&self, node: NodeId) -> Option<NodeId> {
        self.folded.get(&node).copied()
    }

    /// Reports whether `node` was folded into another node.
    pub fn is_folded(&self, node: NodeId) -> bool {
        self.folded.contains_key(&node)
    }

    /// Lists the nodes folded away, in no particular order.
    pub fn folded(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.folded.keys().copied()
    }

    /// Counts the nodes folded away.
    pub fn folded_count(&self) -> usize {
        self.folded.len()
    }
}

impl Graph {
    /// Rewrites, in place:
    /// - every matrix product followed by a row-bias add (and optionally an activation) into
    ///   one [`Op::Linear`];
    /// - every convolution followed by an activation into an [`Op::Conv`] with that
    ///   activation;
    /// - every activation gradient whose incoming gradient is the [`Op::MaxPoolBackward`] of
    ///   that activation's own output into a `MaxPoolBackward` with the activation.
    ///
    /// Nodes in `keep` (values read after a run, such as the loss and the gradients) are never
    /// folded. The nodes folded away are added to `fusion`, and nodes already in it are
    /// skipped, so the pass can run again after the backward pass is appended.
    ///
    /// Sessions call this when they compile a graph, once before and once after appending the
    /// backward pass, unless [`SessionOptions::disable_fusion`](crate::SessionOptions) is set.
    pub fn fuse_epilogues(&mut self, keep: &[NodeId], fusion: &mut Fusion) {
        let n = self.nodes.len();
        let mut uses = vec![0usize; n];
        let mut consumer: Vec<Option<usize>> = vec![None; n];
        for id in keep {
            uses[id.0] += 1;
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if fusion.is_folded(NodeId(i)) {
                continue;
            }
            for input in &node.inputs {
                uses[input.0] += 1;
                consumer[input.0] = Some(i);
            }
        }
        let sole_consumer = |id: NodeId| -> Option<usize> {
            if uses[id.0] == 1 {
                consumer[id.0]
            } else {
                None
            }
        };

        let folded = &mut fusion.folded;
        let before = folded.len();
        for i in 0..n {
            if folded.contains_key(&NodeId(i)) {
                continue;
            }
            let node = &self.nodes[i];
            if let Some(activation) = Activation::backward_of(&node.op) {
                // The activation's gradient reads (y, d). When d is the max-pooling gradient of
                // y itself, the pooling kernel can apply the activation's gradient too.
                let (y, d) = (node.inputs[0], node.inputs[1]);
                if sole_consumer(d) != Some(i) {
                    continue;
                }
                if let Op::MaxPoolBackward {
                    window,
                    activation: Activation::Identity,
                } = self.nodes[d.0].op
                    && self.nodes[d.0].inputs[0] == y
                {
                    self.nodes[i].op = Op::MaxPoolBackward { window, activation };
                    self.nodes[i].inputs = self.nodes[d.0].inputs.clone();
                    folded.insert(d, NodeId(i));
                }
            } else if let Some(activation) = Activation::of(&node.op) {
                let x = node.inputs[0];
                if sole_consumer(x) != Some(i) {
                    continue;
                }
                if let Some((op, inputs, absorbed)) = self.linear_chain(x, activation, &uses) {
                    self.nodes[i].op = op;
                    self.nodes[i].inputs = inputs;
                    for id in absorbed {
                        folded.insert(id, NodeId(i));
                    }
                } else if let Op::Conv {
                    window,
                    activation: Activation::Identity,
                } = self.nodes[x.0].op
                {
                    self.nodes[i].op = Op::Conv { window, activation };
                    self.nodes[i].inputs = self.nodes[x.0].inputs.clone();
                    folded.insert(x, NodeId(i));
                }
            } else if node.op == Op::Add {
                // An add that an activation right after it will absorb is left for that
                // activation, which ends the chain.
                let activation_follows = sole_consumer(NodeId(i))
                    .is_some_and(|c| Activation::of(&self.nodes[c].op).is_some());
                if activation_follows {
                    continue;
                }
                let chain = self.linear_chain(NodeId(i), Activation::Identity, &uses);
                if let Some((op, inputs, absorbed)) = chain {
                    self.nodes[i].op = op;
                    self.nodes[i].inputs = inputs;
                    for id in absorbed {
                        folded.insert(id, NodeId(i));
                    }
                }
            }
        }
        if folded.len() > before {
            log::debug!(
                "fused {} nodes into the epilogues of later kernels",
                folded.len() - before
            );
        }
    }

    /// Returns the fused op, its inputs and the nodes it absorbs (the product, and `add` itself
    /// unless it ends the chain) when `add` adds a row bias to a product nothing else reads.
    fn linear_chain(
        &self,
        add: NodeId,
        activation: Activation,
        uses: &[usize],
    ) -> Option<(Op, Vec<NodeId>, Vec<NodeId>)> {
        let node = &self.nodes[add.0];
        if node.op != Op::Add || node.inputs[0] == node.inputs[1] {
            return None;
        }
        let out = node.shape.dims();
        if out.len() != 2 {
            return None;
        }
        let (product, bias) = [(0, 1), (1, 0)].into_iter().find_map(|(p, b)| {
            let (product, bias) = (node.inputs[p], node.inputs[b]);
            let is_product = matches!(self.nodes[product.0].op, Op::MatMul { .. })
                && uses[product.0] == 1
                && self.shape(product).dims() == out;
            let bias_dims = self.shape(bias).dims();
            let is_row_bias = bias_dims == [out[1]] || bias_dims == [1, out[1]];
            (is_product && is_row_bias).then_some((product, bias))
        })?;
        let Op::MatMul {
            transpose_lhs,
            transpose_rhs,
        } = self.nodes[product.0].op
        else {
            return None;
        };
        let matmul_inputs = &self.nodes[product.0].inputs;
        let op = Op::Linear {
            transpose_lhs,
            transpose_rhs,
            activation,
        };
        let mut absorbed = vec![product];
        if activation != Activation::Identity {
            absorbed.push(add);
        }
        Some((op, vec![matmul_inputs[0], matmul_inputs[1], bias], absorbed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ConvOptions;
    use crate::tensor::Tensor;

    fn dense(g: &mut Graph, x: NodeId, inputs: usize, outputs: usize, name: &str) -> NodeId {
        let w = g
            .parameter(&format!("{name}.w"), Tensor::full([inputs, outputs], 0.1))
            .unwrap();
        let b = g
            .parameter(&format!("{name}.b"), Tensor::full([outputs], 0.1))
            .unwrap();
        let y = g.matmul(x, w).unwrap();
        g.add(y, b).unwrap()
    }

    #[test]
    fn dense_layers_fold_into_linear_ops() {
        let mut g = Graph::new();
        let x = g.input("x", [4, 3]).unwrap();
        let h = dense(&mut g, x, 3, 5, "l1");
        let a = g.relu(h).unwrap();
        let logits = dense(&mut g, a, 5, 2, "l2");
        let mut fusion = Fusion::default();
        g.fuse_epilogues(&[], &mut fusion);
        assert_eq!(
            g.node(a).op,
            Op::Linear {
                transpose_lhs: false,
                transpose_rhs: false,
                activation: Activation::Relu
            }
        );
        assert_eq!(g.node(a).inputs[0], x);
        assert!(matches!(
            g.node(logits).op,
            Op::Linear {
                activation: Activation::Identity,
                ..
            }
        ));
        assert_eq!(g.node(logits).inputs[0], a);
        // Both products and the first layer's add.
        assert_eq!(fusion.folded_count(), 3);
        assert_eq!(fusion.folded_into(h), Some(a));
        assert!(!fusion.is_folded(a));
        assert!(!fusion.is_folded(logits));
    }

    #[test]
    fn shared_intermediate_values_are_not_folded() {
        let mut g = Graph::new();
        let x = g.input("x", [4, 3]).unwrap();
        let h = dense(&mut g, x, 3, 5, "l1");
        let a = g.relu(h).unwrap();
        // The pre-activation is read twice, so neither the add nor the relu may absorb it.
        let both = g.add(a, h).unwrap();
        let mut fusion = Fusion::default();
        g.fuse_epilogues(&[], &mut fusion);
        assert_eq!(g.node(a).op, Op::Relu);
        assert!(matches!(g.node(h).op, Op::Linear { .. }));
        assert_eq!(g.node(both).op, Op::Add);
        assert_eq!(fusion.folded_count(), 1);
    }

    #[test]
    fn full_shape_addend_is_not_a_bias() {
        let mut g = Graph::new();
        let x = g.input("x", [4, 3]).unwrap();
        let w = g.parameter("w", Tensor::full([3, 2], 0.1)).unwrap();
        let other = g.input("other", [4, 2]).unwrap();
        let y = g.matmul(x, w).unwrap();
        let sum = g.add(other, y).unwrap();
        let mut fusion = Fusion::default();
        g.fuse_epilogues(&[], &mut fusion);
        assert_eq!(g.node(sum).op, Op::Add);
        assert_eq!(fusion.folded_count(), 0);
    }

    #[test]
    fn bias_on_the_left_and_transposes_are_kept() {
        let mut g = Graph::new();
        let x = g.input("x", [3, 4]).unwrap();
        let w = g.parameter("w", Tensor::full([2, 3], 0.1)).unwrap();
        let b = g.parameter("b", Tensor::full([1, 2], 0.1)).unwrap();
        let y = g.matmul_transposed(x, w, true, true).unwrap();
        let sum = g.add(b, y).unwrap();
        let t = g.tanh(sum).unwrap();
        g.fuse_epilogues(&[], &mut Fusion::default());
        assert_eq!(
            g.node(t).op,
            Op::Linear {
                transpose_lhs: true,
                transpose_rhs: true,
                activation: Activation::Tanh
            }
        );
        assert_eq!(g.node(t).inputs, vec![x, w, b]);
    }

    #[test]
    fn convolution_absorbs_its_activation() {
        let mut g = Graph::new();
        let x = g.input("x", [2, 1, 16]).unwrap();
        let w = g.parameter("w", Tensor::full([3, 1, 5], 0.1)).unwrap();
        let b = g.parameter("b", Tensor::full([3], 0.1)).unwrap();
        let c = g.conv1d(x, w, b, ConvOptions::default()).unwrap();
        let s = g.sigmoid(c).unwrap();
        let mut fusion = Fusion::default();
        g.fuse_epilogues(&[], &mut fusion);
        assert!(matches!(
            g.node(s).op,
            Op::Conv {
                activation: Activation::Sigmoid,
                ..
            }
        ));
        assert_eq!(g.node(s).inputs, vec![x, w, b]);
        assert_eq!(fusion.folded_into(c), Some(s));
    }

    #[test]
    fn activation_gradient_folds_into_max_pool_gradient() {
        let mut g = Graph::new();
        let x = g.parameter("x", Tensor::full([2, 3, 8], 0.1)).unwrap();
        let t = g.tanh(x).unwrap();
        let pooled = g.max_pool1d(t, 2, None, 0).unwrap();
        let loss = g.sum(pooled).unwrap();
        let mut fusion = Fusion::default();
        g.fuse_epilogues(&[loss], &mut fusion);
        assert_eq!(
            fusion.folded_count(),
            0,
            "nothing to fuse before the backward pass"
        );
        let dx = g.backward(loss, &[x]).unwrap().get(x).unwrap();
        g.fuse_epilogues(&[loss, dx], &mut fusion);
        assert!(matches!(
            g.node(dx).op,
            Op::MaxPoolBackward {
                activation: Activation::Tanh,
                ..
            }
        ));
        assert_eq!(g.node(dx).inputs[0], t);
        assert_eq!(fusion.folded_count(), 1);
    }

    #[test]
    fn kept_values_are_never_folded() {
        let mut g = Graph::new();
        let x = g.input("x", [4, 3]).unwrap();
        let h = dense(&mut g, x, 3, 5, "l1");
        let a = g.relu(h).unwrap();
        let mut fusion = Fusion::default();
        g.fuse_epilogues(&[h], &mut fusion);
        assert_eq!(g.node(a).op, Op::Relu);
        assert!(matches!(
            g.node(h).op,
            Op::Linear {
                activation: Activation::Identity,
                ..
            }
        ));
    }
}
