//! Forward convolutions at the trainer's shapes on the direct and register-blocked GPU kernels
//! and on the CPU reference.
//!
//! Each iteration runs one convolution on parameters already on the device and reads the output
//! back, so the device is waited on inside the timed region. Throughput is in floating-point
//! operations (a multiply-add counts as two; the bias add is not counted): criterion's `elem/s`
//! reads as FLOP/s.

mod workloads;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use edgegrad::Device;
use edgegrad::gpu::ConvVariant;
use workloads::{CONV_CASES, bench_gpu, conv, criterion_config};

fn bench_conv(c: &mut Criterion) {
    let gpu = bench_gpu();
    for case in &CONV_CASES {
        let mut group = c.benchmark_group(format!("conv/{}", case.name));
        let mut devices = Vec::new();
        if let Some(ctx) = &gpu {
            devices.push((
                "gpu-direct",
                Device::Gpu(ctx.with_conv(ConvVariant::Direct)),
            ));
            devices.push((
                "gpu-blocked",
                Device::Gpu(ctx.with_conv(ConvVariant::Blocked)),
            ));
        }
        devices.push(("cpu-reference", Device::Cpu));
        for (id, device) in devices {
            let mut op = conv(case, &device).expect("compiling the convolution failed");
            group.throughput(Throughput::Elements(op.flops));
            group.bench_function(id, |b| {
                b.iter(|| black_box(op.run().expect("running the convolution failed")))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = bench_conv
}
criterion_main!(benches);
