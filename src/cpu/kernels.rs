//! Plain-loop reference implementations of every op.
//!
//! These functions are the oracle the WGSL kernels are tested against: obvious loops, sums
//! accumulated in `f64`, no blocking or vectorisation. Shapes are checked by the graph before
//! any of them runs, so they index without further checks.

use crate::graph::Activation;
use crate::tensor::MAX_RANK;

/// `op(lhs) · op(rhs)` with `op(lhs): [m, k]`, `op(rhs): [k, n]`, output `[m, n]`.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    lhs: &[f32],
    rhs: &[f32],
    m: usize,
    k: usize,
    n: usize,
    transpose_lhs: bool,
    transpose_rhs: bool,
) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    for row in 0..m {
        for col in 0..n {
            let mut acc = 0.0f64;
            for i in 0..k {
                let a = if transpose_lhs {
                    lhs[i * m + row]
                } else {
                    lhs[row * k + i]
                };
                let b = if transpose_rhs {
                    rhs[col * k + i]
                } else {
                    rhs[i * n + col]
                };
                acc += a as f64 * b as f64;
            }
            out[row * n + col] = acc as f32;
        }
    }
    out
}

/// Row-major coordinates of flat index `index` in the padded shape `dims`.
fn coordinates(mut index: usize, dims: &[usize; MAX_RANK]) -> [usize; MAX_RANK] {
    let mut coords = [0; MAX_RANK];
    for d in (0..MAX_RANK).rev() {
        coords[d] = index % dims[d];
        index /= dims[d];
    }
    coords
}

fn offset(coords: &[usize; MAX_RANK], strides: &[usize; MAX_RANK]) -> usize {
    coords.iter().zip(strides).map(|(c, s)| c * s).sum()
}

/// `lhs + rhs` broadcast to `out_dims`; strides are 0 on stretched dimensions.
pub fn add(
    lhs: &[f32],
    lhs_strides: &[usize; MAX_RANK],
    rhs: &[f32],
    rhs_strides: &[usize; MAX_RANK],
    out_dims: &[usize; MAX_RANK],
) -> Vec<f32> {
    let len: usize = out_dims.iter().product();
    (0..len)
        .map(|i| {
            let c = coordinates(i, out_dims);
            lhs[offset(&c, lhs_strides)] + rhs[offset(&c, rhs_strides)]
        })
        .collect()
}

/// `scale · x` broadcast to `out_dims`.
pub fn expand(
    x: &[f32],
    x_strides: &[usize; MAX_RANK],
    out_dims: &[usize; MAX_RANK],
    scale: f32,
) -> Vec<f32> {
    let len: usize = out_dims.iter().product();
    (0..len)
        .map(|i| scale * x[offset(&coordinates(i, out_dims), x_strides)])
        .collect()
}

/// Sums `x: in_dims` over the dimensions where `out_dims` is 1 and `in_dims` is not.
pub fn sum_to(x: &[f32], in_dims: &[usize; MAX_RANK], out_dims: &[usize; MAX_RANK]) -> Vec<f32> {
    let out_len: usize = out_dims.iter().product();
    let mut out = vec![0.0f64; out_len];
    let mut out_strides = [0; MAX_RANK];
    let mut stride = 1;
    for d in (0..MAX_RANK).rev() {
        out_strides[d] = if out_dims[d] == 1 { 0 } else { stride };
        stride *= out_dims[d];
    }
    for (i, &value) in x.iter().enumerate() {
        let c = coordinates(i, in_dims);
        out[offset(&c, &out_strides)] += value as f64;
    }
    out.into_iter().map(|v| v as f32).collect()
}

/// `activation(x + bias)` in place, with `bias` repeated along each row of `x`.
pub fn bias_activation(x: &mut [f32], bias: &[f32], activation: Activation) {
    for row in x.chunks_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
    activate(x, activation);
}

/// Applies `activation` to every element in place, with the same loops as the standalone ops.
pub fn activate(x: &mut [f32], activation: Activation) {
    match activation {
        Activation::Identity => {}
        Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Sigmoid => x.iter_mut().for_each(|v| *v = sigmoid_scalar(*v)),
        Activation::Tanh => x.iter_mut().for_each(|v| *v = v.tanh()),
    }
}

/// Computes the gradient before `activation` from `dy` after it and its output `y`.
pub fn activation_gradient(y: &[f32], dy: Vec<f32>, activation: Activation) -> Vec<f32> {
    match activation {
        Activation::Identity => dy,
        Activation::Relu => relu_backward(y, &dy),
        Activation::Sigmoid => sigmoid_backward(y, &dy),
        Activation::Tanh => tanh_backward(y, &dy),
    }
}

/// `max(x, 0)`.
pub fn relu(x: &[f32]) -> Vec<f32> {
    activated(x, Activation::Relu)
}

fn activated(x: &[f32], activation: Activation) -> Vec<f32> {
    let mut y = x.to_vec();
    activate(&mut y, activation);
    y
}

/// `dy` where the relu output `y > 0`, else 0.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter()
        .zip(dy)
        .map(|(&y, &g)| if y > 0.0 { g } else { 0.0 })
        .collect()
}

/// Logistic sigmoid, evaluated so that neither branch overflows.
pub fn sigmoid(x: &[f32]) -> Vec<f32> {
    activated(x, Activation::Sigmoid)
}

pub(crate) fn sigmoid_scalar(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `dy · y · (1 − y)` with `y` the sigmoid output.
pub fn sigmoid_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter().zip(dy).map(|(&y, &g)| g * y * (1.0 - y)).collect()
}

/// Hyperbolic tangent.
pub fn tanh(x: &[f32]) -> Vec<f32> {
    activated(x, Activation::Tanh)
}

/// `dy · (1 − y²)` with `y` the tanh output.
pub fn tanh_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.iter().zip(dy).map(|(&y, &g)| g * (1.0 - y * y)).collect()
}

/// Sum of all elements.
pub fn sum(x: &[f32]) -> f32 {
    x.iter().map(|&v| v as f64).sum::<f64>() as f32
}

/// Mean of all elements.
pub fn mean(x: &[f32]) -> f32 {
    (x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64) as f32
}

fn weight_total(weights: &[f32]) -> f64 {
    weights.iter().map(|&w| w as f64).sum()
}

/// `logsumexp(row) − row[label]` for one row of logits, in `f64`.
fn cross_entropy_row(row: &[f32], label: usize) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
    let sum_exp: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
    max + sum_exp.ln() - row[label] as f64
}

/// Weighted mean softmax cross-entropy of `logits: [rows, classes]`.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[f32],
    weights: &[f32],
    classes: usize,
) -> f32 {
    let mut total = 0.0f64;
    for (r, row) in logits.chunks(classes).enumerate() {
        total += weights[r] as f64 * cross_entropy_row(row, labels[r] as usize);
    }
    (total / weight_total(weights)) as f32
}

/// Gradient of [`softmax_cross_entropy`] for the logits: `dloss · w_r · (softmax − onehot) / Σw`.
pub fn softmax_cross_entropy_backward(
    logits: &[f32],
    labels: &[f32],
    weights: &[f32],
    dloss: f32,
    classes: usize,
) -> Vec<f32> {
    let scale = dloss as f64 / weight_total(weights);
    let mut out = Vec::with_capacity(logits.len());
    for (r, row) in logits.chunks(classes).enumerate() {
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)) as f64;
        let sum_exp: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        for (c, &v) in row.iter().enumerate() {
            let p = (v as f64 - max).exp() / sum_exp;
            let target = if c == labels[r] as usize { 1.0 } else { 0.0 };
            out.push((scale * weights[r] as f64 * (p - target)) as f32);
        }
    }
    out
}

/// Weighted mean binary cross-entropy from logits, `max(x, 0) − x·y + ln(1 + e^−|x|)` per row.
pub fn binary_cross_entropy(logits: &[f32], targets: &[f32], weights: &[f32]) -> f32 {
    let mut total = 0.0f64;
    for i in 0..logits.len() {
        let (x, y) = (logits[i] as f64, targets[i] as f64);
        let loss = x.max(0.0) - x * y + (-x.abs()).exp().ln_1p();
        total += weights[i] as f64 * loss;
    }
    (total / weight_total(weights)) as f32
}

/// Gradient of [`binary_cross_entropy`]: `dloss · w_i · (σ(x_i) − y_i) / Σw`.
pub fn binary_cross_entropy_backward(
    logits: &[f32],
    targets: &[f32],
    weights: &[f32],
    dloss: f32,
) -> Vec<f32> {
    let scale = dloss as f64 / weight_total(weights);
    (0..logits.len())
        .map(|i| {
            let p = sigmoid_scalar(logits[i]) as f64;
            (scale * weights[i] as f64 * (p - targets[i] as f64)) as f32
        })
        .collect()
}

/// Weighted mean squared error of `prediction: [rows, columns]`.
pub fn mean_squared_error(
    prediction: &[f32],
    target: &[f32],
    weights: &[f32],
    columns: usize,
) -> f32 {
    let mut total = 0.0f64;
    for (r, (p, t)) in prediction
        .chunks(columns)
        .zip(target.chunks(columns))
        .enumerate()
    {
        let row: f64 = p
            .iter()
            .zip(t)
            .map(|(&p, &t)| (p as f64 - t as f64).powi(2))
            .sum();
        total += weights[r] as f64 * row / columns as f64;
    }
    (total / weight_total(weights)) as f32
}

/// Gradient of [`mean_squared_error`]: `dloss · w_r · 2 (p − t) / (columns · Σw)`.
pub fn mean_squared_error_backward(
    prediction: &[f32],
    target: &[f32],
    weights: &[f32],
    dloss: f32,
    columns: usize,
) -> Vec<f32> {
    let scale = dloss as f64 * 2.0 / (columns as f64 * weight_total(weights));
    (0..prediction.len())
        .map(|i| {
            let r = i / columns;
            (scale * weights[r] as f64 * (prediction[i] as f64 - target[i] as f64)) as f32
        })
        .collect()
}
