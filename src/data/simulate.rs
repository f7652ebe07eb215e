//! A seeded simulator of milling-machine telemetry with machine failures, following the
//! generation rules published with the AI4I 2020 predictive-maintenance data set. It gives
//! examples and tests a realistic, imbalanced binary task without a download.
//!
//! Each row is one process on the machine. The failure modes are:
//! - tool wear failure: the tool fails at a wear drawn uniformly from 200 to 240 min;
//! - heat dissipation failure: process minus air temperature below 8.6 K and speed below
//!   1380 rpm;
//! - power failure: torque times angular speed below 3500 W or above 9000 W;
//! - overstrain failure: tool wear times torque above 11 000, 12 000 or 13 000 min·Nm for
//!   product type L, M or H;
//! - random failure: probability 0.1 % per process.
//!
//! After any failure the tool is replaced, so the next process starts with a new tool.

use std::f64::consts::TAU;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::table::{Column, Table};

/// Product types with their probability and the tool wear, in minutes, that one process adds.
/// The last field is the overstrain limit of tool wear times torque, in min·Nm.
const PRODUCT_TYPES: [(&str, f64, f64, f64); 3] = [
    ("L", 0.5, 2.0, 11_000.0),
    ("M", 0.3, 3.0, 12_000.0),
    ("H", 0.2, 5.0, 13_000.0),
];

/// Nominal spindle power, in watts.
const POWER_W: f64 = 2860.0;
/// Standard deviation of the spindle power's normal noise, in watts.
const POWER_NOISE_W: f64 = 100.0;
/// Torque, in Nm, that the spindle works against when the tool torque is 0.
const IDLE_TORQUE_NM: f64 = 10.0;
/// Share of the tool torque that the spindle works against.
const TORQUE_SHARE: f64 = 0.2;
/// Smallest torque kept, in Nm; smaller draws are redrawn so that torque stays positive.
const MIN_TORQUE_NM: f64 = 3.0;

/// Simulates `rows` processes of a milling machine; the same `seed` gives the same table.
///
/// The columns are:
/// - `Type`: text L, M or H, with probabilities 0.5, 0.3 and 0.2;
/// - `Air temperature [K]`: a random walk scaled to mean 300 K and standard deviation 2 K;
/// - `Process temperature [K]`: air temperature plus 10 K plus a second random walk scaled to
///   standard deviation 1 K;
/// - `Rotational speed [rpm]`: see below;
/// - `Torque [Nm]`: normal with mean 40 Nm and standard deviation 10 Nm, redrawn below 3 Nm;
/// - `Tool wear [min]`: the wear of the tool before the process;
/// - `Machine failure`: 1 when any failure mode occurred in the process, else 0.
///
/// The rotational speed is the speed at which a power of 2860 W, with normal noise of standard
/// deviation 100 W, drives a spindle torque of 10 Nm plus 0.2 times the tool torque. It falls
/// as torque rises and has a longer tail towards high speeds. Over 10 000 rows its mean
/// measured about 1540 rpm and its standard deviation about 185 rpm.
///
/// NOTE: this speed formula and its two torque constants are the simulator's own, chosen to
/// give those statistics from a 2860 W power.
///
/// Temperatures and torque are rounded to 0.1 and speed to whole rpm. The failure rules apply
/// to the rounded values, so the label depends only on the visible columns, the random
/// failures and the hidden tool-wear limit.
pub fn simulate_milling(rows: usize, seed: u64) -> Table {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let air_walk = scaled_random_walk(rows, 300.0, 2.0, &mut rng);
    let process_walk = scaled_random_walk(rows, 0.0, 1.0, &mut rng);

    let mut types = Vec::with_capacity(rows);
    let mut air = Vec::with_capacity(rows);
    let mut process = Vec::with_capacity(rows);
    let mut speed = Vec::with_capacity(rows);
    let mut torque = Vec::with_capacity(rows);
    let mut wear = Vec::with_capacity(rows);
    let mut failure = Vec::with_capacity(rows);

    let mut tool_wear = 0.0;
    let mut wear_limit = rng.random_range(200.0..=240.0);
    for row in 0..rows {
        let (product, _, wear_per_process, overstrain_limit) = draw_product_type(&mut rng);
        let air_k = round_to_tenth(air_walk[row]);
        let process_k = round_to_tenth(air_walk[row] + 10.0 + process_walk[row]);
        let torque_nm = round_to_tenth(draw_torque(&mut rng));
        let power_w = POWER_W + POWER_NOISE_W * standard_normal(&mut rng);
        let angular_speed = power_w.max(0.0) / (IDLE_TORQUE_NM + TORQUE_SHARE * torque_nm);
        let speed_rpm = (angular_speed * 60.0 / TAU).round();

        let mechanical_power_w = torque_nm * speed_rpm * TAU / 60.0;
        let tool_wear_failure = tool_wear >= wear_limit;
        let heat_failure = process_k - air_k < 8.6 && speed_rpm < 1380.0;
        let power_failure = !(3500.0..=9000.0).contains(&mechanical_power_w);
        let overstrain_failure = tool_wear * torque_nm > overstrain_limit;
        // Drawn on every row so that the random stream does not depend on the other modes.
        let random_failure = rng.random_bool(0.001);
        let failed = tool_wear_failure
            || heat_failure
            || power_failure
            || overstrain_failure
            || random_failure;

        types.push(product.to_owned());
        air.push(air_k);
        process.push(process_k);
        speed.push(speed_rpm);
        torque.push(torque_nm);
        wear.push(tool_wear);
        failure.push(if failed { 1.0 } else { 0.0 });

        if failed {
            tool_wear = 0.0;
            wear_limit = rng.random_range(200.0..=240.0);
        } else {
            tool_wear += wear_per_process;
        }
    }

    let names = [
        "Type",
        "Air temperature [K]",
        "Process temperature [K]",
        "Rotational speed [rpm]",
        "Torque [Nm]",
        "Tool wear [min]",
        "Machine failure",
    ];
    let columns = vec![
        Column::Text(types),
        Column::Numeric(air),
        Column::Numeric(process),
        Column::Numeric(speed),
        Column::Numeric(torque),
        Column::Numeric(wear),
        Column::Numeric(failure),
    ];
    let table = Table::new(names.map(str::to_owned).to_vec(), columns);
    // The names are fixed and unique, the columns have `rows` values each and all values are
    // finite, so `Table::new` accepts them.
    table
        .expect("simulated columns form a valid table")
        .with_input_name("simulated milling data")
}

fn draw_product_type(rng: &mut ChaCha8Rng) -> (&'static str, f64, f64, f64) {
    let mut draw: f64 = rng.random();
    for product in PRODUCT_TYPES {
        if draw < product.1 {
            return product;
        }
        draw -= product.1;
    }
    PRODUCT_TYPES[PRODUCT_TYPES.len() - 1]
}

fn draw_torque(rng: &mut ChaCha8Rng) -> f64 {
    loop {
        let torque = 40.0 + 10.0 * standard_normal(rng);
        if torque >= MIN_TORQUE_NM {
            return torque;
        }
    }
}

/// Draws from the standard normal distribution with the Box-Muller transform.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // `random` is in [0, 1), so `1 - random` is in (0, 1] and its logarithm finite.
    let radius_draw: f64 = 1.0 - rng.random::<f64>();
    let angle_draw: f64 = rng.random();
    (-2.0 * radius_draw.ln()).sqrt() * (TAU * angle_draw).cos()
}

/// Returns a Gaussian random walk of `length` steps, shifted and scaled to exactly `mean` and
/// population standard deviation `std` (a constant `mean` for fewer than 2 steps).
fn scaled_random_walk(length: usize, mean: f64, std: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut position = 0.0;
    let walk: Vec<f64> = (0..length)
        .map(|_| {
            position += standard_normal(rng);
            position
        })
        .collect();
    let count = walk.len().max(1) as f64;
    let walk_mean = walk.iter().sum::<f64>() / count;
    let walk_std = (walk.iter().map(|x| (x - walk_mean).powi(2)).sum::<f64>() / count).sqrt();
    if walk_std == 0.0 {
        return vec![mean; length];
    }
    walk.iter()
        .map(|x| mean + std * (x - walk_mean) / walk_std)
        .collect()
}

fn round_to_tenth(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric<'a>(table: &'a Table, name: &str) -> &'a [f64] {
        match table.column(name) {
            Some(Column::Numeric(values)) => values,
            other => panic!("column `{name}` should be numeric, got {other:?}"),
        }
    }

    fn mean_std(values: &[f64]) -> (f64, f64) {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        (mean, variance.sqrt())
    }

    #[test]
    fn simulate_has_expected_columns() {
        let table = simulate_milling(50, 1);
        let expected = [
            "Type",
            "Air temperature [K]",
            "Process temperature [K]",
            "Rotational speed [rpm]",
            "Torque [Nm]",
            "Tool wear [min]",
            "Machine failure",
        ];
        assert_eq!(table.names(), expected);
        assert_eq!(table.n_rows(), 50);
        assert!(
            matches!(table.column("Type"), Some(Column::Text(_))),
            "Type is text"
        );
    }

    #[test]
    fn simulate_failure_rate_is_a_few_percent() {
        let table = simulate_milling(10_000, 42);
        let failures = numeric(&table, "Machine failure");
        assert!(
            failures.iter().all(|&f| f == 0.0 || f == 1.0),
            "labels are 0 or 1"
        );
        let rate = failures.iter().sum::<f64>() / failures.len() as f64;
        assert!(
            (0.01..=0.08).contains(&rate),
            "failure rate {rate} outside 1 %..8 %"
        );
    }

    #[test]
    fn simulate_is_seeded() {
        let first = simulate_milling(500, 7);
        assert_eq!(first, simulate_milling(500, 7), "same seed, same table");
        assert_ne!(
            first,
            simulate_milling(500, 8),
            "another seed, another table"
        );
    }

    #[test]
    fn simulate_column_statistics() {
        let table = simulate_milling(10_000, 3);
        let (air_mean, air_std) = mean_std(numeric(&table, "Air temperature [K]"));
        assert!((air_mean - 300.0).abs() < 0.05, "air mean {air_mean}");
        assert!((air_std - 2.0).abs() < 0.05, "air std {air_std}");

        let air = numeric(&table, "Air temperature [K]");
        let difference: Vec<f64> = numeric(&table, "Process temperature [K]")
            .iter()
            .zip(air)
            .map(|(process, air)| process - air)
            .collect();
        let (difference_mean, difference_std) = mean_std(&difference);
        assert!(
            (difference_mean - 10.0).abs() < 0.05,
            "difference mean {difference_mean}"
        );
        assert!(
            (difference_std - 1.0).abs() < 0.1,
            "difference std {difference_std}"
        );

        let (speed_mean, speed_std) = mean_std(numeric(&table, "Rotational speed [rpm]"));
        assert!(
            (1400.0..=1600.0).contains(&speed_mean),
            "speed mean {speed_mean}"
        );
        assert!(
            (140.0..=230.0).contains(&speed_std),
            "speed std {speed_std}"
        );

        let torque = numeric(&table, "Torque [Nm]");
        let (torque_mean, torque_std) = mean_std(torque);
        assert!(
            (torque_mean - 40.0).abs() < 0.5,
            "torque mean {torque_mean}"
        );
        assert!((torque_std - 10.0).abs() < 0.5, "torque std {torque_std}");
        assert!(
            torque.iter().all(|&t| t >= MIN_TORQUE_NM),
            "no torque below 3 Nm"
        );

        let wear = numeric(&table, "Tool wear [min]");
        let max_wear = wear.iter().copied().fold(0.0, f64::max);
        assert!(
            max_wear <= 245.0,
            "tools are replaced by 240 min plus one process: {max_wear}"
        );
        assert!(
            wear.iter().any(|&w| w > 150.0),
            "tools wear for many processes"
        );
    }

    #[test]
    fn simulate_type_shares() {
        let table = simulate_milling(10_000, 5);
        let Some(Column::Text(types)) = table.column("Type") else {
            panic!("Type should be a text column");
        };
        for (product, share, _, _) in PRODUCT_TYPES {
            let count = types.iter().filter(|t| *t == product).count();
            let observed = count as f64 / types.len() as f64;
            assert!(
                (observed - share).abs() < 0.02,
                "type {product}: share {observed}"
            );
        }
    }

    #[test]
    fn simulate_tool_wear_follows_type() {
        let table = simulate_milling(2_000, 11);
        let Some(Column::Text(types)) = table.column("Type") else {
            panic!("Type should be a text column");
        };
        let wear = numeric(&table, "Tool wear [min]");
        let failures = numeric(&table, "Machine failure");
        for row in 1..table.n_rows() {
            let expected = if failures[row - 1] == 1.0 {
                0.0
            } else {
                let step = PRODUCT_TYPES
                    .iter()
                    .find(|p| p.0 == types[row - 1])
                    .map(|p| p.2);
                wear[row - 1] + step.unwrap_or(f64::NAN)
            };
            assert_eq!(wear[row], expected, "tool wear at row {row}");
        }
    }

    #[test]
    fn simulate_empty_and_single_row() {
        assert_eq!(simulate_milling(0, 0).n_rows(), 0, "zero rows");
        let one = simulate_milling(1, 0);
        assert_eq!(
            numeric(&one, "Air temperature [K]"),
            [300.0],
            "one row sits at the mean"
        );
    }

    #[test]
    fn simulate_writes_readable_csv() {
        let table = simulate_milling(200, 9);
        let mut bytes = Vec::new();
        table.write_csv(&mut bytes).expect("write CSV");
        let read = Table::from_csv_reader(bytes.as_slice(), "simulated.csv").expect("read CSV");
        assert_eq!(read.columns(), table.columns(), "CSV keeps every value");
    }
}
