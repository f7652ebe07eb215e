// Max and average pooling over [batch, channels, height, width]; 1-D pooling arrives as
// height 1. Padding never takes part: max pooling skips it (as if it were −∞) and average
// pooling divides by the count of real elements. Backward passes gather: one invocation per
// input element adds the gradients of the windows that chose it.
//
// Params: dims_a = input dims, dims_b = output dims, dims_c = (kernel h, kernel w, stride h,
// stride w), sizes = (pad h, pad w, unused, unused), flags.x = the activation whose gradient
// max_pool_backward applies after pooling's (see `activation_gradient`).

@group(0) @binding(1) var<storage, read_write> result: array<f32>;
@group(0) @binding(2) var<storage, read> lhs: array<f32>; // x, or dy for avg_pool_backward
@group(0) @binding(3) var<storage, read> rhs: array<f32>; // dy for max_pool_backward

// First and one-past-last real input coordinate of window `out` along one axis.
fn window_range(out: u32, kernel: u32, stride: u32, pad: u32, size: u32) -> vec2<i32> {
    let start = i32(out * stride) - i32(pad);
    return vec2<i32>(max(start, 0), min(start + i32(kernel), i32(size)));
}

// Flat input index of the first maximum of window (n, c, oh, ow), scanning row-major.
fn window_argmax(n: u32, c: u32, oh: u32, ow: u32) -> u32 {
    let xd = params.dims_a;
    let rows = window_range(oh, params.dims_c.x, params.dims_c.z, params.sizes.x, xd.z);
    let cols = window_range(ow, params.dims_c.y, params.dims_c.w, params.sizes.y, xd.w);
    var best = offset4(xd, n, c, u32(rows.x), u32(cols.x));
    for (var h = rows.x; h < rows.y; h++) {
        for (var w = cols.x; w < cols.y; w++) {
            let i = offset4(xd, n, c, u32(h), u32(w));
            if (lhs[i] > lhs[best]) {
                best = i;
            }
        }
    }
    return best;
}

// Window positions (oh or ow) along one axis whose window contains input coordinate `x`.
fn windows_containing(x: u32, kernel: u32, stride: u32, pad: u32, out_size: u32) -> vec2<i32> {
    // Window o covers [o·stride − pad, o·stride − pad + kernel).
    let shifted = i32(x + pad);
    let first = max(0, (shifted - i32(kernel)) / i32(stride) + 1);
    let adjusted = select(first, 0, shifted - i32(kernel) < 0);
    let last = min(i32(out_size) - 1, shifted / i32(stride));
    return vec2<i32>(adjusted, last + 1);
}

@compute @workgroup_size(256)
fn max_pool_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let od = params.dims_b;
    let i = flat_index(workgroup, workgroups, local);
    if (i >= od.x * od.y * od.z * od.w) {
        return;
    }
    let o = coordinates(i, od);
    result[i] = lhs[window_argmax(o.x, o.y, o.z, o.w)];
}

// lhs = x, rhs = dy.
@compute @workgroup_size(256)
fn max_pool_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let i = flat_index(workgroup, workgroups, local);
    if (i >= xd.x * xd.y * xd.z * xd.w) {
        return;
    }
    let x = coordinates(i, xd);
    let rows = windows_containing(x.z, params.dims_c.x, params.dims_c.z, params.sizes.x, od.z);
    let cols = windows_containing(x.w, params.dims_c.y, params.dims_c.w, params.sizes.y, od.w);
    var acc = 0.0;
    for (var oh = rows.x; oh < rows.y; oh++) {
        for (var ow = cols.x; ow < cols.y; ow++) {
            if (window_argmax(x.x, x.y, u32(oh), u32(ow)) == i) {
                acc += rhs[offset4(od, x.x, x.y, u32(oh), u32(ow))];
            }
        }
    }
    result[i] = activation_gradient(lhs[i], acc, params.flags.x);
}

// The input coordinates along one axis that window `out` writes in max_pool_backward_windows:
// from its first real coordinate up to the next window's first, or to the end for the last.
fn block_range(out: u32, stride: u32, pad: u32, out_size: u32, size: u32) -> vec2<u32> {
    let start = max(i32(out * stride) - i32(pad), 0);
    var end = i32(size);
    if (out + 1u < out_size) {
        end = min(i32((out + 1u) * stride) - i32(pad), i32(size));
    }
    return vec2<u32>(u32(start), u32(max(end, start)));
}

// max_pool_backward for windows that do not overlap (stride at least the kernel along both
// axes). One invocation per window finds its maximum once and writes the block of input
// elements from the window's first row and column up to the next window's: the window's
// gradient at the maximum and zero elsewhere. The blocks tile the input, so every element is
// written exactly once. lhs = x, rhs = dy. Grid: one invocation per element of dy.
@compute @workgroup_size(256)
fn max_pool_backward_windows(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let i = flat_index(workgroup, workgroups, local);
    if (i >= od.x * od.y * od.z * od.w) {
        return;
    }
    let o = coordinates(i, od);
    let best = window_argmax(o.x, o.y, o.z, o.w);
    let gradient = rhs[i];
    let rows = block_range(o.z, params.dims_c.z, params.sizes.x, od.z, xd.z);
    let cols = block_range(o.w, params.dims_c.w, params.sizes.y, od.w, xd.w);
    for (var h = rows.x; h < rows.y; h++) {
        for (var w = cols.x; w < cols.y; w++) {
            let e = offset4(xd, o.x, o.y, h, w);
            let g = select(0.0, gradient, e == best);
            result[e] = activation_gradient(lhs[e], g, params.flags.x);
        }
    }
}

// Real elements in window (oh, ow).
fn window_count(oh: u32, ow: u32) -> f32 {
    let xd = params.dims_a;
    let rows = window_range(oh, params.dims_c.x, params.dims_c.z, params.sizes.x, xd.z);
    let cols = window_range(ow, params.dims_c.y, params.dims_c.w, params.sizes.y, xd.w);
    return f32((rows.y - rows.x) * (cols.y - cols.x));
}

@compute @workgroup_size(256)
fn avg_pool_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let i = flat_index(workgroup, workgroups, local);
    if (i >= od.x * od.y * od.z * od.w) {
        return;
    }
    let o = coordinates(i, od);
    let rows = window_range(o.z, params.dims_c.x, params.dims_c.z, params.sizes.x, xd.z);
    let cols = window_range(o.w, params.dims_c.y, params.dims_c.w, params.sizes.y, xd.w);
    var acc = 0.0;
    for (var h = rows.x; h < rows.y; h++) {
        for (var w = cols.x; w < cols.y; w++) {
            acc += lhs[offset4(xd, o.x, o.y, u32(h), u32(w))];
        }
    }
    result[i] = acc / window_count(o.z, o.w);
}

// lhs = dy; the result has the input's dims.
@compute @workgroup_size(256)
fn avg_pool_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let i = flat_index(workgroup, workgroups, local);
    if (i >= xd.x * xd.y * xd.z * xd.w) {
        return;
    }
    let x = coordinates(i, xd);
    let rows = windows_containing(x.z, params.dims_c.x, params.dims_c.z, params.sizes.x, od.z);
    let cols = windows_containing(x.w, params.dims_c.y, params.dims_c.w, params.sizes.y, od.w);
    var acc = 0.0;
    for (var oh = rows.x; oh < rows.y; oh++) {
        for (var ow = cols.x; ow < cols.y; ow++) {
            acc += lhs[offset4(od, x.x, x.y, u32(oh), u32(ow))] / window_count(u32(oh), u32(ow));
        }
    }
    result[i] = acc;
}
