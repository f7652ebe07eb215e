//! The library's error type.
//!
//! Errors are grouped by subsystem: graph construction (shapes), execution (feeds and device
//! work), device setup, and data loading. Every variant's message names the value at fault and,
//! where one exists, the fix.

use crate::data::DataError;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in edgegrad.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An op was given operands whose shapes it cannot combine.
    #[error("shape error in {op}: {message}")]
    Shape {
        /// The op being built, for example `matmul`.
        op: &'static str,
        /// What is wrong, with the shapes involved.
        message: String,
    },

    /// A node id that does not belong to the graph, or a node of the wrong kind.
    #[error("invalid node: {0}")]
    InvalidNode(String),

    /// An optimizer hyperparameter outside the range its update rule is defined for.
    #[error("invalid optimizer setting: {setting} is {value}, expected {expected}")]
    Optimizer {
        /// The hyperparameter, for example `momentum`.
        setting: &'static str,
        /// The value given.
        value: f32,
        /// The accepted range.
        expected: &'static str,
    },

    /// A value fed to a step does not match its input's shape, or an input was not fed.
    #[error("invalid feed: {0}")]
    Feed(String),

    /// No GPU adapter could be found or opened.
    #[error("no usable GPU adapter: {reason}. {hint}")]
    NoAdapter {
        /// What wgpu reported.
        reason: String,
        /// How to install a driver.
        hint: &'static str,
    },

    /// The device could not be created from the adapter.
    #[error("failed to open the GPU device on {adapter}: {reason}")]
    DeviceRequest {
        /// Adapter name.
        adapter: String,
        /// What wgpu reported.
        reason: String,
    },

    /// A buffer or dispatch exceeds what the device supports.
    #[error(
        "{what} needs {requested} {unit}, but the device allows at most {limit} ({limit_name}); \
         {hint}"
    )]
    DeviceLimit {
        /// The buffer or dispatch at fault.
        what: String,
        /// The amount requested.
        requested: u64,
        /// The device's limit.
        limit: u64,
        /// The unit of `requested` and `limit`, such as `bytes` or `workgroups`.
        unit: &'static str,
        /// The wgpu limit's name.
        limit_name: &'static str,
        /// What to change.
        hint: &'static str,
    },

    /// The planned device memory exceeds the memory budget.
    #[error(
        "the plan needs {planned} bytes of device memory but the budget is {budget} bytes \
         ({details}); use a smaller batch or model, or raise the budget"
    )]
    MemoryBudget {
        /// Planned bytes.
        planned: u64,
        /// The budget in bytes.
        budget: u64,
        /// The breakdown and the largest buffers.
        details: String,
    },

    /// A kernel failed to compile or a pipeline failed validation.
    #[error("kernel `{kernel}` failed to build: {message}")]
    Kernel {
        /// The entry point.
        kernel: &'static str,
        /// The validation message.
        message: String,
    },

    /// The device was lost or reported an error while running work.
    #[error(
        "GPU device error: {0}; the device may have been lost or reset, so recreate the session"
    )]
    Device(String),

    /// A value became NaN or infinite during training.
    #[error("{what} is {value} at step {step}; lower the learning rate or check the input data")]
    NonFinite {
        /// The value, for example `loss`.
        what: &'static str,
        /// The non-finite value.
        value: f32,
        /// The training step.
        step: u64,
    },

    /// Reading, validating or encoding data failed.
    #[error(transparent)]
    Data(#[from] DataError),

    /// A saved model could not be read or written.
    #[error("model file {path}: {message}")]
    Model {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },

    /// An I/O error with the path it happened on.
    #[error("{path}: {error}")]
    Io {
        /// The file or folder.
        path: String,
        /// The OS error, part of the message rather than a separate source so that error
        /// chains print it once.
        error: std::io::Error,
    },

    /// A model description is invalid.
    #[error("invalid model layers: {0}")]
    Layers(String),
}

impl Error {
    pub(crate) fn shape(op: &'static str, message: impl Into<String>) -> Self {
        Error::Shape {
            op,
            message: message.into(),
        }
    }
}
