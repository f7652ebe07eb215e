//! Errors raised while loading, checking, preparing and encoding tabular data and samples.
//!
//! Every message names the input, the column and the line or row involved, and gives the fix,
//! because these errors reach the command-line user unchanged.

use std::path::PathBuf;

/// An error from CSV loading, table construction, data preparation, feature encoding or
/// sample loading.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The CSV file could not be opened.
    #[error("failed to open `{}`: {error}; check that the file exists and is readable", path.display())]
    Open {
        /// Path of the file.
        path: PathBuf,
        /// Operating-system error, part of the message rather than a separate source so that
        /// error chains print it once.
        error: std::io::Error,
    },

    /// A gzip-compressed file was given where plain CSV text is read.
    #[error(
        "`{}` is gzip-compressed, but tables are read from plain CSV text; decompress it first \
         (gunzip), or read pixel rows with --format images, which accepts gzip",
        path.display()
    )]
    Compressed {
        /// Path of the file.
        path: PathBuf,
    },

    /// Reading the CSV input failed for a reason other than its content.
    #[error("failed to read {input}: {message}")]
    Read {
        /// Name of the input.
        input: String,
        /// Message of the underlying error.
        message: String,
    },

    /// A CSV record is not valid UTF-8.
    #[error("line {line} of {input} is not valid UTF-8; save the file as UTF-8 text")]
    InvalidUtf8 {
        /// Name of the input.
        input: String,
        /// 1-based line number (the header is line 1).
        line: u64,
    },

    /// Writing a table as CSV failed.
    #[error("failed to write CSV: {message}")]
    Write {
        /// Message of the underlying error.
        message: String,
    },

    /// The input contains no header line.
    #[error("{input} is empty; expected a header line with column names followed by data rows")]
    EmptyInput {
        /// Name of the input.
        input: String,
    },

    /// The input has a header line but no data rows.
    #[error("{input} has a header line but no data rows; add at least one data row")]
    NoRows {
        /// Name of the input.
        input: String,
    },

    /// A column has an empty name.
    #[error("column {position} of {input} has an empty name; give every column a name")]
    EmptyColumnName {
        /// Name of the input.
        input: String,
        /// 1-based position of the column.
        position: usize,
    },

    /// Two columns share a name.
    #[error(
        "column name `{name}` appears more than once in {input}; rename the columns so that \
         every name is unique"
    )]
    DuplicateColumn {
        /// Name of the input.
        input: String,
        /// The repeated column name.
        name: String,
    },

    /// A CSV row has a different number of fields than the header.
    #[error(
        "line {line} of {input} has {found} fields but the header has {expected}; give every \
         row {expected} comma-separated fields and quote values that contain commas"
    )]
    RaggedRow {
        /// Name of the input.
        input: String,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// Number of fields in the header.
        expected: u64,
        /// Number of fields in the row.
        found: u64,
    },

    /// A cell is empty.
    #[error(
        "empty value in column `{column}` at line {line} of {input}; fill in the value, \
         remove the row or remove the column"
    )]
    EmptyValue {
        /// Name of the input.
        input: String,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// Column name.
        column: String,
    },

    /// A numeric value is NaN or infinite.
    #[error(
        "NaN or infinite value `{value}` in column `{column}` at {location}; replace it with a \
         finite number or remove the row"
    )]
    NonFinite {
        /// Location of the value, such as "line 7 of data.csv".
        location: String,
        /// Column name.
        column: String,
        /// The value as written.
        value: String,
    },

    /// A numeric value too large in magnitude for the 32-bit floats the model computes in.
    #[error(
        "value `{value}` in column `{column}` at {location} is beyond the range of 32-bit \
         floats (about ±3.4e38); rescale the column (for example change its unit) or remove \
         the row"
    )]
    OutOfRange {
        /// Location of the value, such as "line 7 of data.csv".
        location: String,
        /// Column name.
        column: String,
        /// The value as written.
        value: String,
    },

    /// A mostly numeric column contains a value that is not a number.
    #[error(
        "invalid number `{value}` in column `{column}` at line {line} of {input}: {numeric} of \
         {total} values in this column are numbers, so it is read as a numeric column; fix the \
         value or remove the row"
    )]
    InvalidNumber {
        /// Name of the input.
        input: String,
        /// 1-based line number (the header is line 1).
        line: u64,
        /// Column name.
        column: String,
        /// The text that failed to parse.
        value: String,
        /// Number of values in the column that parse as numbers.
        numeric: usize,
        /// Number of values in the column.
        total: usize,
    },

    /// A column named by the caller does not exist.
    #[error("{role} `{column}` not found in {input}; available columns: {available}")]
    ColumnNotFound {
        /// Role of the column, such as "target column".
        role: &'static str,
        /// The missing column name.
        column: String,
        /// Name of the input.
        input: String,
        /// The table's column names, quoted and comma-separated.
        available: String,
    },

    /// [`Table::new`](super::Table::new) got a different number of names and columns.
    #[error("got {names} column names for {columns} columns; pass one name per column")]
    ColumnCountMismatch {
        /// Number of names.
        names: usize,
        /// Number of columns.
        columns: usize,
    },

    /// Two columns have different lengths.
    #[error(
        "column `{column}` has {found} values but column `{first}` has {expected}; all columns \
         must have the same length"
    )]
    ColumnLengthMismatch {
        /// Name of the column with the unexpected length.
        column: String,
        /// Its length.
        found: usize,
        /// Name of the first column.
        first: String,
        /// Length of the first column.
        expected: usize,
    },

    /// The validation fraction is outside (0, 1).
    #[error(
        "validation fraction must be between 0 and 1 (exclusive), got {value}; pass a value \
         such as 0.2 with --val-fraction"
    )]
    InvalidValFraction {
        /// The value given.
        value: f64,
    },

    /// The target column is also listed among the columns to drop.
    #[error("target column `{column}` is also listed to drop; remove it from --drop")]
    TargetDropped {
        /// Target column name.
        column: String,
    },

    /// No feature column remains after removing the target and the dropped columns.
    #[error(
        "no feature columns left in {input} after removing target `{target}` and the dropped \
         columns; keep at least one feature column"
    )]
    NoFeatures {
        /// Name of the input.
        input: String,
        /// Target column name.
        target: String,
    },

    /// A text feature column has more distinct values than the configured maximum.
    #[error(
        "text column `{column}` has {count} distinct values, more than the maximum of {max} \
         categories; if it is an identifier, remove it with --drop \"{column}\", otherwise raise \
         the maximum number of categories"
    )]
    TooManyCategories {
        /// Column name.
        column: String,
        /// Number of distinct values.
        count: usize,
        /// The configured maximum.
        max: usize,
    },

    /// The table has too few rows for a training and a validation split.
    #[error(
        "{input} has {rows} rows but a training and a validation split need at least 2; add \
         more rows"
    )]
    TooFewRows {
        /// Name of the input.
        input: String,
        /// Number of rows.
        rows: usize,
    },

    /// The target column contains only one distinct value.
    #[error(
        "target column `{column}` contains only the value `{value}`, so there is nothing to \
         predict; choose another target column"
    )]
    SingleClass {
        /// Target column name.
        column: String,
        /// The only value.
        value: String,
    },

    /// The requested task does not fit the target column.
    #[error("task {task} does not fit target column `{column}`: {reason}")]
    TaskMismatch {
        /// The requested task.
        task: super::Task,
        /// Target column name.
        column: String,
        /// Reason the task does not fit, with the fix.
        reason: String,
    },

    /// The requested positive class is not a value of the target column.
    #[error(
        "positive class `{value}` is not a value of target column `{column}`; classes: {classes}"
    )]
    UnknownPositive {
        /// The requested positive class.
        value: String,
        /// Target column name.
        column: String,
        /// The target's classes, quoted and comma-separated.
        classes: String,
    },

    /// A positive class was given for a task that is not binary classification.
    #[error(
        "a positive class (`{value}`) only applies to binary classification, but the task is \
         {task}; remove --positive or pass --task binary"
    )]
    PositiveNotBinary {
        /// The requested positive class.
        value: String,
        /// The task in use.
        task: super::Task,
    },

    /// The validation split would contain no row of a class.
    #[error(
        "the validation split has no row of class `{class}` of target column `{column}` \
         because the data contains only {count} such row; each class needs at least 2 rows, one \
         for training and one for validation, so add more rows of this class (a larger \
         --val-fraction does not help with a single row)"
    )]
    MissingValidationClass {
        /// Target column name.
        column: String,
        /// The class label.
        class: String,
        /// Number of rows of that class.
        count: usize,
    },

    /// A value of a one-hot encoded column was not seen in training.
    #[error(
        "unknown category `{value}` in column `{column}` at {location}; the model was trained on \
         the categories {known}, so fix the value or retrain with data that contains it"
    )]
    UnknownCategory {
        /// Column name.
        column: String,
        /// The unknown value.
        value: String,
        /// Location of the value, such as "line 7 of data.csv".
        location: String,
        /// The known categories, quoted and comma-separated.
        known: String,
    },

    /// A value of the target column is not one of the trained classes.
    #[error(
        "unknown class `{value}` in target column `{column}` at {location}; the model was \
         trained on the classes {known}"
    )]
    UnknownClass {
        /// Target column name.
        column: String,
        /// The unknown value.
        value: String,
        /// Location of the value, such as "line 7 of data.csv".
        location: String,
        /// The known classes, quoted and comma-separated.
        known: String,
    },

    /// A column that must be numeric contains text.
    #[error(
        "column `{column}` in {input} contains text (`{value}` at {location}) but the model uses \
         it as a numeric column; fix the values so every one is a number"
    )]
    NotNumeric {
        /// Column name.
        column: String,
        /// Name of the input.
        input: String,
        /// The first value that is not a number.
        value: String,
        /// Location of the value, such as "line 7 of data.csv".
        location: String,
    },

    /// A task name could not be parsed.
    #[error("unknown task `{value}`; expected binary, multiclass or regression")]
    InvalidTask {
        /// The text given.
        value: String,
    },

    /// A sample file contains a value that is not a number.
    #[error(
        "invalid number `{value}` at {location}; every value of a sample must be a number, so \
         fix the value or remove the row"
    )]
    InvalidSampleValue {
        /// Location of the value, such as "line 7, 0-based column 3 of TS1.txt".
        location: String,
        /// The text that failed to parse.
        value: String,
    },

    /// A sample value or label is NaN or infinite.
    #[error(
        "value `{value}` at {location} is NaN or infinite as a 32-bit float; replace it with a \
         finite number or remove the sample"
    )]
    NonFiniteSample {
        /// Location of the value, such as "sample 1024 (byte offset 4096) of signal.f32".
        location: String,
        /// The value as written or read.
        value: String,
    },

    /// A label is not a number.
    #[error(
        "invalid label `{value}` at {location}; labels must be numbers such as class indices, \
         so fix the value or choose another label column"
    )]
    InvalidLabel {
        /// Location of the label, such as "line 7, 0-based column 0 of profile.txt".
        location: String,
        /// The text that failed to parse.
        value: String,
    },

    /// A row of a sample file has a different number of values than the rows before it.
    #[error(
        "line {line} of {input} has {found} values but {reference} has {expected}; every \
         sample needs the same shape, so give every row {expected} values"
    )]
    SampleRowLength {
        /// Name of the input.
        input: String,
        /// 1-based line number.
        line: u64,
        /// Number of values on the line.
        found: usize,
        /// Number of values expected.
        expected: usize,
        /// The row that set the expected length, such as "line 1 of TS1.txt".
        reference: String,
    },

    /// Files that must contain one row per sample have different numbers of rows.
    #[error(
        "{input} has {found} rows but {reference} has {expected}; the channel files and the \
         label file need one row per sample, in the same order"
    )]
    SampleCountMismatch {
        /// Name of the file with the unexpected row count.
        input: String,
        /// Its number of rows.
        found: usize,
        /// Name of the file that set the expected count.
        reference: String,
        /// The expected number of rows.
        expected: usize,
    },

    /// A sample file contains no data rows.
    #[error("{input} contains no samples; add at least one data row")]
    NoSamples {
        /// Name of the input.
        input: String,
    },

    /// No channel files were given.
    #[error("no channel files given; pass at least one file with one row per sample")]
    NoChannelFiles,

    /// The label column is beyond the end of a row.
    #[error(
        "label column {column} does not exist at line {line} of {input}, which has {found} \
         columns numbered from 0; pass a label column below {found}"
    )]
    LabelColumnOutOfRange {
        /// Name of the input.
        input: String,
        /// 1-based line number.
        line: u64,
        /// The 0-based label column requested.
        column: usize,
        /// Number of columns on the line.
        found: usize,
    },

    /// Every sample has the same label.
    #[error(
        "every label in {labels} is `{value}`, so there is nothing to classify; choose a label \
         column with at least two classes"
    )]
    SingleSampleClass {
        /// The label column, such as "column 0 of profile.txt".
        labels: String,
        /// The only label.
        value: String,
    },

    /// The signal window or stride is zero.
    #[error("{parameter} must be at least 1 sample, got 0; pass a positive {parameter}")]
    ZeroWindow {
        /// "window" or "stride".
        parameter: &'static str,
    },

    /// A signal file's size is not a whole number of 32-bit floats.
    #[error(
        "{} has {bytes} bytes, which is not a multiple of 4; a signal file must contain only \
         little-endian 32-bit floats, so check that it is complete and not in another format",
        path.display()
    )]
    SignalFileSize {
        /// Path of the file.
        path: PathBuf,
        /// Its size in bytes.
        bytes: usize,
    },

    /// A signal file listed in a manifest does not exist.
    #[error(
        "signal file `{file}` listed in {} was not found in {} or in any of its subfolders; \
         write paths in the file column relative to the manifest's folder",
        manifest.display(),
        folder.display()
    )]
    SignalFileNotFound {
        /// The path as listed in the manifest.
        file: String,
        /// Path of the manifest.
        manifest: PathBuf,
        /// The manifest's folder.
        folder: PathBuf,
    },

    /// A signal file listed in a manifest by name alone exists in several subfolders.
    #[error(
        "signal file `{file}` listed in {} is not next to the manifest but exists in several of \
         its subfolders ({candidates}); write the path relative to the manifest's folder, such \
         as `subfolder/{file}`",
        manifest.display()
    )]
    SignalFileAmbiguous {
        /// The path as listed in the manifest.
        file: String,
        /// Path of the manifest.
        manifest: PathBuf,
        /// The matching paths, quoted and comma-separated.
        candidates: String,
    },

    /// A signal file is shorter than one window.
    #[error(
        "{} has {samples} samples, fewer than one window of {window}; use a window of at most \
         {samples} samples or remove the file from the manifest",
        path.display()
    )]
    SignalTooShort {
        /// Path of the file.
        path: PathBuf,
        /// Number of samples in the file.
        samples: usize,
        /// The window length in samples.
        window: usize,
    },

    /// The time split of the signal windows leaves a class out of one split.
    #[error(
        "class `{class}` gets no {split} window, because the windows of its files ({files}) are \
         split by time within each file and too few fit; use a smaller window or stride, \
         longer files, or a validation fraction that leaves windows on both sides"
    )]
    SignalSplitEmpty {
        /// The class label.
        class: String,
        /// "training" or "validation".
        split: &'static str,
        /// The class's files, quoted and comma-separated.
        files: String,
    },

    /// An image shape has a zero dimension.
    #[error(
        "image shape {shape:?} has a zero dimension; pass [channels, height, width] with every \
         dimension at least 1"
    )]
    ZeroImageDimension {
        /// The shape given.
        shape: [usize; 3],
    },

    /// The image shape does not match the number of pixel columns.
    #[error(
        "image shape {shape:?} needs {pixels} pixel columns plus one label column, but line \
         {line} of {input} has {columns} columns; pass a shape whose product is the number of \
         pixel columns"
    )]
    ImageShapeMismatch {
        /// Name of the input.
        input: String,
        /// 1-based line number of the first data row.
        line: u64,
        /// The shape given.
        shape: [usize; 3],
        /// Product of the shape.
        pixels: usize,
        /// Number of columns on the line.
        columns: usize,
    },

    /// A saved channel normalisation does not fit the samples it is applied to.
    #[error(
        "the channel normalisation {problem}; use the normalisation saved with the model that \
         reads these samples"
    )]
    InvalidChannelNorm {
        /// The mismatch, such as "has 3 channel means but the samples have 8 channels".
        problem: String,
    },
}

/// Formats names as a comma-separated list of back-quoted names, for error messages.
pub(super) fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect();
    quoted.join(", ")
}
