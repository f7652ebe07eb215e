//! In-memory tables of named, typed columns. Reading and writing CSV lives in `csv_io`.

use std::collections::HashSet;

use super::error::{DataError, quoted_list};

/// Input name used in messages for tables built by [`Table::new`].
const DEFAULT_INPUT: &str = "the table";

/// One column of a [`Table`].
#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    /// Finite numbers.
    Numeric(Vec<f64>),
    /// Text values, such as category labels.
    Text(Vec<String>),
}

impl Column {
    /// Returns the number of values in the column.
    pub fn len(&self) -> usize {
        match self {
            Column::Numeric(values) => values.len(),
            Column::Text(values) => values.len(),
        }
    }

    /// Returns whether the column has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the value at `row` as text, with numbers formatted by [`format_number`].
    pub fn text_at(&self, row: usize) -> Option<String> {
        match self {
            Column::Numeric(values) => values.get(row).map(|value| format_number(*value)),
            Column::Text(values) => values.get(row).cloned(),
        }
    }
}

/// Formats a number as class labels and CSV output show it: integers without a decimal point
/// ("3"), other values in the shortest form that parses back to the same `f64`.
pub fn format_number(value: f64) -> String {
    // Adding 0.0 turns -0.0 into 0.0, so zero never prints as "-0".
    format!("{}", value + 0.0)
}

/// A table of named columns of equal length.
///
/// Column names are unique and non-empty, and numeric columns contain only finite values. A
/// table also stores the name of its input and, when read from CSV, the line of each row, so
/// that errors can point at the offending line.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    names: Vec<String>,
    columns: Vec<Column>,
    rows: usize,
    input: String,
    lines: Option<Vec<u64>>,
}

impl Table {
    /// Builds a table, checking that there is one unique, non-empty name per column, that all
    /// columns have the same length and that numeric columns are finite.
    pub fn new(names: Vec<String>, columns: Vec<Column>) -> Result<Table, DataError> {
        if names.len() != columns.len() {
            return Err(DataError::ColumnCountMismatch {
                names: names.len(),
                columns: columns.len(),
            });
        }
        check_names(&names, DEFAULT_INPUT)?;
        let rows = columns.first().map_or(0, Column::len);
        for (name, column) in names.iter().zip(&columns) {
            if column.len() != rows {
                return Err(DataError::ColumnLengthMismatch {
                    column: name.clone(),
                    found: column.len(),
                    first: names[0].clone(),
                    expected: rows,
                });
            }
            if let Column::Numeric(values) = column {
                if let Some(row) = values.iter().position(|value| !value.is_finite()) {
                    return Err(DataError::NonFinite {
                        location: format!("row {} of {DEFAULT_INPUT}", row + 1),
                        column: name.clone(),
                        value: values[row].to_string(),
                    });
                }
            }
        }
        Ok(Table {
            names,
            columns,
            rows,
            input: DEFAULT_INPUT.to_owned(),
            lines: None,
        })
    }

    /// Sets the input name that error messages use for this table, such as a file name.
    pub fn with_input_name(mut self, input: impl Into<String>) -> Table {
        self.input = input.into();
        self
    }

    /// Builds a table from parts that the CSV reader has already checked.
    pub(super) fn from_checked_csv(
        names: Vec<String>,
        columns: Vec<Column>,
        input: &str,
        lines: Vec<u64>,
    ) -> Table {
        Table {
            names,
            columns,
            rows: lines.len(),
            input: input.to_owned(),
            lines: Some(lines),
        }
    }

    /// Returns the number of rows.
    pub fn n_rows(&self) -> usize {
        self.rows
    }

    /// Returns the column names in table order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Returns the columns in table order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Returns the column called `name`, if any.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.column_index(name).map(|index| &self.columns[index])
    }

    /// Returns the position of the column called `name`, if any.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|candidate| candidate == name)
    }

    /// Returns the input name used in error messages, such as the CSV file's path.
    pub fn input_name(&self) -> &str {
        &self.input
    }

    /// Describes where a 0-based row is, such as "line 7 of data.csv" for CSV input or
    /// "row 6 of the table" otherwise.
    pub fn row_location(&self, row: usize) -> String {
        match self.lines.as_ref().and_then(|lines| lines.get(row)) {
            Some(line) => format!("line {line} of {}", self.input),
            None => format!("row {} of {}", row + 1, self.input),
        }
    }

    /// Returns a "not found" error for column `column`, listing the available columns.
    pub(super) fn column_not_found(&self, role: &'static str, column: &str) -> DataError {
        DataError::ColumnNotFound {
            role,
            column: column.to_owned(),
            input: self.input.clone(),
            available: quoted_list(&self.names),
        }
    }
}

/// Checks that every name is non-empty and unique.
pub(super) fn check_names(names: &[String], input: &str) -> Result<(), DataError> {
    let mut seen = HashSet::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(DataError::EmptyColumnName {
                input: input.to_owned(),
                position: index + 1,
            });
        }
        if !seen.insert(name.as_str()) {
            return Err(DataError::DuplicateColumn {
                input: input.to_owned(),
                name: name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_checks_shape_and_values() {
        let count = Table::new(vec!["a".into()], vec![]).expect_err("name without column");
        assert!(
            count.to_string().contains("1 column names for 0 columns"),
            "{count}"
        );

        let lengths = Table::new(
            vec!["a".into(), "b".into()],
            vec![Column::Numeric(vec![1.0, 2.0]), Column::Numeric(vec![1.0])],
        )
        .expect_err("unequal lengths")
        .to_string();
        assert!(
            lengths.contains("`b` has 1 values"),
            "names short column: {lengths}"
        );

        let duplicate = Table::new(
            vec!["a".into(), "a".into()],
            vec![Column::Numeric(vec![1.0]), Column::Numeric(vec![2.0])],
        )
        .expect_err("duplicate names")
        .to_string();
        assert!(
            duplicate.contains("`a` appears more than once"),
            "{duplicate}"
        );

        let nan = Table::new(vec!["x".into()], vec![Column::Numeric(vec![1.0, f64::NAN])])
            .expect_err("NaN value")
            .to_string();
        assert!(nan.contains("row 2 of the table"), "names the row: {nan}");
    }

    #[test]
    fn format_number_drops_integer_decimals() {
        assert_eq!(format_number(1.0), "1");
        assert_eq!(format_number(-0.0), "0", "negative zero prints as 0");
        assert_eq!(format_number(0.1), "0.1");
        assert_eq!(format_number(-2.5), "-2.5");
    }
}
