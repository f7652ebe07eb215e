//! Plain-loop reference for convolution, pooling and dropout.
//!
//! Every function works on the `[batch, channels, height, width]` view (`as_4d`), with 1-D
//! ops as height 1. The backward passes scatter from each output to the inputs it read, the
//! obvious form; the WGSL kernels gather instead, so the two are independent.

use crate::graph::Window2d;

/// Row-major offset of `(a, b, c, d)` in `dims`.
fn at(dims: &[usize; 4], a: usize, b: usize, c: usize, d: usize) -> usize {
    ((a * dims[1] + b) * dims[2] + c) * dims[3] + d
}

/// The input coordinate a window tap reads, or `None` when it falls in the padding.
fn tap(out: usize, k: usize, window: &Window2d, axis: usize, size: usize) -> Option<usize> {
    let position = (out * window.stride[axis] + k * window.dilation[axis]) as isize
        - window.padding[axis] as isize;
    (position >= 0 && (position as usize) < size).then_some(position as usize)
}

/// `y[n, co, oh, ow] = bias[co] + Σ x[n, ci, tap(oh, kh), tap(ow, kw)] · weight[co, ci, kh, kw]`.
pub fn conv_forward(
    x: &[f32],
    xd: &[usize; 4],
    weight: &[f32],
    wd: &[usize; 4],
    bias: &[f32],
    window: &Window2d,
    od: &[usize; 4],
) -> Vec<f32> {
    let mut y = vec![0.0; od.iter().product()];
    for n in 0..od[0] {
        for co in 0..od[1] {
            for oh in 0..od[2] {
                for ow in 0..od[3] {
                    let mut acc = bias[co] as f64;
                    for ci in 0..wd[1] {
                        for kh in 0..wd[2] {
                            let Some(ih) = tap(oh, kh, window, 0, xd[2]) else {
                                continue;
                            };
                            for kw in 0..wd[3] {
                                let Some(iw) = tap(ow, kw, window, 1, xd[3]) else {
                                    continue;
                                };
                                acc += x[at(xd, n, ci, ih, iw)] as f64
                                    * weight[at(wd, co, ci, kh, kw)] as f64;
                            }
                        }
                    }
                    y[at(od, n, co, oh, ow)] = acc as f32;
                }
            }
        }
    }
    y
}

/// Visits every (output, tap) pair of a convolution with the input position it reads.
fn for_each_tap(
    xd: &[usize; 4],
    wd: &[usize; 4],
    od: &[usize; 4],
    window: &Window2d,
    mut visit: impl FnMut(usize, usize, usize),
) {
    for n in 0..od[0] {
        for co in 0..od[1] {
            for oh in 0..od[2] {
                for ow in 0..od[3] {
                    for ci in 0..wd[1] {
                        for kh in 0..wd[2] {
                            let Some(ih) = tap(oh, kh, window, 0, xd[2]) else {
                                continue;
                            };
                            for kw in 0..wd[3] {
                                let Some(iw) = tap(ow, kw, window, 1, xd[3]) else {
                                    continue;
                                };
                                visit(
                                    at(od, n, co, oh, ow),
                                    at(xd, n, ci, ih, iw),
                                    at(wd, co, ci, kh, kw),
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `dx` of a convolution: each output's gradient times each tap's weight, added to the input
/// element that tap read.
pub fn conv_backward_input(
    dy: &[f32],
    od: &[usize; 4],
    weight: &[f32],
    wd: &[usize; 4],
    window: &Window2d,
    xd: &[usize; 4],
) -> Vec<f32> {
    let mut dx = vec![0.0f64; xd.iter().product()];
    for_each_tap(xd, wd, od, window, |o, i, w| {
        dx[i] += dy[o] as f64 * weight[w] as f64;
    });
    dx.into_iter().map(|v| v as f32).collect()
}

/// `dweight` of a convolution: each output's gradient times the input element each tap read.
pub fn conv_backward_weight(
    dy: &[f32],
    od: &[usize; 4],
    x: &[f32],
    xd: &[usize; 4],
    window: &Window2d,
    wd: &[usize; 4],
) -> Vec<f32> {
    let mut dw = vec![0.0f64; wd.iter().product()];
    for_each_tap(xd, wd, od, window, |o, i, w| {
        dw[w] += dy[o] as f64 * x[i] as f64;
    });
    dw.into_iter().map(|v| v as f32).collect()
}

/// Sum over batch and spatial positions per channel: `[n, c, h, w]` to `[c]`.
pub fn channel_sum(dy: &[f32], dims: &[usize; 4]) -> Vec<f32> {
    let mut out = vec![0.0f64; dims[1]];
    for n in 0..dims[0] {
        for (c, total) in out.iter_mut().enumerate() {
            for h in 0..dims[2] {
                for w in 0..dims[3] {
                    *total += dy[at(dims, n, c, h, w)] as f64;
                }
            }
        }
    }
    out.into_iter().map(|v| v as f32).collect()
}

/// The real input positions of one pooling window, in row-major window order.
fn window_positions(
    oh: usize,
    ow: usize,
    window: &Window2d,
    xd: &[usize; 4],
) -> Vec<(usize, usize)> {
    let mut positions = Vec::new();
    for kh in 0..window.kernel[0] {
        let Some(ih) = tap(oh, kh, window, 0, xd[2]) else {
            continue;
        };
        for kw in 0..window.kernel[1] {
            let Some(iw) = tap(ow, kw, window, 1, xd[3]) else {
                continue;
            };
            positions.push((ih, iw));
        }
    }
    positions
}

/// For each output of a max pool, the input index of its window's first maximum.
fn max_pool_argmax(x: &[f32], xd: &[usize; 4], window: &Window2d, od: &[usize; 4]) -> Vec<usize> {
    let mut argmax = vec![0; od.iter().product()];
    for n in 0..od[0] {
        for c in 0..od[1] {
            for oh in 0..od[2] {
                for ow in 0..od[3] {
                    let mut best: Option<usize> = None;
                    for (ih, iw) in window_positions(oh, ow, window, xd) {
                        let i = at(xd, n, c, ih, iw);
                        if best.is_none_or(|b| x[i] > x[b]) {
                            best = Some(i);
                        }
                    }
                    // Padding is at most half the kernel, so every window contains a real element.
                    argmax[at(od, n, c, oh, ow)] = best.unwrap_or(0);
                }
            }
        }
    }
    argmax
}

/// Maximum of each window's real elements.
pub fn max_pool(x: &[f32], xd: &[usize; 4], window: &Window2d, od: &[usize; 4]) -> Vec<f32> {
    max_pool_argmax(x, xd, window, od)
        .into_iter()
        .map(|i| x[i])
        .collect()
}

/// Each window's gradient added to its first maximum.
pub fn max_pool_backward(
    x: &[f32],
    xd: &[usize; 4],
    dy: &[f32],
    window: &Window2d,
    od: &[usize; 4],
) -> Vec<f32> {
    let mut dx = vec![0.0f64; x.len()];
    for (o, i) in max_pool_argmax(x, xd, window, od).into_iter().enumerate() {
        dx[i] += dy[o] as f64;
    }
    dx.into_iter().map(|v| v as f32).collect()
}

/// Mean of each window's real elements.
pub fn avg_pool(x: &[f32], xd: &[usize; 4], window: &Window2d, od: &[usize; 4]) -> Vec<f32> {
    let mut y = vec![0.0; od.iter().product()];
    for n in 0..od[0] {
        for c in 0..od[1] {
            for oh in 0..od[2] {
                for ow in 0..od[3] {
                    let positions = window_positions(oh, ow, window, xd);
                    let total: f64 = positions
                        .iter()
                        .map(|&(h, w)| x[at(xd, n, c, h, w)] as f64)
                        .sum();
                    y[at(od, n, c, oh, ow)] = (total / positions.len() as f64) as f32;
                }
            }
        }
    }
    y
}

/// Each window's gradient shared equally among its real elements.
pub fn avg_pool_backward(
    dy: &[f32],
    od: &[usize; 4],
    window: &Window2d,
    xd: &[usize; 4],
) -> Vec<f32> {
    let mut dx = vec![0.0f64; xd.iter().product()];
    for n in 0..od[0] {
        for c in 0..od[1] {
            for oh in 0..od[2] {
                for ow in 0..od[3] {
                    let positions = window_positions(oh, ow, window, xd);
                    let share = dy[at(od, n, c, oh, ow)] as f64 / positions.len() as f64;
                    for (h, w) in positions {
                        dx[at(xd, n, c, h, w)] += share;
                    }
                }
            }
        }
    }
    dx.into_iter().map(|v| v as f32).collect()
}

/// The murmur3 32-bit finaliser, a bijective integer mix.
fn mix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Whether dropout keeps element `index` at `step`: a uniform number in `[0, 1)` drawn from
/// the hash of `(seed, step, index)` is at least `p`. `shaders/elementwise.wgsl` computes the
/// same hash.
pub fn dropout_keeps(seed: u32, step: u32, index: u32, p: f32) -> bool {
    let h = mix(seed ^ mix(step ^ mix(index)));
    let uniform = (h >> 8) as f32 / 16_777_216.0;
    uniform >= p
}

/// Dropout in training mode: kept elements scaled by `1 / (1 − p)`, dropped ones zero.
pub fn dropout(x: &[f32], p: f32, seed: u32, step: u32) -> Vec<f32> {
    let scale = 1.0 / (1.0 - p);
    x.iter()
        .enumerate()
        .map(|(i, &v)| {
            if dropout_keeps(seed, step, i as u32, p) {
                v * scale
            } else {
                0.0
            }
        })
        .collect()
}
