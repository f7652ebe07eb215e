// Convolution (cross-correlation plus bias) over [batch, channels, height, width]; 1-D
// convolutions arrive as height 1. Each entry point runs one invocation per element it writes
// and gathers what it needs, so no two invocations write the same element.
//
// Params: dims_a = input dims (n, c_in, h, w), dims_b = output dims (n, c_out, h_out, w_out),
// dims_c = (kernel h, kernel w, stride h, stride w), sizes = (pad h, pad w, dilation h,
// dilation w), flags.x = the activation the forward kernels apply (see `activate`).
// channel_sum reads dims_a only, as the dims of dy.

@group(0) @binding(1) var<storage, read_write> result: array<f32>;
@group(0) @binding(2) var<storage, read> lhs: array<f32>;  // x, or dy for the backward passes
@group(0) @binding(3) var<storage, read> rhs: array<f32>;  // weight [c_out, c_in, kh, kw], or x
@group(0) @binding(4) var<storage, read> bias: array<f32>; // [c_out]

// Input coordinate that tap k of output position `out` reads along one axis, or -1 in padding.
fn tap(out: u32, k: u32, stride: u32, dilation: u32, pad: u32, size: u32) -> i32 {
    let position = i32(out * stride + k * dilation) - i32(pad);
    if (position < 0 || position >= i32(size)) {
        return -1;
    }
    return position;
}

// Output coordinate whose tap k reads input coordinate `position`, or -1 if none does.
fn source(position: u32, k: u32, stride: u32, dilation: u32, pad: u32, size: u32) -> i32 {
    let shifted = i32(position + pad) - i32(k * dilation);
    if (shifted < 0 || shifted % i32(stride) != 0) {
        return -1;
    }
    let out = shifted / i32(stride);
    if (out >= i32(size)) {
        return -1;
    }
    return out;
}

@compute @workgroup_size(256)
fn conv_forward(
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
    let wd = vec4<u32>(od.y, xd.y, params.dims_c.x, params.dims_c.y);
    var acc = bias[o.y];
    for (var ci = 0u; ci < xd.y; ci++) {
        for (var kh = 0u; kh < wd.z; kh++) {
            let ih = tap(o.z, kh, params.dims_c.z, params.sizes.z, params.sizes.x, xd.z);
            if (ih < 0) {
                continue;
            }
            for (var kw = 0u; kw < wd.w; kw++) {
                let iw = tap(o.w, kw, params.dims_c.w, params.sizes.w, params.sizes.y, xd.w);
                if (iw < 0) {
                    continue;
                }
                acc += lhs[offset4(xd, o.x, ci, u32(ih), u32(iw))] * rhs[offset4(wd, o.y, ci, kh, kw)];
            }
        }
    }
    result[i] = activate(acc, params.flags.x);
}

// dx[n, ci, ih, iw] = Σ over (co, kh, kw) whose output position reads (ih, iw) of
// dy[n, co, oh, ow] · weight[co, ci, kh, kw]. lhs = dy, rhs = weight.
@compute @workgroup_size(256)
fn conv_backward_input(
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
    let wd = vec4<u32>(od.y, xd.y, params.dims_c.x, params.dims_c.y);
    var acc = 0.0;
    for (var kh = 0u; kh < wd.z; kh++) {
        let oh = source(x.z, kh, params.dims_c.z, params.sizes.z, params.sizes.x, od.z);
        if (oh < 0) {
            continue;
        }
        for (var kw = 0u; kw < wd.w; kw++) {
            let ow = source(x.w, kw, params.dims_c.w, params.sizes.w, params.sizes.y, od.w);
            if (ow < 0) {
                continue;
            }
            for (var co = 0u; co < od.y; co++) {
                acc += lhs[offset4(od, x.x, co, u32(oh), u32(ow))] * rhs[offset4(wd, co, x.y, kh, kw)];
            }
        }
    }
    result[i] = acc;
}

// conv_backward_input computing a CONV_BLOCK × CONV_BLOCK block per invocation: input
// channels ci0..ci0+3 at width positions iw0..iw0+3 of one (n, ih). Each gradient value loaded
// serves four channels and each weight four positions, and the output column each position
// reads is worked out once per kernel tap instead of once per output channel. lhs = dy,
// rhs = weight. Grid: one invocation per (n, channel block, ih, width block), flattened.
@compute @workgroup_size(256)
fn conv_backward_input_blocked(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let channel_blocks = (xd.y + CONV_BLOCK - 1u) / CONV_BLOCK;
    let width_blocks = (xd.w + CONV_BLOCK - 1u) / CONV_BLOCK;
    let i = flat_index(workgroup, workgroups, local);
    if (i >= xd.x * channel_blocks * xd.z * width_blocks) {
        return;
    }
    let b = coordinates(i, vec4<u32>(xd.x, channel_blocks, xd.z, width_blocks));
    let ci0 = b.y * CONV_BLOCK;
    let iw0 = b.w * CONV_BLOCK;
    let wd = vec4<u32>(od.y, xd.y, params.dims_c.x, params.dims_c.y);
    var acc: array<vec4<f32>, 4>; // acc[channel][position]
    for (var kh = 0u; kh < wd.z; kh++) {
        let oh = source(b.z, kh, params.dims_c.z, params.sizes.z, params.sizes.x, od.z);
        if (oh < 0) {
            continue;
        }
        for (var kw = 0u; kw < wd.w; kw++) {
            // The output column each position reads through tap kw, or -1.
            var columns = vec4<i32>(-1);
            for (var p = 0u; p < CONV_BLOCK; p++) {
                if (iw0 + p < xd.w) {
                    columns[p] = source(iw0 + p, kw, params.dims_c.w, params.sizes.w, params.sizes.y, od.w);
                }
            }
            if (all(columns < vec4<i32>(0))) {
                continue;
            }
            for (var co = 0u; co < od.y; co++) {
                let row = offset4(od, b.x, co, u32(oh), 0u);
                var dys = vec4<f32>(0.0);
                for (var p = 0u; p < CONV_BLOCK; p++) {
                    if (columns[p] >= 0) {
                        dys[p] = lhs[row + u32(columns[p])];
                    }
                }
                for (var c = 0u; c < CONV_BLOCK; c++) {
                    if (ci0 + c < xd.y) {
                        acc[c] += rhs[offset4(wd, co, ci0 + c, kh, kw)] * dys;
                    }
                }
            }
        }
    }
    for (var c = 0u; c < CONV_BLOCK; c++) {
        let ci = ci0 + c;
        if (ci >= xd.y) {
            break;
        }
        for (var p = 0u; p < CONV_BLOCK; p++) {
            if (iw0 + p < xd.w) {
                result[offset4(xd, b.x, ci, b.z, iw0 + p)] = acc[c][p];
            }
        }
    }
}

// dweight[co, ci, kh, kw] = Σ over (n, oh, ow) of dy[n, co, oh, ow] · x[n, ci, tap(oh), tap(ow)].
// lhs = dy, rhs = x.
@compute @workgroup_size(256)
fn conv_backward_weight(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let wd = vec4<u32>(od.y, xd.y, params.dims_c.x, params.dims_c.y);
    let i = flat_index(workgroup, workgroups, local);
    if (i >= wd.x * wd.y * wd.z * wd.w) {
        return;
    }
    let w = coordinates(i, wd);
    var acc = 0.0;
    for (var n = 0u; n < od.x; n++) {
        for (var oh = 0u; oh < od.z; oh++) {
            let ih = tap(oh, w.z, params.dims_c.z, params.sizes.z, params.sizes.x, xd.z);
            if (ih < 0) {
                continue;
            }
            for (var ow = 0u; ow < od.w; ow++) {
                let iw = tap(ow, w.w, params.dims_c.w, params.sizes.w, params.sizes.y, xd.w);
                if (iw < 0) {
                    continue;
                }
                acc += lhs[offset4(od, n, w.x, oh, ow)] * rhs[offset4(xd, n, w.y, u32(ih), u32(iw))];
            }
        }
    }
    result[i] = acc;
}

// result[c] = Σ over n, h, w of lhs[n, c, h, w]; dims_a = lhs dims. The bias gradient.
@compute @workgroup_size(256)
fn channel_sum(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let d = params.dims_a;
    let c = flat_index(workgroup, workgroups, local);
    if (c >= d.y) {
        return;
    }
    let spatial = d.z * d.w;
    var acc = 0.0;
    for (var n = 0u; n < d.x; n++) {
        let base = (n * d.y + c) * spatial;
        for (var s = 0u; s < spatial; s++) {
            acc += lhs[base + s];
        }
    }
    result[c] = acc;
}

// Outputs per invocation along the channel and width axes in the blocked kernels.
const CONV_BLOCK: u32 = 4u;

// conv_forward computing a CONV_BLOCK × CONV_BLOCK block per invocation: output channels
// co0..co0+3 at width positions ow0..ow0+3 of one (n, oh). Each input value loaded serves four
// channels and each weight four positions, which amortises the index arithmetic that
// dominates the one-output kernel. Grid: one invocation per (n, channel block, oh, width
// block), flattened.
@compute @workgroup_size(256)
fn conv_forward_blocked(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let channel_blocks = (od.y + CONV_BLOCK - 1u) / CONV_BLOCK;
    let width_blocks = (od.w + CONV_BLOCK - 1u) / CONV_BLOCK;
    let i = flat_index(workgroup, workgroups, local);
    if (i >= od.x * channel_blocks * od.z * width_blocks) {
        return;
    }
    let b = coordinates(i, vec4<u32>(od.x, channel_blocks, od.z, width_blocks));
    let co0 = b.y * CONV_BLOCK;
    let ow0 = b.w * CONV_BLOCK;
    let wd = vec4<u32>(od.y, xd.y, params.dims_c.x, params.dims_c.y);
    var acc: array<vec4<f32>, 4>; // acc[channel][position]
    for (var ci = 0u; ci < xd.y; ci++) {
        for (var kh = 0u; kh < wd.z; kh++) {
            let ih = tap(b.z, kh, params.dims_c.z, params.sizes.z, params.sizes.x, xd.z);
            if (ih < 0) {
                continue;
            }
            let row = offset4(xd, b.x, ci, u32(ih), 0u);
            for (var kw = 0u; kw < wd.w; kw++) {
                var xs = vec4<f32>(0.0);
                for (var p = 0u; p < CONV_BLOCK; p++) {
                    let iw = tap(ow0 + p, kw, params.dims_c.w, params.sizes.w, params.sizes.y, xd.w);
                    if (iw >= 0 && ow0 + p < od.w) {
                        xs[p] = lhs[row + u32(iw)];
                    }
                }
                for (var c = 0u; c < CONV_BLOCK; c++) {
                    if (co0 + c < od.y) {
                        acc[c] += rhs[offset4(wd, co0 + c, ci, kh, kw)] * xs;
                    }
                }
            }
        }
    }
    for (var c = 0u; c < CONV_BLOCK; c++) {
        let co = co0 + c;
        if (co >= od.y) {
            break;
        }
        for (var p = 0u; p < CONV_BLOCK; p++) {
            if (ow0 + p < od.w) {
                result[offset4(od, b.x, co, b.z, ow0 + p)] = activate(acc[c][p] + bias[co], params.flags.x);
            }
        }
    }
}

// Invocations per workgroup of conv_backward_weight_blocked.
const REDUCE_SIZE: u32 = 64u;

var<workgroup> partial_sums: array<array<vec4<f32>, 4>, 64>;

// conv_backward_weight computing a CONV_BLOCK × CONV_BLOCK block of the weight gradient per
// workgroup: output channels co0..co0+3 and kernel columns kw0..kw0+3 of one (ci, kh). The
// REDUCE_SIZE invocations split the sum over (n, oh, ow) between them and add their partial
// blocks in workgroup memory, so even a layer with few weights keeps many invocations busy.
// lhs = dy, rhs = x. Grid: one workgroup per (channel block, ci, kh, kernel-column block),
// flattened over x and y.
@compute @workgroup_size(64)
fn conv_backward_weight_blocked(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let xd = params.dims_a;
    let od = params.dims_b;
    let wd = vec4<u32>(od.y, xd.y, params.dims_c.x, params.dims_c.y);
    let channel_blocks = (wd.x + CONV_BLOCK - 1u) / CONV_BLOCK;
    let column_blocks = (wd.w + CONV_BLOCK - 1u) / CONV_BLOCK;
    let block = workgroup.y * workgroups.x + workgroup.x;
    // Uniform across the workgroup, so the barriers below stay in uniform control flow.
    let in_range = block < channel_blocks * wd.y * wd.z * column_blocks;
    let b = coordinates(min(block, channel_blocks * wd.y * wd.z * column_blocks - 1u),
        vec4<u32>(channel_blocks, wd.y, wd.z, column_blocks));
    let co0 = b.x * CONV_BLOCK;
    let kw0 = b.w * CONV_BLOCK;
    var acc: array<vec4<f32>, 4>; // acc[channel][kernel column]
    let positions = od.x * od.z * od.w;
    for (var p = local; p < positions; p += REDUCE_SIZE) {
        let ow = p % od.w;
        let oh = (p / od.w) % od.z;
        let n = p / (od.w * od.z);
        let ih = tap(oh, b.z, params.dims_c.z, params.sizes.z, params.sizes.x, xd.z);
        if (ih < 0) {
            continue;
        }
        let row = offset4(xd, n, b.y, u32(ih), 0u);
        var xs = vec4<f32>(0.0);
        for (var k = 0u; k < CONV_BLOCK; k++) {
            let iw = tap(ow, kw0 + k, params.dims_c.w, params.sizes.w, params.sizes.y, xd.w);
            if (iw >= 0 && kw0 + k < wd.w) {
                xs[k] = rhs[row + u32(iw)];
            }
        }
        for (var c = 0u; c < CONV_BLOCK; c++) {
            if (co0 + c < od.y) {
                acc[c] += lhs[offset4(od, n, co0 + c, oh, ow)] * xs;
            }
        }
    }
    partial_sums[local] = acc;
    workgroupBarrier();
    for (var stride = REDUCE_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            for (var c = 0u; c < CONV_BLOCK; c++) {
                partial_sums[local][c] += partial_sums[local + stride][c];
            }
        }
        workgroupBarrier();
    }
    if (local != 0u || !in_range) {
        return;
    }
    for (var c = 0u; c < CONV_BLOCK; c++) {
        let co = co0 + c;
        if (co >= wd.x) {
            break;
        }
        for (var k = 0u; k < CONV_BLOCK; k++) {
            if (kw0 + k < wd.w) {
                result[offset4(wd, co, b.y, b.z, kw0 + k)] = partial_sums[0][c][k];
            }
        }
    }
}
