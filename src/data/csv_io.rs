//! Reading tables from CSV and writing them back.
//!
//! CSV input needs a header line and comma-separated fields. Surrounding whitespace in every
//! cell is trimmed and blank lines are skipped. A column is numeric when every cell parses as a
//! number, and text otherwise.

use std::io::{Read, Write};
use std::path::Path;

use super::error::DataError;
use super::table::{Column, Table, check_names};

/// Minimum share of a column's cells that parse as numbers for the column to count as numeric
/// with bad values, instead of as a text column.
const NUMERIC_SHARE: f64 = 0.9;

impl Table {
    /// Reads a table from a CSV file; errors name the file by its path.
    pub fn from_csv_path(path: &Path) -> Result<Table, DataError> {
        let mut file = std::fs::File::open(path).map_err(|error| DataError::Open {
            path: path.to_path_buf(),
            error,
        })?;
        // Gzip streams start with the bytes 1f 8b. Read as text, they would fail later as a
        // header of control characters, which does not say what is wrong.
        let mut magic = [0u8; 2];
        let read = file.read(&mut magic).unwrap_or(0);
        if read == 2 && magic == [0x1f, 0x8b] {
            return Err(DataError::Compressed {
                path: path.to_path_buf(),
            });
        }
        let file = std::io::Read::chain(&magic[..read], file);
        Table::from_csv_reader(file, &path.display().to_string())
    }

    /// Reads a table from CSV data; `source` names the input in errors.
    ///
    /// Rejects empty input, a header without data rows, empty or duplicate column names and rows
    /// with the wrong number of fields. Also rejects empty cells, NaN or infinite numbers, and
    /// non-numbers in a column where at least 90 % of the cells are numbers.
    pub fn from_csv_reader<R: Read>(reader: R, source: &str) -> Result<Table, DataError> {
        let mut csv_reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let header = csv_reader
            .headers()
            .map_err(|error| read_error(error, source, 1))?;
        if header.is_empty() {
            return Err(DataError::EmptyInput {
                input: source.to_owned(),
            });
        }
        let names: Vec<String> = header
            .iter()
            .enumerate()
            // Spreadsheet programs often start UTF-8 files with a byte-order mark.
            .map(|(i, name)| {
                if i == 0 {
                    name.trim_start_matches('\u{feff}').trim()
                } else {
                    name
                }
            })
            .map(str::to_owned)
            .collect();
        check_names(&names, source)?;

        let mut cells: Vec<Vec<String>> = vec![Vec::new(); names.len()];
        let mut lines: Vec<u64> = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            let next_line = lines.last().map_or(2, |line| line + 1);
            match csv_reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(error) => return Err(read_error(error, source, next_line)),
            }
            let line = record.position().map_or(next_line, csv::Position::line);
            for (index, cell) in record.iter().enumerate() {
                if cell.is_empty() {
                    return Err(DataError::EmptyValue {
                        input: source.to_owned(),
                        line,
                        column: names[index].clone(),
                    });
                }
                cells[index].push(cell.to_owned());
            }
            lines.push(line);
        }
        if lines.is_empty() {
            return Err(DataError::NoRows {
                input: source.to_owned(),
            });
        }

        // Report the problem on the earliest line when several columns have one.
        let mut columns = Vec::with_capacity(names.len());
        let mut first_error: Option<(u64, DataError)> = None;
        for (name, column_cells) in names.iter().zip(cells) {
            match parse_column(name, column_cells, &lines, source) {
                Ok(column) => columns.push(column),
                Err((line, error)) => {
                    if first_error.as_ref().is_none_or(|(first, _)| line < *first) {
                        first_error = Some((line, error));
                    }
                }
            }
        }
        if let Some((_, error)) = first_error {
            return Err(error);
        }
        Ok(Table::from_checked_csv(names, columns, source, lines))
    }

    /// Writes the table as CSV with a header line; numbers are formatted by
    /// [`format_number`](super::format_number).
    pub fn write_csv<W: Write>(&self, writer: W) -> Result<(), DataError> {
        let write_error = |error: csv::Error| DataError::Write {
            message: error.to_string(),
        };
        let mut csv_writer = csv::Writer::from_writer(writer);
        csv_writer.write_record(self.names()).map_err(write_error)?;
        let mut record: Vec<String> = Vec::with_capacity(self.columns().len());
        for row in 0..self.n_rows() {
            record.clear();
            record.extend(
                self.columns()
                    .iter()
                    .filter_map(|column| column.text_at(row)),
            );
            csv_writer.write_record(&record).map_err(write_error)?;
        }
        csv_writer.flush().map_err(|error| DataError::Write {
            message: error.to_string(),
        })
    }
}

/// Converts a CSV reading error; `fallback_line` is used when the error has no position.
fn read_error(error: csv::Error, input: &str, fallback_line: u64) -> DataError {
    let message = error.to_string();
    let line_of = |pos: Option<csv::Position>| pos.map_or(fallback_line, |pos| pos.line());
    match error.into_kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => DataError::RaggedRow {
            input: input.to_owned(),
            line: line_of(pos),
            expected: expected_len,
            found: len,
        },
        csv::ErrorKind::Utf8 { pos, .. } => DataError::InvalidUtf8 {
            input: input.to_owned(),
            line: line_of(pos),
        },
        _ => DataError::Read {
            input: input.to_owned(),
            message,
        },
    }
}

/// Turns one column's cells into a [`Column`], or returns the line of the first bad cell and
/// its error.
fn parse_column(
    name: &str,
    cells: Vec<String>,
    lines: &[u64],
    input: &str,
) -> Result<Column, (u64, DataError)> {
    let parsed: Vec<Option<f64>> = cells.iter().map(|cell| cell.parse::<f64>().ok()).collect();
    let numeric = parsed.iter().filter(|value| value.is_some()).count();
    if numeric == cells.len() {
        let values: Vec<f64> = parsed.into_iter().flatten().collect();
        if let Some(row) = values.iter().position(|value| !value.is_finite()) {
            let error = DataError::NonFinite {
                location: format!("line {} of {input}", lines[row]),
                column: name.to_owned(),
                value: cells[row].clone(),
            };
            return Err((lines[row], error));
        }
        if let Some(row) = values
            .iter()
            .position(|value| value.abs() > f32::MAX as f64)
        {
            let error = DataError::OutOfRange {
                location: format!("line {} of {input}", lines[row]),
                column: name.to_owned(),
                value: cells[row].clone(),
            };
            return Err((lines[row], error));
        }
        return Ok(Column::Numeric(values));
    }
    if numeric as f64 >= NUMERIC_SHARE * cells.len() as f64 {
        // At least one cell failed to parse, so `position` finds a row.
        let row = parsed.iter().position(Option::is_none).unwrap_or(0);
        let error = DataError::InvalidNumber {
            input: input.to_owned(),
            line: lines[row],
            column: name.to_owned(),
            value: cells[row].clone(),
            numeric,
            total: cells.len(),
        };
        return Err((lines[row], error));
    }
    Ok(Column::Text(cells))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Table, DataError> {
        Table::from_csv_reader(text.as_bytes(), "data.csv")
    }

    fn load_error(text: &str) -> String {
        match load(text) {
            Ok(table) => panic!("expected an error for {text:?}, got {table:?}"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn csv_reads_numeric_and_text_columns() {
        let table = load("Type, Torque ,count\n L ,42.5, 3\nM,-1e2,4\n").expect("valid CSV");
        assert_eq!(table.n_rows(), 2, "two data rows");
        assert_eq!(
            table.names(),
            ["Type", "Torque", "count"],
            "header names are trimmed"
        );
        assert_eq!(
            table.column("Type"),
            Some(&Column::Text(vec!["L".into(), "M".into()])),
            "text cells are trimmed"
        );
        assert_eq!(
            table.column("Torque"),
            Some(&Column::Numeric(vec![42.5, -100.0]))
        );
        assert_eq!(
            table.column("count"),
            Some(&Column::Numeric(vec![3.0, 4.0]))
        );
        assert_eq!(table.column("missing"), None, "unknown name gives None");
        assert_eq!(
            table.row_location(1),
            "line 3 of data.csv",
            "row 1 is on line 3"
        );
    }

    #[test]
    fn csv_strips_byte_order_mark() {
        let table = load("\u{feff}a,b\n1,2\n").expect("valid CSV with BOM");
        assert_eq!(table.names()[0], "a", "BOM is not part of the first name");
    }

    #[test]
    fn csv_quoted_fields_keep_commas() {
        let table = load("name,x\n\"a, b\",1\n").expect("valid CSV");
        assert_eq!(
            table.column("name"),
            Some(&Column::Text(vec!["a, b".into()]))
        );
    }

    #[test]
    fn csv_mostly_text_column_stays_text() {
        // 1 of 3 cells parses, below the 90 % share, so the column is text.
        let table = load("code\nA1\n7\nB2\n").expect("valid CSV");
        assert_eq!(
            table.column("code"),
            Some(&Column::Text(vec!["A1".into(), "7".into(), "B2".into()]))
        );
    }

    #[test]
    fn csv_invalid_number_names_line() {
        let mut text = String::from("id,Torque\n");
        for row in 0..9 {
            text.push_str(&format!("{row},{}.5\n", 40 + row));
        }
        text.push_str("9,4O.5\n");
        let message = load_error(&text);
        assert!(message.contains("`Torque`"), "names the column: {message}");
        assert!(message.contains("line 11"), "names the line: {message}");
        assert!(message.contains("`4O.5`"), "shows the bad text: {message}");
        assert!(
            message.contains("9 of 10"),
            "gives the numeric share: {message}"
        );
    }

    #[test]
    fn csv_rejects_nan_and_infinity() {
        for bad in ["nan", "NaN", "inf", "-inf", "infinity"] {
            let message = load_error(&format!("a,b\n1,2\n3,{bad}\n"));
            assert!(
                message.contains("NaN or infinite"),
                "says what is wrong: {message}"
            );
            assert!(message.contains("`b`"), "names the column: {message}");
            assert!(message.contains("line 3"), "names the line: {message}");
        }
    }

    #[test]
    fn csv_rejects_empty_cell() {
        let message = load_error("Type,Torque\nL,1\n,2\n");
        assert!(
            message.contains("empty value"),
            "says what is wrong: {message}"
        );
        assert!(message.contains("`Type`"), "names the column: {message}");
        assert!(message.contains("line 3"), "names the line: {message}");
    }

    #[test]
    fn csv_rejects_ragged_row() {
        let message = load_error("a,b,c\n1,2,3\n4,5\n");
        assert!(message.contains("line 3"), "names the line: {message}");
        assert!(
            message.contains("has 2 fields"),
            "gives the found count: {message}"
        );
        assert!(
            message.contains("header has 3"),
            "gives the expected count: {message}"
        );
    }

    #[test]
    fn csv_rejects_empty_and_header_only() {
        let empty = load_error("");
        assert!(empty.contains("is empty"), "empty input: {empty}");
        let header_only = load_error("a,b\n");
        assert!(
            header_only.contains("no data rows"),
            "header only: {header_only}"
        );
    }

    #[test]
    fn csv_rejects_duplicate_and_empty_names() {
        let duplicate = load_error("a,b,a\n1,2,3\n");
        assert!(
            duplicate.contains("`a` appears more than once"),
            "duplicate: {duplicate}"
        );
        let empty = load_error("a,,c\n1,2,3\n");
        assert!(empty.contains("column 2"), "empty name position: {empty}");
    }

    #[test]
    fn csv_reports_earliest_bad_line() {
        let message = load_error("a,b\n1,2\n3,nan\nnan,4\n");
        assert!(
            message.contains("line 3"),
            "the NaN in `b` comes first: {message}"
        );
    }

    #[test]
    fn csv_rejects_invalid_utf8() {
        let bytes: &[u8] = b"a,b\n1,\xff\xfe\n";
        let error = Table::from_csv_reader(bytes, "data.csv").expect_err("invalid UTF-8");
        let message = error.to_string();
        assert!(message.contains("line 2"), "names the line: {message}");
        assert!(message.contains("UTF-8"), "says what is wrong: {message}");
    }

    #[test]
    fn csv_path_missing_file_names_path() {
        let path = Path::new("/nonexistent/edgegrad/missing.csv");
        let message = Table::from_csv_path(path)
            .expect_err("missing file")
            .to_string();
        assert!(
            message.contains("/nonexistent/edgegrad/missing.csv"),
            "names path: {message}"
        );
        assert!(
            message.contains("No such file"),
            "includes the OS error: {message}"
        );
    }

    #[test]
    fn csv_path_reads_file() {
        let path = std::env::temp_dir().join(format!("edgegrad-table-{}.csv", std::process::id()));
        std::fs::write(&path, "x,y\n1,a\n2,b\n").expect("write temporary CSV");
        let table = Table::from_csv_path(&path);
        std::fs::remove_file(&path).expect("remove temporary CSV");
        let table = table.expect("valid file");
        assert_eq!(table.n_rows(), 2);
        assert_eq!(
            table.input_name(),
            path.display().to_string(),
            "input is the path"
        );
    }

    #[test]
    fn csv_round_trip() {
        let table = Table::new(
            vec!["Type".into(), "speed".into()],
            vec![
                Column::Text(vec!["L".into(), "a, \"b\"".into()]),
                Column::Numeric(vec![1500.0, -0.25]),
            ],
        )
        .expect("valid table");
        let mut bytes = Vec::new();
        table.write_csv(&mut bytes).expect("write to memory");
        let text = String::from_utf8(bytes).expect("CSV output is UTF-8");
        assert!(
            text.starts_with("Type,speed\nL,1500\n"),
            "integers have no decimals: {text}"
        );
        let read = Table::from_csv_reader(text.as_bytes(), "memory").expect("read back");
        assert_eq!(
            read.columns(),
            table.columns(),
            "columns survive the round trip"
        );
    }
}
