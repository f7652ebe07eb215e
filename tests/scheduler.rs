//! The compiled step's memory plan and steady state: buffers are shared only between values
//! that are never alive together, reuse never costs memory, a budget is enforced before any
//! work, and nothing is allocated once the first step has run.

mod common;

use edgegrad::spec::{ModelSpec, parse_layers};
use edgegrad::{Device, Error, Graph, NodeId, Optimizer, Session, SessionOptions, Tensor};

/// A model with its loss, and seeded values for its inputs.
fn workload(
    input: &[usize],
    layers: &str,
    classes: usize,
) -> (Graph, NodeId, Vec<(NodeId, Vec<f32>)>) {
    let spec = ModelSpec {
        input_shape: input[1..].to_vec(),
        layers: parse_layers(layers).unwrap(),
    };
    let batch = input[0];
    let (mut g, x, logits) = spec.build(batch, None, 1).unwrap();
    let labels = g.input("labels", [batch]).unwrap();
    let weights = g.input("weights", [batch]).unwrap();
    let loss = g.softmax_cross_entropy(logits, labels, weights).unwrap();
    let n: usize = input.iter().product();
    let label_values = (0..batch).map(|i| (i % classes) as f32).collect();
    let feeds = vec![
        (x, Tensor::uniform([n], -1.0, 1.0, 3).into_data()),
        (labels, label_values),
        (weights, vec![1.0; batch]),
    ];
    (g, loss, feeds)
}

fn mlp() -> (Graph, NodeId, Vec<(NodeId, Vec<f32>)>) {
    workload(&[256, 14], "dense:64,relu,dense:64,relu,dense:2", 2)
}

fn cnn() -> (Graph, NodeId, Vec<(NodeId, Vec<f32>)>) {
    let layers = "conv1d:16:7,relu,maxpool:4,conv1d:32:5,relu,maxpool:4,flatten,dense:2";
    workload(&[64, 1, 1024], layers, 2)
}

#[test]
fn reuse_never_costs_memory() {
    for (name, (g, loss, _)) in [("mlp", mlp()), ("cnn", cnn())] {
        // Debug builds verify every plan by brute force while compiling, so compiling is the
        // liveness check; the report is then compared with one buffer per value.
        let session = Session::training(g, loss, Optimizer::sgd(0.01), &Device::Cpu).unwrap();
        let report = session.memory_report();
        assert!(
            report.total() <= report.total_without_reuse(),
            "{name}: {report}"
        );
        assert!(
            report.activations < report.activations_without_reuse,
            "{name}: {report}"
        );
        assert!(
            report.peak_activations <= report.activations,
            "{name}: the plan beats the peak of live values: {report}"
        );
    }
}

/// The baseline is one buffer per value of the model as built, which is what the plan's
/// buffer sharing and epilogue fusion together save against.
#[test]
fn cnn_reuse_within_sixty_percent() {
    let (g, loss, _) = cnn();
    let session = Session::training(g, loss, Optimizer::sgd(0.01), &Device::Cpu).unwrap();
    let report = session.memory_report();
    let ratio = report.total() as f64 / report.total_without_reuse() as f64;
    assert!(
        ratio <= 0.6,
        "planned {:.0} % of the no-reuse total: {report}",
        ratio * 100.0
    );
}

#[test]
fn tiny_budget_rejected_with_total() {
    let (g, loss, _) = mlp();
    let options = SessionOptions {
        memory_budget: Some(1000),
        ..SessionOptions::default()
    };
    let err = Session::training_with(g, loss, Optimizer::sgd(0.01), &Device::Cpu, options)
        .err()
        .expect("a 1000-byte budget cannot hold the mlp");
    let Error::MemoryBudget {
        planned, budget, ..
    } = &err
    else {
        panic!("expected a memory budget error, got {err}");
    };
    assert_eq!(*budget, 1000);
    let message = err.to_string();
    assert!(message.contains(&planned.to_string()), "{message}");
    assert!(message.contains("largest buffers"), "{message}");
}

#[test]
fn steady_state_allocates_nothing() {
    let Some(gpu) = common::gpu() else { return };
    for (name, (g, loss, feeds)) in [("mlp", mlp()), ("cnn", cnn())] {
        let steps = if name == "mlp" { 500 } else { 50 };
        let mut session = Session::training(g, loss, Optimizer::sgd(0.01), &gpu).unwrap();
        let feeds: Vec<(NodeId, &[f32])> =
            feeds.iter().map(|(id, v)| (*id, v.as_slice())).collect();
        session.step(&feeds).unwrap();
        let after_first = session.gpu_stats().unwrap();
        for _ in 1..steps {
            session.step(&feeds).unwrap();
        }
        let after_last = session.gpu_stats().unwrap();
        assert_eq!(
            after_first.buffers, after_last.buffers,
            "{name}: live buffers"
        );
        assert_eq!(
            after_first.buffer_bytes, after_last.buffer_bytes,
            "{name}: buffer bytes"
        );
        assert_eq!(
            after_first.objects_created, after_last.objects_created,
            "{name}: GPU objects created after the first step"
        );
        assert_eq!(after_last.submissions, 1, "{name}: submissions per step");
    }
}

#[test]
fn mlp_step_dispatch_count() {
    let Some(gpu) = common::gpu() else { return };
    let (g, loss, feeds) = mlp();
    let mut session = Session::training(g, loss, Optimizer::sgd(0.01), &gpu).unwrap();
    let feeds: Vec<(NodeId, &[f32])> = feeds.iter().map(|(id, v)| (*id, v.as_slice())).collect();
    session.step(&feeds).unwrap();
    let stats = session.gpu_stats().unwrap();
    assert!(
        stats.dispatches <= 40,
        "{} dispatches per mlp step",
        stats.dispatches
    );
    // Every parameter's gradient is read only by the optimizer, so one dispatch updates all
    // six parameters.
    let kernels = session.profile_step(&feeds).unwrap().len();
    assert_eq!(stats.dispatches, kernels + 1, "optimizer dispatches");
}

#[test]
fn fusion_saves_launches_and_memory() {
    let Some(gpu) = common::gpu() else { return };
    // In the mlp, two dense+relu layers lose their add and relu and the output layer its add.
    // In the cnn, two convolutions lose their relu, the dense layer its add, and both relu
    // gradients fold into the max-pooling gradients.
    for (name, (g, loss, feeds), saved) in [("mlp", mlp(), 5), ("cnn", cnn(), 5)] {
        let feeds: Vec<(NodeId, &[f32])> =
            feeds.iter().map(|(id, v)| (*id, v.as_slice())).collect();
        let unfused_options = SessionOptions {
            disable_fusion: true,
            ..SessionOptions::default()
        };
        let sgd = Optimizer::sgd(0.05);
        let mut fused = Session::training(g.clone(), loss, sgd, &gpu).unwrap();
        let mut unfused = Session::training_with(g, loss, sgd, &gpu, unfused_options).unwrap();
        for step in 0..3 {
            let a = fused.step(&feeds).unwrap();
            let b = unfused.step(&feeds).unwrap();
            assert!(
                (a - b).abs() <= 1e-5 * b.abs(),
                "{name} step {step}: fused loss {a}, unfused {b}"
            );
        }
        let (f, u) = (fused.gpu_stats().unwrap(), unfused.gpu_stats().unwrap());
        assert_eq!(
            f.dispatches + saved,
            u.dispatches,
            "{name}: dispatches per step"
        );
        let (f, u) = (fused.memory_report(), unfused.memory_report());
        assert!(f.total() < u.total(), "{name}: fused {f}; unfused {u}");
    }
}

#[test]
fn deferred_losses_match_blocking_steps() {
    let mut devices = vec![Device::Cpu];
    devices.extend(common::gpu());
    for device in devices {
        let (g, loss, feeds) = mlp();
        let feeds: Vec<(NodeId, &[f32])> =
            feeds.iter().map(|(id, v)| (*id, v.as_slice())).collect();
        let mut blocking =
            Session::training(g.clone(), loss, Optimizer::sgd(0.05), &device).unwrap();
        let mut deferred = Session::training(g, loss, Optimizer::sgd(0.05), &device).unwrap();
        let expected: Vec<f32> = (0..20).map(|_| blocking.step(&feeds).unwrap()).collect();
        for _ in 0..20 {
            deferred.step_deferred(&feeds).unwrap();
        }
        let actual = deferred.take_losses().unwrap();
        assert_eq!(actual, expected, "deferred losses on {}", device.describe());
        assert!(
            deferred.take_losses().unwrap().is_empty(),
            "losses are taken once"
        );
    }
}

#[test]
fn oversized_parameter_rejected_before_allocation() {
    let Some(gpu) = common::gpu() else { return };
    let Device::Gpu(ctx) = &gpu else { return };
    let limit = ctx.limits().max_storage_buffer_binding_size;
    let columns = (limit / 4 + 1) as usize;
    let mut g = Graph::new();
    let x = g.input("x", [1, 1]).unwrap();
    let w = g
        .parameter("huge", Tensor::full([1, columns], 0.5))
        .unwrap();
    let y = g.matmul(x, w).unwrap();
    let loss = g.sum(y).unwrap();
    let err = Session::training(g, loss, Optimizer::sgd(0.01), &gpu)
        .err()
        .expect("a parameter past the binding limit cannot be bound");
    assert!(matches!(err, Error::DeviceLimit { .. }), "{err:?}");
    assert!(err.to_string().contains("huge"), "{err}");
    assert!(err.to_string().contains("bytes"), "{err}");

    // Nothing reached the device, so it still runs other sessions.
    let (g, loss, feeds) = mlp();
    let feeds: Vec<(NodeId, &[f32])> = feeds.iter().map(|(id, v)| (*id, v.as_slice())).collect();
    let mut session = Session::training(g, loss, Optimizer::sgd(0.01), &gpu).unwrap();
    assert!(session.step(&feeds).unwrap().is_finite());
}
