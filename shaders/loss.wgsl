// Loss functions and their gradients with respect to the prediction. Every loss is a weighted
// mean over rows: Σ_r w_r · loss_r / Σ_r w_r, so rows of weight 0 (padding) change nothing.
//
// Each entry point runs as a single workgroup that walks the rows in strides of
// WORKGROUP_SIZE; the batches this engine trains on are small enough for that.
// Params: sizes.x = rows, sizes.y = columns (classes for softmax cross-entropy, 1 for binary
// cross-entropy).

@group(0) @binding(1) var<storage, read_write> result: array<f32>; // [1], or the prediction's shape
@group(0) @binding(2) var<storage, read> prediction: array<f32>; // [rows, columns] logits or values
@group(0) @binding(3) var<storage, read> targets: array<f32>;    // [rows] class indices or 0/1, or [rows, columns]
@group(0) @binding(4) var<storage, read> weights: array<f32>;    // [rows]
@group(0) @binding(5) var<storage, read> dloss: array<f32>;      // [1], gradient of the loss

var<workgroup> partial: array<vec2<f32>, 256>;

// Sums `value` over the workgroup; every invocation receives the total.
fn workgroup_sum(local: u32, value: vec2<f32>) -> vec2<f32> {
    partial[local] = value;
    workgroupBarrier();
    for (var stride = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        if (local < stride) {
            partial[local] += partial[local + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    workgroupBarrier();
    return total;
}

// Sum of the row's weights over every row.
fn weight_total(local: u32) -> f32 {
    var acc = 0.0;
    for (var r = local; r < params.sizes.x; r += WORKGROUP_SIZE) {
        acc += weights[r];
    }
    return workgroup_sum(local, vec2<f32>(acc, 0.0)).x;
}

// Maximum of one row of logits, subtracted before exp so that logits of ±1e4 stay finite.
fn row_max(base: u32, columns: u32) -> f32 {
    var m = prediction[base];
    for (var c = 1u; c < columns; c++) {
        m = max(m, prediction[base + c]);
    }
    return m;
}

fn row_sum_exp(base: u32, columns: u32, m: f32) -> f32 {
    var s = 0.0;
    for (var c = 0u; c < columns; c++) {
        s += exp(prediction[base + c] - m);
    }
    return s;
}

// Class index of row r, clamped so that a bad label cannot read outside the row.
fn label(r: u32, columns: u32) -> u32 {
    return min(u32(targets[r]), columns - 1u);
}

@compute @workgroup_size(256)
fn softmax_cross_entropy_forward(@builtin(local_invocation_index) local: u32) {
    let columns = params.sizes.y;
    var acc = vec2<f32>(0.0);
    for (var r = local; r < params.sizes.x; r += WORKGROUP_SIZE) {
        let base = r * columns;
        let m = row_max(base, columns);
        let loss = m + log(row_sum_exp(base, columns, m)) - prediction[base + label(r, columns)];
        acc += vec2<f32>(weights[r] * loss, weights[r]);
    }
    let total = workgroup_sum(local, acc);
    if (local == 0u) {
        result[0] = total.x / total.y;
    }
}

// d/dx_rc = dloss · w_r · (softmax_rc − [c = label_r]) / Σw.
@compute @workgroup_size(256)
fn softmax_cross_entropy_backward(@builtin(local_invocation_index) local: u32) {
    let columns = params.sizes.y;
    let scale = dloss[0] / weight_total(local);
    for (var r = local; r < params.sizes.x; r += WORKGROUP_SIZE) {
        let base = r * columns;
        let m = row_max(base, columns);
        let s = row_sum_exp(base, columns, m);
        let y = label(r, columns);
        for (var c = 0u; c < columns; c++) {
            let p = exp(prediction[base + c] - m) / s;
            result[base + c] = scale * weights[r] * (p - select(0.0, 1.0, c == y));
        }
    }
}

// Per row: max(x, 0) − x·y + ln(1 + e^−|x|), which never exponentiates a positive number.
@compute @workgroup_size(256)
fn binary_cross_entropy_forward(@builtin(local_invocation_index) local: u32) {
    var acc = vec2<f32>(0.0);
    for (var r = local; r < params.sizes.x; r += WORKGROUP_SIZE) {
        let x = prediction[r];
        let loss = max(x, 0.0) - x * targets[r] + log(1.0 + exp(-abs(x)));
        acc += vec2<f32>(weights[r] * loss, weights[r]);
    }
    let total = workgroup_sum(local, acc);
    if (local == 0u) {
        result[0] = total.x / total.y;
    }
}

// d/dx_r = dloss · w_r · (σ(x_r) − y_r) / Σw.
@compute @workgroup_size(256)
fn binary_cross_entropy_backward(@builtin(local_invocation_index) local: u32) {
    let scale = dloss[0] / weight_total(local);
    for (var r = local; r < params.sizes.x; r += WORKGROUP_SIZE) {
        result[r] = scale * weights[r] * (sigmoid(prediction[r]) - targets[r]);
    }
}

// Per row: the mean over columns of (p − t)².
@compute @workgroup_size(256)
fn mean_squared_error_forward(@builtin(local_invocation_index) local: u32) {
    let columns = params.sizes.y;
    var acc = vec2<f32>(0.0);
    for (var r = local; r < params.sizes.x; r += WORKGROUP_SIZE) {
        var row = 0.0;
        for (var c = 0u; c < columns; c++) {
            let d = prediction[r * columns + c] - targets[r * columns + c];
            row += d * d;
        }
        acc += vec2<f32>(weights[r] * row / f32(columns), weights[r]);
    }
    let total = workgroup_sum(local, acc);
    if (local == 0u) {
        result[0] = total.x / total.y;
    }
}

// d/dp_rc = dloss · w_r · 2 (p_rc − t_rc) / (columns · Σw).
@compute @workgroup_size(256)
fn mean_squared_error_backward(@builtin(local_invocation_index) local: u32) {
    let columns = params.sizes.y;
    let scale = 2.0 * dloss[0] / (f32(columns) * weight_total(local));
    for (var r = local; r < params.sizes.x; r += WORKGROUP_SIZE) {
        for (var c = 0u; c < columns; c++) {
            let i = r * columns + c;
            result[i] = scale * weights[r] * (prediction[i] - targets[i]);
        }
    }
}
