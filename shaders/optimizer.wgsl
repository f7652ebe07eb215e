// Parameter updates, one invocation per parameter element, applied in place. The rules follow
// PyTorch's torch.optim: SGD without dampening, Adam with L2 weight decay, AdamW with decoupled
// weight decay.
//
// Params: scalars = (lr, beta1 or momentum, beta2, eps),
// scalars2 = (weight_decay, bias_correction1, bias_correction2, unused), where
// bias_correction_i = 1 − beta_i^step; sizes.y = 1 for decoupled weight decay (AdamW).
// The element count is the parameter buffer's length.

@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> state_a: array<f32>; // velocity, or Adam's m
@group(0) @binding(4) var<storage, read_write> state_b: array<f32>; // Adam's v

// p -= lr · (g + wd · p)
@compute @workgroup_size(256)
fn sgd_step(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= arrayLength(&param)) {
        return;
    }
    let g = grad[i] + params.scalars2.x * param[i];
    param[i] -= params.scalars.x * g;
}

// v = μ · v + (g + wd · p); p -= lr · v
@compute @workgroup_size(256)
fn sgd_momentum_step(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= arrayLength(&param)) {
        return;
    }
    let g = grad[i] + params.scalars2.x * param[i];
    let v = params.scalars.y * state_a[i] + g;
    state_a[i] = v;
    param[i] -= params.scalars.x * v;
}

// m = β1 m + (1 − β1) g; v = β2 v + (1 − β2) g²;
// p -= lr · (m / bc1) / (sqrt(v / bc2) + eps), with eps outside the square root.
@compute @workgroup_size(256)
fn adam_step(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= arrayLength(&param)) {
        return;
    }
    let lr = params.scalars.x;
    let beta1 = params.scalars.y;
    let beta2 = params.scalars.z;
    let eps = params.scalars.w;
    let weight_decay = params.scalars2.x;
    var p = param[i];
    var g = grad[i];
    if (params.sizes.y == 1u) {
        p *= 1.0 - lr * weight_decay;
    } else {
        g += weight_decay * p;
    }
    let m = beta1 * state_a[i] + (1.0 - beta1) * g;
    let v = beta2 * state_b[i] + (1.0 - beta2) * g * g;
    state_a[i] = m;
    state_b[i] = v;
    let m_hat = m / params.scalars2.y;
    let v_hat = v / params.scalars2.z;
    param[i] = p - lr * m_hat / (sqrt(v_hat) + eps);
}
