//! Evaluation metrics for binary classification, multi-class classification and regression,
//! and a text rendering of confusion matrices.
//!
//! The functions take parallel slices of predictions and labels. When their lengths differ,
//! they log a warning and use only the pairs up to the shorter length.

use serde::Serialize;

/// Metrics of a binary classifier at one decision threshold.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BinaryMetrics {
    /// Share of rows classified correctly.
    pub accuracy: f64,
    /// True positives over predicted positives; 0 when nothing is predicted positive.
    pub precision: f64,
    /// True positives over actual positives; 0 when there are no actual positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
    /// Area under the ROC curve, independent of the threshold; NaN when the labels contain
    /// only one class, because the curve is then undefined.
    pub roc_auc: f64,
    /// Counts indexed `[actual][predicted]`, where index 1 is the positive class.
    pub confusion: [[u64; 2]; 2],
}

/// Computes binary metrics; a row is predicted positive when its score is at least
/// `threshold`, so a NaN score counts as a negative prediction.
///
/// ROC AUC is the Mann-Whitney rank statistic: the probability that a random positive scores
/// higher than a random negative, with ties counted as one half (tied scores get the average
/// of their ranks). NaN scores rank above all others. With no rows, accuracy is NaN.
pub fn binary_metrics(positive_scores: &[f32], labels: &[bool], threshold: f32) -> BinaryMetrics {
    warn_on_length_mismatch("binary_metrics", positive_scores.len(), labels.len());
    let mut confusion = [[0_u64; 2]; 2];
    for (&score, &label) in positive_scores.iter().zip(labels) {
        let predicted = score >= threshold;
        confusion[usize::from(label)][usize::from(predicted)] += 1;
    }
    let [
        [true_negative, false_positive],
        [false_negative, true_positive],
    ] = confusion;
    let total = true_negative + false_positive + false_negative + true_positive;
    let precision = ratio_or_zero(true_positive, true_positive + false_positive);
    let recall = ratio_or_zero(true_positive, true_positive + false_negative);
    BinaryMetrics {
        accuracy: (true_positive + true_negative) as f64 / total as f64,
        precision,
        recall,
        f1: harmonic_mean(precision, recall),
        roc_auc: roc_auc(positive_scores, labels),
        confusion,
    }
}

/// Metrics of a multi-class classifier.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MultiClassMetrics {
    /// Share of rows classified correctly.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1 scores over the classes that occur in the actual or
    /// the predicted labels.
    pub macro_f1: f64,
    /// Counts indexed `[actual][predicted]`, `n_classes` by `n_classes`.
    pub confusion: Vec<Vec<u64>>,
}

/// Computes multi-class metrics from predicted and actual class indices.
///
/// Pairs with an index of `n_classes` or more are left out and logged. A class that occurs in
/// neither the actual nor the predicted labels has no defined F1 and is left out of the macro
/// mean. With no rows, accuracy and macro F1 are NaN.
pub fn multiclass_metrics(
    predicted: &[usize],
    actual: &[usize],
    n_classes: usize,
) -> MultiClassMetrics {
    warn_on_length_mismatch("multiclass_metrics", predicted.len(), actual.len());
    let mut confusion = vec![vec![0_u64; n_classes]; n_classes];
    let mut out_of_range = 0_usize;
    for (&predicted_class, &actual_class) in predicted.iter().zip(actual) {
        if predicted_class < n_classes && actual_class < n_classes {
            confusion[actual_class][predicted_class] += 1;
        } else {
            out_of_range += 1;
        }
    }
    if out_of_range > 0 {
        log::warn!(
            "multiclass_metrics: left out {out_of_range} pairs with a class index of \
             {n_classes} or more"
        );
    }

    let total: u64 = confusion.iter().flatten().sum();
    let correct: u64 = (0..n_classes).map(|class| confusion[class][class]).sum();
    let mut f1_sum = 0.0;
    let mut f1_count = 0_usize;
    for class in 0..n_classes {
        let true_positive = confusion[class][class];
        let actual_count: u64 = confusion[class].iter().sum();
        let predicted_count: u64 = confusion.iter().map(|row| row[class]).sum();
        if actual_count + predicted_count == 0 {
            continue;
        }
        // F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (actual + predicted).
        f1_sum += 2.0 * true_positive as f64 / (actual_count + predicted_count) as f64;
        f1_count += 1;
    }
    MultiClassMetrics {
        accuracy: correct as f64 / total as f64,
        macro_f1: f1_sum / f1_count as f64,
        confusion,
    }
}

/// Metrics of a regression model, in the target's unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RegressionMetrics {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
}

/// Computes regression metrics; with no rows both are NaN.
pub fn regression_metrics(predicted: &[f64], actual: &[f64]) -> RegressionMetrics {
    warn_on_length_mismatch("regression_metrics", predicted.len(), actual.len());
    let count = predicted.len().min(actual.len()) as f64;
    let (squared, absolute) = predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| p - a)
        .fold((0.0, 0.0), |(squared, absolute), error| {
            (squared + error * error, absolute + error.abs())
        });
    RegressionMetrics {
        rmse: (squared / count).sqrt(),
        mae: absolute / count,
    }
}

/// Renders a confusion matrix as an aligned text table with actual classes as rows and
/// predicted classes as columns. Classes without a name in `class_names` are shown by index.
pub fn format_confusion(confusion: &[Vec<u64>], class_names: &[String]) -> String {
    const CORNER: &str = "actual \\ predicted";
    let n_classes = confusion
        .len()
        .max(confusion.iter().map(Vec::len).max().unwrap_or(0));
    let names: Vec<String> = (0..n_classes)
        .map(|class| {
            class_names
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string())
        })
        .collect();
    let label_width = names
        .iter()
        .map(|name| name.chars().count())
        .chain([CORNER.len()])
        .max()
        .unwrap_or(0);
    let column_widths: Vec<usize> = (0..n_classes)
        .map(|column| {
            let count_width = confusion
                .iter()
                .map(|row| row.get(column).copied().unwrap_or(0).to_string().len())
                .max()
                .unwrap_or(1);
            count_width.max(names[column].chars().count())
        })
        .collect();

    let mut text = format!("{CORNER:<label_width$}");
    for (name, width) in names.iter().zip(&column_widths) {
        text.push_str(&format!("  {name:>width$}"));
    }
    text.push('\n');
    for (class, name) in names.iter().enumerate() {
        text.push_str(&format!("{name:<label_width$}"));
        for (column, width) in column_widths.iter().enumerate() {
            let count = confusion
                .get(class)
                .and_then(|row| row.get(column))
                .copied()
                .unwrap_or(0);
            text.push_str(&format!("  {count:>width$}"));
        }
        text.push('\n');
    }
    text
}

/// Returns the ROC AUC by the rank statistic, or NaN when either class is absent.
fn roc_auc(scores: &[f32], labels: &[bool]) -> f64 {
    let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(labels.iter().copied()).collect();
    let positives = pairs.iter().filter(|(_, label)| *label).count();
    let negatives = pairs.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));

    // Sum the 1-based ranks of the positives, giving each run of tied scores its average rank.
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < pairs.len() {
        let mut end = start + 1;
        while end < pairs.len() && pairs[end].0.total_cmp(&pairs[start].0).is_eq() {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = pairs[start..end].iter().filter(|(_, label)| *label).count();
        positive_rank_sum += average_rank * tied_positives as f64;
        start = end;
    }
    let positives = positives as f64;
    let negatives = negatives as f64;
    (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

fn ratio_or_zero(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 {
        0.0
    } else {
        numerator as f64 / denominator as f64
    }
}

fn harmonic_mean(a: f64, b: f64) -> f64 {
    if a + b == 0.0 {
        0.0
    } else {
        2.0 * a * b / (a + b)
    }
}

fn warn_on_length_mismatch(function: &str, predicted: usize, actual: usize) {
    if predicted != actual {
        log::warn!(
            "{function}: got {predicted} predictions for {actual} labels; using the first {}",
            predicted.min(actual)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() < 1e-12,
            "{what}: got {actual}, expected {expected}"
        );
    }

    #[test]
    fn binary_metrics_by_hand() {
        // Predictions at 0.5: [T, T, F, T, F] against labels [T, F, T, F, F].
        let scores = [0.9, 0.8, 0.3, 0.6, 0.1];
        let labels = [true, false, true, false, false];
        let metrics = binary_metrics(&scores, &labels, 0.5);
        assert_eq!(metrics.confusion, [[1, 2], [1, 1]], "[[TN, FP], [FN, TP]]");
        assert_close(metrics.accuracy, 2.0 / 5.0, "accuracy");
        assert_close(metrics.precision, 1.0 / 3.0, "precision");
        assert_close(metrics.recall, 1.0 / 2.0, "recall");
        assert_close(metrics.f1, 0.4, "f1 = 2 * (1/3) * (1/2) / (5/6)");
        // Positive 0.9 beats all 3 negatives and 0.3 beats only 0.1: 4 of 6 pairs.
        assert_close(metrics.roc_auc, 4.0 / 6.0, "roc_auc");
    }

    #[test]
    fn roc_auc_counts_ties_as_half() {
        // Pairs (pos, neg): (0.6, 0.2) win, (0.6, 0.6) tie, (0.9, 0.2) win, (0.9, 0.6) win.
        let metrics = binary_metrics(&[0.2, 0.6, 0.6, 0.9], &[false, true, false, true], 0.5);
        assert_close(metrics.roc_auc, 3.5 / 4.0, "one tie among four pairs");

        let all_tied = binary_metrics(&[0.5; 4], &[true, false, true, false], 0.5);
        assert_close(all_tied.roc_auc, 0.5, "all scores tied");

        let reversed = binary_metrics(&[0.9, 0.1], &[false, true], 0.5);
        assert_close(reversed.roc_auc, 0.0, "every negative above every positive");
    }

    #[test]
    fn binary_metrics_one_class_edge_case() {
        let metrics = binary_metrics(&[0.2, 0.7], &[false, false], 0.5);
        assert!(metrics.roc_auc.is_nan(), "AUC undefined without positives");
        assert_close(metrics.recall, 0.0, "no positives, recall 0");
        assert_close(
            metrics.precision,
            0.0,
            "the one positive prediction is wrong",
        );
        assert_close(metrics.accuracy, 0.5, "accuracy");

        let nothing_positive = binary_metrics(&[0.1, 0.2], &[true, false], 0.5);
        assert_close(
            nothing_positive.precision,
            0.0,
            "no positive predictions, precision 0",
        );
        assert_close(nothing_positive.f1, 0.0, "f1 with precision and recall 0");

        let json = serde_json::to_string(&metrics).expect("serialise metrics");
        assert!(
            json.contains("\"roc_auc\":null"),
            "NaN serialises as null: {json}"
        );
    }

    #[test]
    fn binary_metrics_length_mismatch_uses_shorter() {
        let metrics = binary_metrics(&[0.9, 0.1, 0.8], &[true, false], 0.5);
        assert_eq!(
            metrics.confusion,
            [[1, 0], [0, 1]],
            "third score has no label"
        );
    }

    #[test]
    fn multiclass_metrics_by_hand() {
        let predicted = [0, 1, 2, 2, 1, 0];
        let actual = [0, 1, 1, 2, 2, 0];
        let metrics = multiclass_metrics(&predicted, &actual, 3);
        assert_eq!(
            metrics.confusion,
            [vec![2, 0, 0], vec![0, 1, 1], vec![0, 1, 1]]
        );
        assert_close(metrics.accuracy, 4.0 / 6.0, "accuracy");
        // Per-class F1: 1, 2/4 and 2/4.
        assert_close(metrics.macro_f1, 2.0 / 3.0, "macro f1");
    }

    #[test]
    fn multiclass_metrics_skips_absent_class() {
        let metrics = multiclass_metrics(&[0, 1, 1], &[0, 1, 0], 3);
        // Class 0: 2 * 1 / (2 + 1); class 1: 2 * 1 / (1 + 2); class 2 is absent.
        assert_close(metrics.macro_f1, 2.0 / 3.0, "mean over classes 0 and 1");
        let out_of_range = multiclass_metrics(&[0, 5], &[0, 1], 2);
        assert_eq!(
            out_of_range.confusion,
            [vec![1, 0], vec![0, 0]],
            "index 5 is left out"
        );
        assert!(multiclass_metrics(&[], &[], 2).accuracy.is_nan(), "no rows");
    }

    #[test]
    fn regression_metrics_by_hand() {
        // Errors 0, -2 and 3.
        let metrics = regression_metrics(&[1.0, 2.0, 3.0], &[1.0, 4.0, 0.0]);
        assert_close(metrics.mae, 5.0 / 3.0, "mae");
        assert_close(metrics.rmse, (13.0_f64 / 3.0).sqrt(), "rmse");
        assert!(regression_metrics(&[], &[]).rmse.is_nan(), "no rows");
    }

    #[test]
    fn format_confusion_aligns_columns() {
        let text = format_confusion(&[vec![9, 1], vec![2, 30]], &["no".into(), "yes".into()]);
        let expected = "actual \\ predicted  no  yes\n\
                        no                   9    1\n\
                        yes                  2   30\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn format_confusion_names_missing_classes() {
        let text = format_confusion(&[vec![12345, 0], vec![0, 1]], &["a".into()]);
        let expected = "actual \\ predicted      a  1\n\
                        a                   12345  0\n\
                        1                       0  1\n";
        assert_eq!(text, expected);
    }
}
