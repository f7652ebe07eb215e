//! Learning tasks and the analysis of a target column: task inference, class ordering, the
//! choice of the positive class and balanced class weights.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::{DataError, quoted_list};
use super::table::{Column, format_number};

/// Maximum number of distinct integer values for which a numeric target is inferred to be
/// multi-class classification rather than regression.
const MAX_INFERRED_CLASSES: usize = 20;

/// The kind of prediction a model makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Two classes; the model outputs the probability of the positive class.
    Binary,
    /// Three or more classes (or two, when requested); the model outputs one score per class.
    MultiClass,
    /// A real-valued target.
    Regression,
}

impl fmt::Display for Task {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Task::Binary => "binary",
            Task::MultiClass => "multiclass",
            Task::Regression => "regression",
        };
        formatter.write_str(name)
    }
}

impl FromStr for Task {
    type Err = DataError;

    /// Parses "binary", "multiclass" (or "multi-class") and "regression", ignoring case.
    fn from_str(text: &str) -> Result<Task, DataError> {
        match text.trim().to_ascii_lowercase().as_str() {
            "binary" => Ok(Task::Binary),
            "multiclass" | "multi-class" => Ok(Task::MultiClass),
            "regression" => Ok(Task::Regression),
            _ => Err(DataError::InvalidTask {
                value: text.to_owned(),
            }),
        }
    }
}

/// The target column read for a task.
#[derive(Debug)]
pub(super) enum TargetValues {
    /// Class labels and the class index of every row. Binary classes are ordered
    /// [negative, positive].
    Classes {
        classes: Vec<String>,
        row_classes: Vec<usize>,
    },
    /// The numeric value of every row.
    Regression { values: Vec<f64> },
}

/// Distinct values of a target column, ordered numerically for numeric columns and lexically
/// for text, with the class index of every row.
struct Distinct {
    labels: Vec<String>,
    counts: Vec<usize>,
    row_classes: Vec<usize>,
    /// The sorted distinct numbers, for numeric columns only.
    numbers: Option<Vec<f64>>,
}

/// Chooses the task for a target column and encodes its values.
///
/// `task` overrides inference. For binary tasks the positive class is `positive` when given,
/// else the rarer class, with ties going to the later class.
pub(super) fn analyse_target(
    name: &str,
    column: &Column,
    task: Option<Task>,
    positive: Option<&str>,
) -> Result<(Task, TargetValues), DataError> {
    let distinct = distinct_values(column);
    if distinct.labels.len() == 1 {
        return Err(DataError::SingleClass {
            column: name.to_owned(),
            value: distinct.labels[0].clone(),
        });
    }
    let n_classes = distinct.labels.len();
    let task = match task {
        Some(task) => {
            check_task(task, name, column, n_classes)?;
            task
        }
        None => infer_task(&distinct),
    };
    if let Some(value) = positive.filter(|_| task != Task::Binary) {
        return Err(DataError::PositiveNotBinary {
            value: value.to_owned(),
            task,
        });
    }

    match (task, column) {
        (Task::Regression, Column::Numeric(values)) => Ok((
            task,
            TargetValues::Regression {
                values: values.clone(),
            },
        )),
        (Task::Binary, _) => {
            let positive_index = match positive {
                Some(value) => {
                    find_class(&distinct, value).ok_or_else(|| DataError::UnknownPositive {
                        value: value.to_owned(),
                        column: name.to_owned(),
                        classes: quoted_list(&distinct.labels),
                    })?
                }
                // Ties go to the later class.
                None => usize::from(distinct.counts[1] <= distinct.counts[0]),
            };
            let Distinct {
                mut labels,
                mut row_classes,
                ..
            } = distinct;
            if positive_index == 0 {
                labels.swap(0, 1);
                for class in &mut row_classes {
                    *class = 1 - *class;
                }
            }
            Ok((
                task,
                TargetValues::Classes {
                    classes: labels,
                    row_classes,
                },
            ))
        }
        _ => Ok((
            task,
            TargetValues::Classes {
                classes: distinct.labels,
                row_classes: distinct.row_classes,
            },
        )),
    }
}

/// Returns one weight per class, `n / (n_classes * count_c)`, so that every class contributes
/// the same total weight (scikit-learn's "balanced" class weights).
///
/// Targets are class indices; values that are not an index below `n_classes` are ignored and
/// not counted in `n`. A class with no rows gets weight 1, which no row uses.
pub fn balanced_class_weights(targets: &[f32], n_classes: usize) -> Vec<f32> {
    let mut counts = vec![0_usize; n_classes];
    for &target in targets {
        let class = target.round();
        if class >= 0.0 && (class as usize) < n_classes {
            counts[class as usize] += 1;
        }
    }
    let total: usize = counts.iter().sum();
    counts
        .iter()
        .map(|&count| {
            if count == 0 {
                1.0
            } else {
                (total as f64 / (n_classes as f64 * count as f64)) as f32
            }
        })
        .collect()
}

/// Infers the task from the distinct values of a target with at least two of them.
fn infer_task(distinct: &Distinct) -> Task {
    let n_classes = distinct.labels.len();
    match &distinct.numbers {
        None if n_classes == 2 => Task::Binary,
        None => Task::MultiClass,
        Some(_) if n_classes == 2 => Task::Binary,
        Some(numbers) => {
            let integers = numbers.iter().all(|value| value.fract() == 0.0);
            if integers && n_classes <= MAX_INFERRED_CLASSES {
                Task::MultiClass
            } else {
                Task::Regression
            }
        }
    }
}

/// Checks that a requested task fits the target column.
fn check_task(task: Task, name: &str, column: &Column, n_classes: usize) -> Result<(), DataError> {
    let reason = match (task, column) {
        (Task::Binary, _) if n_classes != 2 => format!(
            "binary classification needs exactly 2 classes but the column has {n_classes} \
             distinct values; use --task multiclass or --task regression"
        ),
        (Task::Regression, Column::Text(_)) => {
            "regression needs a numeric target but the column contains text; use --task \
             multiclass or choose a numeric target"
                .to_owned()
        }
        _ => return Ok(()),
    };
    Err(DataError::TaskMismatch {
        task,
        column: name.to_owned(),
        reason,
    })
}

/// Finds the class whose label is `value`; for numeric targets "1.0" also matches class "1".
fn find_class(distinct: &Distinct, value: &str) -> Option<usize> {
    let value = value.trim();
    if let Some(index) = distinct.labels.iter().position(|label| label == value) {
        return Some(index);
    }
    let number = value.parse::<f64>().ok()?;
    distinct
        .numbers
        .as_ref()?
        .iter()
        .position(|candidate| *candidate == number)
}

fn distinct_values(column: &Column) -> Distinct {
    match column {
        Column::Text(values) => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for value in values {
                *counts.entry(value.as_str()).or_default() += 1;
            }
            let index: HashMap<&str, usize> = counts
                .keys()
                .enumerate()
                .map(|(i, label)| (*label, i))
                .collect();
            Distinct {
                labels: counts.keys().map(|label| (*label).to_owned()).collect(),
                counts: counts.values().copied().collect(),
                row_classes: values.iter().map(|value| index[value.as_str()]).collect(),
                numbers: None,
            }
        }
        Column::Numeric(values) => {
            let mut numbers = values.clone();
            numbers.sort_by(f64::total_cmp);
            numbers.dedup();
            let mut counts = vec![0; numbers.len()];
            let row_classes: Vec<usize> = values
                .iter()
                .map(|value| {
                    // Every value is in `numbers`, so the search succeeds.
                    let class = numbers
                        .binary_search_by(|probe| probe.total_cmp(value))
                        .unwrap_or_else(|insert_at| insert_at);
                    counts[class] += 1;
                    class
                })
                .collect();
            Distinct {
                labels: numbers.iter().map(|value| format_number(*value)).collect(),
                counts,
                row_classes,
                numbers: Some(numbers),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: &[&str]) -> Column {
        Column::Text(values.iter().map(|value| (*value).to_owned()).collect())
    }

    fn classes(result: (Task, TargetValues)) -> (Task, Vec<String>, Vec<usize>) {
        match result {
            (
                task,
                TargetValues::Classes {
                    classes,
                    row_classes,
                },
            ) => (task, classes, row_classes),
            (task, other) => panic!("expected classes for {task}, got {other:?}"),
        }
    }

    #[test]
    fn task_display_and_parse() {
        assert_eq!(Task::MultiClass.to_string(), "multiclass");
        assert_eq!("Regression".parse::<Task>().ok(), Some(Task::Regression));
        assert_eq!("multi-class".parse::<Task>().ok(), Some(Task::MultiClass));
        let error = "ranking"
            .parse::<Task>()
            .expect_err("unknown task")
            .to_string();
        assert!(error.contains("`ranking`"), "names the value: {error}");
        let json = serde_json::to_string(&Task::Binary).expect("serialise task");
        assert_eq!(json, "\"binary\"", "serde uses the Display name");
    }

    #[test]
    fn infer_text_targets() {
        let two = analyse_target("y", &text(&["b", "a", "b"]), None, None).expect("two classes");
        let (task, labels, rows) = classes(two);
        assert_eq!(task, Task::Binary);
        // "a" is rarer, so it is the positive class and comes second.
        assert_eq!(labels, ["b", "a"], "classes are [negative, positive]");
        assert_eq!(rows, [0, 1, 0], "targets follow the class order");

        let three = analyse_target("y", &text(&["c", "a", "b"]), None, None).expect("three");
        let (task, labels, rows) = classes(three);
        assert_eq!(task, Task::MultiClass);
        assert_eq!(
            labels,
            ["a", "b", "c"],
            "multi-class labels are sorted lexically"
        );
        assert_eq!(rows, [2, 0, 1]);
    }

    #[test]
    fn infer_numeric_targets() {
        let binary = Column::Numeric(vec![0.0, 1.0, 0.0, 0.0]);
        let (task, labels, rows) = classes(analyse_target("y", &binary, None, None).expect("0/1"));
        assert_eq!(task, Task::Binary);
        assert_eq!(labels, ["0", "1"], "the rarer 1 is positive");
        assert_eq!(rows, [0, 1, 0, 0]);

        let multi = Column::Numeric(vec![10.0, 2.0, 3.0, 2.0]);
        let (task, labels, _) = classes(analyse_target("y", &multi, None, None).expect("ints"));
        assert_eq!(task, Task::MultiClass);
        assert_eq!(
            labels,
            ["2", "3", "10"],
            "numeric classes are ordered numerically"
        );

        let many: Vec<f64> = (0..21).map(f64::from).collect();
        let (task, _) = analyse_target("y", &Column::Numeric(many), None, None).expect("21 ints");
        assert_eq!(
            task,
            Task::Regression,
            "21 distinct integers are regression"
        );

        let fractional = Column::Numeric(vec![0.5, 1.0, 1.5]);
        let (task, _) = analyse_target("y", &fractional, None, None).expect("fractions");
        assert_eq!(task, Task::Regression, "non-integers are regression");
    }

    #[test]
    fn binary_tie_picks_later_class() {
        let column = text(&["yes", "no", "no", "yes"]);
        let (_, labels, rows) = classes(analyse_target("y", &column, None, None).expect("tie"));
        assert_eq!(labels, ["no", "yes"], "the later class `yes` is positive");
        assert_eq!(rows, [1, 0, 0, 1]);
    }

    #[test]
    fn binary_explicit_positive() {
        let column = Column::Numeric(vec![0.0, 1.0, 1.0]);
        let result = analyse_target("y", &column, None, Some("0.0")).expect("numeric match");
        let (_, labels, rows) = classes(result);
        assert_eq!(labels, ["1", "0"], "`0.0` selects class 0 as positive");
        assert_eq!(rows, [1, 0, 0]);

        let error = analyse_target("y", &column, None, Some("2")).expect_err("not a class");
        let message = error.to_string();
        assert!(message.contains("`2`"), "names the value: {message}");
        assert!(message.contains("`0`, `1`"), "lists the classes: {message}");
    }

    #[test]
    fn target_errors_name_column() {
        let single = analyse_target(
            "Machine failure",
            &Column::Numeric(vec![1.0, 1.0]),
            None,
            None,
        )
        .expect_err("one value")
        .to_string();
        assert!(
            single.contains("`Machine failure`"),
            "names the column: {single}"
        );
        assert!(single.contains("`1`"), "names the value: {single}");

        let column = text(&["a", "b", "c"]);
        let binary = analyse_target("y", &column, Some(Task::Binary), None)
            .expect_err("three classes as binary")
            .to_string();
        assert!(
            binary.contains("3 distinct values"),
            "gives the class count: {binary}"
        );

        let regression = analyse_target("y", &column, Some(Task::Regression), None)
            .expect_err("text regression")
            .to_string();
        assert!(
            regression.contains("numeric target"),
            "explains: {regression}"
        );

        let positive = analyse_target("y", &column, None, Some("a"))
            .expect_err("positive with multi-class")
            .to_string();
        assert!(
            positive.contains("multiclass"),
            "names the task: {positive}"
        );
    }

    #[test]
    fn requested_multiclass_on_two_classes() {
        let column = text(&["a", "b", "b"]);
        let result = analyse_target("y", &column, Some(Task::MultiClass), None).expect("allowed");
        let (task, labels, _) = classes(result);
        assert_eq!(task, Task::MultiClass);
        assert_eq!(labels, ["a", "b"], "multi-class keeps sorted order");
    }

    #[test]
    fn balanced_weights_match_formula() {
        // 6 rows: four of class 0, two of class 1, none of class 2.
        let weights = balanced_class_weights(&[0.0, 0.0, 1.0, 0.0, 1.0, 0.0], 3);
        assert_eq!(weights[0], 0.5, "6 / (3 * 4)");
        assert_eq!(weights[1], 1.0, "6 / (3 * 2)");
        assert_eq!(weights[2], 1.0, "absent class gets 1");
        let ignored = balanced_class_weights(&[0.0, 1.0, 7.0, -1.0], 2);
        assert_eq!(ignored, [1.0, 1.0], "out-of-range targets are not counted");
    }
}
