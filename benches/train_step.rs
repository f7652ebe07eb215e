//! One training step (forward, backward and SGD update) of the mlp and cnn workloads on the GPU
//! and on the CPU reference.
//!
//! `Session::step` returns only after reading the loss back, so the device is waited on inside
//! the timed region. Throughput is in floating-point operations of the step's matmuls and
//! convolutions (a multiply-add counts as two): criterion's `elem/s` reads as FLOP/s.

mod workloads;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgegrad::Device;
use workloads::{TrainingStep, WORKLOADS, bench_gpu, criterion_config};

fn bench_train_step(c: &mut Criterion) {
    let gpu = bench_gpu();
    for workload in &WORKLOADS {
        let mut group = c.benchmark_group(format!("train_step/{}", workload.name));
        let mut devices = Vec::new();
        if let Some(ctx) = &gpu {
            devices.push(("gpu", Device::Gpu(ctx.clone())));
        }
        devices.push(("cpu-reference", Device::Cpu));
        for (id, device) in devices {
            let mut step = TrainingStep::new(workload, workload.batch, &device)
                .expect("compiling the training step failed");
            group.throughput(Throughput::Elements(step.flops));
            group.bench_function(id, |b| {
                b.iter(|| black_box(step.run().expect("the training step failed")))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = bench_train_step
}
criterion_main!(benches);
