// Matrix product `result[m, n] = op(lhs) · op(rhs)`, where `op` transposes an operand whose
// flag is set: `op(lhs)` is `[m, k]` and `op(rhs)` is `[k, n]`. The `linear_*` entry points
// are the same products with a fused epilogue: `activate(op(lhs) · op(rhs) + bias, flags.x)`.
//
// Params: sizes = (m, n, k, flags), flags bit 0 = lhs transposed (stored [k, m]),
// bit 1 = rhs transposed (stored [n, k]); flags.x = the activation of the linear kernels.

@group(0) @binding(1) var<storage, read_write> result: array<f32>; // [m, n]
@group(0) @binding(2) var<storage, read> lhs: array<f32>;          // [m, k] or [k, m]
@group(0) @binding(3) var<storage, read> rhs: array<f32>;          // [k, n] or [n, k]
@group(0) @binding(4) var<storage, read> bias: array<f32>;         // [n], linear kernels only

const TILE: u32 = 16u;

var<workgroup> lhs_tile: array<array<f32, 16>, 16>;
var<workgroup> rhs_tile: array<array<f32, 16>, 16>;

// Element (row, col) of op(lhs), zero outside the matrix so partial tiles add nothing.
fn load_lhs(row: u32, col: u32) -> f32 {
    let m = params.sizes.x;
    let k = params.sizes.z;
    if (row >= m || col >= k) {
        return 0.0;
    }
    if ((params.sizes.w & 1u) != 0u) {
        return lhs[col * m + row];
    }
    return lhs[row * k + col];
}

// Element (row, col) of op(rhs), zero outside the matrix.
fn load_rhs(row: u32, col: u32) -> f32 {
    let n = params.sizes.y;
    let k = params.sizes.z;
    if (row >= k || col >= n) {
        return 0.0;
    }
    if ((params.sizes.w & 2u) != 0u) {
        return rhs[col * k + row];
    }
    return rhs[row * n + col];
}

// The product at (workgroup.y * TILE + local.y, workgroup.x * TILE + local.x), walking k in
// TILE-wide steps through workgroup memory. Every invocation of the workgroup must call it.
fn tiled_product(workgroup: vec3<u32>, local: vec3<u32>) -> f32 {
    let row = workgroup.y * TILE + local.y;
    let col = workgroup.x * TILE + local.x;
    var acc = 0.0;
    let steps = (params.sizes.z + TILE - 1u) / TILE;
    for (var step = 0u; step < steps; step++) {
        let base = step * TILE;
        lhs_tile[local.y][local.x] = load_lhs(row, base + local.x);
        rhs_tile[local.y][local.x] = load_rhs(base + local.y, col);
        workgroupBarrier();
        for (var i = 0u; i < TILE; i++) {
            acc += lhs_tile[local.y][i] * rhs_tile[i][local.x];
        }
        workgroupBarrier();
    }
    return acc;
}

// One workgroup computes a TILE × TILE block of the result. Grid: (ceil(n / TILE),
// ceil(m / TILE)).
@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let acc = tiled_product(workgroup, local);
    let row = workgroup.y * TILE + local.y;
    let col = workgroup.x * TILE + local.x;
    if (row < params.sizes.x && col < params.sizes.y) {
        result[row * params.sizes.y + col] = acc;
    }
}

// matmul_tiled with the bias add and activation applied before the write.
@compute @workgroup_size(16, 16)
fn linear_tiled(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let acc = tiled_product(workgroup, local);
    let row = workgroup.y * TILE + local.y;
    let col = workgroup.x * TILE + local.x;
    if (row < params.sizes.x && col < params.sizes.y) {
        result[row * params.sizes.y + col] = activate(acc + bias[col], params.flags.x);
    }
}

// Outputs per invocation along each axis in the blocked kernels.
const BLOCK: u32 = 4u;

// The BLOCK × BLOCK block of the product whose first element is (row0, col0), computed from
// global memory: acc[r][c] is element (row0 + r, col0 + c).
fn blocked_product(row0: u32, col0: u32) -> array<vec4<f32>, 4> {
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < params.sizes.z; i++) {
        let b = vec4<f32>(
            load_rhs(i, col0),
            load_rhs(i, col0 + 1u),
            load_rhs(i, col0 + 2u),
            load_rhs(i, col0 + 3u),
        );
        for (var r = 0u; r < BLOCK; r++) {
            acc[r] += load_lhs(row0 + r, i) * b;
        }
    }
    return acc;
}

// Writes the elements of a block that lie inside the result, each as
// activate(acc + column bias, activation).
fn store_block(row0: u32, col0: u32, acc: array<vec4<f32>, 4>, bias4: vec4<f32>, activation: u32) {
    let m = params.sizes.x;
    let n = params.sizes.y;
    for (var r = 0u; r < BLOCK; r++) {
        let row = row0 + r;
        if (row >= m) {
            break;
        }
        for (var c = 0u; c < BLOCK; c++) {
            if (col0 + c < n) {
                result[row * n + col0 + c] = activate(acc[r][c] + bias4[c], activation);
            }
        }
    }
}

// The bias of columns col0 .. col0 + 4, zero past the last column. Only the linear kernels
// call it, because only they bind `bias`.
fn bias_block(col0: u32) -> vec4<f32> {
    var values = vec4<f32>(0.0);
    for (var c = 0u; c < BLOCK; c++) {
        if (col0 + c < params.sizes.y) {
            values[c] = bias[col0 + c];
        }
    }
    return values;
}

// Register-blocked matrix product: each invocation computes a BLOCK × BLOCK block of the
// result from global memory, with no workgroup memory and no barriers, which suits software
// adapters where a barrier is costly. Workgroups of 8 × 8 invocations cover 32 × 32 outputs.
// Grid: (ceil(n / 32), ceil(m / 32)).
@compute @workgroup_size(8, 8)
fn matmul_blocked(@builtin(global_invocation_id) id: vec3<u32>) {
    let row0 = id.y * BLOCK;
    let col0 = id.x * BLOCK;
    if (row0 >= params.sizes.x || col0 >= params.sizes.y) {
        return;
    }
    store_block(row0, col0, blocked_product(row0, col0), vec4<f32>(0.0), 0u);
}

// matmul_blocked with the bias add and activation applied before the write.
@compute @workgroup_size(8, 8)
fn linear_blocked(@builtin(global_invocation_id) id: vec3<u32>) {
    let row0 = id.y * BLOCK;
    let col0 = id.x * BLOCK;
    if (row0 >= params.sizes.x || col0 >= params.sizes.y) {
        return;
    }
    store_block(row0, col0, blocked_product(row0, col0), bias_block(col0), params.flags.x);
}

// The vec4 kernels read both operands four floats at a time, which cuts the loads of the
// blocked kernels by four. They need each operand's contiguous dimension to be a multiple of 4:
// k for lhs stored [m, k], m for lhs stored [k, m], n for rhs stored [k, n] and k for rhs
// stored [n, k]. Blocks are mat4x4 values whose column j is a vector over the block's rows.
@group(0) @binding(2) var<storage, read> lhs4: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> rhs4: array<vec4<f32>>;

// The block op(lhs)[row0 .. row0 + 4, i .. i + 4], zero outside the matrix.
fn lhs_block(row0: u32, i: u32) -> mat4x4<f32> {
    let m = params.sizes.x;
    let k = params.sizes.z;
    var block: mat4x4<f32>;
    if ((params.sizes.w & 1u) != 0u) {
        // Stored [k, m]: row i + j of storage holds column j of the block.
        for (var j = 0u; j < BLOCK; j++) {
            if (i + j < k && row0 < m) {
                block[j] = lhs4[((i + j) * m + row0) / 4u];
            }
        }
        return block;
    }
    // Stored [m, k]: row row0 + r of storage holds row r of the block.
    for (var r = 0u; r < BLOCK; r++) {
        if (row0 + r < m && i < k) {
            block[r] = lhs4[((row0 + r) * k + i) / 4u];
        }
    }
    return transpose(block);
}

// The block op(rhs)[i .. i + 4, col0 .. col0 + 4], zero outside the matrix.
fn rhs_block(i: u32, col0: u32) -> mat4x4<f32> {
    let n = params.sizes.y;
    let k = params.sizes.z;
    var block: mat4x4<f32>;
    if ((params.sizes.w & 2u) != 0u) {
        // Stored [n, k]: row col0 + c of storage holds column c of the block.
        for (var c = 0u; c < BLOCK; c++) {
            if (col0 + c < n && i < k) {
                block[c] = rhs4[((col0 + c) * k + i) / 4u];
            }
        }
        return block;
    }
    // Stored [k, n]: row i + j of storage holds row j of the block.
    for (var j = 0u; j < BLOCK; j++) {
        if (i + j < k && col0 < n) {
            block[j] = rhs4[((i + j) * n + col0) / 4u];
        }
    }
    return transpose(block);
}

// The BLOCK × BLOCK block of the product at (row0, col0), as rows: acc[r][c].
fn vec4_product(row0: u32, col0: u32) -> array<vec4<f32>, 4> {
    var sum: mat4x4<f32>;
    for (var i = 0u; i < params.sizes.z; i += BLOCK) {
        sum += lhs_block(row0, i) * rhs_block(i, col0);
    }
    let rows = transpose(sum);
    return array<vec4<f32>, 4>(rows[0], rows[1], rows[2], rows[3]);
}

// matmul_blocked reading four floats at a time. Grid as for matmul_blocked.
@compute @workgroup_size(8, 8)
fn matmul_vec4(@builtin(global_invocation_id) id: vec3<u32>) {
    let row0 = id.y * BLOCK;
    let col0 = id.x * BLOCK;
    if (row0 >= params.sizes.x || col0 >= params.sizes.y) {
        return;
    }
    store_block(row0, col0, vec4_product(row0, col0), vec4<f32>(0.0), 0u);
}

// matmul_vec4 with the bias add and activation applied before the write.
@compute @workgroup_size(8, 8)
fn linear_vec4(@builtin(global_invocation_id) id: vec3<u32>) {
    let row0 = id.y * BLOCK;
    let col0 = id.x * BLOCK;
    if (row0 >= params.sizes.x || col0 >= params.sizes.y) {
        return;
    }
    store_block(row0, col0, vec4_product(row0, col0), bias_block(col0), params.flags.x);
}
