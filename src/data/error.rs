//! Errors raised while loading, checking, preparing and encoding tabular data.
//!
//! Every message names the input, the column and the line or row involved, and gives the fix,
//! because these errors reach the command-line user unchanged.

use std::path::PathBuf;

/// An error from CSV loading, table construction, data preparation or feature encoding.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The CSV file could not be opened.
    #[error("failed to open `{}`: {source}; check that the file exists and is readable", path.display())]
    Open {
        /// Path of the file.
        path: PathBuf,
        /// Operating-system error.
        source: std::io::Error,
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
}

/// Formats names as a comma-separated list of back-quoted names, for error messages.
pub(super) fn quoted_list<S: AsRef<str>>(names: &[S]) -> String {
    let quoted: Vec<String> = names
        .iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect();
    quoted.join(", ")
}
