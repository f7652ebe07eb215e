//! The memory plan: the storage buffer that contains each value of a compiled graph.
//!
//! Parameters, their gradients, optimizer state, fed inputs and constants each keep a buffer of
//! their own. Every other computed value (activations and backward temporaries) lives from the
//! kernel that writes it to the last kernel that reads it, in node order; values whose
//! lifetimes do not overlap share a buffer. Node order is the order every run dispatches in,
//! and any run computes a subset of it, so a plan that is safe for the whole order is safe for
//! every run. A value never shares a buffer with an operand of its own kernel, because that
//! operand is still alive while the kernel runs.

use std::fmt;

use crate::error::{Error, Result};
use crate::graph::{Fusion, Graph, NodeId, Op};

/// The kind of value a buffer contains, for the memory report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A trained parameter.
    Parameter,
    /// The gradient of a trained parameter, read by the optimizer after the backward pass.
    Gradient,
    /// A value fed at every run.
    Input,
    /// A value fixed at compile time.
    Constant,
    /// An activation or backward temporary, which may share its buffer.
    Activation,
}

/// Planned device memory in bytes, by kind, with and without buffer reuse.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoryReport {
    /// Trained parameters.
    pub parameters: u64,
    /// Parameter gradients.
    pub gradients: u64,
    /// Optimizer state (momentum, Adam moments).
    pub optimizer_state: u64,
    /// Fed inputs and constants.
    pub inputs: u64,
    /// Activations and temporaries after buffer reuse.
    pub activations: u64,
    /// Activations and temporaries with one buffer per value of the graph as built: no buffer
    /// sharing, and no fusion (values folded into fused kernels count as well).
    pub activations_without_reuse: u64,
    /// The largest total of activation bytes alive at one point of the run. No assignment of
    /// values to buffers needs less than this for `activations`.
    pub peak_activations: u64,
    /// Kernel parameter blocks and read-back staging, estimated from the dispatch count.
    pub scratch: u64,
    /// The largest single buffers: a name (or the values sharing it) and its size.
    pub largest: Vec<(String, u64)>,
}

impl MemoryReport {
    /// Everything the plan allocates.
    pub fn total(&self) -> u64 {
        self.parameters
            + self.gradients
            + self.optimizer_state
            + self.inputs
            + self.activations
            + self.scratch
    }

    /// The total if every value had a buffer of its own.
    pub fn total_without_reuse(&self) -> u64 {
        self.total() - self.activations + self.activations_without_reuse
    }
}

impl fmt::Display for MemoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parameters {}, gradients {}, optimizer state {}, inputs {}, activations {} \
             (at most {} alive at once; {} without reuse or fusion), scratch {}; total {} \
             ({} without reuse or fusion)",
            bytes(self.parameters),
            bytes(self.gradients),
            bytes(self.optimizer_state),
            bytes(self.inputs),
            bytes(self.activations),
            bytes(self.peak_activations),
            bytes(self.activations_without_reuse),
            bytes(self.scratch),
            bytes(self.total()),
            bytes(self.total_without_reuse())
        )
    }
}

/// A byte count in binary units, for messages.
pub fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// The buffer assignment of one compiled graph.
#[derive(Clone, Debug)]
pub struct MemoryPlan {
    /// Physical buffer of each node, `None` for nodes that no run computes or reads.
    slots: Vec<Option<usize>>,
    /// Size in bytes of each physical buffer: the largest value assigned to it.
    sizes: Vec<u64>,
    /// Kind of each node that has a slot.
    kinds: Vec<Option<ValueKind>>,
    report: MemoryReport,
}

impl MemoryPlan {
    /// Plans the buffers of `graph`. `trained` pairs each parameter with its gradient, and
    /// `pinned` values (the loss) must survive to the end of every run. Nodes that `fusion`
    /// folded into a later kernel get no buffer. The report also counts `state_slots`
    /// optimizer buffers per parameter and a parameter block per dispatch.
    pub fn new(
        graph: &Graph,
        trained: &[(NodeId, NodeId)],
        pinned: &[NodeId],
        fusion: &Fusion,
        state_slots: usize,
        dispatches: usize,
    ) -> MemoryPlan {
        let n = graph.nodes().len();
        let bytes_of = |i: usize| (graph.nodes()[i].shape.numel() * 4) as u64;
        let mut kinds: Vec<Option<ValueKind>> = graph
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, node)| match node.op {
                _ if fusion.is_folded(NodeId(i)) => None,
                Op::Input => Some(ValueKind::Input),
                Op::Parameter => Some(ValueKind::Parameter),
                Op::Fill { .. } => Some(ValueKind::Constant),
                _ => Some(ValueKind::Activation),
            })
            .collect();
        for &(_, grad) in trained {
            if kinds[grad.0] == Some(ValueKind::Activation) {
                kinds[grad.0] = Some(ValueKind::Gradient);
            }
        }

        // Lifetimes of shareable values over the node order: written at their own position,
        // last read at their last consumer's position.
        let mut lifetimes: Vec<Option<(usize, usize)>> = vec![None; n];
        for i in 0..n {
            if kinds[i] == Some(ValueKind::Activation) {
                lifetimes[i] = Some((i, i));
            }
        }
        for (i, node) in graph.nodes().iter().enumerate() {
            if fusion.is_folded(NodeId(i)) {
                continue;
            }
            for input in &node.inputs {
                if let Some((_, end)) = lifetimes[input.0].as_mut() {
                    *end = (*end).max(i);
                }
            }
        }
        for &id in pinned {
            if let Some((_, end)) = lifetimes[id.0].as_mut() {
                *end = usize::MAX;
            }
        }

        let mut slots = vec![None; n];
        let mut sizes: Vec<u64> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut report = MemoryReport::default();
        for i in 0..n {
            let size = bytes_of(i);
            match kinds[i] {
                Some(ValueKind::Activation) => report.activations_without_reuse += size,
                None if fusion.is_folded(NodeId(i)) => report.activations_without_reuse += size,
                Some(kind) => {
                    sizes.push(size);
                    members.push(vec![i]);
                    slots[i] = Some(sizes.len() - 1);
                    match kind {
                        ValueKind::Parameter => report.parameters += size,
                        ValueKind::Gradient => report.gradients += size,
                        _ => report.inputs += size,
                    }
                }
                None => {}
            }
        }
        // Shared buffers, largest values first: each value goes to the smallest shared buffer
        // none of whose values is alive at the same time, else to a new buffer. Placing large
        // values first leaves the gaps between them for the small ones, and a buffer's size is
        // that of its first (largest) value.
        let mut order: Vec<usize> = (0..n)
            .filter(|&i| kinds[i] == Some(ValueKind::Activation))
            .collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(bytes_of(i)), i));
        let mut shared: Vec<usize> = Vec::new();
        for i in order {
            let (start, end) = lifetimes[i].expect("activations have lifetimes");
            let disjoint = |&v: &usize| {
                let (s, e) = lifetimes[v].expect("shared values have lifetimes");
                e < start || end < s
            };
            let chosen = shared
                .iter()
                .copied()
                .filter(|&b| members[b].iter().all(disjoint))
                .min_by_key(|&b| sizes[b]);
            let slot = chosen.unwrap_or_else(|| {
                sizes.push(bytes_of(i));
                members.push(Vec::new());
                shared.push(sizes.len() - 1);
                sizes.len() - 1
            });
            members[slot].push(i);
            slots[i] = Some(slot);
        }
        for (b, values) in members.iter().enumerate() {
            if values
                .iter()
                .any(|&v| kinds[v] == Some(ValueKind::Activation))
            {
                report.activations += sizes[b];
            }
        }
        let mut peak = 0u64;
        for position in 0..n {
            let alive: u64 = (0..n)
                .filter_map(|v| lifetimes[v].map(|(s, e)| (v, s, e)))
                .filter(|&(_, s, e)| s <= position && position <= e)
                .map(|(v, _, _)| bytes_of(v))
                .sum();
            peak = peak.max(alive);
        }
        report.peak_activations = peak;
        report.optimizer_state = report.parameters * state_slots as u64;
        report.scratch =
            (dispatches as u64 + 1) * std::mem::size_of::<crate::gpu::kernels::ParamBlock>() as u64;
        let mut largest: Vec<(String, u64)> = members
            .iter()
            .enumerate()
            .map(|(b, values)| {
                let names: Vec<String> = values
                    .iter()
                    .take(3)
                    .map(|&v| node_label(graph, v))
                    .collect();
                let more = if values.len() > 3 {
                    format!(" and {} more", values.len() - 3)
                } else {
                    String::new()
                };
                (format!("{}{more}", names.join(", ")), sizes[b])
            })
            .collect();
        largest.sort_by_key(|entry| std::cmp::Reverse(entry.1));
        largest.truncate(5);
        report.largest = largest;
        MemoryPlan {
            slots,
            sizes,
            kinds,
            report,
        }
    }

    /// The physical buffer of `node`.
    pub fn slot(&self, node: NodeId) -> Option<usize> {
        self.slots[node.0]
    }

    /// Sizes in bytes of the physical buffers.
    pub fn buffer_sizes(&self) -> &[u64] {
        &self.sizes
    }

    /// The planned memory.
    pub fn report(&self) -> &MemoryReport {
        &self.report
    }

    /// Checks the plan by brute force: at every position in node order, collects the values
    /// alive there (recomputed from the graph, independently of the planner's bookkeeping)
    /// and fails if two of them share a buffer or a buffer is smaller than a value in it.
    pub fn verify(&self, graph: &Graph, pinned: &[NodeId], fusion: &Fusion) -> Result<()> {
        let n = graph.nodes().len();
        for i in 0..n {
            if let Some(slot) = self.slots[i]
                && self.sizes[slot] < (graph.nodes()[i].shape.numel() * 4) as u64
            {
                return Err(Error::InvalidNode(format!(
                    "memory plan: buffer {slot} is smaller than {}",
                    node_label(graph, i)
                )));
            }
        }
        let alive_at = |value: usize, position: usize| -> bool {
            if self.kinds[value] != Some(ValueKind::Activation) {
                return true;
            }
            if position < value {
                return false;
            }
            if position == value || pinned.iter().any(|p| p.0 == value) {
                return true;
            }
            // Alive if some kernel at or after `position` reads it.
            (position..n).any(|c| {
                !fusion.is_folded(NodeId(c))
                    && graph.nodes()[c].inputs.iter().any(|input| input.0 == value)
            })
        };
        for position in 0..n {
            let mut owner: Vec<Option<usize>> = vec![None; self.sizes.len()];
            for value in 0..n {
                let Some(slot) = self.slots[value] else {
                    continue;
                };
                if !alive_at(value, position) {
                    continue;
                }
                if let Some(other) = owner[slot] {
                    return Err(Error::InvalidNode(format!(
                        "memory plan: {} and {} share buffer {slot} while both are alive at node {position}",
                        node_label(graph, other),
                        node_label(graph, value)
                    )));
                }
                owner[slot] = Some(value);
            }
        }
        Ok(())
    }
}

fn node_label(graph: &Graph, index: usize) -> String {
    let node = &graph.nodes()[index];
    match &node.name {
        Some(name) => format!("`{name}` {}", node.shape),
        None => format!("{}#{index} {}", node.op.name(), node.shape),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::Tensor;

    fn mlp() -> (Graph, NodeId, Vec<(NodeId, NodeId)>) {
        let mut g = Graph::new();
        let x = g.input("x", [32, 16]).unwrap();
        let mut h = x;
        for layer in 0..3 {
            let w = g
                .parameter(&format!("w{layer}"), Tensor::full([16, 16], 0.1))
                .unwrap();
            h = g.matmul(h, w).unwrap();
            h = g.relu(h).unwrap();
        }
        let loss = g.mean(h).unwrap();
        let params: Vec<NodeId> = g.parameters().iter().map(|(id, _)| *id).collect();
        let grads = g.backward(loss, &params).unwrap();
        let trained = params.iter().map(|&p| (p, grads.get(p).unwrap())).collect();
        (g, loss, trained)
    }

    #[test]
    fn reuse_shrinks_activations_and_verifies() {
        let (g, loss, trained) = mlp();
        let plan = MemoryPlan::new(&g, &trained, &[loss], &Fusion::default(), 0, 10);
        plan.verify(&g, &[loss], &Fusion::default()).unwrap();
        let report = plan.report();
        assert!(
            report.activations < report.activations_without_reuse,
            "{report}"
        );
        assert!(report.total() <= report.total_without_reuse(), "{report}");
        assert_eq!(report.parameters, 3 * 16 * 16 * 4);
        assert_eq!(report.gradients, 3 * 16 * 16 * 4);
    }

    #[test]
    fn verify_catches_shared_live_values() {
        let (g, loss, trained) = mlp();
        let mut plan = MemoryPlan::new(&g, &trained, &[loss], &Fusion::default(), 0, 10);
        // Put two values that are alive together, a relu and the matmul after it that reads
        // it, into one buffer.
        let relu = g.nodes().iter().position(|n| n.op == Op::Relu).unwrap();
        let consumer = g
            .nodes()
            .iter()
            .position(|n| n.inputs.contains(&NodeId(relu)))
            .unwrap();
        plan.slots[consumer] = plan.slots[relu];
        let err = plan
            .verify(&g, &[loss], &Fusion::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("share buffer"), "{err}");
    }
}
