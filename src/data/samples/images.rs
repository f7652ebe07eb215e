//! Image samples from CSV rows of pixels with a label column, plain or gzip-compressed.

use std::io::Read;
use std::path::Path;

use super::super::error::DataError;
use super::{
    LabelledSamples, SampleData, SampleSource, check_val_fraction, numeric_classes, parse_label,
    parse_value, read_bytes, split_stratified,
};

/// The two bytes that start every gzip member.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The UTF-8 byte-order mark that spreadsheet programs often write at the start of a file.
const UTF8_BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

/// Loads images of shape `[channels, height, width]` from CSV rows of pixels and a numeric
/// label, and splits them by class.
///
/// The file is plain CSV or gzip-compressed CSV, distinguished by its first bytes rather than its
/// name. The first row is a header when any of its fields is not a number. Every other row has
/// the label in `label_column` (the last column when `None`) and the pixels in the remaining
/// columns, in row-major `[channels, height, width]` order, so their count must equal the
/// product of `shape`. Classes are the distinct labels in numeric order. The split is the
/// seeded stratified split of [`prepare`](super::super::prepare), and each channel is
/// standardised with the mean and standard deviation of its pixels in the training split.
pub fn load_images(
    path: &Path,
    shape: [usize; 3],
    label_column: Option<usize>,
    val_fraction: f64,
    seed: u64,
) -> Result<SampleData, DataError> {
    check_val_fraction(val_fraction)?;
    let read = read_image_rows(path, shape, label_column, true)?;
    let labels = match label_column {
        Some(column) => format!("column {column} of {}", path.display()),
        None => format!("the last column of {}", path.display()),
    };
    let (classes, row_classes) = numeric_classes(&read.labels, &labels)?;
    let samples = LabelledSamples {
        values: read.pixels,
        sample_shape: shape.to_vec(),
        classes,
        row_classes,
        labels,
    };
    let source = SampleSource::Images {
        shape,
        label_column,
    };
    let data = split_stratified(samples, source, val_fraction, seed)?;
    log::info!(
        "loaded {} training and {} validation images of shape {shape:?} in {} classes from {}",
        data.train.rows,
        data.val.rows,
        data.classes.len(),
        path.display()
    );
    Ok(data)
}

/// Pixels and labels read from an image CSV.
pub(super) struct ImageRows {
    /// Pixels laid out `[rows, channels, height, width]`.
    pub pixels: Vec<f32>,
    /// One label per row, or none when labels were not requested.
    pub labels: Vec<f64>,
    /// Number of images.
    pub rows: usize,
}

/// Reads the images of a CSV file, plain or gzip-compressed.
///
/// With `labels_required`, every row has a label column. Otherwise rows have either exactly the
/// pixel columns or the pixel columns plus a label column, and labels are skipped unread.
pub(super) fn read_image_rows(
    path: &Path,
    shape: [usize; 3],
    label_column: Option<usize>,
    labels_required: bool,
) -> Result<ImageRows, DataError> {
    if shape.contains(&0) {
        return Err(DataError::ZeroImageDimension { shape });
    }
    let pixels_per_image: usize = shape.iter().product();
    let input = path.display().to_string();
    let bytes = read_decompressed(path)?;
    let text = bytes.strip_prefix(&UTF8_BOM).unwrap_or(&bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);

    let mut record = csv::StringRecord::new();
    let mut layout: Option<RowLayout> = None;
    let mut first_record = true;
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    let mut rows = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => return Err(csv_error(error, &input)),
        }
        let line = record.position().map_or(1, csv::Position::line);
        if first_record {
            first_record = false;
            if let Some(field) = record.iter().find(|field| field.parse::<f64>().is_err()) {
                log::info!("reading line {line} of {input} as a header: `{field}` is not a number");
                continue;
            }
        }
        let layout = match layout {
            Some(layout) => layout,
            None => {
                let found = RowLayout::new(
                    record.len(),
                    line,
                    shape,
                    label_column,
                    labels_required,
                    &input,
                )?;
                *layout.insert(found)
            }
        };
        if record.len() != layout.columns {
            return Err(DataError::SampleRowLength {
                input,
                line,
                found: record.len(),
                expected: layout.columns,
                reference: format!("the first data row (line {})", layout.first_line),
            });
        }
        for (column, field) in record.iter().enumerate() {
            let location = || format!("line {line}, 0-based column {column} of {input}");
            if layout.label == Some(column) {
                if labels_required {
                    labels.push(parse_label(field, location)?);
                }
            } else {
                pixels.push(parse_value(field, location)?);
            }
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(DataError::NoSamples { input });
    }
    debug_assert_eq!(pixels.len(), rows * pixels_per_image);
    Ok(ImageRows {
        pixels,
        labels,
        rows,
    })
}

/// The columns of the data rows, set by the first data row.
#[derive(Clone, Copy)]
struct RowLayout {
    /// Number of columns in every row.
    columns: usize,
    /// 0-based label column, or `None` for rows of pixels only.
    label: Option<usize>,
    /// 1-based line number of the first data row.
    first_line: u64,
}

impl RowLayout {
    /// Checks the first data row's column count against the shape and the label column.
    fn new(
        columns: usize,
        line: u64,
        shape: [usize; 3],
        label_column: Option<usize>,
        labels_required: bool,
        input: &str,
    ) -> Result<RowLayout, DataError> {
        let pixels: usize = shape.iter().product();
        let labelled = columns == pixels + 1;
        if !labelled && (labels_required || columns != pixels) {
            return Err(DataError::ImageShapeMismatch {
                input: input.to_owned(),
                line,
                shape,
                pixels,
                columns,
            });
        }
        let label = if labelled {
            let column = label_column.unwrap_or(columns - 1);
            if column >= columns {
                return Err(DataError::LabelColumnOutOfRange {
                    input: input.to_owned(),
                    line,
                    column,
                    found: columns,
                });
            }
            Some(column)
        } else {
            None
        };
        Ok(RowLayout {
            columns,
            label,
            first_line: line,
        })
    }
}

/// Reads a file and decompresses it when it starts with the gzip magic bytes.
fn read_decompressed(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_bytes(path)?;
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes.as_slice())
        .read_to_end(&mut text)
        .map_err(|error| DataError::Read {
            input: path.display().to_string(),
            message: format!(
                "the file starts like gzip data but does not decompress ({error}); check that \
                 it is complete, or compress it again"
            ),
        })?;
    Ok(text)
}

/// Converts a CSV reading error into a [`DataError`] naming the input and line.
fn csv_error(error: csv::Error, input: &str) -> DataError {
    if let csv::ErrorKind::Utf8 { pos, .. } = error.kind() {
        return DataError::InvalidUtf8 {
            input: input.to_owned(),
            line: pos.as_ref().map_or(1, csv::Position::line),
        };
    }
    DataError::Read {
        input: input.to_owned(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::super::read_samples;
    use super::super::test_support::{TempDir, assert_standardised, data_root, error_message};
    use super::*;

    /// Returns CSV text of 20 images of shape [2, 2, 3] with the label first: image r has
    /// pixel p equal to r + 10 p and label 5 for even r, 1 for odd r.
    fn image_csv(header: bool) -> String {
        let mut text = String::new();
        if header {
            let names: Vec<String> = (0..12).map(|p| format!("p{p}")).collect();
            text.push_str(&format!("label,{}\n", names.join(",")));
        }
        for row in 0..20 {
            let pixels: Vec<String> = (0..12).map(|p| (row + 10 * p).to_string()).collect();
            let label = if row % 2 == 0 { 5 } else { 1 };
            text.push_str(&format!("{label},{}\n", pixels.join(",")));
        }
        text
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).expect("compress");
        encoder.finish().expect("compress")
    }

    fn load(path: &Path) -> Result<SampleData, DataError> {
        load_images(path, [2, 2, 3], Some(0), 0.2, 0)
    }

    #[test]
    fn images_shape_labels_and_split() {
        let dir = TempDir::new("images-shape");
        let path = dir.write("images.csv", image_csv(false));
        let data = load(&path).expect("load");
        assert_eq!(data.sample_shape, [2, 2, 3], "[channels, height, width]");
        assert_eq!(data.classes, ["1", "5"], "numeric class order");
        assert_eq!(data.train.rows, 16, "8 per class");
        assert_eq!(data.val.rows, 4, "round(0.2 * 10) per class");
        assert_eq!(data.train.n_features, 12, "2 * 2 * 3 pixels");
        assert_eq!(data.norm.mean.len(), 2, "one norm per channel");
        assert_standardised(&data.train.features, 2, 6);
        // Channel 1 contains pixels 6..12, so its mean is 60 above channel 0's.
        let gap = data.norm.mean[1] - data.norm.mean[0];
        assert!((gap - 60.0).abs() < 1e-3, "channel means differ by {gap}");
        let raw_first = data.train.features[0] * data.norm.std[0] + data.norm.mean[0];
        let row = raw_first.round() as usize;
        let expected_class = if row.is_multiple_of(2) { 1.0 } else { 0.0 };
        assert_eq!(
            data.train.targets[0], expected_class,
            "image {row} keeps its label"
        );
    }

    #[test]
    fn images_gzip_matches_plain() {
        let dir = TempDir::new("images-gzip");
        let plain = dir.write("plain.csv", image_csv(false));
        // The name does not say gzip: detection goes by the magic bytes.
        let compressed = dir.write("compressed.csv", gzip(&image_csv(false)));
        let from_plain = load(&plain).expect("plain");
        let from_gzip = load(&compressed).expect("gzip");
        assert_eq!(from_plain.train, from_gzip.train, "same training samples");
        assert_eq!(from_plain.val, from_gzip.val, "same validation samples");
        assert_eq!(from_plain.norm, from_gzip.norm, "same norm");
    }

    #[test]
    fn images_header_detected() {
        let dir = TempDir::new("images-header");
        let without = load(&dir.write("without.csv", image_csv(false))).expect("no header");
        let with = load(&dir.write("with.csv", image_csv(true))).expect("header");
        assert_eq!(with.train, without.train, "the header row is skipped");
        let with_bom = format!("\u{feff}{}", image_csv(false));
        let bom = load(&dir.write("bom.csv", with_bom)).expect("byte-order mark");
        assert_eq!(
            bom.train, without.train,
            "a byte-order mark is not a header"
        );
    }

    #[test]
    fn images_label_column_default_last() {
        let dir = TempDir::new("images-last");
        let text: String = (0..10)
            .map(|row| format!("{row},{},{},{}\n", row * 2, row * 3, row % 2))
            .collect();
        let path = dir.write("last.csv", text);
        let data = load_images(&path, [1, 1, 3], None, 0.2, 0).expect("load");
        assert_eq!(data.classes, ["0", "1"], "labels from the last column");
        assert_eq!(data.train.rows + data.val.rows, 10, "every row");
    }

    #[test]
    fn images_read_samples_reproduce_training() {
        let dir = TempDir::new("images-read");
        let path = dir.write("images.csv", image_csv(true));
        let data = load(&path).expect("load");
        let (values, count) = read_samples(&path, &data.source, &data.norm).expect("read");
        assert_eq!(count, 20, "every image");
        let mut train_rows = data.train.features.chunks_exact(12).peekable();
        for image in values.chunks_exact(12) {
            if train_rows.peek() == Some(&image) {
                train_rows.next();
            }
        }
        assert!(
            train_rows.next().is_none(),
            "training images appear in order"
        );

        // Unlabelled rows: drop the label column.
        let unlabelled: String = image_csv(false)
            .lines()
            .map(|line| format!("{}\n", line.split_once(',').map_or("", |(_, rest)| rest)))
            .collect();
        let unlabelled_path = dir.write("unlabelled.csv", unlabelled);
        let (without_labels, count) =
            read_samples(&unlabelled_path, &data.source, &data.norm).expect("read");
        assert_eq!(count, 20, "every unlabelled image");
        assert_eq!(without_labels, values, "labels do not change the pixels");
    }

    #[test]
    fn images_reject_bad_input() {
        let dir = TempDir::new("images-bad");
        let path = dir.write("images.csv", image_csv(true));

        let message = error_message(load_images(&path, [1, 8, 8], Some(0), 0.2, 0));
        assert!(
            message.contains("[1, 8, 8] needs 64 pixel columns"),
            "shape: {message}"
        );
        assert!(
            message.contains("has 13 columns"),
            "column count: {message}"
        );

        let message = error_message(load_images(&path, [0, 2, 6], Some(0), 0.2, 0));
        assert!(
            message.contains("zero dimension"),
            "zero dimension: {message}"
        );

        let message = error_message(load_images(&path, [2, 2, 3], Some(13), 0.2, 0));
        assert!(
            message.contains("label column 13 does not exist"),
            "label column: {message}"
        );

        let mut ragged = image_csv(false);
        ragged.push_str("1,2,3\n");
        let message = error_message(load(&dir.write("ragged.csv", ragged)));
        assert!(message.contains("line 21 of"), "ragged line: {message}");
        assert!(message.contains("has 3 values"), "ragged count: {message}");

        let nan = image_csv(false).replacen("1,11,", "1,NaN,", 1);
        let message = error_message(load(&dir.write("nan.csv", nan)));
        assert!(
            message.contains("line 2, 0-based column 2"),
            "NaN location: {message}"
        );
        assert!(message.contains("NaN or infinite"), "NaN: {message}");

        // A text value on the first line would make that line a header, so use line 2.
        let text = image_csv(false).replacen("1,1,11,", "1,ten,11,", 1);
        let message = error_message(load(&dir.write("text.csv", text)));
        assert!(
            message.contains("invalid number `ten` at line 2"),
            "text pixel: {message}"
        );

        let label = image_csv(false).replacen("1,1,11,", "one,1,11,", 1);
        let message = error_message(load(&dir.write("label.csv", label)));
        assert!(
            message.contains("invalid label `one` at line 2"),
            "text label: {message}"
        );

        let message = error_message(load(&dir.write("header_only.csv", "a,b\n")));
        assert!(
            message.contains("contains no samples"),
            "no rows: {message}"
        );

        let mut broken = gzip(&image_csv(false));
        broken.truncate(broken.len() / 2);
        let message = error_message(load(&dir.write("broken.gz", broken)));
        assert!(
            message.contains("does not decompress"),
            "truncated gzip: {message}"
        );

        let message = error_message(load(&dir.path().join("missing.csv")));
        assert!(
            message.contains("failed to open"),
            "missing file: {message}"
        );
    }

    #[test]
    fn images_real_digits() {
        let Some(root) = data_root() else { return };
        let path = root.join("digits").join("digits.csv.gz");
        let data = load_images(&path, [1, 8, 8], None, 0.2, 0).expect("load");
        assert_eq!(data.train.rows + data.val.rows, 1797, "images");
        assert_eq!(data.sample_shape, [1, 8, 8]);
        let expected: Vec<String> = (0..10).map(|digit| digit.to_string()).collect();
        assert_eq!(data.classes, expected, "digits 0 to 9");
        assert_standardised(&data.train.features, 1, 64);
        eprintln!(
            "digits: {} training, {} validation: {}",
            data.train.rows, data.val.rows, data.split_description
        );
        let (values, count) = read_samples(&path, &data.source, &data.norm).expect("read");
        assert_eq!(count, 1797, "read_samples returns every image");
        assert_eq!(values.len(), 1797 * 64, "flattened size");
    }
}
