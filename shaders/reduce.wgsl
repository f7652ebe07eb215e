// Reductions: the sum of all elements, and the sum over broadcast dimensions that undoes a
// broadcast in the backward pass.

@group(0) @binding(1) var<storage, read_write> result: array<f32>;
@group(0) @binding(2) var<storage, read> operand: array<f32>;

var<workgroup> partial: array<f32, 256>;

// result[0] = scale · Σ operand. One workgroup; each invocation sums a strided slice, then a
// tree reduction in workgroup memory adds the slices.
// Params: sizes.x = element count, scalars.x = scale (1 for a sum, 1/n for a mean).
@compute @workgroup_size(256)
fn sum_all(@builtin(local_invocation_index) local: u32) {
    var acc = 0.0;
    for (var i = local; i < params.sizes.x; i += WORKGROUP_SIZE) {
        acc += operand[i];
    }
    partial[local] = acc;
    workgroupBarrier();
    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            partial[local] += partial[local + stride];
        }
        workgroupBarrier();
    }
    if (local == 0u) {
        result[0] = params.scalars.x * partial[0];
    }
}

// Sums the operand over every dimension where the output has size 1 and the operand does not.
// One invocation per output element.
// Params: dims_a = output dims, dims_b = operand dims (both padded to rank 4),
// sizes.x = output element count.
@compute @workgroup_size(256)
fn sum_to(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = flat_index(workgroup, workgroups, local);
    if (i >= params.sizes.x) {
        return;
    }
    let out_dims = params.dims_a;
    let in_dims = params.dims_b;
    let start = coordinates(i, out_dims);
    let reduced = (out_dims == vec4<u32>(1u)) & (in_dims != vec4<u32>(1u));
    let extent = select(vec4<u32>(1u), in_dims, reduced);
    let strides = vec4<u32>(in_dims.y * in_dims.z * in_dims.w, in_dims.z * in_dims.w, in_dims.w, 1u);
    var acc = 0.0;
    for (var a = 0u; a < extent.x; a++) {
        for (var b = 0u; b < extent.y; b++) {
            for (var c = 0u; c < extent.z; c++) {
                for (var d = 0u; d < extent.w; d++) {
                    acc += operand[dot(start + vec4<u32>(a, b, c, d), strides)];
                }
            }
        }
    }
    result[i] = acc;
}
