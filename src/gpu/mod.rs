//! The GPU backend: wgpu device setup, the WGSL kernel table and the graph executor.

mod context;
pub(crate) mod executor;
pub mod kernels;

pub use context::{ConvVariant, DRIVER_HINT, GpuContext, MatmulVariant, matmul_vec4_fits};
pub use executor::GpuStats;
