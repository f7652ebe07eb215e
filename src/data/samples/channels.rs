//! Samples from aligned text files: one file per channel with one row of values per sample,
//! and a label file with one row per sample.

use std::path::Path;

use super::super::error::DataError;
use super::{
    LabelledSamples, SampleData, SampleSource, check_val_fraction, numeric_classes, parse_label,
    parse_value, read_text, split_stratified,
};

/// Loads samples of shape `[channels, length]` from aligned channel files in `dir`, labelled by
/// the numbers in `label_column` of `label_file`, and splits them by class.
///
/// Each channel file and the label file are whitespace-separated text with one row per sample,
/// in the same order; blank lines are skipped. Every row of every channel file must have the
/// same number of values, which sets `length`. Classes are the distinct labels in numeric
/// order. The split is the seeded stratified split of [`prepare`](super::super::prepare), and
/// each channel is standardised with the mean and standard deviation of all its values in the
/// training split.
pub fn load_channels(
    dir: &Path,
    channel_files: &[String],
    label_file: &str,
    label_column: usize,
    val_fraction: f64,
    seed: u64,
) -> Result<SampleData, DataError> {
    check_val_fraction(val_fraction)?;
    let read = read_channel_files(dir, channel_files)?;

    let label_path = dir.join(label_file);
    let label_values = read_label_column(&label_path, label_column)?;
    if label_values.len() != read.rows {
        return Err(DataError::SampleCountMismatch {
            input: label_path.display().to_string(),
            found: label_values.len(),
            reference: read.first_file,
            expected: read.rows,
        });
    }

    let labels = format!("column {label_column} of {}", label_path.display());
    let (classes, row_classes) = numeric_classes(&label_values, &labels)?;
    let samples = LabelledSamples {
        values: read.values,
        sample_shape: vec![channel_files.len(), read.length],
        classes,
        row_classes,
        labels,
    };
    let source = SampleSource::Channels {
        channel_files: channel_files.to_vec(),
        label_file: label_file.to_owned(),
        label_column,
    };
    let data = split_stratified(samples, source, val_fraction, seed)?;

    log::info!(
        "loaded {} training and {} validation samples of shape {:?} in {} classes from {}",
        data.train.rows,
        data.val.rows,
        data.sample_shape,
        data.classes.len(),
        dir.display()
    );
    Ok(data)
}

/// The values of all channel files, interleaved into samples.
pub(super) struct ChannelValues {
    /// Samples laid out `[rows, channels, length]`.
    pub values: Vec<f32>,
    /// Number of samples.
    pub rows: usize,
    /// Number of values per channel.
    pub length: usize,
    /// Path of the first channel file, which sets the expected row count and length.
    pub first_file: String,
}

/// Reads every channel file in `dir` and interleaves them into samples, checking that all files
/// have the same number of rows and all rows the same length.
pub(super) fn read_channel_files(
    dir: &Path,
    channel_files: &[String],
) -> Result<ChannelValues, DataError> {
    let Some(first_name) = channel_files.first() else {
        return Err(DataError::NoChannelFiles);
    };
    let first_path = dir.join(first_name);
    let first = read_matrix(&first_path)?;
    let first_file = first_path.display().to_string();
    let channels = channel_files.len();
    let (rows, length) = (first.rows, first.length);
    let sample_len = channels * length;
    let mut values = vec![0.0_f32; rows * sample_len];
    for (channel, name) in channel_files.iter().enumerate() {
        let path = dir.join(name);
        let matrix = if channel == 0 {
            None
        } else {
            Some(read_matrix(&path)?)
        };
        let matrix = matrix.as_ref().unwrap_or(&first);
        if matrix.length != length {
            return Err(DataError::SampleRowLength {
                input: path.display().to_string(),
                line: matrix.first_line,
                found: matrix.length,
                expected: length,
                reference: format!("line {} of {first_file}", first.first_line),
            });
        }
        if matrix.rows != rows {
            return Err(DataError::SampleCountMismatch {
                input: path.display().to_string(),
                found: matrix.rows,
                reference: first_file,
                expected: rows,
            });
        }
        for (sample, row) in values
            .chunks_exact_mut(sample_len)
            .zip(matrix.values.chunks_exact(length))
        {
            sample[channel * length..(channel + 1) * length].copy_from_slice(row);
        }
    }
    Ok(ChannelValues {
        values,
        rows,
        length,
        first_file,
    })
}

/// A whitespace-separated text file of numbers with equal-length rows.
struct Matrix {
    /// Values in row-major order.
    values: Vec<f32>,
    /// Number of non-blank rows.
    rows: usize,
    /// Number of values per row, or 0 for a file without rows.
    length: usize,
    /// 1-based line number of the first non-blank row.
    first_line: u64,
}

/// Reads a whitespace-separated text file of finite numbers whose rows all have the same
/// length, skipping blank lines.
fn read_matrix(path: &Path) -> Result<Matrix, DataError> {
    let text = read_text(path)?;
    let input = path.display().to_string();
    let mut values = Vec::new();
    let mut rows = 0;
    let mut layout: Option<(usize, u64)> = None;
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        let start = values.len();
        for (column, token) in line.split_ascii_whitespace().enumerate() {
            let location = || format!("line {line_number}, 0-based column {column} of {input}");
            values.push(parse_value(token, location)?);
        }
        let found = values.len() - start;
        if found == 0 {
            continue;
        }
        match layout {
            None => layout = Some((found, line_number)),
            Some((expected, first_line)) if found != expected => {
                return Err(DataError::SampleRowLength {
                    input: input.clone(),
                    line: line_number,
                    found,
                    expected,
                    reference: format!("line {first_line}"),
                });
            }
            Some(_) => {}
        }
        rows += 1;
    }
    let Some((length, first_line)) = layout else {
        return Err(DataError::NoSamples { input });
    };
    Ok(Matrix {
        values,
        rows,
        length,
        first_line,
    })
}

/// Reads the numeric labels in the 0-based `column` of a whitespace-separated file, one per
/// non-blank line.
fn read_label_column(path: &Path, column: usize) -> Result<Vec<f64>, DataError> {
    let text = read_text(path)?;
    let input = path.display().to_string();
    let mut labels = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index as u64 + 1;
        let mut tokens = line.split_ascii_whitespace();
        let Some(token) = tokens.clone().nth(column) else {
            let found = tokens.by_ref().count();
            if found == 0 {
                continue;
            }
            return Err(DataError::LabelColumnOutOfRange {
                input,
                line: line_number,
                column,
                found,
            });
        };
        let location = || format!("line {line_number}, 0-based column {column} of {input}");
        labels.push(parse_label(token, location)?);
    }
    if labels.is_empty() {
        return Err(DataError::NoSamples { input });
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{TempDir, assert_standardised, data_root, error_message};
    use super::super::{ChannelNorm, read_samples};
    use super::*;

    /// Writes three channel files of 30 rows by 4 values and a label file whose column 1 contains
    /// the labels 100, 20 and 3 in turn. Channel c of row r has values near 10 c + r.
    fn write_channels(dir: &TempDir) -> Vec<String> {
        let names: Vec<String> = ["a.txt", "b.txt", "c.txt"].map(String::from).to_vec();
        for (channel, name) in names.iter().enumerate() {
            let text: String = (0..30)
                .map(|row| {
                    let base = 10.0 * channel as f64 + row as f64;
                    format!(
                        "{}\t{}\t{}\t{}\n",
                        base,
                        base + 0.5,
                        base - 0.25,
                        base * 2.0
                    )
                })
                .collect();
            dir.write(name, text);
        }
        let labels: String = (0..30)
            .map(|row| format!("7 {} 0\n", [100, 20, 3][row % 3]))
            .collect();
        dir.write("labels.txt", labels);
        names
    }

    fn load(dir: &TempDir, names: &[String]) -> Result<SampleData, DataError> {
        load_channels(dir.path(), names, "labels.txt", 1, 0.2, 0)
    }

    #[test]
    fn channels_shape_labels_and_split() {
        let dir = TempDir::new("channels-shape");
        let names = write_channels(&dir);
        let data = load(&dir, &names).expect("load");

        assert_eq!(data.sample_shape, [3, 4], "[channels, length]");
        assert_eq!(data.classes, ["3", "20", "100"], "numeric class order");
        assert_eq!(data.train.n_features, 12, "3 channels of 4 values");
        assert_eq!(
            data.train.rows, 24,
            "10 - round(0.2 * 10) per class, 3 classes"
        );
        assert_eq!(data.val.rows, 6, "round(0.2 * 10) per class");
        assert_eq!(data.train.features.len(), 24 * 12, "row-major size");

        for class in 0..3 {
            let count = data
                .val
                .targets
                .iter()
                .filter(|&&t| t == class as f32)
                .count();
            assert_eq!(count, 2, "class {class} has 2 validation samples");
        }

        assert_standardised(&data.train.features, 3, 4);
        assert!(
            data.split_description.contains("seed 0"),
            "{}",
            data.split_description
        );
        assert_eq!(
            data.source,
            SampleSource::Channels {
                channel_files: names,
                label_file: "labels.txt".into(),
                label_column: 1
            }
        );
    }

    #[test]
    fn channels_interleave_and_label_rows() {
        let dir = TempDir::new("channels-layout");
        let names = write_channels(&dir);
        let data = load(&dir, &names).expect("load");
        // Undo the standardisation to recover the raw values of the first training sample.
        let raw: Vec<f32> = data.train.features[..12]
            .iter()
            .enumerate()
            .map(|(i, &v)| v * data.norm.std[i / 4] + data.norm.mean[i / 4])
            .collect();
        let row = raw[0].round();
        for channel in 0..3 {
            let first = raw[channel * 4];
            let expected = 10.0 * channel as f32 + row;
            assert!(
                (first - expected).abs() < 1e-3,
                "channel {channel} starts {first}"
            );
        }
        let class = data.train.targets[0] as usize;
        let label = ["100", "20", "3"][row as usize % 3];
        assert_eq!(data.classes[class], label, "row {row} keeps its label");
    }

    #[test]
    fn channels_read_samples_reproduce_training() {
        let dir = TempDir::new("channels-read");
        let names = write_channels(&dir);
        let data = load(&dir, &names).expect("load");
        let (values, count) = read_samples(dir.path(), &data.source, &data.norm).expect("read");
        assert_eq!(count, 30, "every row");
        let mut train_rows = data.train.features.chunks_exact(12).peekable();
        for sample in values.chunks_exact(12) {
            if train_rows.peek() == Some(&sample) {
                train_rows.next();
            }
        }
        assert!(
            train_rows.next().is_none(),
            "training samples appear in order"
        );
    }

    #[test]
    fn channels_seeded_split() {
        let dir = TempDir::new("channels-seed");
        let names = write_channels(&dir);
        let first = load(&dir, &names).expect("load");
        let again = load(&dir, &names).expect("load");
        let other = load_channels(dir.path(), &names, "labels.txt", 1, 0.2, 5).expect("load");
        assert_eq!(first.val, again.val, "same seed, same split");
        assert_ne!(first.val, other.val, "another seed, another split");
    }

    #[test]
    fn channels_reject_bad_input() {
        let dir = TempDir::new("channels-bad");
        let names = write_channels(&dir);

        dir.write("short.txt", "1 2 3 4\n5 6 7 8\n");
        let with_short = vec![names[0].clone(), "short.txt".into()];
        let message = error_message(load(&dir, &with_short));
        assert!(
            message.contains("short.txt has 2 rows"),
            "row count: {message}"
        );
        assert!(
            message.contains("a.txt has 30"),
            "names the reference: {message}"
        );

        dir.write("narrow.txt", "1 2 3\n".repeat(30));
        let message = error_message(load(&dir, &[names[0].clone(), "narrow.txt".into()]));
        assert!(message.contains("line 1 of"), "names the line: {message}");
        assert!(
            message.contains("narrow.txt has 3 values"),
            "row length across files: {message}"
        );

        dir.write("ragged.txt", "1 2 3 4\n1 2 3 4\n1 2 3\n");
        let message = error_message(load(&dir, &["ragged.txt".into()]));
        assert!(message.contains("line 3 of"), "names the line: {message}");
        assert!(
            message.contains("has 3 values but line 1 has 4"),
            "row length: {message}"
        );

        dir.write("nan.txt", "1 2 3 4\n1 NaN 3 4\n");
        let message = error_message(load(&dir, &["nan.txt".into()]));
        assert!(
            message.contains("line 2, 0-based column 1"),
            "NaN location: {message}"
        );
        assert!(message.contains("NaN or infinite"), "NaN: {message}");

        dir.write("inf.txt", "1 2 3 inf\n");
        let message = error_message(load(&dir, &["inf.txt".into()]));
        assert!(message.contains("`inf`"), "infinity: {message}");

        dir.write("text.txt", "1 2 x3 4\n");
        let message = error_message(load(&dir, &["text.txt".into()]));
        assert!(message.contains("invalid number `x3`"), "text: {message}");

        dir.write("empty.txt", "\n\n");
        let message = error_message(load(&dir, &["empty.txt".into()]));
        assert!(
            message.contains("contains no samples"),
            "empty file: {message}"
        );

        let message = error_message(load(&dir, &[]));
        assert!(message.contains("no channel files"), "no files: {message}");

        let message = error_message(load(&dir, &["missing.txt".into()]));
        assert!(message.contains("missing.txt"), "missing file: {message}");
        assert!(
            message.contains("failed to open"),
            "missing file: {message}"
        );

        let message = error_message(load_channels(dir.path(), &names, "labels.txt", 3, 0.2, 0));
        assert!(
            message.contains("label column 3 does not exist"),
            "{message}"
        );
        assert!(message.contains("line 1 of"), "label line: {message}");

        dir.write("few_labels.txt", "1\n2\n");
        let message = error_message(load_channels(
            dir.path(),
            &names,
            "few_labels.txt",
            0,
            0.2,
            0,
        ));
        assert!(
            message.contains("few_labels.txt has 2 rows"),
            "label count: {message}"
        );

        let bad_labels: String = (0..30)
            .map(|row| {
                if row == 4 {
                    "x\n".into()
                } else {
                    "1\n".to_owned()
                }
            })
            .collect();
        dir.write("bad_labels.txt", bad_labels);
        let message = error_message(load_channels(
            dir.path(),
            &names,
            "bad_labels.txt",
            0,
            0.2,
            0,
        ));
        assert!(
            message.contains("invalid label `x` at line 5"),
            "label text: {message}"
        );

        let message = error_message(load_channels(dir.path(), &names, "labels.txt", 0, 0.2, 0));
        assert!(message.contains("is `7`"), "single class: {message}");

        let message = error_message(load_channels(dir.path(), &names, "labels.txt", 1, 1.0, 0));
        assert!(
            message.contains("validation fraction"),
            "fraction: {message}"
        );
    }

    #[test]
    fn channels_read_samples_rejects_norm_mismatch() {
        let dir = TempDir::new("channels-norm");
        let names = write_channels(&dir);
        let data = load(&dir, &names).expect("load");
        let norm = ChannelNorm {
            mean: vec![0.0],
            std: vec![1.0],
        };
        let message = error_message(read_samples(dir.path(), &data.source, &norm));
        assert!(
            message.contains("1 channel means but the samples have 3"),
            "{message}"
        );
    }

    #[test]
    fn channels_real_hydraulic() {
        let Some(root) = data_root() else { return };
        let dir = root.join("hydraulic_1hz");
        let names: Vec<String> = ["TS1", "TS2", "TS3", "TS4", "VS1", "CE", "CP", "SE"]
            .map(|name| format!("{name}.txt"))
            .to_vec();
        let data = load_channels(&dir, &names, "profile.txt", 0, 0.2, 0).expect("load");
        assert_eq!(data.sample_shape, [8, 60], "8 channels of 60 s");
        assert_eq!(data.train.rows + data.val.rows, 2205, "cycles");
        assert_eq!(data.classes, ["3", "20", "100"], "cooler classes");
        let mut counts = [0_usize; 3];
        for &target in data.train.targets.iter().chain(&data.val.targets) {
            counts[target as usize] += 1;
        }
        eprintln!(
            "hydraulic cooler class counts {counts:?}: {}",
            data.split_description
        );
        assert_eq!(counts, [732, 732, 741], "cooler class counts");
        assert_standardised(&data.train.features, 8, 60);
        let (values, count) = read_samples(&dir, &data.source, &data.norm).expect("read");
        assert_eq!(count, 2205, "read_samples returns every cycle");
        assert_eq!(values.len(), 2205 * 480, "flattened size");
    }
}
