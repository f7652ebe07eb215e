//! Samples cut from raw signal files: windows of little-endian f32 samples, labelled by a
//! manifest CSV and split by time within each file.

use std::path::{Path, PathBuf};

use super::super::error::{DataError, quoted_list};
use super::super::prepare::Dataset;
use super::super::table::{Column, Table};
use super::{
    SampleData, SampleSource, check_val_fraction, numeric_classes, percent, read_bytes,
    standardise_splits,
};

/// Guards the floor in the training-window count against rounding, so that for example
/// 0.8 × 10 windows gives 8 even when the product comes out as 7.999….
const FLOOR_TOLERANCE: f64 = 1e-9;

/// Loads windows of shape `[1, window]` from the signal files listed in `manifest`, labelled
/// by its `label_column`, and splits them by time within each file.
///
/// Paths in `file_column` are relative to the manifest's folder. A path that does not exist
/// there is looked up in the folder's direct subfolders and used when exactly one of them
/// contains it, so a manifest can list bare names of files kept in a subfolder. Each file is raw little-endian
/// f32 samples without a header, cut into windows starting at 0, `stride`, 2 × `stride`, …
/// while the window fits. Per file, the first floor((1 − `val_fraction`) × count) windows are
/// training windows. The validation windows are the later ones that start at or after the end
/// of the last training window, so no validation window shares a sample with a training window.
/// The windows in between are dropped, and the split description counts them. Classes
/// are the distinct labels in numeric order, or in text order for a text label column. One
/// channel norm is fitted on the samples of the training windows.
pub fn load_signal(
    manifest: &Path,
    file_column: &str,
    label_column: &str,
    window: usize,
    stride: usize,
    val_fraction: f64,
) -> Result<SampleData, DataError> {
    check_window(window, stride)?;
    check_val_fraction(val_fraction)?;
    let table = Table::from_csv_path(manifest)?;
    let files = manifest_files(&table, manifest, file_column)?;
    let labels = table
        .column(label_column)
        .ok_or_else(|| table.column_not_found("label column", label_column))?;
    let label_name = format!("column `{label_column}` of {}", manifest.display());
    let (classes, file_classes) = match labels {
        Column::Numeric(values) => numeric_classes(values, &label_name)?,
        Column::Text(values) => text_classes(values, &label_name)?,
    };

    let mut train = empty_dataset(window);
    let mut val = empty_dataset(window);
    let mut dropped = 0;
    let mut class_windows = vec![(0_usize, 0_usize); classes.len()];
    for (path, &class) in files.iter().zip(&file_classes) {
        let signal = read_signal(path, window)?;
        let plan = plan_windows(signal.len(), window, stride, val_fraction);
        push_windows(&mut train, &signal, &plan.train, window, class);
        push_windows(&mut val, &signal, &plan.val, window, class);
        dropped += plan.dropped;
        class_windows[class].0 += plan.train.len();
        class_windows[class].1 += plan.val.len();
    }
    for (class, &(train_count, val_count)) in class_windows.iter().enumerate() {
        if train_count == 0 || val_count == 0 {
            let class_files: Vec<String> = files
                .iter()
                .zip(&file_classes)
                .filter(|&(_, &file_class)| file_class == class)
                .map(|(path, _)| path.display().to_string())
                .collect();
            return Err(DataError::SignalSplitEmpty {
                class: classes[class].clone(),
                split: if train_count == 0 {
                    "training"
                } else {
                    "validation"
                },
                files: quoted_list(&class_files),
            });
        }
    }

    let norm = standardise_splits(&mut train, &mut val, 1);
    let split_description = format!(
        "by time within each file: the first {} % of each file's windows for training and the \
         last {} % for validation, with {dropped} windows dropped so that no validation window \
         overlaps a training window",
        percent(1.0 - val_fraction),
        percent(val_fraction)
    );
    log::info!(
        "cut {} training and {} validation windows of {window} samples (stride {stride}) in {} \
         classes from {} files listed in {}",
        train.rows,
        val.rows,
        classes.len(),
        files.len(),
        manifest.display()
    );
    Ok(SampleData {
        train,
        val,
        sample_shape: vec![1, window],
        classes,
        source: SampleSource::Signal {
            manifest: manifest.display().to_string(),
            file_column: file_column.to_owned(),
            label_column: label_column.to_owned(),
            window,
            stride,
        },
        norm,
        split_description,
    })
}

/// Reads every window of every file listed in `manifest`, in manifest order, without
/// standardising them. Returns (flattened windows, count).
pub(super) fn read_all_windows(
    manifest: &Path,
    file_column: &str,
    window: usize,
    stride: usize,
) -> Result<(Vec<f32>, usize), DataError> {
    check_window(window, stride)?;
    let table = Table::from_csv_path(manifest)?;
    let mut values = Vec::new();
    let mut count = 0;
    for path in manifest_files(&table, manifest, file_column)? {
        let signal = read_signal(&path, window)?;
        for start in (0..=signal.len() - window).step_by(stride) {
            values.extend_from_slice(&signal[start..start + window]);
            count += 1;
        }
    }
    Ok((values, count))
}

/// Rejects a zero window or stride.
fn check_window(window: usize, stride: usize) -> Result<(), DataError> {
    if window == 0 {
        return Err(DataError::ZeroWindow {
            parameter: "window",
        });
    }
    if stride == 0 {
        return Err(DataError::ZeroWindow {
            parameter: "stride",
        });
    }
    Ok(())
}

/// Returns the paths in `file_column` of the manifest, resolved against the manifest's folder
/// or, for a path not found there, against the one direct subfolder that contains it.
fn manifest_files(
    table: &Table,
    manifest: &Path,
    file_column: &str,
) -> Result<Vec<PathBuf>, DataError> {
    let column = table
        .column(file_column)
        .ok_or_else(|| table.column_not_found("file column", file_column))?;
    let folder = match manifest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut subfolders: Option<Vec<PathBuf>> = None;
    let mut found_in_subfolders = 0;
    let mut files = Vec::with_capacity(table.n_rows());
    for name in (0..table.n_rows()).filter_map(|row| column.text_at(row)) {
        let direct = folder.join(&name);
        if direct.is_file() {
            files.push(direct);
            continue;
        }
        let subfolders = subfolders.get_or_insert_with(|| list_subfolders(folder));
        let candidates: Vec<PathBuf> = subfolders
            .iter()
            .map(|subfolder| subfolder.join(&name))
            .filter(|candidate| candidate.is_file())
            .collect();
        match candidates.as_slice() {
            [only] => {
                files.push(only.clone());
                found_in_subfolders += 1;
            }
            [] => {
                return Err(DataError::SignalFileNotFound {
                    file: name,
                    manifest: manifest.to_path_buf(),
                    folder: folder.to_path_buf(),
                });
            }
            _ => {
                let paths: Vec<String> = candidates
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect();
                return Err(DataError::SignalFileAmbiguous {
                    file: name,
                    manifest: manifest.to_path_buf(),
                    candidates: quoted_list(&paths),
                });
            }
        }
    }
    if found_in_subfolders > 0 {
        log::info!(
            "found {found_in_subfolders} of the {} signal files listed in {} in subfolders of {}",
            files.len(),
            manifest.display(),
            folder.display()
        );
    }
    Ok(files)
}

/// Returns the direct subfolders of `folder` in name order, or none when it cannot be listed.
fn list_subfolders(folder: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut subfolders: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    subfolders.sort();
    subfolders
}

/// Sorts the distinct text labels and returns them as class names with each file's class index.
fn text_classes(values: &[String], labels: &str) -> Result<(Vec<String>, Vec<usize>), DataError> {
    let mut classes = values.to_vec();
    classes.sort();
    classes.dedup();
    if let [only] = classes.as_slice() {
        return Err(DataError::SingleSampleClass {
            labels: labels.to_owned(),
            value: only.clone(),
        });
    }
    let file_classes = values
        .iter()
        .map(|value| classes.binary_search(value).unwrap_or_default())
        .collect();
    Ok((classes, file_classes))
}

/// Reads a raw little-endian f32 signal file of at least `window` finite samples.
fn read_signal(path: &Path, window: usize) -> Result<Vec<f32>, DataError> {
    let bytes = read_bytes(path)?;
    if bytes.len() % 4 != 0 {
        return Err(DataError::SignalFileSize {
            path: path.to_path_buf(),
            bytes: bytes.len(),
        });
    }
    let signal: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect();
    if let Some(index) = signal.iter().position(|value| !value.is_finite()) {
        return Err(DataError::NonFiniteSample {
            location: format!(
                "sample {index} (byte offset {}) of {}",
                4 * index,
                path.display()
            ),
            value: signal[index].to_string(),
        });
    }
    if signal.len() < window {
        return Err(DataError::SignalTooShort {
            path: path.to_path_buf(),
            samples: signal.len(),
            window,
        });
    }
    Ok(signal)
}

/// Window starts of one file, split by time.
#[derive(Debug, PartialEq)]
struct WindowPlan {
    /// Starts of the training windows: the first windows of the file.
    train: Vec<usize>,
    /// Starts of the validation windows: the last windows, none overlapping a training window.
    val: Vec<usize>,
    /// Number of windows between the two splits that overlap the last training window.
    dropped: usize,
}

/// Plans the windows of a file of `samples` samples by the rule that [`load_signal`] documents.
fn plan_windows(samples: usize, window: usize, stride: usize, val_fraction: f64) -> WindowPlan {
    let count = if samples < window {
        0
    } else {
        (samples - window) / stride + 1
    };
    let train_count =
        (((1.0 - val_fraction) * count as f64 + FLOOR_TOLERANCE).floor() as usize).min(count);
    let train: Vec<usize> = (0..train_count).map(|index| index * stride).collect();
    let boundary = train.last().map_or(0, |&start| start + window);
    let val: Vec<usize> = (train_count..count)
        .map(|index| index * stride)
        .filter(|&start| start >= boundary)
        .collect();
    let dropped = count - train.len() - val.len();
    WindowPlan {
        train,
        val,
        dropped,
    }
}

/// Returns a dataset with no rows and `window` features.
fn empty_dataset(window: usize) -> Dataset {
    Dataset {
        features: Vec::new(),
        targets: Vec::new(),
        rows: 0,
        n_features: window,
    }
}

/// Appends the windows of `signal` that start at `starts`, labelled `class`.
fn push_windows(
    dataset: &mut Dataset,
    signal: &[f32],
    starts: &[usize],
    window: usize,
    class: usize,
) {
    for &start in starts {
        dataset
            .features
            .extend_from_slice(&signal[start..start + window]);
        dataset.targets.push(class as f32);
    }
    dataset.rows += starts.len();
}

#[cfg(test)]
mod tests {
    use super::super::read_samples;
    use super::super::test_support::{TempDir, assert_standardised, data_root, error_message};
    use super::*;

    /// Writes `values` as a raw little-endian f32 file.
    fn write_f32(dir: &TempDir, name: &str, values: &[f32]) {
        let bytes: Vec<u8> = values
            .iter()
            .flat_map(|value| value.to_le_bytes())
            .collect();
        dir.write(name, bytes);
    }

    /// Writes three signal files whose sample i has the value i (so a window's first value is
    /// its start) plus an offset per file, and a manifest labelling them 10, 2 and 10.
    fn write_signals(dir: &TempDir) -> PathBuf {
        std::fs::create_dir_all(dir.path().join("raw")).expect("create folder");
        for (index, length) in [(0, 100), (1, 64), (2, 81)] {
            let offset = 1000.0 * index as f32;
            let values: Vec<f32> = (0..length).map(|i| offset + i as f32).collect();
            write_f32(dir, &format!("raw/s{index}.f32"), &values);
        }
        dir.write(
            "manifest.csv",
            "file,label,kind\nraw/s0.f32,10,a\nraw/s1.f32,2,b\nraw/s2.f32,10,a\n",
        )
    }

    /// Returns the first raw value of each window, undoing the standardisation.
    fn window_firsts(dataset: &Dataset, data: &SampleData) -> Vec<f32> {
        dataset
            .features
            .chunks_exact(dataset.n_features)
            .map(|window| (window[0] * data.norm.std[0] + data.norm.mean[0]).round())
            .collect()
    }

    #[test]
    fn plan_counts_windows_per_file() {
        let plan = plan_windows(100, 10, 10, 0.2);
        assert_eq!(
            plan.train.len() + plan.val.len(),
            10,
            "10 windows of 10 in 100"
        );
        assert_eq!(plan.train.len(), 8, "floor(0.8 * 10)");
        assert_eq!(plan.val, [80, 90], "the last two windows");
        assert_eq!(plan.dropped, 0, "no overlap when the stride is the window");
        let short = plan_windows(109, 10, 10, 0.2);
        assert_eq!(short, plan, "a partial last window is not cut");
        let single = plan_windows(10, 10, 3, 0.2);
        assert_eq!(
            single.train.len() + single.val.len() + single.dropped,
            1,
            "one window"
        );
    }

    #[test]
    fn plan_overlapping_windows_leave_gap() {
        // Window 10, stride 4 in 50 samples: starts 0, 4, …, 40 give 11 windows.
        let plan = plan_windows(50, 10, 4, 0.3);
        assert_eq!(
            plan.train,
            [0, 4, 8, 12, 16, 20, 24],
            "floor(0.7 * 11) = 7 windows"
        );
        let boundary = 24 + 10;
        assert_eq!(
            plan.val,
            [36, 40],
            "validation starts at or after sample {boundary}"
        );
        assert_eq!(
            plan.dropped, 2,
            "starts 28 and 32 overlap the last training window"
        );
        let last_train_end = plan.train.last().expect("training windows") + 10;
        assert!(
            plan.val.iter().all(|&start| start >= last_train_end),
            "no overlap"
        );
    }

    #[test]
    fn plan_validation_windows_are_last() {
        for (samples, window, stride) in [(1000, 64, 64), (1000, 64, 16), (333, 20, 7)] {
            let plan = plan_windows(samples, window, stride, 0.25);
            let count = (samples - window) / stride + 1;
            let last_start = (count - 1) * stride;
            assert_eq!(
                plan.val.last(),
                Some(&last_start),
                "{samples}/{window}/{stride}"
            );
            let first_val = plan.val.first().expect("validation windows");
            assert!(
                plan.train.iter().all(|start| start < first_val),
                "training comes first"
            );
        }
    }

    #[test]
    fn signal_windows_labels_and_split() {
        let dir = TempDir::new("signal-load");
        let manifest = write_signals(&dir);
        let data = load_signal(&manifest, "file", "label", 8, 8, 0.25).expect("load");

        assert_eq!(data.sample_shape, [1, 8], "[1, window]");
        assert_eq!(data.classes, ["2", "10"], "numeric class order");
        // Files of 100, 64 and 81 samples give 12, 8 and 10 windows of 8.
        assert_eq!(data.train.rows, 9 + 6 + 7, "floor(0.75 * count) per file");
        assert_eq!(
            data.val.rows,
            3 + 2 + 3,
            "the rest, with no overlap at stride = window"
        );

        let firsts = window_firsts(&data.train, &data);
        let expected: Vec<f32> = [(0.0, 9), (1000.0, 6), (2000.0, 7)]
            .iter()
            .flat_map(|&(offset, count)| (0..count).map(move |k| offset + 8.0 * k as f32))
            .collect();
        assert_eq!(firsts, expected, "training windows in manifest order");
        let val_firsts = window_firsts(&data.val, &data);
        assert_eq!(
            val_firsts,
            [72.0, 80.0, 88.0, 1048.0, 1056.0, 2056.0, 2064.0, 2072.0]
        );

        assert_eq!(&data.train.targets[9..15], [0.0; 6], "s1.f32 is class 2");
        assert_eq!(data.val.targets[0], 1.0, "s0.f32 is class 10");

        assert_standardised(&data.train.features, 1, 8);
        assert!(
            data.split_description.contains("0 windows dropped"),
            "{}",
            data.split_description
        );
    }

    #[test]
    fn signal_stride_below_window() {
        let dir = TempDir::new("signal-stride");
        let manifest = write_signals(&dir);
        let data = load_signal(&manifest, "file", "label", 16, 4, 0.3).expect("load");
        let firsts = window_firsts(&data.train, &data);
        let val_firsts = window_firsts(&data.val, &data);
        // s0.f32: 100 samples give 22 windows; floor(0.7 * 22) = 15 training windows end at
        // 14 * 4 + 16 = 72, so validation starts at 72, 76, 80 and 84.
        assert_eq!(firsts.iter().filter(|&&first| first < 1000.0).count(), 15);
        assert_eq!(
            &val_firsts[..4],
            [72.0, 76.0, 80.0, 84.0],
            "s0.f32 validation windows"
        );
        for (file, offset) in [(0, 0.0_f32), (1, 1000.0), (2, 2000.0)] {
            let in_file = |first: &&f32| **first >= offset && **first < offset + 1000.0;
            let last_train = firsts
                .iter()
                .filter(in_file)
                .fold(f32::MIN, |a, &b| a.max(b));
            let first_val = val_firsts
                .iter()
                .filter(in_file)
                .fold(f32::MAX, |a, &b| a.min(b));
            assert!(first_val >= last_train + 16.0, "file {file}: no overlap");
        }
        assert!(
            data.split_description.contains("windows dropped"),
            "{}",
            data.split_description
        );
    }

    #[test]
    fn signal_text_labels_and_read_samples() {
        let dir = TempDir::new("signal-read");
        let manifest = write_signals(&dir);
        let data = load_signal(&manifest, "file", "kind", 10, 5, 0.2).expect("load");
        assert_eq!(data.classes, ["a", "b"], "text labels in text order");
        let (values, count) = read_samples(&manifest, &data.source, &data.norm).expect("read");
        assert_eq!(count, 19 + 11 + 15, "every window of every file");
        let mut train_rows = data.train.features.chunks_exact(10).peekable();
        for window in values.chunks_exact(10) {
            if train_rows.peek() == Some(&window) {
                train_rows.next();
            }
        }
        assert!(
            train_rows.next().is_none(),
            "training windows appear in order"
        );
    }

    #[test]
    fn signal_bare_names_search_subfolders() {
        let dir = TempDir::new("signal-subfolder");
        let manifest = write_signals(&dir);
        let bare = dir.write("bare.csv", "file,label\ns0.f32,1\ns1.f32,2\n");
        let from_subfolder = load_signal(&bare, "file", "label", 8, 8, 0.25).expect("load");
        let listed = load_signal(&manifest, "file", "label", 8, 8, 0.25).expect("load");
        // Both loads read raw/s0.f32 and raw/s1.f32 first, but fit different norms.
        let bare_firsts = window_firsts(&from_subfolder.train, &from_subfolder);
        let listed_firsts = window_firsts(&listed.train, &listed);
        assert_eq!(
            bare_firsts,
            listed_firsts[..15],
            "bare names resolve to the files in raw/"
        );

        std::fs::create_dir_all(dir.path().join("copy")).expect("create folder");
        write_f32(&dir, "copy/s1.f32", &[0.0; 64]);
        let message = error_message(load_signal(&bare, "file", "label", 8, 8, 0.25));
        assert!(message.contains("`s1.f32`"), "ambiguous name: {message}");
        assert!(
            message.contains("several of its subfolders"),
            "ambiguous: {message}"
        );
    }

    #[test]
    fn signal_rejects_bad_input() {
        let dir = TempDir::new("signal-bad");
        let manifest = write_signals(&dir);

        let message = error_message(load_signal(&manifest, "file", "label", 0, 8, 0.2));
        assert!(
            message.contains("window must be at least 1"),
            "window 0: {message}"
        );
        let message = error_message(load_signal(&manifest, "file", "label", 8, 0, 0.2));
        assert!(
            message.contains("stride must be at least 1"),
            "stride 0: {message}"
        );

        let message = error_message(load_signal(&manifest, "path", "label", 8, 8, 0.2));
        assert!(
            message.contains("file column `path` not found"),
            "file column: {message}"
        );
        assert!(
            message.contains("`file`, `label`, `kind`"),
            "lists columns: {message}"
        );
        let message = error_message(load_signal(&manifest, "file", "fault", 8, 8, 0.2));
        assert!(
            message.contains("label column `fault` not found"),
            "label column: {message}"
        );

        let message = error_message(load_signal(&manifest, "file", "label", 65, 8, 0.2));
        assert!(
            message.contains("s1.f32 has 64 samples"),
            "short file: {message}"
        );
        assert!(message.contains("window of 65"), "short file: {message}");

        dir.write("raw/odd.f32", [0_u8; 10]);
        let odd = dir.write("odd.csv", "file,label\nraw/s0.f32,1\nraw/odd.f32,2\n");
        let message = error_message(load_signal(&odd, "file", "label", 2, 2, 0.2));
        assert!(message.contains("odd.f32 has 10 bytes"), "size: {message}");
        assert!(message.contains("not a multiple of 4"), "size: {message}");

        write_f32(&dir, "raw/nan.f32", &[1.0, 2.0, f32::NAN, 4.0]);
        let nan = dir.write("nan.csv", "file,label\nraw/s0.f32,1\nraw/nan.f32,2\n");
        let message = error_message(load_signal(&nan, "file", "label", 2, 2, 0.2));
        assert!(
            message.contains("sample 2 (byte offset 8)"),
            "NaN location: {message}"
        );
        assert!(message.contains("NaN or infinite"), "NaN: {message}");

        let missing = dir.write("missing.csv", "file,label\nraw/s0.f32,1\nraw/none.f32,2\n");
        let message = error_message(load_signal(&missing, "file", "label", 2, 2, 0.2));
        assert!(
            message.contains("`raw/none.f32`"),
            "missing file: {message}"
        );
        assert!(message.contains("was not found"), "missing file: {message}");

        let message = error_message(load_signal(&manifest, "file", "label", 64, 64, 0.2));
        assert!(
            message.contains("class `2` gets no training window"),
            "{message}"
        );
        // s1.f32 gives 13 windows of 16 at stride 4; the 10 training windows end at sample 52,
        // after the start of its last window (48).
        let message = error_message(load_signal(&manifest, "file", "label", 16, 4, 0.2));
        assert!(
            message.contains("class `2` gets no validation window"),
            "{message}"
        );
        assert!(message.contains("s1.f32"), "names the file: {message}");

        let message = error_message(load_signal(&manifest, "file", "label", 8, 8, 0.0));
        assert!(
            message.contains("validation fraction"),
            "fraction: {message}"
        );

        let single = dir.write("single.csv", "file,label\nraw/s0.f32,1\nraw/s1.f32,1\n");
        let message = error_message(load_signal(&single, "file", "label", 8, 8, 0.2));
        assert!(message.contains("is `1`"), "single class: {message}");
    }

    #[test]
    fn signal_real_cwru() {
        let Some(root) = data_root() else { return };
        let manifest = root.join("cwru").join("manifest.csv");
        let data = load_signal(&manifest, "f32_file", "label4", 1024, 1024, 0.2).expect("load");
        assert_eq!(
            data.classes,
            ["0", "1", "2", "3"],
            "normal, inner race, ball, outer race"
        );
        assert_eq!(data.sample_shape, [1, 1024]);
        let mut counts = [0_usize; 4];
        for &target in data.train.targets.iter().chain(&data.val.targets) {
            counts[target as usize] += 1;
        }
        eprintln!(
            "CWRU label4 windows per class {counts:?}, {} training, {} validation: {}",
            data.train.rows, data.val.rows, data.split_description
        );
        assert_eq!(
            counts[0], 238,
            "243938 normal samples give 238 windows of 1024"
        );
        assert!(
            counts[1..]
                .iter()
                .all(|&count| (350..=360).contains(&count)),
            "{counts:?}"
        );
        assert_standardised(&data.train.features, 1, 1024);

        let ten = load_signal(&manifest, "f32_file", "label10", 1024, 1024, 0.2).expect("load");
        assert_eq!(ten.classes.len(), 10, "type and diameter classes");
        let windows = ten.train.rows + ten.val.rows;
        eprintln!("CWRU label10: {windows} windows, {}", ten.split_description);
        assert_eq!(
            windows,
            data.train.rows + data.val.rows,
            "same windows, other labels"
        );
    }
}
