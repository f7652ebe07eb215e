//! Matrix products on each GPU matmul kernel and on the CPU reference.
//!
//! Each iteration runs one product on parameters already on the device and reads the product
//! back, so the device is waited on inside the timed region. Throughput is in floating-point
//! operations (a multiply-add counts as two): criterion's `elem/s` reads as FLOP/s.

mod workloads;

use std::hint::black_box;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use edgegrad::Device;
use edgegrad::gpu::MatmulVariant;
use workloads::{MATMUL_SHAPES, bench_gpu, criterion_config, matmul};

/// Products at or above this many multiply-adds take seconds per iteration on llvmpipe and on the
/// CPU reference, so they use flat sampling: 10 samples of one iteration each.
const FLAT_SAMPLING_MACS: usize = 1 << 30;

fn bench_matmul(c: &mut Criterion) {
    let gpu = bench_gpu();
    for (m, k, n) in MATMUL_SHAPES {
        let mut group = c.benchmark_group(format!("matmul/{m}x{k}x{n}"));
        let large = m * k * n >= FLAT_SAMPLING_MACS;
        if large {
            group.sampling_mode(SamplingMode::Flat);
        }
        let mut devices = Vec::new();
        if let Some(ctx) = &gpu {
            devices.push((
                "gpu-tiled",
                Device::Gpu(ctx.with_matmul(MatmulVariant::Tiled)),
            ));
            devices.push((
                "gpu-blocked",
                Device::Gpu(ctx.with_matmul(MatmulVariant::Blocked)),
            ));
            devices.push((
                "gpu-vec4",
                Device::Gpu(ctx.with_matmul(MatmulVariant::Vec4)),
            ));
        }
        // The CPU reference is a plain triple loop that walks the right-hand matrix by column. At
        // 1024 it took 5.5 s per product on a two-core machine, so its 10 samples would add a
        // minute to `cargo bench`. The smaller shapes cover the CPU reference instead.
        if !large {
            devices.push(("cpu-reference", Device::Cpu));
        }
        for (id, device) in devices {
            let mut product = matmul(m, k, n, &device).expect("compiling the matmul failed");
            group.throughput(Throughput::Elements(product.flops));
            group.bench_function(id, |b| {
                b.iter(|| black_box(product.run().expect("running the matmul failed")))
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = criterion_config();
    targets = bench_matmul
}
criterion_main!(benches);
