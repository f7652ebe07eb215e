// Elementwise kernels: broadcasting add, expand, and the activations with their gradients.
// One invocation per output element over a one-dimensional grid (see `flat_index`).
//
// Params for every entry point: sizes.x = output element count.
// add_forward: dims_a = output dims, dims_b = lhs strides, dims_c = rhs strides (0 where the
// operand is broadcast), all padded to rank 4.
// expand_forward: dims_a = output dims, dims_b = operand strides, scalars.x = scale.

@group(0) @binding(1) var<storage, read_write> result: array<f32>;
@group(0) @binding(2) var<storage, read> lhs: array<f32>; // x, or the forward output y
@group(0) @binding(3) var<storage, read> rhs: array<f32>; // second operand, or dy

@compute @workgroup_size(256)
fn add_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    let c = coordinates(i, params.dims_a);
    result[i] = lhs[dot(c, params.dims_b)] + rhs[dot(c, params.dims_c)];
}

@compute @workgroup_size(256)
fn expand_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    let c = coordinates(i, params.dims_a);
    result[i] = params.scalars.x * lhs[dot(c, params.dims_b)];
}

@compute @workgroup_size(256)
fn relu_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    result[i] = activate(lhs[i], 1u);
}

// lhs = y (the forward output), rhs = dy.
@compute @workgroup_size(256)
fn relu_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    result[i] = activation_gradient(lhs[i], rhs[i], 1u);
}

@compute @workgroup_size(256)
fn sigmoid_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    result[i] = activate(lhs[i], 2u);
}

// lhs = y (the forward output), rhs = dy.
@compute @workgroup_size(256)
fn sigmoid_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    result[i] = activation_gradient(lhs[i], rhs[i], 2u);
}

@compute @workgroup_size(256)
fn tanh_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    result[i] = activate(lhs[i], 3u);
}

// lhs = y (the forward output), rhs = dy.
@compute @workgroup_size(256)
fn tanh_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    result[i] = activation_gradient(lhs[i], rhs[i], 3u);
}

// result = lhs; a reshape keeps the row-major order, so it is a plain copy.
@compute @workgroup_size(256)
fn copy_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    result[i] = lhs[i];
}

// The murmur3 32-bit finaliser, a bijective integer mix.
fn mix(value: u32) -> u32 {
    var h = value;
    h ^= h >> 16u;
    h *= 0x85ebca6bu;
    h ^= h >> 13u;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16u);
}

// Dropout, forward and backward alike: lhs = x or dy; rhs = the run state, whose first word
// holds the step number and second word 1 in training mode, both as u32 bits.
// Params: sizes.x = element count, sizes.y = seed, scalars.x = drop probability p.
// In training mode an element is kept when a uniform number from the hash of
// (seed, step, index) is at least p, and kept elements are scaled by 1 / (1 − p); the CPU
// reference draws the same numbers.
@compute @workgroup_size(256)
fn dropout_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    if (bitcast<u32>(rhs[1]) == 0u) {
        result[i] = lhs[i];
        return;
    }
    let p = params.scalars.x;
    let step = bitcast<u32>(rhs[0]);
    let h = mix(params.sizes.y ^ mix(step ^ mix(i)));
    let uniform = f32(h >> 8u) / 16777216.0;
    result[i] = select(0.0, lhs[i] / (1.0 - p), uniform >= p);
}
