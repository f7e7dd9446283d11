//! Classification metrics: the confusion matrix, accuracy and ROC AUC, shared by training and
//! cross-validation.

use serde::Serialize;

/// Counts of right and wrong classifications (positive = diabetic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConfusionMatrix {
    pub true_positive: usize,
    pub false_positive: usize,
    pub true_negative: usize,
    pub false_negative: usize,
}

/// `numerator / denominator`, 0 when there is nothing to divide by.
pub(crate) fn ratio(numerator: usize, denominator: usize) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

/// The confusion matrix of `probabilities` classified at `threshold` against `outcomes`.
pub fn confusion_matrix(probabilities: &[f64], outcomes: &[u8], threshold: f64) -> ConfusionMatrix {
    let mut m = ConfusionMatrix::default();
    for (p, o) in probabilities.iter().zip(outcomes) {
        match (*p >= threshold, *o == 1) {
            (true, true) => m.true_positive += 1,
            (true, false) => m.false_positive += 1,
            (false, false) => m.true_negative += 1,
            (false, true) => m.false_negative += 1,
        }
    }
    m
}

/// Share of rows classified right at `threshold`.
pub fn accuracy(probabilities: &[f64], outcomes: &[u8], threshold: f64) -> f64 {
    let m = confusion_matrix(probabilities, outcomes, threshold);
    ratio(m.true_positive + m.true_negative, outcomes.len())
}

/// Area under the ROC curve: the probability that a random positive scores above a random
/// negative (ties count half), computed from ranks.
pub fn roc_auc(probabilities: &[f64], outcomes: &[u8]) -> f64 {
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|a, b| probabilities[*a].total_cmp(&probabilities[*b]));
    // Average ranks (1-based) over ties.
    let mut ranks = vec![0.0; probabilities.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && probabilities[order[j + 1]] == probabilities[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    let positives = outcomes.iter().filter(|o| **o == 1).count() as f64;
    let negatives = outcomes.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return f64::NAN;
    }
    let positive_rank_sum: f64 = ranks.iter().zip(outcomes).filter(|(_, o)| **o == 1).map(|(r, _)| r).sum();
    (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[0, 0, 1, 1]), 0.75);
        assert_eq!(roc_auc(&[0.5, 0.5], &[0, 1]), 0.5);
        assert_eq!(roc_auc(&[0.2, 0.9], &[0, 1]), 1.0);
    }
}
