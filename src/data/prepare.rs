//! Turning a [`Table`] into training and validation datasets: column selection, task
//! inference, the seeded split and encoders fitted on the training split only.

use std::collections::HashSet;

use super::encode::{FeatureEncoder, TargetEncoder, UnseenCategory, mean_and_std};
use super::error::DataError;
use super::split::{Split, shuffled_split, stratified_split};
use super::table::{Column, Table};
use super::target::{TargetValues, Task, analyse_target};

/// Settings for [`prepare`].
#[derive(Clone, Debug, PartialEq)]
pub struct PrepareOptions {
    /// Name of the target column.
    pub target: String,
    /// Columns to leave out of the features, such as identifiers.
    pub drop: Vec<String>,
    /// The task, or `None` to infer it from the target column.
    pub task: Option<Task>,
    /// Share of rows held out for validation, in (0, 1).
    pub val_fraction: f64,
    /// Seed of the split's random shuffle.
    pub seed: u64,
    /// Label of the positive class for binary tasks, or `None` for the rarer class.
    pub positive: Option<String>,
    /// Maximum number of distinct values of a text feature column.
    pub max_categories: usize,
}

impl PrepareOptions {
    /// Creates options for `target` with no dropped columns, an inferred task, a validation
    /// fraction of 0.2, seed 0, an automatic positive class and at most 64 categories.
    pub fn new(target: impl Into<String>) -> Self {
        PrepareOptions {
            target: target.into(),
            drop: Vec::new(),
            task: None,
            val_fraction: 0.2,
            seed: 0,
            positive: None,
            max_categories: 64,
        }
    }
}

/// Encoded rows ready for training or evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// Row-major features, `[rows, n_features]`.
    pub features: Vec<f32>,
    /// One target per row: the class index for classification (1 = positive for binary), the
    /// standardised value for regression.
    pub targets: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Number of features per row.
    pub n_features: usize,
}

/// The result of [`prepare`]: both splits and the encoders fitted on the training split.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The training split.
    pub train: Dataset,
    /// The validation split.
    pub val: Dataset,
    /// The feature encoder, to be stored with the model for prediction.
    pub features: FeatureEncoder,
    /// The target encoder, to be stored with the model for decoding predictions.
    pub target: TargetEncoder,
    /// The task, inferred or as requested.
    pub task: Task,
}

/// Splits `table` into training and validation datasets and fits the encoders.
///
/// The features are all columns except the target and `options.drop`. Numeric features are
/// standardised and text features one-hot encoded, both fitted on the training split only. A
/// validation row whose category was not seen in training gets zeros for that column. See
/// [`PrepareOptions`] for the task, split and positive-class settings.
pub fn prepare(table: &Table, options: &PrepareOptions) -> Result<Prepared, DataError> {
    let val_fraction = options.val_fraction;
    if !(val_fraction > 0.0 && val_fraction < 1.0) {
        return Err(DataError::InvalidValFraction {
            value: val_fraction,
        });
    }
    let target_name = options.target.as_str();
    let target_column = table
        .column(target_name)
        .ok_or_else(|| table.column_not_found("target column", target_name))?;
    let feature_columns = select_features(table, options)?;
    if table.n_rows() < 2 {
        return Err(DataError::TooFewRows {
            input: table.input_name().to_owned(),
            rows: table.n_rows(),
        });
    }

    let (task, values) = analyse_target(
        target_name,
        target_column,
        options.task,
        options.positive.as_deref(),
    )?;
    let split = match &values {
        TargetValues::Classes {
            classes,
            row_classes,
        } => stratified_split(
            row_classes,
            classes,
            target_name,
            val_fraction,
            options.seed,
        )?,
        TargetValues::Regression { .. } => shuffled_split(
            table.n_rows(),
            val_fraction,
            options.seed,
            table.input_name(),
        )?,
    };

    let features = FeatureEncoder::fit(table, &feature_columns, &split.train);
    let (target, targets) = encode_targets(target_name, values, &split);
    let make_dataset = |rows: &[usize], targets: Vec<f32>| -> Result<Dataset, DataError> {
        Ok(Dataset {
            features: features.encode_rows(table, rows, UnseenCategory::Zeros)?,
            targets,
            rows: rows.len(),
            n_features: features.n_features(),
        })
    };
    let train = make_dataset(&split.train, targets.train)?;
    let val = make_dataset(&split.val, targets.val)?;
    log::info!(
        "prepared {} training and {} validation rows with {} features from {} for {task} \
         target `{target_name}`",
        train.rows,
        val.rows,
        features.n_features(),
        table.input_name(),
    );
    Ok(Prepared {
        train,
        val,
        features,
        target,
        task,
    })
}

/// Returns the indices of the feature columns, in table order, after checking the dropped
/// columns and the number of categories of text columns.
fn select_features(table: &Table, options: &PrepareOptions) -> Result<Vec<usize>, DataError> {
    for name in &options.drop {
        if *name == options.target {
            return Err(DataError::TargetDropped {
                column: name.clone(),
            });
        }
        if table.column(name).is_none() {
            return Err(table.column_not_found("column to drop", name));
        }
    }
    let dropped: HashSet<&str> = options.drop.iter().map(String::as_str).collect();
    let mut features = Vec::new();
    for (index, name) in table.names().iter().enumerate() {
        if *name == options.target || dropped.contains(name.as_str()) {
            continue;
        }
        if let Column::Text(values) = &table.columns()[index] {
            let count = values.iter().collect::<HashSet<_>>().len();
            if count > options.max_categories {
                return Err(DataError::TooManyCategories {
                    column: name.clone(),
                    count,
                    max: options.max_categories,
                });
            }
        }
        features.push(index);
    }
    if features.is_empty() {
        return Err(DataError::NoFeatures {
            input: table.input_name().to_owned(),
            target: options.target.clone(),
        });
    }
    Ok(features)
}

/// Targets of the training and validation rows.
struct SplitTargets {
    train: Vec<f32>,
    val: Vec<f32>,
}

/// Builds the target encoder (regression statistics come from the training rows) and encodes
/// the targets of both splits.
fn encode_targets(
    column: &str,
    values: TargetValues,
    split: &Split,
) -> (TargetEncoder, SplitTargets) {
    match values {
        TargetValues::Classes {
            classes,
            row_classes,
        } => {
            let pick = |rows: &[usize]| rows.iter().map(|&row| row_classes[row] as f32).collect();
            let targets = SplitTargets {
                train: pick(&split.train),
                val: pick(&split.val),
            };
            (
                TargetEncoder::Classes {
                    column: column.to_owned(),
                    classes,
                },
                targets,
            )
        }
        TargetValues::Regression { values } => {
            let (mean, std) = mean_and_std(split.train.iter().map(|&row| values[row]));
            let pick = |rows: &[usize]| {
                rows.iter()
                    .map(|&row| ((values[row] - mean) / std) as f32)
                    .collect()
            };
            let targets = SplitTargets {
                train: pick(&split.train),
                val: pick(&split.val),
            };
            (
                TargetEncoder::Regression {
                    column: column.to_owned(),
                    mean,
                    std,
                },
                targets,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20 rows: `id` (text identifier), `Type` (L/M/H), `speed`, and a binary `failure` that
    /// is 1 on rows 3, 8, 13 and 18.
    fn machine_table() -> Table {
        let rows = 20;
        let ids = (0..rows).map(|row| format!("id{row}")).collect();
        let types = (0..rows)
            .map(|row| ["L", "M", "H", "L"][row % 4].to_owned())
            .collect();
        let speeds = (0..rows).map(|row| 1400.5 + 10.0 * row as f64).collect();
        let failures = (0..rows)
            .map(|row| if row % 5 == 3 { 1.0 } else { 0.0 })
            .collect();
        Table::new(
            vec!["id".into(), "Type".into(), "speed".into(), "failure".into()],
            vec![
                Column::Text(ids),
                Column::Text(types),
                Column::Numeric(speeds),
                Column::Numeric(failures),
            ],
        )
        .expect("valid table")
        .with_input_name("data.csv")
    }

    fn options() -> PrepareOptions {
        let mut options = PrepareOptions::new("failure");
        options.drop = vec!["id".into()];
        options
    }

    fn prepare_error(table: &Table, options: &PrepareOptions) -> String {
        match prepare(table, options) {
            Ok(prepared) => panic!("expected an error, got task {}", prepared.task),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn options_defaults() {
        let options = PrepareOptions::new("y");
        assert_eq!(options.val_fraction, 0.2);
        assert_eq!(options.seed, 0);
        assert_eq!(options.max_categories, 64);
        assert_eq!(options.task, None);
    }

    #[test]
    fn prepare_binary_table() {
        let table = machine_table();
        let prepared = prepare(&table, &options()).expect("prepare");
        assert_eq!(prepared.task, Task::Binary);
        assert_eq!(
            prepared.features.feature_names(),
            ["Type=H", "Type=L", "Type=M", "speed"]
        );
        assert_eq!(
            prepared.train.rows + prepared.val.rows,
            20,
            "rows are split, not lost"
        );
        assert_eq!(prepared.val.rows, 4, "round(0.2 * 16) + round(0.2 * 4)");
        assert_eq!(prepared.train.n_features, 4);
        assert_eq!(
            prepared.train.features.len(),
            prepared.train.rows * 4,
            "row-major size"
        );
        let val_positives = prepared.val.targets.iter().filter(|&&t| t == 1.0).count();
        assert_eq!(
            val_positives, 1,
            "stratified: one of four positives in validation"
        );
        assert_eq!(
            prepared.target,
            TargetEncoder::Classes {
                column: "failure".into(),
                classes: vec!["0".into(), "1".into()]
            }
        );
    }

    #[test]
    fn prepare_standardises_with_training_rows() {
        let prepared = prepare(&machine_table(), &options()).expect("prepare");
        let speeds: Vec<f32> = prepared
            .train
            .features
            .chunks(4)
            .map(|row| row[3])
            .collect();
        let mean = speeds.iter().sum::<f32>() / speeds.len() as f32;
        let variance = speeds.iter().map(|s| (s - mean).powi(2)).sum::<f32>() / speeds.len() as f32;
        assert!(mean.abs() < 1e-5, "training speed mean is 0, got {mean}");
        assert!(
            (variance - 1.0).abs() < 1e-4,
            "training speed variance is 1, got {variance}"
        );
    }

    #[test]
    fn prepare_val_unseen_category_is_zero() {
        // "X" appears once, and the seed decides its split; find a seed that puts it in
        // validation by checking that no training one-hot column is named Type=X.
        let mut table = machine_table();
        let mut types: Vec<String> = (0..20).map(|row| ["L", "M"][row % 2].to_owned()).collect();
        types[0] = "X".into();
        table = Table::new(
            table.names().to_vec(),
            vec![
                table.columns()[0].clone(),
                Column::Text(types),
                table.columns()[2].clone(),
                table.columns()[3].clone(),
            ],
        )
        .expect("valid table");
        let found = (0..50).find_map(|seed| {
            let mut options = options();
            options.seed = seed;
            let prepared = prepare(&table, &options).expect("prepare");
            let names = prepared.features.feature_names();
            (!names.contains(&"Type=X".to_owned())).then_some(prepared)
        });
        let prepared = found.expect("some seed puts row 0 in validation");
        assert_eq!(
            &prepared.val.features[0..2],
            [0.0, 0.0],
            "unseen X encodes as zeros"
        );
    }

    #[test]
    fn prepare_regression_standardises_target() {
        let table = machine_table();
        let mut options = PrepareOptions::new("speed");
        options.drop = vec!["id".into()];
        let prepared = prepare(&table, &options).expect("prepare");
        assert_eq!(
            prepared.task,
            Task::Regression,
            "fractional speeds are regression"
        );
        let mean = prepared.train.targets.iter().sum::<f32>() / prepared.train.rows as f32;
        assert!(mean.abs() < 1e-5, "training target mean is 0, got {mean}");
        let all_targets = prepared.train.targets.iter().chain(&prepared.val.targets);
        let mut decoded: Vec<f64> = all_targets
            .map(|&target| prepared.target.decode_value(target))
            .collect();
        decoded.sort_by(f64::total_cmp);
        for (row, value) in decoded.iter().enumerate() {
            let expected = 1400.5 + 10.0 * row as f64;
            assert!(
                (value - expected).abs() < 1e-3,
                "decoded {value}, expected {expected}"
            );
        }
    }

    #[test]
    fn prepare_missing_columns_named() {
        let table = machine_table();
        let message = prepare_error(&table, &PrepareOptions::new("Torque"));
        assert!(
            message.contains("target column `Torque` not found in data.csv"),
            "{message}"
        );
        assert!(
            message.contains("`id`, `Type`, `speed`, `failure`"),
            "lists columns: {message}"
        );

        let mut missing_drop = options();
        missing_drop.drop.push("Tool wear".into());
        let message = prepare_error(&table, &missing_drop);
        assert!(
            message.contains("column to drop `Tool wear` not found"),
            "{message}"
        );

        let mut target_dropped = options();
        target_dropped.drop.push("failure".into());
        let message = prepare_error(&table, &target_dropped);
        assert!(
            message.contains("`failure` is also listed to drop"),
            "{message}"
        );
    }

    #[test]
    fn prepare_rejects_bad_options() {
        let table = machine_table();
        for value in [0.0, 1.0, -0.5, f64::NAN] {
            let mut options = options();
            options.val_fraction = value;
            let message = prepare_error(&table, &options);
            assert!(
                message.contains("validation fraction"),
                "value {value}: {message}"
            );
        }

        let mut with_id = PrepareOptions::new("failure");
        with_id.max_categories = 10;
        let message = prepare_error(&table, &with_id);
        assert!(message.contains("`id` has 20 distinct values"), "{message}");
        assert!(
            message.contains("maximum of 10"),
            "gives the limit: {message}"
        );
        assert!(
            message.contains("--drop \"id\""),
            "suggests dropping it: {message}"
        );

        let mut options = options();
        options.drop = vec!["id".into(), "Type".into(), "speed".into()];
        let message = prepare_error(&table, &options);
        assert!(message.contains("no feature columns"), "{message}");
    }

    #[test]
    fn prepare_single_positive_row() {
        let failures = (0..20)
            .map(|row| if row == 7 { 1.0 } else { 0.0 })
            .collect();
        let table = Table::new(
            vec!["speed".into(), "failure".into()],
            vec![
                Column::Numeric((0..20).map(f64::from).collect()),
                Column::Numeric(failures),
            ],
        )
        .expect("valid table");
        let message = prepare_error(&table, &PrepareOptions::new("failure"));
        assert!(message.contains("class `1`"), "names the class: {message}");
    }

    #[test]
    fn prepare_is_seeded() {
        let table = machine_table();
        let first = prepare(&table, &options()).expect("prepare");
        let again = prepare(&table, &options()).expect("prepare");
        let mut other_options = options();
        other_options.seed = 99;
        let other = prepare(&table, &other_options).expect("prepare");
        assert_eq!(first.val, again.val, "same seed, same validation rows");
        assert_ne!(first.val, other.val, "another seed, other validation rows");
    }
}
