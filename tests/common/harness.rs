//! The parity harness: one body that checks an op's forward value and gradients on every
//! backend, and the CPU gradients against central finite differences.

use super::{assert_close, random};
use edgegrad::{Device, Graph, Mode, NodeId, Optimizer, Session, SessionOptions, Tensor};

/// A graph under test, its output and the values fed to its inputs.
#[derive(Clone)]
pub struct Case {
    pub graph: Graph,
    pub output: NodeId,
    pub feeds: Vec<(NodeId, Vec<f32>)>,
}

impl Case {
    pub fn new() -> Self {
        Case {
            graph: Graph::new(),
            output: NodeId::default_for_tests(),
            feeds: Vec::new(),
        }
    }

    pub fn param(&mut self, name: &str, value: Tensor) -> NodeId {
        self.graph.parameter(name, value).unwrap()
    }

    pub fn input(&mut self, name: &str, value: Tensor) -> NodeId {
        let id = self.graph.input(name, value.shape().clone()).unwrap();
        self.feeds.push((id, value.into_data()));
        id
    }
}

trait DefaultForTests {
    fn default_for_tests() -> Self;
}

impl DefaultForTests for NodeId {
    fn default_for_tests() -> Self {
        let mut g = Graph::new();
        g.fill([1], 0.0)
    }
}

/// Forward output then each parameter's gradient, as computed on `device`.
pub fn evaluate(case: &Case, loss: NodeId, device: &Device) -> Vec<(String, Vec<f32>)> {
    evaluate_with(case, loss, device, SessionOptions::default())
}

/// [`evaluate`] with a session compiled with `options`.
pub fn evaluate_with(
    case: &Case,
    loss: NodeId,
    device: &Device,
    options: SessionOptions,
) -> Vec<(String, Vec<f32>)> {
    let mut session = Session::training_with(
        case.graph.clone(),
        loss,
        Optimizer::sgd(0.0),
        device,
        options,
    )
    .unwrap();
    let feeds: Vec<(NodeId, &[f32])> = case
        .feeds
        .iter()
        .map(|(id, v)| (*id, v.as_slice()))
        .collect();
    session.set_mode(Mode::Train);
    session.poison();
    let output = session.run(&feeds, case.output).unwrap();
    let mut values = vec![("forward".to_string(), output.into_data())];
    let trained = session.trained().to_vec();
    for (param, grad) in trained {
        let name = session.graph().node(param).name.clone().unwrap();
        session.poison();
        let grad = session.run(&feeds, grad).unwrap();
        values.push((format!("gradient of {name}"), grad.into_data()));
    }
    values
}

/// The loss the checks differentiate: the output itself when it is a single value, else a
/// weighted mean squared error against a random target.
fn attach_loss(case: &mut Case, seed: u64) -> NodeId {
    let shape = case.graph.shape(case.output).clone();
    if shape.numel() == 1 && shape.rank() == 1 {
        return case.output;
    }
    let target = case.input("mse target", random(shape.dims(), -1.0, 1.0, seed));
    let rows = shape.dims()[0];
    let weights = case.input("mse weights", random(&[rows], 0.5, 2.0, seed + 1));
    case.graph
        .mean_squared_error(case.output, target, weights)
        .unwrap()
}

/// Central finite differences of the CPU reference loss at a few elements of each parameter.
fn check_finite_differences(case: &Case, loss: NodeId, analytic: &[(String, Vec<f32>)]) {
    let feeds: Vec<(NodeId, &[f32])> = case
        .feeds
        .iter()
        .map(|(id, v)| (*id, v.as_slice()))
        .collect();
    let loss_at = |graph: Graph| -> f64 {
        let mut session = Session::inference(graph, &Device::Cpu).unwrap();
        // Training mode, so that dropout applies the same mask as the analytic gradient.
        session.set_mode(Mode::Train);
        session.run(&feeds, loss).unwrap().data()[0] as f64
    };
    let h = 1e-2f32;
    for (index, (param, value)) in case.graph.parameters().iter().enumerate() {
        let grad = &analytic[index + 1].1;
        let n = value.data().len();
        let picks: Vec<usize> = if n <= 8 {
            (0..n).collect()
        } else {
            let r = random(&[8], 0.0, n as f32, 77 + index as u64);
            r.data().iter().map(|&x| (x as usize).min(n - 1)).collect()
        };
        for i in picks {
            let mut plus = value.data().to_vec();
            plus[i] += h;
            let mut minus = value.data().to_vec();
            minus[i] -= h;
            let mut g_plus = case.graph.clone();
            g_plus
                .set_initial_value(*param, Tensor::new(value.shape().clone(), plus).unwrap())
                .unwrap();
            let mut g_minus = case.graph.clone();
            g_minus
                .set_initial_value(*param, Tensor::new(value.shape().clone(), minus).unwrap())
                .unwrap();
            let numeric = ((loss_at(g_plus) - loss_at(g_minus)) / (2.0 * h as f64)) as f32;
            assert_close(
                &[grad[i]],
                &[numeric],
                2e-2,
                2e-4,
                &format!(
                    "{} element {i} against finite differences",
                    analytic[index + 1].0
                ),
            );
        }
    }
}

/// Runs every check on one case: CPU gradients against finite differences, then the GPU's
/// forward value and gradients against the CPU reference.
pub fn check(name: &str, case: Case, seed: u64) {
    // Every kernel runs with wgpu's bounds checks and without them, the faster opt-in mode
    // that relies on each kernel guarding its own indices.
    let devices: Vec<Device> = match super::gpu() {
        Some(Device::Gpu(ctx)) => {
            vec![
                Device::Gpu(ctx.with_bounds_checks(true)),
                Device::Gpu(ctx.with_bounds_checks(false)),
            ]
        }
        _ => Vec::new(),
    };
    check_on(name, case, seed, &devices);
}

pub fn check_on(name: &str, mut case: Case, seed: u64, gpus: &[Device]) {
    let loss = attach_loss(&mut case, seed);
    let cpu = evaluate(&case, loss, &Device::Cpu);
    check_finite_differences(&case, loss, &cpu);
    for gpu in gpus {
        let on_gpu = evaluate(&case, loss, gpu);
        for ((what, expected), (_, actual)) in cpu.iter().zip(&on_gpu) {
            let (rtol, atol) = if what == "forward" {
                (1e-4, 1e-5)
            } else {
                (1e-3, 1e-5)
            };
            assert_close(actual, expected, rtol, atol, &format!("{name}: GPU {what}"));
        }
    }
}

/// Checks that fusing epilogues changes nothing. On the CPU reference and on each GPU, the
/// forward value and gradients of the fused session must equal those of the session compiled
/// with fusion disabled, and the fused session must have folded `folded` nodes away.
pub fn check_fusion(name: &str, mut case: Case, seed: u64, gpus: &[Device], folded: usize) {
    let loss = attach_loss(&mut case, seed);
    let session =
        Session::training(case.graph.clone(), loss, Optimizer::sgd(0.0), &Device::Cpu).unwrap();
    assert_eq!(
        session.fusion().folded_count(),
        folded,
        "{name}: nodes folded into fused kernels"
    );
    let unfused = SessionOptions {
        disable_fusion: true,
        ..SessionOptions::default()
    };
    for device in std::iter::once(&Device::Cpu).chain(gpus) {
        let fused = evaluate(&case, loss, device);
        let separate = evaluate_with(&case, loss, device, unfused);
        for ((what, expected), (_, actual)) in separate.iter().zip(&fused) {
            let what = format!("{name}: fused {what} on {}", device.kind());
            assert_close(actual, expected, 1e-5, 1e-6, &what);
        }
    }
}
