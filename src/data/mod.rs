//! Tabular data for training: CSV loading into typed columns, preparation of training and
//! validation datasets with fitted feature and target encoders, and a simulator of
//! milling-machine telemetry for examples and tests.
//!
//! A typical flow reads a [`Table`] with [`Table::from_csv_path`], calls [`prepare()`] with
//! [`PrepareOptions`], trains on [`Prepared::train`], and stores [`Prepared::features`] and
//! [`Prepared::target`] with the model so that [`FeatureEncoder::encode`] can encode new data.

mod csv_io;
mod encode;
mod error;
mod prepare;
mod samples;
mod simulate;
mod split;
mod table;
mod target;

pub use encode::{FeatureColumn, FeatureEncoder, TargetEncoder};
pub use error::DataError;
pub use prepare::{Dataset, PrepareOptions, Prepared, prepare};
pub use samples::{
    ChannelNorm, SampleData, SampleSource, load_channels, load_images, load_signal, read_samples,
};
pub use simulate::simulate_milling;
pub use table::{Column, Table, format_number};
pub use target::{Task, balanced_class_weights};
