// Definitions shared by every kernel file. The host prepends this file to each of the others
// before compiling, so each module sees one `Params` block at binding 0.

// Kernel parameters. Each entry point documents which fields it reads.
struct Params {
    dims_a: vec4<u32>,
    dims_b: vec4<u32>,
    dims_c: vec4<u32>,
    sizes: vec4<u32>,
    scalars: vec4<f32>,
    scalars2: vec4<f32>,
    flags: vec4<u32>,
}

@group(0) @binding(0) var<storage, read> params: Params;

// Invocations per workgroup of the one-dimensional kernels; matches WORKGROUP_SIZE in Rust.
const WORKGROUP_SIZE: u32 = 256u;

// Flat index of an invocation in a one-dimensional grid. Grids with more workgroups than one
// axis allows are spread over x and y, so the index counts whole rows of x first.
fn flat_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32) -> u32 {
    return (workgroup.y * workgroups.x + workgroup.x) * WORKGROUP_SIZE + local;
}

// Row-major coordinates of flat index `index` in the rank-4 shape `dims`.
fn coordinates(index: u32, dims: vec4<u32>) -> vec4<u32> {
    var rest = index;
    var coords: vec4<u32>;
    coords.w = rest % dims.w;
    rest = rest / dims.w;
    coords.z = rest % dims.z;
    rest = rest / dims.z;
    coords.y = rest % dims.y;
    rest = rest / dims.y;
    coords.x = rest;
    return coords;
}

// Logistic sigmoid, evaluated so that neither branch overflows: e^x only for x < 0.
fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// The activation with code `code` (Activation::code in Rust): 0 identity, 1 relu, 2 sigmoid,
// 3 tanh. Clamping keeps drivers that build tanh from exp away from inf / inf; tanh(±15)
// already rounds to ±1 in f32.
fn activate(x: f32, code: u32) -> f32 {
    switch code {
        case 1u: {
            return max(x, 0.0);
        }
        case 2u: {
            return sigmoid(x);
        }
        case 3u: {
            return tanh(clamp(x, -15.0, 15.0));
        }
        default: {
            return x;
        }
    }
}

// The gradient before the activation with code `code`, given its output `y` and the gradient
// `dy` after it.
fn activation_gradient(y: f32, dy: f32, code: u32) -> f32 {
    switch code {
        case 1u: {
            return select(0.0, dy, y > 0.0);
        }
        case 2u: {
            return dy * y * (1.0 - y);
        }
        case 3u: {
            return dy * (1.0 - y * y);
        }
        default: {
            return dy;
        }
    }
}

// Row-major offset of (a, b, c, d) in the rank-4 shape `dims`.
fn offset4(dims: vec4<u32>, a: u32, b: u32, c: u32, d: u32) -> u32 {
    return ((a * dims.y + b) * dims.z + c) * dims.w + d;
}
