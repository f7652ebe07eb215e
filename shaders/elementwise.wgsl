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
    result[i] = max(lhs[i], 0.0);
}

// lhs = x, rhs = dy.
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
    result[i] = select(0.0, rhs[i], lhs[i] > 0.0);
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
    result[i] = sigmoid(lhs[i]);
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
    let y = lhs[i];
    result[i] = rhs[i] * y * (1.0 - y);
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
    // Clamping keeps drivers that build tanh from exp away from inf / inf; tanh(±15) already
    // rounds to ±1 in f32.
    result[i] = tanh(clamp(lhs[i], -15.0, 15.0));
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
    let y = lhs[i];
    result[i] = rhs[i] * (1.0 - y * y);
}
