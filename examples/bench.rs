//! Measures the mlp and cnn training steps on the CPU reference and on the GPU, and a batch-size
//! sweep of the mlp step, and prints one table per measurement set.
//!
//! ```text
//! cargo run --release --example bench -- [--markdown] [--json FILE] [--steps N] [--warmup N]
//!     [--disable-fusion]
//! ```
//!
//! Every row compiles a fresh session and, on the GPU, opens a fresh device, so edgegrad builds
//! every pipeline again. "First step" is the time from opening the device through compiling the
//! session to the end of the first step. A driver's own shader cache still applies: Mesa's
//! on-disk cache makes llvmpipe's first step faster unless `MESA_SHADER_CACHE_DISABLE=true`.
//!
//! After `--warmup` further untimed steps, each of `--steps` steps is timed on its own and the row
//! reports their median. `Session::step` returns only after reading the loss back, so every timed
//! step includes waiting for the device.

#[path = "../benches/workloads/mod.rs"]
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use edgegrad::{Device, SessionOptions, gpu::GpuContext};
use serde::Serialize;
use workloads::{CNN, MLP, TrainingStep, Workload};

/// Measure edgegrad's training step on the CPU reference and on the GPU.
#[derive(Parser, Debug)]
#[command(long_about = None)]
struct Args {
    /// Print the tables as Markdown instead of aligned text.
    #[arg(long)]
    markdown: bool,
    /// Also write one JSON record per measured row (workload, backend and batch size) to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Timed steps per row; each row reports their median.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// Untimed steps after the first step and before the timed ones.
    #[arg(long, default_value_t = 3)]
    warmup: u32,
    /// Compile every session without epilogue fusion, to measure what fusion saves.
    #[arg(long)]
    disable_fusion: bool,
}

/// Batch sizes of the mlp sweep.
const SWEEP_BATCHES: [usize; 6] = [1, 8, 64, 256, 1024, 4096];

/// Kernels listed from the profile of each workload's step.
const PROFILE_ROWS: usize = 8;

/// Profiled steps per backend; each kernel's time is its median over them.
const PROFILE_STEPS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Cpu,
    Gpu,
}

/// One measured row: a workload at a batch size on one backend.
#[derive(Clone, Debug, Serialize)]
struct Record {
    workload: String,
    backend: &'static str,
    adapter: String,
    batch_size: usize,
    median_ms_per_step: f64,
    /// Floating-point operations of the step's matmuls and convolutions.
    flops_per_step: u64,
    /// `None` on the CPU reference, which launches no kernels.
    dispatches_per_step: Option<usize>,
    submissions_per_step: Option<usize>,
    /// Planned device memory; `None` on the CPU reference, which keeps host buffers instead.
    planned_bytes_with_reuse: Option<u64>,
    planned_bytes_without_reuse: Option<u64>,
    /// Opening the device (GPU only), compiling the session and running one step.
    first_step_s: f64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let gpu = GpuContext::new().context("opening the GPU adapter failed")?;
    let adapter = adapter_label(&gpu);
    drop(gpu);
    let settings = Settings {
        steps: args.steps as usize,
        warmup: args.warmup as usize,
        adapter: adapter.clone(),
        options: SessionOptions {
            disable_fusion: args.disable_fusion,
            ..SessionOptions::default()
        },
    };

    let mut sweep = Vec::new();
    for batch in SWEEP_BATCHES {
        let cpu = settings.measure(&MLP, batch, Backend::Cpu)?;
        let gpu = settings.measure(&MLP, batch, Backend::Gpu)?;
        sweep.push((cpu, gpu));
    }
    let mlp = sweep
        .iter()
        .find(|(cpu, _)| cpu.batch_size == MLP.batch)
        .cloned()
        .context("the sweep lacks the mlp workload's batch size")?;
    let cnn = (
        settings.measure(&CNN, CNN.batch, Backend::Cpu)?,
        settings.measure(&CNN, CNN.batch, Backend::Gpu)?,
    );
    let profiles = [
        profile(&MLP, settings.options)?,
        profile(&CNN, settings.options)?,
    ];

    let style = if args.markdown {
        Style::Markdown
    } else {
        Style::Plain
    };
    println!(
        "Median of {} timed steps after the first step and {} warm-up steps.",
        args.steps, args.warmup
    );
    println!("GPU adapter: {adapter}");
    println!();
    println!("Training steps");
    println!();
    print_table(style, &step_table(&[&mlp, &cnn]));
    println!();
    println!("mlp batch-size sweep");
    println!();
    print_table(style, &sweep_table(&sweep));
    println!();
    println!("{}", crossover(&sweep));
    println!();
    for (workload, table) in [MLP, CNN].iter().zip(&profiles) {
        println!(
            "Slowest kernels of one {} step, each run alone with a wait after it (median of {} \
             profiled steps)",
            workload.name, PROFILE_STEPS
        );
        println!();
        print_table(style, table);
        println!();
    }

    if let Some(path) = &args.json {
        let mut records = Vec::new();
        for (cpu, gpu) in sweep.iter().chain([&cnn]) {
            records.push(cpu.clone());
            records.push(gpu.clone());
        }
        let text = serde_json::to_string_pretty(&records)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing the JSON records to {} failed", path.display()))?;
        eprintln!("wrote {} records to {}", records.len(), path.display());
    }
    Ok(())
}

/// Formats the adapter's summary, noting when it is a software adapter that runs on the CPU.
fn adapter_label(gpu: &GpuContext) -> String {
    if gpu.is_software() {
        format!(
            "{}, software Vulkan running on the CPU",
            gpu.adapter_summary()
        )
    } else {
        gpu.adapter_summary()
    }
}

struct Settings {
    steps: usize,
    warmup: usize,
    adapter: String,
    options: SessionOptions,
}

impl Settings {
    /// Compiles `workload` at `batch` on a fresh device, times its first step, runs the warm-up
    /// steps and returns the median of the timed steps with the step's counters.
    fn measure(
        &self,
        workload: &Workload,
        batch: usize,
        backend: Backend,
    ) -> anyhow::Result<Record> {
        let name = match backend {
            Backend::Cpu => "the CPU reference",
            Backend::Gpu => "the GPU",
        };
        eprintln!("measuring {} at batch {batch} on {name}", workload.name);
        let description = || format!("{} at batch {batch} on {name}", workload.name);

        let started = Instant::now();
        let device = match backend {
            Backend::Cpu => Device::Cpu,
            Backend::Gpu => Device::gpu().context("opening the GPU adapter failed")?,
        };
        let mut step = TrainingStep::with_options(workload, batch, &device, self.options)
            .with_context(|| format!("compiling {} failed", description()))?;
        step.run()
            .with_context(|| format!("the first step of {} failed", description()))?;
        let first_step = started.elapsed();

        for _ in 0..self.warmup {
            step.run()
                .with_context(|| format!("a warm-up step of {} failed", description()))?;
        }
        let mut times = Vec::with_capacity(self.steps);
        for _ in 0..self.steps {
            let started = Instant::now();
            step.run()
                .with_context(|| format!("a timed step of {} failed", description()))?;
            times.push(started.elapsed());
        }

        let stats = step.session.gpu_stats();
        let memory = step.session.memory_report();
        let on_gpu = backend == Backend::Gpu;
        Ok(Record {
            workload: workload.name.to_string(),
            backend: device.kind(),
            adapter: if on_gpu {
                self.adapter.clone()
            } else {
                device.describe()
            },
            batch_size: batch,
            median_ms_per_step: median(&mut times).as_secs_f64() * 1e3,
            flops_per_step: step.flops,
            dispatches_per_step: stats.map(|s| s.dispatches),
            submissions_per_step: stats.map(|s| s.submissions),
            planned_bytes_with_reuse: on_gpu.then(|| memory.total()),
            planned_bytes_without_reuse: on_gpu.then(|| memory.total_without_reuse()),
            first_step_s: first_step.as_secs_f64(),
        })
    }
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    let mid = times.len() / 2;
    if times.len().is_multiple_of(2) {
        (times[mid - 1] + times[mid]) / 2
    } else {
        times[mid]
    }
}

/// Profiles the step of `workload` on both backends and lists the slowest GPU kernels beside the
/// same nodes on the CPU reference.
fn profile(workload: &Workload, options: SessionOptions) -> anyhow::Result<Table> {
    eprintln!("profiling the {} step", workload.name);
    let gpu = kernel_times(workload, &Device::gpu()?, options)?;
    let cpu = kernel_times(workload, &Device::Cpu, options)?;
    let gpu_total: f64 = gpu.iter().map(|(_, t)| t).sum();
    let cpu_total: f64 = cpu.iter().map(|(_, t)| t).sum();
    let mut rows = Vec::new();
    for (kernel, gpu_s) in gpu.iter().take(PROFILE_ROWS) {
        let cpu_s = cpu
            .iter()
            .find(|(name, _)| name == kernel)
            .map(|(_, t)| *t)
            .with_context(|| format!("the CPU profile lacks node {kernel}"))?;
        rows.push(vec![
            format!("`{kernel}`"),
            format!("{:.2}", gpu_s * 1e3),
            format!("{:.0} %", 100.0 * gpu_s / gpu_total),
            format!("{:.2}", cpu_s * 1e3),
        ]);
    }
    rows.push(vec![
        format!("all {} kernels", gpu.len()),
        format!("{:.2}", gpu_total * 1e3),
        "100 %".to_string(),
        format!("{:.2}", cpu_total * 1e3),
    ]);
    Ok(Table {
        headers: vec![
            "kernel (op#node output shape)".into(),
            "GPU ms".into(),
            "share of GPU kernel time".into(),
            "CPU reference ms".into(),
        ],
        rows,
    })
}

/// Profiles [`PROFILE_STEPS`] steps of `workload` and returns each kernel with its median time
/// in seconds, slowest first.
fn kernel_times(
    workload: &Workload,
    device: &Device,
    options: SessionOptions,
) -> anyhow::Result<Vec<(String, f64)>> {
    let mut step = TrainingStep::with_options(workload, workload.batch, device, options)?;
    step.run()?;
    let mut samples: Vec<(String, Vec<f64>)> = Vec::new();
    for _ in 0..PROFILE_STEPS {
        for (name, seconds) in step.profile()? {
            match samples.iter_mut().find(|(n, _)| *n == name) {
                Some((_, times)) => times.push(seconds),
                None => samples.push((name, vec![seconds])),
            }
        }
    }
    let mut medians: Vec<(String, f64)> = samples
        .into_iter()
        .map(|(name, mut times)| {
            times.sort_by(f64::total_cmp);
            (name, times[times.len() / 2])
        })
        .collect();
    medians.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(medians)
}

fn step_table(rows: &[&(Record, Record)]) -> Table {
    let headers = [
        "adapter",
        "workload",
        "CPU reference ms/step",
        "GPU ms/step",
        "GPU speed-up (CPU ms ÷ GPU ms)",
        "dispatches/step",
        "submissions/step",
        "planned memory with reuse",
        "planned memory without reuse or fusion",
        "first step, CPU reference (s)",
        "first step, GPU (s)",
    ];
    let rows = rows
        .iter()
        .map(|(cpu, gpu)| {
            vec![
                gpu.adapter.clone(),
                format!("{} (batch {})", gpu.workload, gpu.batch_size),
                format!("{:.3}", cpu.median_ms_per_step),
                format!("{:.3}", gpu.median_ms_per_step),
                format!("{:.2}×", cpu.median_ms_per_step / gpu.median_ms_per_step),
                optional(gpu.dispatches_per_step),
                optional(gpu.submissions_per_step),
                memory_with_share(gpu),
                gpu.planned_bytes_without_reuse
                    .map_or("n/a".into(), byte_size),
                format!("{:.3}", cpu.first_step_s),
                format!("{:.3}", gpu.first_step_s),
            ]
        })
        .collect();
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

fn sweep_table(sweep: &[(Record, Record)]) -> Table {
    let headers = [
        "batch",
        "CPU reference ms/step",
        "GPU ms/step",
        "GPU speed-up (CPU ms ÷ GPU ms)",
        "CPU reference GFLOP/s",
        "GPU GFLOP/s",
        "dispatches/step",
    ];
    let rows = sweep
        .iter()
        .map(|(cpu, gpu)| {
            vec![
                gpu.batch_size.to_string(),
                format!("{:.3}", cpu.median_ms_per_step),
                format!("{:.3}", gpu.median_ms_per_step),
                format!("{:.2}×", cpu.median_ms_per_step / gpu.median_ms_per_step),
                format!("{:.2}", gflops(cpu)),
                format!("{:.2}", gflops(gpu)),
                optional(gpu.dispatches_per_step),
            ]
        })
        .collect();
    Table {
        headers: headers.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// Names the smallest swept batch from which the GPU step is faster at every larger batch too.
fn crossover(sweep: &[(Record, Record)]) -> String {
    let gpu_faster =
        |(cpu, gpu): &(Record, Record)| gpu.median_ms_per_step < cpu.median_ms_per_step;
    let from = sweep
        .iter()
        .rposition(|pair| !gpu_faster(pair))
        .map_or(0, |last_slower| last_slower + 1);
    match sweep.get(from) {
        Some((_, gpu)) => format!(
            "The GPU step is faster than the CPU reference from batch {} upwards in this sweep.",
            gpu.batch_size
        ),
        None => "The GPU step is not faster than the CPU reference at any batch size of this \
                 sweep on this adapter."
            .to_string(),
    }
}

fn gflops(record: &Record) -> f64 {
    record.flops_per_step as f64 / (record.median_ms_per_step * 1e-3) / 1e9
}

fn optional(value: Option<usize>) -> String {
    value.map_or("n/a".into(), |v| v.to_string())
}

/// Formats the planned memory with reuse and its share of the memory without reuse or fusion.
fn memory_with_share(record: &Record) -> String {
    match (
        record.planned_bytes_with_reuse,
        record.planned_bytes_without_reuse,
    ) {
        (Some(with), Some(without)) if without > 0 => format!(
            "{} ({:.0} %)",
            byte_size(with),
            100.0 * with as f64 / without as f64
        ),
        (Some(with), _) => byte_size(with),
        _ => "n/a".into(),
    }
}

/// Formats a byte count in KiB below one MiB, else in MiB.
fn byte_size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if (bytes as f64) < MIB {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.2} MiB", bytes as f64 / MIB)
    }
}

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Markdown,
}

struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn print_table(style: Style, table: &Table) {
    match style {
        Style::Markdown => {
            println!("| {} |", table.headers.join(" | "));
            println!("|{}", "---|".repeat(table.headers.len()));
            for row in &table.rows {
                println!("| {} |", row.join(" | "));
            }
        }
        Style::Plain => {
            let mut widths: Vec<usize> = table.headers.iter().map(|h| h.chars().count()).collect();
            for row in &table.rows {
                for (width, cell) in widths.iter_mut().zip(row) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            let line = |cells: &[String]| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(cell, &width)| format!("{cell:<width$}"))
                    .collect();
                println!("{}", padded.join("  ").trim_end());
            };
            line(&table.headers);
            for row in &table.rows {
                line(row);
            }
        }
    }
}
