//! Optimizers and their reference update rules.
//!
//! The update rules follow PyTorch's `torch.optim` definitions (SGD without dampening or
//! Nesterov, Adam with L2 weight decay, AdamW with decoupled weight decay). The CPU functions
//! here are the reference that `shaders/optimizer.wgsl` is tested against.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An optimizer and its hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Optimizer {
    /// Stochastic gradient descent with momentum and L2 weight decay:
    /// `g += wd·p; v = μ·v + g; p -= lr·v`.
    Sgd {
        /// Learning rate.
        lr: f32,
        /// Momentum factor μ (0 for plain SGD).
        momentum: f32,
        /// L2 penalty added to the gradient.
        weight_decay: f32,
    },
    /// Adam with bias correction and L2 weight decay added to the gradient.
    Adam(AdamConfig),
    /// AdamW: Adam with weight decay applied to the parameter, `p *= 1 − lr·wd`, before the
    /// Adam update.
    AdamW(AdamConfig),
}

/// Hyperparameters shared by Adam and AdamW.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first-moment estimate.
    pub beta1: f32,
    /// Decay of the second-moment estimate.
    pub beta2: f32,
    /// Added to the square root of the second moment, outside the root.
    pub eps: f32,
    /// Weight decay (L2 for Adam, decoupled for AdamW).
    pub weight_decay: f32,
}

impl Optimizer {
    /// Checks every hyperparameter against the range its update rule is defined for: a
    /// non-negative learning rate and weight decay (a rate of 0 computes gradients without
    /// moving the parameters), momentum and betas in `[0, 1)`, and a positive epsilon.
    /// Sessions call this before compiling a training step.
    pub fn validate(&self) -> Result<()> {
        let check = |setting, value: f32, ok: bool, expected| {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(Error::Optimizer {
                    setting,
                    value,
                    expected,
                })
            }
        };
        const POSITIVE: &str = "a positive number";
        const FRACTION: &str = "a number in [0, 1)";
        const NON_NEGATIVE: &str = "zero or a positive number";
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => {
                check("learning rate", lr, lr >= 0.0, NON_NEGATIVE)?;
                check(
                    "momentum",
                    momentum,
                    (0.0..1.0).contains(&momentum),
                    FRACTION,
                )?;
                check(
                    "weight decay",
                    weight_decay,
                    weight_decay >= 0.0,
                    NON_NEGATIVE,
                )
            }
            Optimizer::Adam(c) | Optimizer::AdamW(c) => {
                check("learning rate", c.lr, c.lr >= 0.0, NON_NEGATIVE)?;
                check("beta1", c.beta1, (0.0..1.0).contains(&c.beta1), FRACTION)?;
                check("beta2", c.beta2, (0.0..1.0).contains(&c.beta2), FRACTION)?;
                check("epsilon", c.eps, c.eps > 0.0, POSITIVE)?;
                check(
                    "weight decay",
                    c.weight_decay,
                    c.weight_decay >= 0.0,
                    NON_NEGATIVE,
                )
            }
        }
    }

    /// SGD with the given learning rate and no momentum or weight decay.
    pub fn sgd(lr: f32) -> Self {
        Optimizer::Sgd {
            lr,
            momentum: 0.0,
            weight_decay: 0.0,
        }
    }

    /// Adam with PyTorch's defaults (β = 0.9, 0.999, ε = 1e-8, no weight decay).
    pub fn adam(lr: f32) -> Self {
        Optimizer::Adam(AdamConfig::with_lr(lr, 0.0))
    }

    /// AdamW with PyTorch's defaults (β = 0.9, 0.999, ε = 1e-8, weight decay 0.01).
    pub fn adamw(lr: f32) -> Self {
        Optimizer::AdamW(AdamConfig::with_lr(lr, 0.01))
    }

    /// How many state buffers of the parameter's size the optimizer keeps per parameter.
    pub fn state_slots(&self) -> usize {
        match self {
            Optimizer::Sgd { momentum, .. } if *momentum == 0.0 => 0,
            Optimizer::Sgd { .. } => 1,
            Optimizer::Adam(_) | Optimizer::AdamW(_) => 2,
        }
    }

    /// The scalars of step `step` (1-based) that the update kernels read.
    pub(crate) fn step_scalars(&self, step: u64) -> StepScalars {
        match *self {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => StepScalars {
                lr,
                beta1: momentum,
                beta2: 0.0,
                eps: 0.0,
                weight_decay,
                bias_correction1: 1.0,
                bias_correction2: 1.0,
                decoupled: false,
            },
            Optimizer::Adam(c) | Optimizer::AdamW(c) => {
                // Powers in f64 so that late steps do not lose the correction to rounding.
                let t = step as i32;
                StepScalars {
                    lr: c.lr,
                    beta1: c.beta1,
                    beta2: c.beta2,
                    eps: c.eps,
                    weight_decay: c.weight_decay,
                    bias_correction1: (1.0 - (c.beta1 as f64).powi(t)) as f32,
                    bias_correction2: (1.0 - (c.beta2 as f64).powi(t)) as f32,
                    decoupled: matches!(self, Optimizer::AdamW(_)),
                }
            }
        }
    }
}

impl std::fmt::Display for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Optimizer::Sgd {
                lr,
                momentum,
                weight_decay,
            } => write!(
                f,
                "sgd (lr {lr}, momentum {momentum}, weight decay {weight_decay})"
            ),
            Optimizer::Adam(c) | Optimizer::AdamW(c) => write!(
                f,
                "{} (lr {}, betas {}/{}, eps {:e}, weight decay {})",
                if matches!(self, Optimizer::Adam(_)) {
                    "adam"
                } else {
                    "adamw"
                },
                c.lr,
                c.beta1,
                c.beta2,
                c.eps,
                c.weight_decay
            ),
        }
    }
}

impl AdamConfig {
    /// PyTorch's default betas and epsilon with the given rate and weight decay.
    pub fn with_lr(lr: f32, weight_decay: f32) -> Self {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }
}

/// Per-step scalars of an update, as the kernels receive them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StepScalars {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
    pub decoupled: bool,
}

/// Applies one update to `param` in place on the CPU. `state` holds
/// [`Optimizer::state_slots`] buffers of the parameter's size; `step` counts from 1.
pub fn update_cpu(
    optimizer: &Optimizer,
    step: u64,
    param: &mut [f32],
    grad: &[f32],
    state: &mut [Vec<f32>],
) {
    let s = optimizer.step_scalars(step);
    match optimizer {
        Optimizer::Sgd { .. } => {
            for i in 0..param.len() {
                let g = grad[i] + s.weight_decay * param[i];
                let update = if let Some(velocity) = state.first_mut() {
                    velocity[i] = s.beta1 * velocity[i] + g;
                    velocity[i]
                } else {
                    g
                };
                param[i] -= s.lr * update;
            }
        }
        Optimizer::Adam(_) | Optimizer::AdamW(_) => {
            let (m, rest) = state.split_at_mut(1);
            let (m, v) = (&mut m[0], &mut rest[0]);
            for i in 0..param.len() {
                let mut g = grad[i];
                if s.decoupled {
                    param[i] *= 1.0 - s.lr * s.weight_decay;
                } else {
                    g += s.weight_decay * param[i];
                }
                m[i] = s.beta1 * m[i] + (1.0 - s.beta1) * g;
                v[i] = s.beta2 * v[i] + (1.0 - s.beta2) * g * g;
                let m_hat = m[i] / s.bias_correction1;
                let v_hat = v[i] / s.bias_correction2;
                param[i] -= s.lr * m_hat / (v_hat.sqrt() + s.eps);
            }
        }
    }
}
