// Matrix product `result[m, n] = op(lhs) · op(rhs)`, where `op` transposes an operand whose
// flag is set: `op(lhs)` is `[m, k]` and `op(rhs)` is `[k, n]`.
//
// Params: sizes = (m, n, k, flags), flags bit 0 = lhs transposed (stored [k, m]),
// bit 1 = rhs transposed (stored [n, k]).

@group(0) @binding(1) var<storage, read_write> result: array<f32>; // [m, n]
@group(0) @binding(2) var<storage, read> lhs: array<f32>;          // [m, k] or [k, m]
@group(0) @binding(3) var<storage, read> rhs: array<f32>;          // [k, n] or [n, k]

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

// One workgroup computes a TILE × TILE block of the result, walking k in TILE-wide steps
// through workgroup memory. Grid: (ceil(n / TILE), ceil(m / TILE)).
@compute @workgroup_size(16, 16)
fn matmul_tiled(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(local_invocation_id) local: vec3<u32>,
) {
    let row = workgroup.y * TILE + local.y;
    let col = workgroup.x * TILE + local.x;
    let k = params.sizes.z;
    var acc = 0.0;
    let steps = (k + TILE - 1u) / TILE;
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
    if (row < params.sizes.x && col < params.sizes.y) {
        result[row * params.sizes.y + col] = acc;
    }
}

// Outputs per invocation along each axis in `matmul_blocked`.
const BLOCK: u32 = 4u;

// Register-blocked matrix product: each invocation computes a BLOCK × BLOCK block of the
// result from global memory, with no workgroup memory and no barriers, which suits software
// adapters where a barrier is costly. Workgroups of 8 × 8 invocations cover 32 × 32 outputs.
// Grid: (ceil(n / 32), ceil(m / 32)). Params as for matmul_tiled.
@compute @workgroup_size(8, 8)
fn matmul_blocked(@builtin(global_invocation_id) id: vec3<u32>) {
    let row0 = id.y * BLOCK;
    let col0 = id.x * BLOCK;
    let m = params.sizes.x;
    let n = params.sizes.y;
    let k = params.sizes.z;
    if (row0 >= m || col0 >= n) {
        return;
    }
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < k; i++) {
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
    for (var r = 0u; r < BLOCK; r++) {
        let row = row0 + r;
        if (row >= m) {
            break;
        }
        for (var c = 0u; c < BLOCK; c++) {
            if (col0 + c < n) {
                result[row * n + col0 + c] = acc[r][c];
            }
        }
    }
}
