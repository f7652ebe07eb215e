//! Adapter and device setup, and the pipeline cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use log::{debug, info, warn};

use super::kernels::{Access, Kernel};
use crate::error::{Error, Result};

/// How to get a GPU adapter on a machine without one; part of every "no adapter" error.
pub const DRIVER_HINT: &str = "Install a Vulkan, Metal or DX12 driver for your GPU. On a Linux \
machine without a GPU, `apt-get install mesa-vulkan-drivers` provides the llvmpipe software \
Vulkan adapter. wgpu's WGPU_BACKEND and WGPU_ADAPTER_NAME environment variables choose among \
several adapters.";

/// The matrix-product kernel that sessions on a context use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatmulVariant {
    /// Chosen per shape: see [`GpuContext::matmul_kernel`].
    #[default]
    Auto,
    /// `matmul_tiled`: 16 × 16 tiles staged in workgroup memory.
    Tiled,
    /// `matmul_blocked`: 4 × 4 outputs per invocation, no workgroup memory or barriers.
    Blocked,
    /// `matmul_vec4`: the blocked kernel reading four floats per load, where the shape allows
    /// it (see [`matmul_vec4_fits`]), and `matmul_blocked` elsewhere.
    Vec4,
}

/// Reports whether the vec4 matmul kernels can compute `op(lhs) · op(rhs)` with `op(lhs)`
/// `[m, k]` and `op(rhs)` `[k, n]`. The dimension each operand stores contiguously must be a
/// multiple of 4: k for an untransposed lhs, m for a transposed one, n for an untransposed
/// rhs and k for a transposed one.
pub fn matmul_vec4_fits(m: usize, n: usize, k: usize, transposed: [bool; 2]) -> bool {
    let lhs_row = if transposed[0] { m } else { k };
    let rhs_row = if transposed[1] { k } else { n };
    lhs_row.is_multiple_of(4) && rhs_row.is_multiple_of(4)
}

/// The convolution kernels that sessions on a context use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ConvVariant {
    /// The register-blocked kernels for the forward pass and both gradients.
    #[default]
    Auto,
    /// One output element per invocation everywhere; the plainest form, kept as a reference.
    Direct,
    /// 4 channels × 4 positions per invocation for the forward pass and both gradients.
    Blocked,
}

/// Compiled pipelines by kernel and by whether bounds checks were compiled in, shared by the
/// contexts [`GpuContext::with_matmul`] and its siblings derive.
type PipelineCache = HashMap<(Kernel, bool), Arc<Pipeline>>;

/// The adapter whose name contains `WGPU_ADAPTER_NAME` (case-insensitive) when it is set,
/// else wgpu's default for `WGPU_POWER_PREF`. wgpu's own helper panics when no adapter
/// matches the name, so the match is done here and a miss lists the adapters found.
async fn select_adapter(
    instance: &wgpu::Instance,
    backends: wgpu::Backends,
) -> Result<wgpu::Adapter> {
    if let Ok(requested) = std::env::var("WGPU_ADAPTER_NAME") {
        let adapters = instance.enumerate_adapters(backends).await;
        let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
        let requested_lower = requested.to_lowercase();
        return adapters
            .into_iter()
            .find(|a| a.get_info().name.to_lowercase().contains(&requested_lower))
            .ok_or_else(|| Error::NoAdapter {
                reason: format!(
                    "WGPU_ADAPTER_NAME is `{requested}` but no adapter name contains it; adapters \
                     found: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
                hint: DRIVER_HINT,
            });
    }
    let options = wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::from_env().unwrap_or_default(),
        ..Default::default()
    };
    instance
        .request_adapter(&options)
        .await
        .map_err(|e| Error::NoAdapter {
            reason: e.to_string(),
            hint: DRIVER_HINT,
        })
}

/// Whether `EDGEGRAD_UNCHECKED_KERNELS=1` requests kernels without bounds checks.
fn unchecked_requested() -> bool {
    let unchecked = std::env::var("EDGEGRAD_UNCHECKED_KERNELS").as_deref() == Ok("1");
    if unchecked {
        info!("EDGEGRAD_UNCHECKED_KERNELS=1: kernels are compiled without bounds checks");
    }
    unchecked
}

/// An open GPU device with its queue, the adapter's description and compiled pipelines.
pub struct GpuContext {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    matmul: MatmulVariant,
    conv: ConvVariant,
    bounds_checks: bool,
    pipelines: Arc<Mutex<PipelineCache>>,
    device_error: Arc<Mutex<Option<String>>>,
}

/// A compute pipeline and the bind group layout it was built with.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

impl GpuContext {
    /// Opens the adapter that wgpu's environment variables select (`WGPU_BACKEND`,
    /// `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`), or the default one, and logs its name, backend
    /// and type. The device gets the adapter's own limits, so large buffers work where the
    /// hardware allows them.
    pub fn new() -> Result<Arc<Self>> {
        // Vulkan, Metal and DX12 unless WGPU_BACKEND names others: the GL backend lacks
        // compute on many drivers and probes for a display on headless machines.
        let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        descriptor.backends = backends;
        let instance = wgpu::Instance::new(descriptor);
        let adapter = pollster::block_on(select_adapter(&instance, backends))?;
        let info = adapter.get_info();
        let limits = adapter.limits();
        info!(
            "GPU adapter: {} ({:?}, {:?}, driver {} {})",
            info.name, info.backend, info.device_type, info.driver, info.driver_info
        );
        if info.device_type == wgpu::DeviceType::Cpu {
            info!("the adapter is a software rasterizer: GPU kernels run on the CPU");
        }
        debug!(
            "adapter limits: max_storage_buffer_binding_size {}, max_buffer_size {}, \
             max_compute_workgroups_per_dimension {}",
            limits.max_storage_buffer_binding_size,
            limits.max_buffer_size,
            limits.max_compute_workgroups_per_dimension
        );

        let descriptor = wgpu::DeviceDescriptor {
            label: Some("edgegrad"),
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|e| {
                Error::DeviceRequest {
                    adapter: info.name.clone(),
                    reason: e.to_string(),
                }
            })?;

        let device_error = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&device_error);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            warn!("GPU error: {error}");
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| error.to_string());
            }
        }));
        let sink = Arc::clone(&device_error);
        device.set_device_lost_callback(move |reason, message| {
            warn!("GPU device lost ({reason:?}): {message}");
            if let Ok(mut slot) = sink.lock() {
                slot.get_or_insert_with(|| format!("device lost ({reason:?}): {message}"));
            }
        });

        Ok(Arc::new(GpuContext {
            device,
            queue,
            info,
            limits,
            matmul: MatmulVariant::Auto,
            conv: ConvVariant::Auto,
            bounds_checks: !unchecked_requested(),
            pipelines: Arc::new(Mutex::new(HashMap::new())),
            device_error,
        }))
    }

    /// A context on the same device whose sessions use the `variant` matmul kernel; tests and
    /// benchmarks use it to compare the kernels.
    pub fn with_matmul(&self, variant: MatmulVariant) -> Arc<Self> {
        Arc::new(GpuContext {
            device: self.device.clone(),
            queue: self.queue.clone(),
            info: self.info.clone(),
            limits: self.limits.clone(),
            matmul: variant,
            conv: self.conv,
            bounds_checks: self.bounds_checks,
            pipelines: Arc::clone(&self.pipelines),
            device_error: Arc::clone(&self.device_error),
        })
    }

    /// A context on the same device whose sessions use the `variant` convolution kernels.
    pub fn with_conv(&self, variant: ConvVariant) -> Arc<Self> {
        Arc::new(GpuContext {
            device: self.device.clone(),
            queue: self.queue.clone(),
            info: self.info.clone(),
            limits: self.limits.clone(),
            matmul: self.matmul,
            conv: variant,
            bounds_checks: self.bounds_checks,
            pipelines: Arc::clone(&self.pipelines),
            device_error: Arc::clone(&self.device_error),
        })
    }

    /// A context on the same device whose kernels are compiled with (`true`, the default) or
    /// without the bounds checks wgpu inserts into every storage-buffer access.
    ///
    /// Without them the kernels run faster (about 1.6× on the benchmark MLP step on llvmpipe),
    /// and every kernel guards its own indices, but a kernel bug would then read or write out
    /// of bounds instead of being clamped. `EDGEGRAD_UNCHECKED_KERNELS=1` sets this for
    /// [`GpuContext::new`].
    pub fn with_bounds_checks(&self, checked: bool) -> Arc<Self> {
        Arc::new(GpuContext {
            device: self.device.clone(),
            queue: self.queue.clone(),
            info: self.info.clone(),
            limits: self.limits.clone(),
            matmul: self.matmul,
            conv: self.conv,
            bounds_checks: checked,
            pipelines: Arc::clone(&self.pipelines),
            device_error: Arc::clone(&self.device_error),
        })
    }

    /// Whether kernels are compiled with bounds checks.
    pub fn bounds_checks(&self) -> bool {
        self.bounds_checks
    }

    /// Whether convolutions use the register-blocked kernels.
    pub(crate) fn conv_blocked(&self) -> bool {
        self.conv != ConvVariant::Direct
    }

    /// The matmul kernel for an `[m, k] · [k, n]` product, with the bias and activation
    /// epilogue when `fused`.
    ///
    /// With [`MatmulVariant::Auto`], software adapters always get a register-blocked
    /// kernel, because workgroup barriers are expensive there (on llvmpipe it ran a
    /// `[256, 8] · [8, 64]` product about 4× faster than the tiled kernel). Hardware adapters
    /// get the tiled kernel once every dimension reaches 128, where reuse through workgroup
    /// memory pays for its barriers, and a register-blocked kernel below that. The
    /// register-blocked kernel is the vec4 one wherever the shape allows it (on llvmpipe it
    /// ran a 256 × 256 · 256 × 256 product in 41 % of the plain blocked kernel's time).
    pub(crate) fn matmul_kernel(
        &self,
        [m, n, k]: [usize; 3],
        transposed: [bool; 2],
        fused: bool,
    ) -> Kernel {
        let vec4 = matmul_vec4_fits(m, n, k, transposed);
        let variant = match self.matmul {
            MatmulVariant::Auto if !self.is_software() && m.min(n).min(k) >= 128 => {
                MatmulVariant::Tiled
            }
            MatmulVariant::Auto | MatmulVariant::Vec4 if vec4 => MatmulVariant::Vec4,
            MatmulVariant::Auto | MatmulVariant::Vec4 => MatmulVariant::Blocked,
            chosen => chosen,
        };
        let kernel = match (variant, fused) {
            (MatmulVariant::Tiled, false) => Kernel::MatmulTiled,
            (MatmulVariant::Tiled, true) => Kernel::LinearTiled,
            (MatmulVariant::Vec4, false) => Kernel::MatmulVec4,
            (MatmulVariant::Vec4, true) => Kernel::LinearVec4,
            (_, false) => Kernel::MatmulBlocked,
            (_, true) => Kernel::LinearBlocked,
        };
        debug!(
            "matmul [{m}, {k}] · [{k}, {n}] uses {}",
            kernel.entry_point()
        );
        kernel
    }

    /// The adapter's name, for example `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// One line naming the adapter, its backend and its type.
    pub fn adapter_summary(&self) -> String {
        format!(
            "{} ({:?}, {:?})",
            self.info.name, self.info.backend, self.info.device_type
        )
    }

    /// Whether the adapter is a software implementation running on the CPU, such as llvmpipe.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// The device's limits.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Returns the first error the device reported since it was opened, if any.
    pub(crate) fn check_device(&self) -> Result<()> {
        match self.device_error.lock() {
            Ok(slot) => match slot.as_ref() {
                Some(message) => Err(Error::Device(message.clone())),
                None => Ok(()),
            },
            Err(_) => Err(Error::Device("the error slot was poisoned".into())),
        }
    }

    /// Returns the pipeline of `kernel`, compiling it on first use.
    pub(crate) fn pipeline(&self, kernel: Kernel) -> Result<Arc<Pipeline>> {
        let mut cache = self
            .pipelines
            .lock()
            .map_err(|_| Error::Device("the pipeline cache was poisoned".into()))?;
        let key = (kernel, self.bounds_checks);
        if let Some(pipeline) = cache.get(&key) {
            return Ok(Arc::clone(pipeline));
        }
        let pipeline = Arc::new(self.build_pipeline(kernel)?);
        cache.insert(key, Arc::clone(&pipeline));
        Ok(pipeline)
    }

    fn build_pipeline(&self, kernel: Kernel) -> Result<Pipeline> {
        debug!("compiling kernel {}", kernel.entry_point());
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let source = kernel.shader().source();
        let descriptor = wgpu::ShaderModuleDescriptor {
            label: Some(kernel.shader().file_name()),
            source: wgpu::ShaderSource::Wgsl(source.as_str().into()),
        };
        let module = if self.bounds_checks {
            self.device.create_shader_module(descriptor)
        } else {
            // SAFETY: every kernel compares each index it computes against the sizes in its
            // parameter block or against `arrayLength` before using it, and the parity tests
            // run every kernel unchecked as well, so no access leaves its binding.
            unsafe {
                self.device.create_shader_module_trusted(
                    descriptor,
                    wgpu::ShaderRuntimeChecks::unchecked(),
                )
            }
        };

        let mut entries = vec![wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Storage { read_only: true },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        }];
        for (i, access) in kernel.storage_bindings().iter().enumerate() {
            entries.push(wgpu::BindGroupLayoutEntry {
                binding: i as u32 + 1,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage {
                        read_only: *access == Access::Read,
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            });
        }
        let layout = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(kernel.entry_point()),
                entries: &entries,
            });
        let pipeline_layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(kernel.entry_point()),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(kernel.entry_point()),
                layout: Some(&pipeline_layout),
                module: &module,
                entry_point: Some(kernel.entry_point()),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(error) = pollster::block_on(scope.pop()) {
            log::trace!("source of the failed kernel:\n{source}");
            return Err(Error::Kernel {
                kernel: kernel.entry_point(),
                message: error.to_string(),
            });
        }
        Ok(Pipeline { pipeline, layout })
    }
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.adapter_summary())
            .finish()
    }
}
