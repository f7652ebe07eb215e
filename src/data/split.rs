//! Seeded training/validation splits: stratified by class for classification, plain shuffled
//! for regression. Both splits keep the rows in their original order.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::error::DataError;

/// Row indices of the training and validation splits, each in increasing order.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Split {
    pub train: Vec<usize>,
    pub val: Vec<usize>,
}

/// Returns how many of `count` rows go to validation: `round(val_fraction * count)`, kept
/// between 1 and `count - 1` so that both splits get at least one row. Returns 0 when
/// `count < 2`.
fn validation_count(count: usize, val_fraction: f64) -> usize {
    if count < 2 {
        return 0;
    }
    let rounded = (val_fraction * count as f64).round() as usize;
    rounded.clamp(1, count - 1)
}

/// Splits rows by class: each class's rows are shuffled with one [`ChaCha8Rng`] seeded from
/// `seed`, visiting classes in index order, and the first `validation_count` go to validation.
///
/// A class with a single row cannot appear in both splits, which is an error naming the class.
pub(super) fn stratified_split(
    row_classes: &[usize],
    class_names: &[String],
    column: &str,
    val_fraction: f64,
    seed: u64,
) -> Result<Split, DataError> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); class_names.len()];
    for (row, &class) in row_classes.iter().enumerate() {
        if let Some(rows) = by_class.get_mut(class) {
            rows.push(row);
        }
    }
    if let Some(class) = by_class.iter().position(|rows| rows.len() == 1) {
        return Err(DataError::MissingValidationClass {
            column: column.to_owned(),
            class: class_names[class].clone(),
            count: 1,
        });
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(row_classes.len());
    let mut val = Vec::new();
    for mut rows in by_class {
        rows.shuffle(&mut rng);
        let n_val = validation_count(rows.len(), val_fraction);
        val.extend_from_slice(&rows[..n_val]);
        train.extend_from_slice(&rows[n_val..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    Ok(Split { train, val })
}

/// Splits `rows` rows after one shuffle with a [`ChaCha8Rng`] seeded from `seed`; needs at least
/// 2 rows.
pub(super) fn shuffled_split(
    rows: usize,
    val_fraction: f64,
    seed: u64,
    input: &str,
) -> Result<Split, DataError> {
    if rows < 2 {
        return Err(DataError::TooFewRows {
            input: input.to_owned(),
            rows,
        });
    }
    let mut order: Vec<usize> = (0..rows).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let n_val = validation_count(rows, val_fraction);
    let mut val = order[..n_val].to_vec();
    let mut train = order[n_val..].to_vec();
    train.sort_unstable();
    val.sort_unstable();
    Ok(Split { train, val })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(count: usize) -> Vec<String> {
        (0..count).map(|class| class.to_string()).collect()
    }

    #[test]
    fn validation_count_rounds_and_clamps() {
        assert_eq!(validation_count(10, 0.2), 2, "round(2.0)");
        assert_eq!(validation_count(7, 0.2), 1, "round(1.4)");
        assert_eq!(validation_count(2, 0.2), 1, "at least one of two rows");
        assert_eq!(
            validation_count(2, 0.9),
            1,
            "training keeps one of two rows"
        );
        assert_eq!(
            validation_count(1, 0.9),
            0,
            "a single row stays in training"
        );
    }

    #[test]
    fn stratified_split_keeps_class_shares() {
        // 90 rows of class 0 and 10 of class 1, interleaved.
        let classes: Vec<usize> = (0..100).map(|row| usize::from(row % 10 == 0)).collect();
        let split = stratified_split(&classes, &names(2), "y", 0.2, 7).expect("split");
        let val_positive = split.val.iter().filter(|&&row| classes[row] == 1).count();
        assert_eq!(split.val.len(), 20, "18 + 2 validation rows");
        assert_eq!(val_positive, 2, "round(0.2 * 10) positives in validation");
        assert_eq!(split.train.len(), 80, "the rest is training");
        assert!(split.train.is_sorted(), "training rows keep their order");
        assert!(split.val.is_sorted(), "validation rows keep their order");
        let mut all: Vec<usize> = split.train.iter().chain(&split.val).copied().collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (0..100).collect::<Vec<_>>(),
            "every row is in exactly one split"
        );
    }

    #[test]
    fn stratified_split_is_seeded() {
        let classes: Vec<usize> = (0..50).map(|row| row % 3).collect();
        let first = stratified_split(&classes, &names(3), "y", 0.3, 1).expect("split");
        let again = stratified_split(&classes, &names(3), "y", 0.3, 1).expect("split");
        let other = stratified_split(&classes, &names(3), "y", 0.3, 2).expect("split");
        assert_eq!(first, again, "same seed, same split");
        assert_ne!(first, other, "another seed, another split");
    }

    #[test]
    fn stratified_split_rejects_single_row_class() {
        let classes = [0, 0, 0, 1, 0];
        let error = stratified_split(&classes, &["ok".into(), "fail".into()], "status", 0.2, 0)
            .expect_err("one positive row");
        let message = error.to_string();
        assert!(
            message.contains("class `fail`"),
            "names the class: {message}"
        );
        assert!(message.contains("`status`"), "names the column: {message}");
        assert!(
            message.contains("add more rows"),
            "says what to do: {message}"
        );
    }

    #[test]
    fn shuffled_split_sizes_and_order() {
        let split = shuffled_split(10, 0.25, 3, "data.csv").expect("split");
        assert_eq!(split.val.len(), 3, "round(2.5) rounds away from zero");
        assert_eq!(split.train.len(), 7);
        assert!(split.train.is_sorted(), "training order kept: {split:?}");
        assert!(split.val.is_sorted(), "validation order kept: {split:?}");
        let message = shuffled_split(1, 0.2, 0, "data.csv")
            .expect_err("one row")
            .to_string();
        assert!(message.contains("data.csv has 1 rows"), "{message}");
    }
}
