//! Labelled fixed-shape samples for convolutional models: aligned channel files, raw signal
//! files cut into windows, and rows of image pixels.
//!
//! Each loader returns [`SampleData`], whose training and validation [`Dataset`]s contain one
//! sample per row, flattened row-major in the layout of [`SampleData::sample_shape`] and
//! standardised per channel with a [`ChannelNorm`] fitted on the training split. A model stores
//! [`SampleData::source`] and [`SampleData::norm`] so that [`read_samples`] can read new data the
//! same way. Column numbers in arguments and error messages count from 0.

mod channels;
mod images;
mod signal;

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::DataError;
use super::format_number;
use super::prepare::Dataset;
use super::split::stratified_split;

pub use channels::load_channels;
pub use images::load_images;
pub use signal::load_signal;

/// The origin and reading settings of samples, saved with a model so that prediction reads new
/// data the same way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "format", rename_all = "lowercase")]
pub enum SampleSource {
    /// Several aligned text files, one row per sample and one file per channel, plus a label
    /// file.
    Channels {
        /// Channel file names relative to the data folder, in channel order.
        channel_files: Vec<String>,
        /// Label file name relative to the data folder.
        label_file: String,
        /// 0-based column of the label file that contains the labels.
        label_column: usize,
    },
    /// Raw little-endian f32 signal files cut into windows, labelled by a manifest CSV.
    Signal {
        /// Path of the manifest CSV as given to [`load_signal`].
        manifest: String,
        /// Manifest column with the signal file paths, relative to the manifest's folder.
        file_column: String,
        /// Manifest column with the labels.
        label_column: String,
        /// Window length in samples.
        window: usize,
        /// Distance in samples between the starts of consecutive windows.
        stride: usize,
    },
    /// Rows of pixels with a label column (CSV, optionally gzip-compressed).
    Images {
        /// Image shape `[channels, height, width]`; pixel columns are in this row-major order.
        shape: [usize; 3],
        /// 0-based label column, or `None` for the last column.
        label_column: Option<usize>,
    },
}

/// Per-channel standardisation learned from the training split: x' = (x - mean[c]) / std[c].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChannelNorm {
    /// Mean of each channel over the training split.
    pub mean: Vec<f32>,
    /// Population standard deviation of each channel over the training split, or 1 where it is 0.
    pub std: Vec<f32>,
}

/// Labelled samples split into training and validation sets, with what is needed to read and
/// standardise new samples the same way.
#[derive(Clone, Debug)]
pub struct SampleData {
    /// Training samples: `features` are the samples flattened row-major, `n_features` the
    /// product of [`SampleData::sample_shape`] and `targets` the class indices as f32.
    pub train: Dataset,
    /// Validation samples, in the same layout as `train`.
    pub val: Dataset,
    /// Shape of one sample: `[channels, length]` or `[channels, height, width]`.
    pub sample_shape: Vec<usize>,
    /// Class labels by class index, in numeric order for numeric labels ("73", "80", "90",
    /// "100").
    pub classes: Vec<String>,
    /// The format and reading settings of the samples, for [`read_samples`].
    pub source: SampleSource,
    /// Per-channel standardisation fitted on the training split and applied to both splits.
    pub norm: ChannelNorm,
    /// One sentence describing how the samples were split, for the trainer to print.
    pub split_description: String,
}

/// Reads unlabelled (or labelled; labels ignored) samples from `path` the way `source`
/// describes and standardises them with `norm`. Returns (flattened samples, count).
///
/// For `Channels`, `path` is the folder that contains the channel files, and the label file is
/// not read. For `Signal`, it is a manifest whose file column lists the signal files, and every
/// window of every file is returned in manifest order with the saved window and stride. For
/// `Images`, it is the CSV file, whose rows may leave out the label column.
pub fn read_samples(
    path: &Path,
    source: &SampleSource,
    norm: &ChannelNorm,
) -> Result<(Vec<f32>, usize), DataError> {
    let (mut values, count, channels, channel_len) = match source {
        SampleSource::Channels { channel_files, .. } => {
            let read = channels::read_channel_files(path, channel_files)?;
            (read.values, read.rows, channel_files.len(), read.length)
        }
        SampleSource::Signal {
            file_column,
            window,
            stride,
            ..
        } => {
            let (values, count) = signal::read_all_windows(path, file_column, *window, *stride)?;
            (values, count, 1, *window)
        }
        SampleSource::Images {
            shape,
            label_column,
        } => {
            let read = images::read_image_rows(path, *shape, *label_column, false)?;
            (read.pixels, read.rows, shape[0], shape[1] * shape[2])
        }
    };
    norm.check(channels)?;
    norm.standardise(&mut values, channel_len);
    Ok((values, count))
}

impl ChannelNorm {
    /// Fits the norm on samples laid out `[rows, channels, channel_len]`: each channel's mean
    /// and population standard deviation over all its values, with 1 in place of a zero std.
    fn fit(features: &[f32], channels: usize, channel_len: usize) -> ChannelNorm {
        let sample_len = channels * channel_len;
        let mut sums = vec![0.0_f64; channels];
        let mut count = 0_usize;
        for sample in features.chunks_exact(sample_len) {
            for (sum, block) in sums.iter_mut().zip(sample.chunks_exact(channel_len)) {
                *sum += block.iter().map(|&value| f64::from(value)).sum::<f64>();
            }
            count += channel_len;
        }
        if count == 0 {
            return ChannelNorm {
                mean: vec![0.0; channels],
                std: vec![1.0; channels],
            };
        }
        let means: Vec<f64> = sums.iter().map(|sum| sum / count as f64).collect();
        let mut squares = vec![0.0_f64; channels];
        for sample in features.chunks_exact(sample_len) {
            for (channel, block) in sample.chunks_exact(channel_len).enumerate() {
                let mean = means[channel];
                squares[channel] += block
                    .iter()
                    .map(|&value| (f64::from(value) - mean).powi(2))
                    .sum::<f64>();
            }
        }
        let std = squares
            .iter()
            .map(|square| {
                let std = (square / count as f64).sqrt() as f32;
                if std > 0.0 && std.is_finite() {
                    std
                } else {
                    1.0
                }
            })
            .collect();
        ChannelNorm {
            mean: means.iter().map(|&mean| mean as f32).collect(),
            std,
        }
    }

    /// Checks that the norm has `channels` finite means and positive finite deviations.
    fn check(&self, channels: usize) -> Result<(), DataError> {
        let invalid = |problem: String| Err(DataError::InvalidChannelNorm { problem });
        if self.mean.len() != channels {
            return invalid(format!(
                "has {} channel means but the samples have {channels} channels",
                self.mean.len()
            ));
        }
        if self.std.len() != channels {
            return invalid(format!(
                "has {} standard deviations but the samples have {channels} channels",
                self.std.len()
            ));
        }
        if let Some(mean) = self.mean.iter().find(|mean| !mean.is_finite()) {
            return invalid(format!("has the non-finite mean {mean}"));
        }
        if let Some(std) = self
            .std
            .iter()
            .find(|std| !(std.is_finite() && **std > 0.0))
        {
            return invalid(format!(
                "has the standard deviation {std}, which is not positive and finite"
            ));
        }
        Ok(())
    }

    /// Standardises samples laid out `[rows, channels, channel_len]` in place.
    fn standardise(&self, features: &mut [f32], channel_len: usize) {
        let sample_len = self.mean.len() * channel_len;
        if sample_len == 0 {
            return;
        }
        for sample in features.chunks_exact_mut(sample_len) {
            for (channel, block) in sample.chunks_exact_mut(channel_len).enumerate() {
                let (mean, std) = (self.mean[channel], self.std[channel]);
                for value in block {
                    *value = (*value - mean) / std;
                }
            }
        }
    }
}

/// Rejects a validation fraction outside (0, 1).
fn check_val_fraction(val_fraction: f64) -> Result<(), DataError> {
    if val_fraction > 0.0 && val_fraction < 1.0 {
        Ok(())
    } else {
        Err(DataError::InvalidValFraction {
            value: val_fraction,
        })
    }
}

/// Formats a fraction as a percentage with at most two decimals, such as "20" for 0.2.
fn percent(fraction: f64) -> String {
    format_number((fraction * 10_000.0).round() / 100.0)
}

/// Sorts the distinct numeric labels and returns them as class names with each sample's class
/// index. `labels` names the label column in errors; a single class is an error.
fn numeric_classes(values: &[f64], labels: &str) -> Result<(Vec<String>, Vec<usize>), DataError> {
    let mut distinct = values.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if let [only] = distinct.as_slice() {
        return Err(DataError::SingleSampleClass {
            labels: labels.to_owned(),
            value: format_number(*only),
        });
    }
    let row_classes = values
        .iter()
        .map(|value| {
            distinct
                .binary_search_by(|class| class.total_cmp(value))
                .unwrap_or_default()
        })
        .collect();
    let classes = distinct.into_iter().map(format_number).collect();
    Ok((classes, row_classes))
}

/// Copies the samples of `rows` into a [`Dataset`] with their class indices as targets.
fn gather(values: &[f32], sample_len: usize, rows: &[usize], row_classes: &[usize]) -> Dataset {
    let mut features = Vec::with_capacity(rows.len() * sample_len);
    for &row in rows {
        features.extend_from_slice(&values[row * sample_len..(row + 1) * sample_len]);
    }
    Dataset {
        features,
        targets: rows.iter().map(|&row| row_classes[row] as f32).collect(),
        rows: rows.len(),
        n_features: sample_len,
    }
}

/// Fits the channel norm on the training split and standardises both splits with it.
fn standardise_splits(train: &mut Dataset, val: &mut Dataset, channels: usize) -> ChannelNorm {
    let channel_len = train.n_features / channels;
    let norm = ChannelNorm::fit(&train.features, channels, channel_len);
    norm.standardise(&mut train.features, channel_len);
    norm.standardise(&mut val.features, channel_len);
    norm
}

/// Samples with their labels, before the split.
struct LabelledSamples {
    /// Samples flattened row-major, `[rows, product of sample_shape]`.
    values: Vec<f32>,
    /// Shape of one sample; the first dimension is the channel.
    sample_shape: Vec<usize>,
    /// Class names by class index.
    classes: Vec<String>,
    /// Class index of each sample.
    row_classes: Vec<usize>,
    /// The label column, such as "column 0 of profile.txt", for errors.
    labels: String,
}

/// Splits labelled samples with the seeded stratified split of the tabular loader, fits the
/// channel norm on the training split and standardises both splits.
fn split_stratified(
    samples: LabelledSamples,
    source: SampleSource,
    val_fraction: f64,
    seed: u64,
) -> Result<SampleData, DataError> {
    let split = stratified_split(
        &samples.row_classes,
        &samples.classes,
        &samples.labels,
        val_fraction,
        seed,
    )?;
    let sample_len: usize = samples.sample_shape.iter().product();
    let mut train = gather(
        &samples.values,
        sample_len,
        &split.train,
        &samples.row_classes,
    );
    let mut val = gather(
        &samples.values,
        sample_len,
        &split.val,
        &samples.row_classes,
    );
    let norm = standardise_splits(&mut train, &mut val, samples.sample_shape[0]);
    let split_description = format!(
        "stratified by class with seed {seed}: {} % of each class's samples for validation, \
         giving {} training and {} validation samples",
        percent(val_fraction),
        train.rows,
        val.rows
    );
    Ok(SampleData {
        train,
        val,
        sample_shape: samples.sample_shape,
        classes: samples.classes,
        source,
        norm,
        split_description,
    })
}

/// Reads a whole file, naming it in the error.
fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|error| DataError::Open {
        path: path.to_path_buf(),
        error,
    })
}

/// Reads a whole UTF-8 text file, naming the file and the first invalid line in errors.
fn read_text(path: &Path) -> Result<String, DataError> {
    String::from_utf8(read_bytes(path)?).map_err(|error| {
        let valid = &error.as_bytes()[..error.utf8_error().valid_up_to()];
        let newlines = valid.iter().filter(|&&byte| byte == b'\n').count();
        DataError::InvalidUtf8 {
            input: path.display().to_string(),
            line: newlines as u64 + 1,
        }
    })
}

/// Parses one sample value, rejecting text and values that are NaN or infinite as f32.
fn parse_value(text: &str, location: impl Fn() -> String) -> Result<f32, DataError> {
    let value: f32 = text.parse().map_err(|_| DataError::InvalidSampleValue {
        location: location(),
        value: text.to_owned(),
    })?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(DataError::NonFiniteSample {
            location: location(),
            value: text.to_owned(),
        })
    }
}

/// Parses one numeric label, rejecting text and NaN or infinite values.
fn parse_label(text: &str, location: impl Fn() -> String) -> Result<f64, DataError> {
    let value: f64 = text.parse().map_err(|_| DataError::InvalidLabel {
        location: location(),
        value: text.to_owned(),
    })?;
    if value.is_finite() {
        // Adding 0.0 turns -0.0 into 0.0, so both spellings of zero are one class.
        Ok(value + 0.0)
    } else {
        Err(DataError::NonFiniteSample {
            location: location(),
            value: text.to_owned(),
        })
    }
}

#[cfg(test)]
pub(super) mod test_support {
    //! Temporary folders, data-folder lookup and statistics shared by the loader tests.

    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::DataError;

    /// A folder under the system temporary folder, removed on drop.
    pub struct TempDir(PathBuf);

    impl TempDir {
        /// Creates an empty folder whose name contains `name`, the process id and a counter.
        pub fn new(name: &str) -> TempDir {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let count = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "edgegrad-samples-{name}-{}-{count}",
                std::process::id()
            ));
            // A folder left by an earlier run with the same process id would mix in old files.
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create temporary folder");
            TempDir(path)
        }

        /// Returns the folder's path.
        pub fn path(&self) -> &Path {
            &self.0
        }

        /// Writes `contents` to `name` in the folder and returns the file's path.
        pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
            let path = self.0.join(name);
            std::fs::write(&path, contents).expect("write temporary file");
            path
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Returns the real-data folder from `EDGEGRAD_DATA`, or `None` after a message when it is
    /// unset. With `EDGEGRAD_REQUIRE_DATA=1` an unset folder fails the test.
    pub fn data_root() -> Option<PathBuf> {
        let required = std::env::var("EDGEGRAD_REQUIRE_DATA").as_deref() == Ok("1");
        match std::env::var_os("EDGEGRAD_DATA") {
            Some(root) => Some(PathBuf::from(root)),
            None if required => panic!("EDGEGRAD_REQUIRE_DATA=1 but EDGEGRAD_DATA is not set"),
            None => {
                eprintln!(
                    "EDGEGRAD_DATA is not set: this test has nothing to read and returns early"
                );
                None
            }
        }
    }

    /// Returns the mean and population standard deviation of each channel of samples laid out
    /// `[rows, channels, channel_len]`.
    pub fn channel_stats(features: &[f32], channels: usize, channel_len: usize) -> Vec<(f64, f64)> {
        (0..channels)
            .map(|channel| {
                let values: Vec<f64> = features
                    .chunks_exact(channels * channel_len)
                    .flat_map(|sample| &sample[channel * channel_len..(channel + 1) * channel_len])
                    .map(|&value| f64::from(value))
                    .collect();
                let count = values.len() as f64;
                let mean = values.iter().sum::<f64>() / count;
                let variance = values
                    .iter()
                    .map(|value| (value - mean).powi(2))
                    .sum::<f64>()
                    / count;
                (mean, variance.sqrt())
            })
            .collect()
    }

    /// Asserts that every channel of the samples has mean about 0 and std about 1.
    pub fn assert_standardised(features: &[f32], channels: usize, channel_len: usize) {
        for (channel, (mean, std)) in channel_stats(features, channels, channel_len)
            .into_iter()
            .enumerate()
        {
            assert!(
                mean.abs() < 1e-4,
                "channel {channel} mean is {mean}, expected 0"
            );
            assert!(
                (std - 1.0).abs() < 1e-3,
                "channel {channel} std is {std}, expected 1"
            );
        }
    }

    /// Returns the error message of a result that must be an error.
    pub fn error_message<T: std::fmt::Debug>(result: Result<T, DataError>) -> String {
        match result {
            Ok(value) => panic!("expected an error, got {value:?}"),
            Err(error) => error.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_classes_sort_numerically() {
        let (classes, row_classes) =
            numeric_classes(&[100.0, 73.0, 90.0, 80.0, 73.0], "labels").expect("classes");
        assert_eq!(
            classes,
            ["73", "80", "90", "100"],
            "numeric, not text order"
        );
        assert_eq!(row_classes, [3, 0, 2, 1, 0], "class index of each sample");
    }

    #[test]
    fn numeric_classes_reject_single_class() {
        let message = test_support::error_message(numeric_classes(&[3.0, 3.0], "column 0 of y"));
        assert!(
            message.contains("column 0 of y"),
            "names the labels: {message}"
        );
        assert!(message.contains("`3`"), "names the value: {message}");
    }

    #[test]
    fn channel_norm_fit_and_standardise() {
        // Two samples of two channels of length 2: channel 0 is 1, 3, 5, 7 and channel 1 is
        // constant.
        let mut features = vec![1.0, 3.0, 4.0, 4.0, 5.0, 7.0, 4.0, 4.0];
        let norm = ChannelNorm::fit(&features, 2, 2);
        assert_eq!(norm.mean, [4.0, 4.0], "channel means");
        assert!(
            (norm.std[0] - 5.0_f32.sqrt()).abs() < 1e-6,
            "std {}",
            norm.std[0]
        );
        assert_eq!(norm.std[1], 1.0, "a constant channel gets std 1");
        norm.standardise(&mut features, 2);
        assert_eq!(&features[2..4], [0.0, 0.0], "constant channel becomes 0");
        assert!(
            (features[0] + 3.0 / 5.0_f32.sqrt()).abs() < 1e-6,
            "(1 - 4) / sqrt(5)"
        );
    }

    #[test]
    fn channel_norm_check_rejects_mismatch() {
        let norm = ChannelNorm {
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        };
        let message = norm.check(8).expect_err("3 channels for 8").to_string();
        assert!(message.contains("3 channel means"), "{message}");
        assert!(message.contains("8 channels"), "{message}");
        let zero = ChannelNorm {
            mean: vec![0.0],
            std: vec![0.0],
        };
        let message = zero.check(1).expect_err("zero std").to_string();
        assert!(message.contains("standard deviation 0"), "{message}");
    }

    #[test]
    fn sample_source_serialises_with_format_tag() {
        let source = SampleSource::Images {
            shape: [1, 8, 8],
            label_column: None,
        };
        let json = serde_json::to_string(&source).expect("serialise");
        assert!(json.contains("\"format\":\"images\""), "{json}");
        let back: SampleSource = serde_json::from_str(&json).expect("deserialise");
        assert_eq!(back, source, "round trip");
    }

    #[test]
    fn percent_formats_fractions() {
        assert_eq!(percent(0.2), "20");
        assert_eq!(percent(0.125), "12.5");
        assert_eq!(percent(1.0 / 3.0), "33.33");
    }
}
