//! End-to-end checks of the `train` and `predict` example binaries: training on the built-in
//! simulator and on small CSV files, saving and predicting, and the exit status and message of
//! bad input.
//!
//! `cargo test` builds the examples before it runs integration tests, but
//! `cargo test --test cli` does not, so these tests fail with the fix when a binary is missing
//! or older than the sources. Each test works in its own folder under the system temporary
//! folder, which is removed when the test ends.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use edgegrad::data::{Table, simulate_milling};
use edgegrad::model::Model;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

/// Time after which a run counts as hung and is killed. The runs here take seconds.
const TIMEOUT: Duration = Duration::from_secs(300);

/// Rows of the built-in simulator in training runs, and the validation rows that the default
/// validation fraction of 0.2 gives.
const SIMULATED_ROWS: &str = "2000";
const SIMULATED_VALIDATION_ROWS: u64 = 400;

/// A folder under the system temporary folder, unique to one test, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(test: &str) -> TempDir {
        let name = format!("edgegrad-cli-{test}-{}", std::process::id());
        let path = std::env::temp_dir().join(name);
        // A folder left behind by an earlier run with the same process id contains stale files.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("failed to create {}: {e}", path.display()));
        TempDir { path }
    }

    /// Returns the path of `name` inside the folder as a command-line argument.
    fn arg(&self, name: &str) -> String {
        path_arg(&self.path.join(name))
    }

    /// Writes `contents` to `name` inside the folder and returns the path as an argument.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.path.join(name);
        fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
        path_arg(&path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn path_arg(path: &Path) -> String {
    path.to_str()
        .unwrap_or_else(|| panic!("temporary path {} is not UTF-8", path.display()))
        .to_owned()
}

/// Reads the source files that cargo recorded in a dep-info file (`NAME.d`, in Makefile
/// syntax: `TARGET: SOURCE SOURCE ...`, with spaces in paths escaped as `\ `).
fn dep_info_sources(dep_info: &Path) -> Option<Vec<PathBuf>> {
    let text = fs::read_to_string(dep_info).ok()?;
    let first_rule = text.lines().next()?;
    let (_, sources) = first_rule.split_once(": ")?;
    let mut paths = Vec::new();
    let mut current = String::new();
    let mut chars = sources.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => current.extend(chars.next()),
            ' ' => {
                if !current.is_empty() {
                    paths.push(PathBuf::from(std::mem::take(&mut current)));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        paths.push(PathBuf::from(current));
    }
    Some(paths)
}

/// Returns the time of the first call, which is close to the start of this test run.
fn run_start() -> SystemTime {
    static START: OnceLock<SystemTime> = OnceLock::new();
    *START.get_or_init(SystemTime::now)
}

/// Returns the path of an example binary next to this test binary, after checking that it
/// exists and is newer than every source file that cargo built it from.
///
/// A source edited after the binary was built but before this run started means that the
/// examples were not rebuilt, which is an error. A source edited while the tests run only
/// gets a warning, because the build before the run could not include that edit.
///
/// This binary is `target/<profile>/deps/cli-HASH`, and cargo places examples and their
/// dep-info files in `target/<profile>/examples/`.
fn example_binary(name: &str) -> PathBuf {
    let started = run_start();
    let this = std::env::current_exe().expect("path of the test binary");
    let profile_dir = this.parent().and_then(Path::parent).unwrap_or_else(|| {
        panic!(
            "test binary {} is not in target/<profile>/deps",
            this.display()
        )
    });
    let examples = profile_dir.join("examples");
    let binary = examples.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let built = match fs::metadata(&binary).and_then(|m| m.modified()) {
        Ok(time) => time,
        Err(error) => panic!(
            "example binary {} not found ({error}); build it with `cargo build --examples` or \
             run `cargo test`, which builds the examples first",
            binary.display()
        ),
    };
    let dep_info = examples.join(format!("{name}.d"));
    let Some(sources) = dep_info_sources(&dep_info) else {
        eprintln!(
            "failed to read the source list {}, so the age of {} is not checked",
            dep_info.display(),
            binary.display()
        );
        return binary;
    };
    for source in sources {
        let Ok(modified) = fs::metadata(&source).and_then(|m| m.modified()) else {
            continue;
        };
        if modified <= built {
            continue;
        }
        if modified < started {
            panic!(
                "example binary {} is older than its source {}, so it would test stale code; \
                 rebuild it with `cargo build --examples` or run `cargo test`",
                binary.display(),
                source.display()
            );
        }
        eprintln!(
            "warning: {} changed while the tests ran, after {} was built, so this test runs the \
             code from before that change",
            source.display(),
            binary.display()
        );
    }
    binary
}

/// The exit status and output of one run of an example binary.
struct Run {
    command: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Formats the command with its exit status and output, for assertion messages.
    fn describe(&self) -> String {
        format!(
            "`{}` exited with {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }

    fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "expected success: {}", self.describe());
        assert!(
            !self.stderr.contains("panicked"),
            "no panic: {}",
            self.describe()
        );
    }

    /// Checks that the run failed with exit status 1 and an `error:` message containing each
    /// of `expected`, and that it did not panic.
    fn assert_error(&self, expected: &[&str]) {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit status 1 from a reported error: {}",
            self.describe()
        );
        assert!(
            !self.stderr.contains("panicked"),
            "reports the error instead of panicking: {}",
            self.describe()
        );
        assert!(
            self.stderr.contains("error: "),
            "prints `error:`: {}",
            self.describe()
        );
        for text in expected {
            assert!(
                self.stderr.contains(text),
                "the message contains `{text}`: {}",
                self.describe()
            );
        }
    }
}

fn read_in_background(mut pipe: impl Read + Send + 'static) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Runs example `name` with `args` in `dir` and returns its exit status and output. Kills it
/// and fails when it runs longer than [`TIMEOUT`].
fn run_example(dir: &TempDir, name: &str, args: &[&str]) -> Run {
    let binary = example_binary(name);
    let command = format!("{name} {}", args.join(" "));
    let mut child = Command::new(&binary)
        .args(args)
        .current_dir(&dir.path)
        // A data folder from the environment would change how --data paths resolve.
        .env_remove("EDGEGRAD_DATA")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {}: {e}", binary.display()));
    let stdout = read_in_background(child.stdout.take().expect("stdout is piped"));
    let stderr = read_in_background(child.stderr.take().expect("stderr is piped"));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(error) => panic!("failed to wait for `{command}`: {error}"),
        }
    };
    let run = Run {
        command,
        code: status.and_then(|status| status.code()),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    if status.is_none() {
        panic!("killed after {TIMEOUT:?}: {}", run.describe());
    }
    run
}

/// Arguments of a short training run on the built-in simulator with `backend` (cpu or gpu).
fn simulator_args(backend: &'static str) -> Vec<&'static str> {
    vec![
        "--epochs",
        "2",
        "--backend",
        backend,
        "--simulated-rows",
        SIMULATED_ROWS,
    ]
}

/// Returns the sum of the counts in the confusion matrix that the trainer prints below its
/// `actual \ predicted` header, or `None` when there is no matrix.
fn confusion_total(stdout: &str) -> Option<u64> {
    let mut lines = stdout
        .lines()
        .skip_while(|line| !line.contains("actual \\ predicted"));
    lines.next()?;
    let mut total = 0;
    for line in lines {
        let cells: Vec<&str> = line.split_whitespace().collect();
        let counts: Option<Vec<u64>> = cells.iter().skip(1).map(|cell| cell.parse().ok()).collect();
        match counts {
            Some(counts) if line.starts_with("  ") && !counts.is_empty() => {
                total += counts.iter().sum::<u64>();
            }
            _ => break,
        }
    }
    Some(total)
}

fn assert_binary_report(run: &Run) {
    let expected = [
        "task:    binary classification of `Machine failure`",
        &format!("validation ({SIMULATED_VALIDATION_ROWS} rows):"),
        "accuracy ",
        " F1 ",
        " ROC AUC ",
        "actual \\ predicted",
    ];
    for text in expected {
        assert!(
            run.stdout.contains(text),
            "prints `{text}`: {}",
            run.describe()
        );
    }
    assert_eq!(
        confusion_total(&run.stdout),
        Some(SIMULATED_VALIDATION_ROWS),
        "the confusion matrix counts every validation row: {}",
        run.describe()
    );
}

fn read_json(path: &str) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("failed to read {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not JSON ({e}): {text}"))
}

/// Returns `json[key]` as a number, failing with the JSON when it is absent or not a number.
fn json_number(json: &Value, key: &str) -> f64 {
    json[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is not a number in {json:#}"))
}

/// Parses the CSV output of `predict` into the header and the data rows.
fn parse_predictions(run: &Run) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(run.stdout.as_bytes());
    let header = reader
        .headers()
        .unwrap_or_else(|e| panic!("predict output has no CSV header ({e}): {}", run.describe()))
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record =
                record.unwrap_or_else(|e| panic!("invalid CSV row ({e}): {}", run.describe()));
            record.iter().map(str::to_owned).collect()
        })
        .collect();
    (header, rows)
}

/// Checks that the first column numbers the rows 1, 2, … and that there is one per input row.
fn assert_row_numbers(rows: &[Vec<String>], input_rows: usize, run: &Run) {
    assert_eq!(
        rows.len(),
        input_rows,
        "one prediction per input row: {}",
        run.describe()
    );
    for (index, row) in rows.iter().enumerate() {
        assert_eq!(
            row[0],
            (index + 1).to_string(),
            "row numbers count from 1: {}",
            run.describe()
        );
    }
}

/// Writes the simulator's feature columns, without the label, for `rows` new processes.
fn write_simulated_features(dir: &TempDir, rows: usize) -> String {
    let table = simulate_milling(rows, 99);
    let keep = table.names().len() - 1;
    assert_eq!(
        table.names()[keep],
        "Machine failure",
        "the simulator's label is its last column"
    );
    let features = Table::new(
        table.names()[..keep].to_vec(),
        table.columns()[..keep].to_vec(),
    )
    .expect("a subset of a valid table is valid");
    let mut bytes = Vec::new();
    features.write_csv(&mut bytes).expect("write CSV to memory");
    dir.write("new.csv", bytes)
}

/// Rows of the synthetic CSV files.
const SYNTHETIC_ROWS: usize = 400;

/// Writes a CSV with features `x1`, `x2` (uniform in [-1, 1]) and `shift` (A or B, unrelated
/// to the label), and a label column `label` computed by `label` from `x1` and `x2`.
fn write_synthetic(dir: &TempDir, name: &str, label: impl Fn(f64, f64) -> String) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut text = String::from("x1,x2,shift,label\n");
    for _ in 0..SYNTHETIC_ROWS {
        let x1: f64 = rng.random_range(-1.0..1.0);
        let x2: f64 = rng.random_range(-1.0..1.0);
        let shift = if rng.random_bool(0.5) { "A" } else { "B" };
        text.push_str(&format!("{x1:.4},{x2:.4},{shift},{}\n", label(x1, x2)));
    }
    dir.write(name, text)
}

/// Reads the label column of a file written by [`write_synthetic`].
fn synthetic_labels(path: &str) -> Vec<String> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    reader
        .records()
        .map(|record| record.unwrap_or_else(|e| panic!("{path}: {e}"))[3].to_owned())
        .collect()
}

/// Arguments of a short CPU training run on a synthetic CSV with target `label`.
fn synthetic_args<'a>(data: &'a str, save: &'a str, metrics: &'a str) -> Vec<&'a str> {
    vec![
        "--data",
        data,
        "--target",
        "label",
        "--epochs",
        "3",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--hidden",
        "16",
        "--backend",
        "cpu",
        "--save",
        save,
        "--metrics-json",
        metrics,
    ]
}

#[test]
fn train_cpu_prints_metrics() {
    let dir = TempDir::new("train-cpu");
    let run = run_example(&dir, "train", &simulator_args("cpu"));
    run.assert_success();
    assert!(
        run.stdout.contains("backend: cpu"),
        "reports the backend: {}",
        run.describe()
    );
    assert_binary_report(&run);
}

#[test]
fn train_gpu_prints_metrics() {
    let Some(_device) = common::gpu() else {
        return;
    };
    let dir = TempDir::new("train-gpu");
    let run = run_example(&dir, "train", &simulator_args("gpu"));
    run.assert_success();
    assert!(
        run.stdout.contains("backend: gpu"),
        "reports the backend: {}",
        run.describe()
    );
    assert!(
        run.stdout.contains(" dispatches, 1 submission"),
        "reports the GPU step counters: {}",
        run.describe()
    );
    assert!(
        run.stdout.contains("memory:  planned "),
        "reports the memory plan: {}",
        run.describe()
    );
    assert_binary_report(&run);
}

#[test]
fn save_then_predict_prints_csv() {
    let dir = TempDir::new("save-predict");
    let model = dir.arg("model.safetensors");
    let metrics = dir.arg("metrics.json");
    let mut args = simulator_args("cpu");
    args.extend(["--save", &model, "--metrics-json", &metrics]);
    let run = run_example(&dir, "train", &args);
    run.assert_success();
    assert!(
        run.stdout.contains(&format!("saved the model to {model}")),
        "reports the saved model: {}",
        run.describe()
    );

    let json = read_json(&metrics);
    let losses = json["epoch_losses"]
        .as_array()
        .unwrap_or_else(|| panic!("`epoch_losses` is not an array: {json:#}"));
    assert_eq!(losses.len(), 2, "one loss per epoch: {json:#}");
    assert!(
        losses
            .iter()
            .all(|loss| loss.as_f64().is_some_and(f64::is_finite)),
        "epoch losses are finite numbers: {json:#}"
    );
    assert_eq!(json["backend"], "cpu", "records the backend: {json:#}");
    let validation = &json["validation"];
    assert_eq!(validation["task"], "binary", "binary metrics: {json:#}");
    let f1 = json_number(validation, "f1");
    assert!((0.0..=1.0).contains(&f1), "F1 {f1} lies in [0, 1]");
    let roc_auc = json_number(validation, "roc_auc");
    assert!(
        (0.0..=1.0).contains(&roc_auc),
        "ROC AUC {roc_auc} lies in [0, 1]"
    );

    let rows = 25;
    let data = write_simulated_features(&dir, rows);
    let args = ["--model", &model, "--data", &data, "--backend", "cpu"];
    let predict = run_example(&dir, "predict", &args);
    predict.assert_success();
    let (header, predictions) = parse_predictions(&predict);
    assert_eq!(
        header,
        ["row", "predicted", "probability"],
        "CSV header: {}",
        predict.describe()
    );
    assert_row_numbers(&predictions, rows, &predict);
    for row in &predictions {
        assert!(
            row[1] == "0" || row[1] == "1",
            "the predicted class is 0 or 1, got `{}`: {}",
            row[1],
            predict.describe()
        );
        let probability: f64 = row[2].parse().unwrap_or(f64::NAN);
        assert!(
            (0.5..=1.0).contains(&probability),
            "the predicted class's probability `{}` lies in [0.5, 1]: {}",
            row[2],
            predict.describe()
        );
    }

    // A folder is not the CSV table this model reads, so the error names what --data must be.
    let folder = dir.arg(".");
    let args = [
        "--model",
        model.as_str(),
        "--data",
        folder.as_str(),
        "--backend",
        "cpu",
    ];
    run_example(&dir, "predict", &args).assert_error(&["must be a CSV file"]);
}

#[test]
fn save_leaves_no_temporary_file() {
    let dir = TempDir::new("atomic-save");
    // An older file at the path is replaced, not appended to or left in place.
    let model = dir.write("model.safetensors", "an older model");
    let metrics = dir.arg("metrics.json");
    let mut args = simulator_args("cpu");
    args.extend(["--save", &model, "--metrics-json", &metrics]);
    run_example(&dir, "train", &args).assert_success();

    let names: Vec<String> = fs::read_dir(&dir.path)
        .expect("list the temporary folder")
        .map(|entry| {
            entry
                .expect("folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let leftovers: Vec<&String> = names
        .iter()
        .filter(|name| name.starts_with('.') && name.contains(".tmp-"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file remains, found {leftovers:?} among {names:?}"
    );
    if let Err(error) = Model::load(Path::new(&model)) {
        panic!("the saved model replaced the older file and loads: {error}");
    }
}

#[test]
fn multiclass_trains_and_predicts() {
    let dir = TempDir::new("multiclass");
    let data = write_synthetic(&dir, "multi.csv", |x1, x2| {
        let sum = x1 + x2;
        let class = if sum < -0.5 {
            "low"
        } else if sum > 0.5 {
            "high"
        } else {
            "mid"
        };
        class.to_owned()
    });
    let model = dir.arg("model.safetensors");
    let metrics = dir.arg("metrics.json");
    let run = run_example(&dir, "train", &synthetic_args(&data, &model, &metrics));
    run.assert_success();
    for text in [
        "3-class classification of `label`",
        "macro F1 ",
        "actual \\ predicted",
    ] {
        assert!(
            run.stdout.contains(text),
            "prints `{text}`: {}",
            run.describe()
        );
    }
    let json = read_json(&metrics);
    assert_eq!(json["validation"]["task"], "multiclass", "{json:#}");
    let macro_f1 = json_number(&json["validation"], "macro_f1");
    assert!(
        macro_f1 > 0.75,
        "the classes follow from x1 + x2, so macro F1 {macro_f1} beats chance: {}",
        run.describe()
    );

    let args = ["--model", &model, "--data", &data, "--backend", "cpu"];
    let predict = run_example(&dir, "predict", &args);
    predict.assert_success();
    let (header, predictions) = parse_predictions(&predict);
    assert_eq!(
        header,
        ["row", "predicted", "probability"],
        "CSV header: {}",
        predict.describe()
    );
    assert_row_numbers(&predictions, SYNTHETIC_ROWS, &predict);
    let labels = synthetic_labels(&data);
    let mut correct = 0;
    for (row, label) in predictions.iter().zip(&labels) {
        assert!(
            ["low", "mid", "high"].contains(&row[1].as_str()),
            "the predicted class `{}` is a trained class: {}",
            row[1],
            predict.describe()
        );
        let probability: f64 = row[2].parse().unwrap_or(f64::NAN);
        assert!(
            (1.0 / 3.0..=1.0).contains(&probability),
            "the top probability `{}` of three classes lies in [1/3, 1]: {}",
            row[2],
            predict.describe()
        );
        correct += usize::from(row[1] == *label);
    }
    let accuracy = correct as f64 / labels.len() as f64;
    assert!(
        accuracy > 0.8,
        "the saved model predicts its training file with accuracy {accuracy}: {}",
        predict.describe()
    );
}

#[test]
fn regression_trains_and_predicts() {
    let dir = TempDir::new("regression");
    let data = write_synthetic(&dir, "regression.csv", |x1, x2| {
        format!("{:.4}", 10.0 + 2.0 * x1 - 3.0 * x2)
    });
    let model = dir.arg("model.safetensors");
    let metrics = dir.arg("metrics.json");
    let run = run_example(&dir, "train", &synthetic_args(&data, &model, &metrics));
    run.assert_success();
    for text in ["regression of `label`", "RMSE ", "MAE "] {
        assert!(
            run.stdout.contains(text),
            "prints `{text}`: {}",
            run.describe()
        );
    }
    // The label's standard deviation is sqrt((4 + 9) / 3), about 2.08, so a model that
    // predicts the mean has an RMSE of about 2.
    let json = read_json(&metrics);
    assert_eq!(json["validation"]["task"], "regression", "{json:#}");
    let rmse = json_number(&json["validation"], "rmse");
    assert!(
        rmse < 0.6,
        "validation RMSE {rmse} beats predicting the mean"
    );
    let mae = json_number(&json["validation"], "mae");
    assert!(mae <= rmse, "MAE {mae} is at most RMSE {rmse}");

    let args = ["--model", &model, "--data", &data, "--backend", "cpu"];
    let predict = run_example(&dir, "predict", &args);
    predict.assert_success();
    let (header, predictions) = parse_predictions(&predict);
    assert_eq!(
        header,
        ["row", "predicted"],
        "CSV header: {}",
        predict.describe()
    );
    assert_row_numbers(&predictions, SYNTHETIC_ROWS, &predict);
    let labels = synthetic_labels(&data);
    let mut total_error = 0.0;
    for (row, label) in predictions.iter().zip(&labels) {
        let value: f64 = row[1].parse().unwrap_or(f64::NAN);
        assert!(
            value.is_finite(),
            "the prediction `{}` is a number: {}",
            row[1],
            predict.describe()
        );
        let actual: f64 = label.parse().expect("labels are numbers");
        total_error += (value - actual).abs();
    }
    let mean_error = total_error / labels.len() as f64;
    assert!(
        mean_error < 0.6,
        "predictions are in the label's units, with mean absolute error {mean_error}: {}",
        predict.describe()
    );
}

#[test]
fn train_missing_file_fails() {
    let dir = TempDir::new("missing-file");
    let data = dir.arg("no-such-file.csv");
    let args = ["--data", &data, "--target", "label", "--backend", "cpu"];
    let run = run_example(&dir, "train", &args);
    run.assert_error(&["failed to open", &format!("`{data}`")]);
}

#[test]
fn train_data_without_target_fails() {
    let dir = TempDir::new("no-target");
    let data = write_synthetic(&dir, "data.csv", |x1, _| format!("{}", u8::from(x1 > 0.0)));
    let run = run_example(&dir, "train", &["--data", &data, "--backend", "cpu"]);
    run.assert_error(&[
        "--target is required with --data",
        "one of: x1, x2, shift, label",
    ]);
}

#[test]
fn train_unknown_target_fails() {
    let dir = TempDir::new("unknown-target");
    let data = write_synthetic(&dir, "data.csv", |x1, _| format!("{}", u8::from(x1 > 0.0)));
    let args = [
        "--data",
        &data,
        "--target",
        "Machine failure",
        "--backend",
        "cpu",
    ];
    let run = run_example(&dir, "train", &args);
    run.assert_error(&[
        &format!("target column `Machine failure` not found in {data}"),
        "`x1`, `x2`, `shift`, `label`",
    ]);
}

#[test]
fn train_invalid_hidden_fails() {
    let dir = TempDir::new("invalid-hidden");
    let cases = [
        ("abc", "invalid --hidden width `abc`"),
        ("64,x", "invalid --hidden width `x`"),
        ("64,0", "invalid --hidden width 0"),
    ];
    for (hidden, expected) in cases {
        let mut args = simulator_args("cpu");
        args.extend(["--hidden", hidden]);
        run_example(&dir, "train", &args).assert_error(&[expected]);
    }
}

#[test]
fn train_zero_learning_rate_fails() {
    let dir = TempDir::new("zero-lr");
    for (lr, expected) in [("0", "invalid --lr 0;"), ("-0.5", "invalid --lr -0.5;")] {
        let mut args = simulator_args("cpu");
        let lr_arg = format!("--lr={lr}");
        args.push(&lr_arg);
        run_example(&dir, "train", &args).assert_error(&[expected, "must be a positive number"]);
    }
}

#[test]
fn train_invalid_optimizer_settings_fail() {
    let dir = TempDir::new("optimizer-settings");
    let cases = [
        (
            &["--optimizer", "sgd", "--momentum=-3"][..],
            "momentum is -3",
        ),
        (&["--weight-decay=-1"][..], "weight decay is -1"),
    ];
    for (options, expected) in cases {
        let mut args = simulator_args("cpu");
        args.extend_from_slice(options);
        run_example(&dir, "train", &args).assert_error(&["invalid optimizer setting", expected]);
    }
}

#[test]
fn predict_foreign_model_fails() {
    let dir = TempDir::new("foreign-model");
    let model = dir.write("model.safetensors", "x1,x2\n0.5,1.5\n");
    let data = write_synthetic(&dir, "data.csv", |x1, _| format!("{}", u8::from(x1 > 0.0)));
    let args = ["--model", &model, "--data", &data, "--backend", "cpu"];
    let run = run_example(&dir, "predict", &args);
    run.assert_error(&[&format!("model file {model}"), "not a safetensors file"]);
}

#[test]
fn predict_missing_feature_column_fails() {
    let dir = TempDir::new("missing-feature");
    let model = dir.arg("model.safetensors");
    let mut args = simulator_args("cpu");
    args.extend(["--save", &model]);
    run_example(&dir, "train", &args).assert_success();

    let data = dir.write("new.csv", "Type,Air temperature [K]\nL,300.1\n");
    let args = ["--model", &model, "--data", &data, "--backend", "cpu"];
    let run = run_example(&dir, "predict", &args);
    run.assert_error(&[&format!(
        "feature column `Process temperature [K]` not found in {data}"
    )]);
}

/// Writes `rows` 1×4×4 images without a header, the label last: class 0 is bright on the left
/// half and class 1 on the right half, with seeded noise.
fn write_images(dir: &TempDir, rows: usize, with_labels: bool) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut text = String::new();
    for row in 0..rows {
        let class = row % 3;
        let mut fields: Vec<String> = (0..16)
            .map(|pixel| {
                let column = pixel % 4;
                let lit = match class {
                    0 => column < 2,
                    1 => column >= 2,
                    _ => pixel < 8,
                };
                let base = if lit { 12.0 } else { 2.0 };
                format!("{:.1}", base + rng.random_range(-1.5..1.5))
            })
            .collect();
        if with_labels {
            fields.push(class.to_string());
        }
        text += &fields.join(",");
        text.push('\n');
    }
    dir.write(
        if with_labels {
            "images.csv"
        } else {
            "new_images.csv"
        },
        text,
    )
}

#[test]
fn cnn_model_saves_and_predicts() {
    let dir = TempDir::new("cnn_model_saves_and_predicts");
    let data = write_images(&dir, 90, true);
    let model = dir.arg("cnn.safetensors");
    let layers = "conv2d:4:3:pad=1,relu,maxpool:2,flatten,dense:3";
    let args = [
        "--format",
        "images",
        "--data",
        &data,
        "--image-shape",
        "1,4,4",
        "--layers",
        layers,
        "--epochs",
        "30",
        "--batch-size",
        "16",
        "--lr",
        "0.01",
        "--backend",
        "cpu",
        "--save",
        &model,
    ];
    let run = run_example(&dir, "train", &args);
    run.assert_success();
    assert!(
        run.stdout.contains("conv2d:4:3:pad=1"),
        "prints the model summary: {}",
        run.describe()
    );
    assert!(
        run.stdout.contains("[batch, 4, 4, 4]"),
        "summary shows output shapes: {}",
        run.describe()
    );
    assert!(
        run.stdout.contains("macro F1"),
        "prints multi-class metrics: {}",
        run.describe()
    );

    let new_images = write_images(&dir, 12, false);
    let run = run_example(
        &dir,
        "predict",
        &["--model", &model, "--data", &new_images, "--backend", "cpu"],
    );
    run.assert_success();
    let (header, rows) = parse_predictions(&run);
    assert_eq!(
        header,
        ["row", "predicted", "probability"],
        "{}",
        run.describe()
    );
    assert_row_numbers(&rows, 12, &run);
    let correct = rows
        .iter()
        .enumerate()
        .filter(|(i, row)| row[1] == (i % 3).to_string())
        .count();
    assert!(
        correct >= 10,
        "{correct} of 12 images classified correctly: {}",
        run.describe()
    );
}
