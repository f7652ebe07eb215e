//! Encoders that turn table columns into model inputs and targets, fitted on a training split
//! and stored with a trained model so that new data is encoded the same way.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::error::{DataError, quoted_list};
use super::table::{Column, Table};

/// The encoding of one table column as model inputs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureColumn {
    /// A numeric column, standardised as `(x - mean) / std`.
    Numeric {
        /// Column name.
        name: String,
        /// Training mean.
        mean: f64,
        /// Training population standard deviation, or 1 when that is 0.
        std: f64,
    },
    /// A text column, one-hot encoded with one input per category.
    OneHot {
        /// Column name.
        name: String,
        /// The categories seen in training, sorted.
        categories: Vec<String>,
    },
}

impl FeatureColumn {
    /// Returns the column name.
    pub fn name(&self) -> &str {
        match self {
            FeatureColumn::Numeric { name, .. } | FeatureColumn::OneHot { name, .. } => name,
        }
    }

    /// Returns the number of model inputs this column produces.
    pub fn width(&self) -> usize {
        match self {
            FeatureColumn::Numeric { .. } => 1,
            FeatureColumn::OneHot { categories, .. } => categories.len(),
        }
    }
}

/// The handling of a category that was not seen in training.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum UnseenCategory {
    /// Encode the column as all zeros.
    Zeros,
    /// Return [`DataError::UnknownCategory`].
    Reject,
}

/// The fitted transformation from table columns to the model's input features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureEncoder {
    columns: Vec<FeatureColumn>,
}

impl FeatureEncoder {
    /// Fits an encoder on the training rows: numeric columns get the training mean and
    /// population standard deviation, text columns the sorted set of training categories.
    pub(super) fn fit(table: &Table, feature_columns: &[usize], train_rows: &[usize]) -> Self {
        let mut columns = Vec::with_capacity(feature_columns.len());
        for &index in feature_columns {
            let name = table.names()[index].clone();
            let column = match &table.columns()[index] {
                Column::Numeric(values) => {
                    let (mean, std) = mean_and_std(train_rows.iter().map(|&row| values[row]));
                    FeatureColumn::Numeric { name, mean, std }
                }
                Column::Text(values) => {
                    let categories: BTreeSet<&str> =
                        train_rows.iter().map(|&row| values[row].as_str()).collect();
                    let categories = categories.into_iter().map(str::to_owned).collect();
                    FeatureColumn::OneHot { name, categories }
                }
            };
            columns.push(column);
        }
        FeatureEncoder { columns }
    }

    /// Returns the encoded columns in input order.
    pub fn columns(&self) -> &[FeatureColumn] {
        &self.columns
    }

    /// Returns the number of model inputs.
    pub fn n_features(&self) -> usize {
        self.columns.iter().map(FeatureColumn::width).sum()
    }

    /// Returns one name per model input: the column name for numeric columns and
    /// "column=category" (such as "Type=L") for one-hot inputs.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.n_features());
        for column in &self.columns {
            match column {
                FeatureColumn::Numeric { name, .. } => names.push(name.clone()),
                FeatureColumn::OneHot { name, categories } => {
                    names.extend(
                        categories
                            .iter()
                            .map(|category| format!("{name}={category}")),
                    );
                }
            }
        }
        names
    }

    /// Encodes every row of `table` as standardised, row-major features `[rows, n_features]`.
    ///
    /// Columns are found by name, so the target and other extra columns may be present or
    /// absent. A missing feature column, text in a numeric column or a category not seen in
    /// training is an error naming the column, the row and the value.
    pub fn encode(&self, table: &Table) -> Result<Vec<f32>, DataError> {
        let rows: Vec<usize> = (0..table.n_rows()).collect();
        self.encode_rows(table, &rows, UnseenCategory::Reject)
    }

    /// Encodes the given rows of `table`, in that order.
    pub(super) fn encode_rows(
        &self,
        table: &Table,
        rows: &[usize],
        unseen: UnseenCategory,
    ) -> Result<Vec<f32>, DataError> {
        let width = self.n_features();
        let mut features = vec![0.0_f32; rows.len() * width];
        let mut offset = 0;
        for feature in &self.columns {
            let name = feature.name();
            let column = table
                .column(name)
                .ok_or_else(|| table.column_not_found("feature column", name))?;
            match (feature, column) {
                (FeatureColumn::Numeric { mean, std, .. }, Column::Numeric(values)) => {
                    for (out_row, &row) in rows.iter().enumerate() {
                        let value = (values[row] - mean) / std;
                        features[out_row * width + offset] = value as f32;
                    }
                }
                (FeatureColumn::Numeric { .. }, Column::Text(values)) => {
                    return Err(not_numeric(table, name, values));
                }
                (FeatureColumn::OneHot { categories, .. }, _) => {
                    for (out_row, &row) in rows.iter().enumerate() {
                        let value = column.text_at(row).unwrap_or_default();
                        match categories.binary_search_by(|category| category.as_str().cmp(&value))
                        {
                            Ok(category) => features[out_row * width + offset + category] = 1.0,
                            Err(_) if unseen == UnseenCategory::Zeros => {}
                            Err(_) => {
                                return Err(DataError::UnknownCategory {
                                    column: name.to_owned(),
                                    value,
                                    location: table.row_location(row),
                                    known: quoted_list(categories),
                                });
                            }
                        }
                    }
                }
            }
            offset += feature.width();
        }
        Ok(features)
    }
}

/// The fitted transformation between a target column and the model's target values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetEncoder {
    /// Classification: the target value is the index into `classes`. Binary classes are
    /// ordered [negative, positive], so target 1 is the positive class.
    Classes {
        /// Target column name.
        column: String,
        /// Class labels; numeric labels are formatted like "0" and "1".
        classes: Vec<String>,
    },
    /// Regression: the target value is `(y - mean) / std`.
    Regression {
        /// Target column name.
        column: String,
        /// Training mean of the target.
        mean: f64,
        /// Training population standard deviation of the target, or 1 when that is 0.
        std: f64,
    },
}

impl TargetEncoder {
    /// Returns the target column name.
    pub fn column(&self) -> &str {
        match self {
            TargetEncoder::Classes { column, .. } | TargetEncoder::Regression { column, .. } => {
                column
            }
        }
    }

    /// Returns the class labels, or an empty slice for regression.
    pub fn classes(&self) -> &[String] {
        match self {
            TargetEncoder::Classes { classes, .. } => classes,
            TargetEncoder::Regression { .. } => &[],
        }
    }

    /// Converts a model output back to the target's unit: `v * std + mean` for regression.
    /// Class indices and probabilities are returned unchanged.
    pub fn decode_value(&self, v: f32) -> f64 {
        match self {
            TargetEncoder::Classes { .. } => f64::from(v),
            TargetEncoder::Regression { mean, std, .. } => f64::from(v) * std + mean,
        }
    }

    /// Encodes the target column of a labelled table, such as new data to evaluate a trained
    /// model on. A class that was not seen in training is an error naming the row.
    pub fn encode(&self, table: &Table) -> Result<Vec<f32>, DataError> {
        let name = self.column();
        let column = table
            .column(name)
            .ok_or_else(|| table.column_not_found("target column", name))?;
        match (self, column) {
            (TargetEncoder::Regression { mean, std, .. }, Column::Numeric(values)) => Ok(values
                .iter()
                .map(|value| ((value - mean) / std) as f32)
                .collect()),
            (TargetEncoder::Regression { .. }, Column::Text(values)) => {
                Err(not_numeric(table, name, values))
            }
            (TargetEncoder::Classes { classes, .. }, _) => {
                let mut targets = Vec::with_capacity(column.len());
                for row in 0..column.len() {
                    let value = column.text_at(row).unwrap_or_default();
                    let Some(class) = classes.iter().position(|class| *class == value) else {
                        return Err(DataError::UnknownClass {
                            column: name.to_owned(),
                            value,
                            location: table.row_location(row),
                            known: quoted_list(classes),
                        });
                    };
                    targets.push(class as f32);
                }
                Ok(targets)
            }
        }
    }
}

/// Returns the mean and population standard deviation of `values`, with a standard deviation
/// of 0 (or of no values) replaced by 1 so that dividing by it is safe.
pub(super) fn mean_and_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (count, sum) = values
        .clone()
        .fold((0_usize, 0.0), |(n, sum), v| (n + 1, sum + v));
    if count == 0 {
        return (0.0, 1.0);
    }
    let mean = sum / count as f64;
    let variance = values.map(|value| (value - mean).powi(2)).sum::<f64>() / count as f64;
    let std = variance.sqrt();
    (mean, if std > 0.0 { std } else { 1.0 })
}

/// Builds the error for a numeric column that was read as text, showing its first non-number.
fn not_numeric(table: &Table, name: &str, values: &[String]) -> DataError {
    let row = values
        .iter()
        .position(|value| value.parse::<f64>().is_err())
        .unwrap_or(0);
    DataError::NotNumeric {
        column: name.to_owned(),
        input: table.input_name().to_owned(),
        value: values.get(row).cloned().unwrap_or_default(),
        location: table.row_location(row),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn training_table() -> Table {
        Table::new(
            vec!["Type".into(), "Torque".into(), "label".into()],
            vec![
                Column::Text(vec!["M".into(), "L".into(), "H".into(), "L".into()]),
                Column::Numeric(vec![10.0, 20.0, 30.0, 40.0]),
                Column::Numeric(vec![0.0, 1.0, 0.0, 1.0]),
            ],
        )
        .expect("valid table")
    }

    fn fitted() -> FeatureEncoder {
        // Columns 0 (Type) and 1 (Torque) fitted on rows 0, 1 and 3.
        FeatureEncoder::fit(&training_table(), &[0, 1], &[0, 1, 3])
    }

    #[test]
    fn fit_learns_training_statistics() {
        let encoder = fitted();
        assert_eq!(
            encoder.n_features(),
            3,
            "two categories plus one numeric input"
        );
        assert_eq!(encoder.feature_names(), ["Type=L", "Type=M", "Torque"]);
        let FeatureColumn::Numeric { mean, std, .. } = &encoder.columns()[1] else {
            panic!("Torque should be numeric: {encoder:?}");
        };
        // Training torques 10, 20, 40: mean 70/3, population variance 1400/9.
        assert!((mean - 70.0 / 3.0).abs() < 1e-12, "mean {mean}");
        assert!((std - (1400.0_f64 / 9.0).sqrt()).abs() < 1e-12, "std {std}");
    }

    #[test]
    fn encode_rows_standardises_and_zeroes_unseen() {
        let encoder = fitted();
        let features = encoder
            .encode_rows(&training_table(), &[2, 1], UnseenCategory::Zeros)
            .expect("encode");
        let std = (1400.0_f64 / 9.0).sqrt();
        let torque_h = ((30.0 - 70.0 / 3.0) / std) as f32;
        let torque_l = ((20.0 - 70.0 / 3.0) / std) as f32;
        assert_eq!(
            features,
            [0.0, 0.0, torque_h, 1.0, 0.0, torque_l],
            "H is unseen, so zeros"
        );
    }

    #[test]
    fn encode_rejects_unseen_category() {
        let message = fitted()
            .encode(&training_table())
            .expect_err("H unseen")
            .to_string();
        assert!(message.contains("`H`"), "names the value: {message}");
        assert!(message.contains("`Type`"), "names the column: {message}");
        assert!(message.contains("row 3"), "names the row: {message}");
        assert!(
            message.contains("`L`, `M`"),
            "lists the known categories: {message}"
        );
    }

    #[test]
    fn encode_finds_columns_by_name() {
        let new_data = "extra,Torque,Type\n1,25,L\n2,30,M\n";
        let table = Table::from_csv_reader(new_data.as_bytes(), "new.csv").expect("valid CSV");
        let features = fitted().encode(&table).expect("no target needed");
        assert_eq!(features.len(), 6, "two rows of three features");
        assert_eq!(features[0..2], [1.0, 0.0], "first row is L");
        assert_eq!(features[3..5], [0.0, 1.0], "second row is M");
    }

    #[test]
    fn encode_errors_name_column_and_line() {
        let missing = Table::from_csv_reader("Type\nL\n".as_bytes(), "new.csv").expect("valid");
        let message = fitted()
            .encode(&missing)
            .expect_err("no Torque")
            .to_string();
        assert!(
            message.contains("`Torque` not found in new.csv"),
            "{message}"
        );
        assert!(message.contains("available columns: `Type`"), "{message}");

        let text = Table::from_csv_reader("Type,Torque\nL,high\nM,low\n".as_bytes(), "new.csv")
            .expect("valid CSV");
        let message = fitted().encode(&text).expect_err("text torque").to_string();
        assert!(message.contains("`high` at line 2 of new.csv"), "{message}");
    }

    #[test]
    fn encoders_round_trip_through_json() {
        let encoder = fitted();
        let json = serde_json::to_string(&encoder).expect("serialise features");
        let back: FeatureEncoder = serde_json::from_str(&json).expect("deserialise features");
        assert_eq!(back, encoder, "feature encoder survives JSON");

        let target = TargetEncoder::Regression {
            column: "y".into(),
            mean: 2.0,
            std: 0.5,
        };
        let json = serde_json::to_string(&target).expect("serialise target");
        let back: TargetEncoder = serde_json::from_str(&json).expect("deserialise target");
        assert_eq!(back, target, "target encoder survives JSON");
    }

    #[test]
    fn target_encoder_decode_and_encode() {
        let regression = TargetEncoder::Regression {
            column: "Torque".into(),
            mean: 2.0,
            std: 0.5,
        };
        assert_eq!(regression.decode_value(2.0), 3.0, "2 * 0.5 + 2");
        let targets = regression
            .encode(&training_table())
            .expect("numeric target");
        assert_eq!(targets, [16.0, 36.0, 56.0, 76.0], "(x - 2) / 0.5");

        let classes = TargetEncoder::Classes {
            column: "label".into(),
            classes: vec!["1".into(), "0".into()],
        };
        assert_eq!(
            classes.decode_value(0.25),
            0.25,
            "class outputs pass through"
        );
        let targets = classes.encode(&training_table()).expect("known classes");
        assert_eq!(
            targets,
            [1.0, 0.0, 1.0, 0.0],
            "index into [negative, positive]"
        );

        let types = TargetEncoder::Classes {
            column: "Type".into(),
            classes: vec!["L".into()],
        };
        let message = types
            .encode(&training_table())
            .expect_err("unknown class")
            .to_string();
        assert!(
            message.contains("unknown class `M`"),
            "names the value: {message}"
        );
        assert!(message.contains("row 1"), "names the row: {message}");
    }

    #[test]
    fn mean_and_std_handles_constant() {
        assert_eq!(
            mean_and_std([3.0, 3.0].into_iter()),
            (3.0, 1.0),
            "std 0 becomes 1"
        );
        assert_eq!(mean_and_std(std::iter::empty()), (0.0, 1.0), "no values");
        assert_eq!(
            mean_and_std([1.0, 3.0].into_iter()),
            (2.0, 1.0),
            "population std"
        );
    }
}
