//! Bad input at the library level: every case returns a typed error whose message names the
//! file, line, column, tensor or value at fault, because these messages reach the
//! command-line user unchanged.
//!
//! Each test writes its files into its own folder under the system temporary folder, which
//! is removed when the test ends.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use edgegrad::data::{DataError, PrepareOptions, Prepared, Table, prepare};
use edgegrad::model::{FORMAT_VERSION, InputSpec, METADATA_KEY, Model, ModelMeta};
use edgegrad::spec::{Layer, ModelSpec, mlp_layers};
use edgegrad::{AdamConfig, Device, Error, Graph, NodeId, Optimizer, Session, Tensor};

/// A folder under the system temporary folder, unique to one test, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(test: &str) -> TempDir {
        let name = format!("edgegrad-bad-input-{test}-{}", std::process::id());
        let path = std::env::temp_dir().join(name);
        // A folder left behind by an earlier run with the same process id contains stale files.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("failed to create {}: {e}", path.display()));
        TempDir { path }
    }

    /// Writes `contents` to `name` inside the folder and returns the file's path.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, contents)
            .unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Writes `text` as `data.csv` and returns the file's path with the error of reading it.
fn csv_file_error(dir: &TempDir, text: &str) -> (String, DataError) {
    let path = dir.write("data.csv", text);
    match Table::from_csv_path(&path) {
        Ok(table) => panic!("expected an error for {text:?}, got {table:?}"),
        Err(error) => (path.display().to_string(), error),
    }
}

/// Ten machine runs: product type L or M, torque in Nm, and failure 1 on the third and
/// seventh run. Type H is absent on purpose, so that it is unseen at prediction time.
const MACHINE_CSV: &str = "\
Type,Torque,failure
L,41.2,0
M,38.5,0
L,52.1,1
M,36.0,0
M,44.7,0
L,39.9,0
M,61.3,1
L,40.4,0
M,37.8,0
L,42.6,0
";

fn machine_table() -> Table {
    Table::from_csv_reader(MACHINE_CSV.as_bytes(), "train.csv").expect("MACHINE_CSV is valid")
}

fn prepare_error(table: &Table, options: &PrepareOptions) -> DataError {
    match prepare(table, options) {
        Ok(prepared) => panic!("expected an error, got a {} task", prepared.task),
        Err(error) => error,
    }
}

fn prepared_machines() -> Prepared {
    prepare(&machine_table(), &PrepareOptions::new("failure")).expect("prepare MACHINE_CSV")
}

fn model_load_error(path: &Path) -> Error {
    match Model::load(path) {
        Ok(model) => panic!(
            "expected {} to be rejected, got {:?}",
            path.display(),
            model.meta
        ),
        Err(error) => error,
    }
}

#[test]
fn missing_file_names_path() {
    let dir = TempDir::new("missing-file");
    let path = dir.path.join("no-such-file.csv");
    let error = Table::from_csv_path(&path).expect_err("the file does not exist");
    let message = error.to_string();
    assert!(
        matches!(error, DataError::Open { .. }),
        "expected DataError::Open, got {error:?}"
    );
    assert!(
        message.contains(&format!("`{}`", path.display())),
        "names the path: {message}"
    );
    assert!(
        message.contains("failed to open"),
        "says what failed: {message}"
    );
}

#[test]
fn empty_file_is_rejected() {
    let dir = TempDir::new("empty-file");
    for text in ["", "\n", "\n\n"] {
        let (path, error) = csv_file_error(&dir, text);
        let message = error.to_string();
        assert!(
            matches!(error, DataError::EmptyInput { .. }),
            "expected DataError::EmptyInput for {text:?}, got {error:?}"
        );
        assert!(
            message.contains(&format!("{path} is empty")),
            "names the file for {text:?}: {message}"
        );
    }
}

#[test]
fn header_only_file_is_rejected() {
    let dir = TempDir::new("header-only");
    let (path, error) = csv_file_error(&dir, "Type,Torque,failure\n");
    let message = error.to_string();
    assert!(
        matches!(error, DataError::NoRows { .. }),
        "expected DataError::NoRows, got {error:?}"
    );
    assert!(
        message.contains(&format!("{path} has a header line but no data rows")),
        "names the file and the problem: {message}"
    );
}

#[test]
fn ragged_row_names_line() {
    let dir = TempDir::new("ragged-row");
    let (path, error) = csv_file_error(&dir, "a,b,c\n1,2,3\n4,5,6\n7,8\n9,10,11\n");
    let message = error.to_string();
    assert!(
        matches!(error, DataError::RaggedRow { line: 4, .. }),
        "expected DataError::RaggedRow on line 4, got {error:?}"
    );
    assert!(
        message.contains(&format!("line 4 of {path}")),
        "names the line and file: {message}"
    );
    assert!(
        message.contains("has 2 fields"),
        "gives the row's field count: {message}"
    );
    assert!(
        message.contains("the header has 3"),
        "gives the header's field count: {message}"
    );
}

#[test]
fn missing_target_column_names_it() {
    let error = prepare_error(&machine_table(), &PrepareOptions::new("Machine failure"));
    let message = error.to_string();
    assert!(
        matches!(error, DataError::ColumnNotFound { .. }),
        "expected DataError::ColumnNotFound, got {error:?}"
    );
    assert!(
        message.contains("target column `Machine failure` not found in train.csv"),
        "names the column and input: {message}"
    );
    assert!(
        message.contains("`Type`, `Torque`, `failure`"),
        "lists the available columns: {message}"
    );
}

#[test]
fn missing_dropped_column_names_it() {
    let mut options = PrepareOptions::new("failure");
    options.drop = vec!["UDI".into()];
    let error = prepare_error(&machine_table(), &options);
    let message = error.to_string();
    assert!(
        matches!(error, DataError::ColumnNotFound { .. }),
        "expected DataError::ColumnNotFound, got {error:?}"
    );
    assert!(
        message.contains("column to drop `UDI` not found in train.csv"),
        "names the column and input: {message}"
    );
}

#[test]
fn non_numeric_value_names_line_and_column() {
    // Nine of ten torques are numbers, so the column is numeric with one bad value.
    let mut text = String::from("Type,Torque\n");
    for row in 0..10 {
        let torque = if row == 6 {
            "4O.5".to_owned()
        } else {
            format!("{}.5", 40 + row)
        };
        text.push_str(&format!("L,{torque}\n"));
    }
    let dir = TempDir::new("non-numeric");
    let (path, error) = csv_file_error(&dir, &text);
    let message = error.to_string();
    assert!(
        matches!(error, DataError::InvalidNumber { line: 8, .. }),
        "expected DataError::InvalidNumber on line 8, got {error:?}"
    );
    assert!(
        message.contains("invalid number `4O.5`"),
        "shows the value: {message}"
    );
    assert!(
        message.contains("column `Torque`"),
        "names the column: {message}"
    );
    assert!(
        message.contains(&format!("line 8 of {path}")),
        "names the line and file: {message}"
    );
}

#[test]
fn empty_cell_names_line_and_column() {
    let dir = TempDir::new("empty-cell");
    let (path, error) = csv_file_error(&dir, "Type,Torque\nL,41.2\nM,\nH,39.0\n");
    let message = error.to_string();
    assert!(
        matches!(error, DataError::EmptyValue { line: 3, .. }),
        "expected DataError::EmptyValue on line 3, got {error:?}"
    );
    assert!(
        message.contains("empty value in column `Torque`"),
        "names the column: {message}"
    );
    assert!(
        message.contains(&format!("line 3 of {path}")),
        "names the line and file: {message}"
    );
}

#[test]
fn gzip_file_read_as_csv_names_the_fix() {
    let dir = TempDir::new("gzip-as-csv");
    let path = dir.write("pixels.csv.gz", [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]);
    let error = Table::from_csv_path(&path).unwrap_err();
    assert!(
        matches!(error, DataError::Compressed { .. }),
        "expected DataError::Compressed, got {error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("gzip-compressed"), "{message}");
    assert!(message.contains("--format images"), "{message}");
}

#[test]
fn values_beyond_f32_are_rejected() {
    let dir = TempDir::new("beyond-f32");
    for bad in ["1e39", "-4e38"] {
        let (path, error) = csv_file_error(&dir, &format!("Torque,speed\n41.2,1500\n{bad},1410\n"));
        let message = error.to_string();
        assert!(
            matches!(error, DataError::OutOfRange { .. }),
            "expected DataError::OutOfRange for `{bad}`, got {error:?}"
        );
        assert!(
            message.contains(&format!("`{bad}`")),
            "shows the value: {message}"
        );
        assert!(
            message.contains("column `Torque`"),
            "names the column: {message}"
        );
        assert!(
            message.contains(&format!("line 3 of {path}")),
            "names the line: {message}"
        );
        assert!(message.contains("rescale"), "suggests a fix: {message}");
    }
}

#[test]
fn nan_and_infinite_values_are_rejected() {
    let dir = TempDir::new("non-finite");
    for bad in ["nan", "NaN", "inf", "-inf", "Infinity"] {
        let (path, error) = csv_file_error(&dir, &format!("Torque,speed\n41.2,1500\n{bad},1410\n"));
        let message = error.to_string();
        assert!(
            matches!(error, DataError::NonFinite { .. }),
            "expected DataError::NonFinite for `{bad}`, got {error:?}"
        );
        assert!(
            message.contains(&format!("NaN or infinite value `{bad}`")),
            "shows the value: {message}"
        );
        assert!(
            message.contains("column `Torque`"),
            "names the column for `{bad}`: {message}"
        );
        assert!(
            message.contains(&format!("line 3 of {path}")),
            "names the line for `{bad}`: {message}"
        );
    }
}

#[test]
fn single_class_target_names_value() {
    let text = MACHINE_CSV.replace(",1\n", ",0\n");
    let table = Table::from_csv_reader(text.as_bytes(), "train.csv").expect("valid CSV");
    let error = prepare_error(&table, &PrepareOptions::new("failure"));
    let message = error.to_string();
    assert!(
        matches!(error, DataError::SingleClass { .. }),
        "expected DataError::SingleClass, got {error:?}"
    );
    assert!(
        message.contains("target column `failure` contains only the value `0`"),
        "names the column and value: {message}"
    );
}

#[test]
fn validation_without_positive_is_rejected() {
    // Only the third run failed, so the validation split cannot contain a failure.
    let text = MACHINE_CSV.replace("M,61.3,1", "M,61.3,0");
    let table = Table::from_csv_reader(text.as_bytes(), "train.csv").expect("valid CSV");
    let error = prepare_error(&table, &PrepareOptions::new("failure"));
    let message = error.to_string();
    assert!(
        matches!(error, DataError::MissingValidationClass { .. }),
        "expected DataError::MissingValidationClass, got {error:?}"
    );
    assert!(
        message.contains("the validation split has no row of class `1`"),
        "names the class: {message}"
    );
    assert!(
        message.contains("target column `failure`"),
        "names the column: {message}"
    );

    let mut half = PrepareOptions::new("failure");
    half.val_fraction = 0.5;
    let error = prepare_error(&table, &half);
    assert!(
        matches!(error, DataError::MissingValidationClass { .. }),
        "a larger validation fraction does not help, got {error:?}"
    );
}

#[test]
fn unknown_positive_class_names_it() {
    let mut options = PrepareOptions::new("failure");
    options.positive = Some("yes".into());
    let error = prepare_error(&machine_table(), &options);
    let message = error.to_string();
    assert!(
        matches!(error, DataError::UnknownPositive { .. }),
        "expected DataError::UnknownPositive, got {error:?}"
    );
    assert!(
        message.contains("positive class `yes` is not a value of target column `failure`"),
        "names the value and column: {message}"
    );
    assert!(
        message.contains("classes: `0`, `1`"),
        "lists the classes: {message}"
    );
}

#[test]
fn random_bytes_model_is_rejected() {
    let dir = TempDir::new("random-model");
    // Bytes from a fixed linear congruential generator, so the file is the same on every run.
    let mut state: u32 = 12_345;
    let bytes: Vec<u8> = (0..512)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (state >> 16) as u8
        })
        .collect();
    let path = dir.write("model.safetensors", bytes);
    let error = model_load_error(&path);
    let message = error.to_string();
    assert!(
        matches!(error, Error::Model { .. }),
        "expected Error::Model, got {error:?}"
    );
    assert!(
        message.contains(&format!("model file {}", path.display())),
        "names the path: {message}"
    );
    assert!(
        message.contains("not a safetensors file"),
        "says what is wrong: {message}"
    );
}

#[test]
fn safetensors_without_metadata_is_rejected() {
    let dir = TempDir::new("foreign-safetensors");
    let values: Vec<u8> = [0.5f32, -1.0, 2.0, 0.25]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    // A file with no metadata at all, and one with unrelated metadata.
    let cases = [
        ("plain.safetensors", None),
        (
            "pytorch.safetensors",
            Some(HashMap::from([("format".to_owned(), "pt".to_owned())])),
        ),
    ];
    for (name, metadata) in cases {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &values)
                .expect("4 f32 values make a 2x2 tensor");
        let bytes = safetensors::serialize([("weight", view)], metadata)
            .expect("serialize a valid safetensors file");
        let path = dir.write(name, bytes);
        let error = model_load_error(&path);
        let message = error.to_string();
        assert!(
            matches!(error, Error::Model { .. }),
            "expected Error::Model for {name}, got {error:?}"
        );
        assert!(
            message.contains(&format!("model file {}", path.display())),
            "names the path: {message}"
        );
        assert!(
            message.contains(&format!("without `{METADATA_KEY}` metadata")),
            "says what is missing from {name}: {message}"
        );
    }
}

/// Writes a safetensors file with `meta` under the edgegrad key and `params` as tensors,
/// without going through [`Model::save`], as another tool editing a model file would.
fn write_model_file(path: &Path, meta: &ModelMeta, params: &[(String, Tensor)]) {
    let bytes: Vec<(String, Vec<u8>, Vec<usize>)> = params
        .iter()
        .map(|(name, tensor)| {
            let data = tensor.data().iter().flat_map(|v| v.to_le_bytes()).collect();
            (name.clone(), data, tensor.shape().dims().to_vec())
        })
        .collect();
    let views = bytes.iter().map(|(name, data, shape)| {
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .expect("tensor data matches its shape");
        (name.as_str(), view)
    });
    let meta_json = serde_json::to_string(meta).expect("serialize the model metadata");
    let metadata = HashMap::from([(METADATA_KEY.to_owned(), meta_json)]);
    let encoded = safetensors::serialize(views, Some(metadata)).expect("serialize tensors");
    fs::write(path, encoded).unwrap_or_else(|e| panic!("failed to write {}: {e}", path.display()));
}

/// Returns the metadata and freshly initialised parameters of a small MLP for MACHINE_CSV.
fn machine_model() -> (ModelMeta, Vec<(String, Tensor)>) {
    let prepared = prepared_machines();
    let spec = ModelSpec {
        input_shape: vec![prepared.features.n_features()],
        layers: mlp_layers(&[4], Layer::Relu, 1),
    };
    let (graph, _, _) = spec.build(1, None, 0).expect("build the MLP");
    let params = graph
        .parameters()
        .iter()
        .map(|(id, tensor)| {
            let name = graph.node(*id).name.clone().expect("parameters are named");
            (name, tensor.clone())
        })
        .collect();
    let meta = ModelMeta {
        format_version: FORMAT_VERSION,
        task: prepared.task,
        model: spec,
        input: InputSpec::Table {
            features: prepared.features,
        },
        target: prepared.target,
    };
    (meta, params)
}

#[test]
fn model_wrong_tensor_shape_names_tensor() {
    let dir = TempDir::new("wrong-shape");
    let (meta, params) = machine_model();

    // The same writer with the right shapes gives a loadable file, so the error below comes
    // from the shape alone.
    let good = dir.path.join("good.safetensors");
    write_model_file(&good, &meta, &params);
    if let Err(error) = Model::load(&good) {
        panic!("a model file with the right shapes should load: {error}");
    }

    let mut wrong = params.clone();
    let (name, bias) = wrong
        .iter_mut()
        .find(|(name, _)| name.ends_with(".bias"))
        .expect("a dense layer has a bias");
    let units = bias.data().len();
    *bias = Tensor::uniform([units + 1], -0.5, 0.5, 1);
    let name = name.clone();
    let path = dir.path.join("wrong.safetensors");
    write_model_file(&path, &meta, &wrong);
    let error = model_load_error(&path);
    let message = error.to_string();
    assert!(
        matches!(error, Error::Model { .. }),
        "expected Error::Model, got {error:?}"
    );
    assert!(
        message.contains(&format!("model file {}", path.display())),
        "names the path: {message}"
    );
    assert!(
        message.contains(&format!("parameter `{name}` has shape [{}]", units + 1)),
        "names the tensor and its shape: {message}"
    );
    assert!(
        message.contains(&format!("the layer needs [{units}]")),
        "gives the expected shape: {message}"
    );
}

#[test]
fn model_missing_tensor_names_it() {
    let dir = TempDir::new("missing-tensor");
    let (meta, mut params) = machine_model();
    let (name, _) = params.pop().expect("the MLP has parameters");
    let path = dir.path.join("model.safetensors");
    write_model_file(&path, &meta, &params);
    let error = model_load_error(&path);
    let message = error.to_string();
    assert!(
        matches!(error, Error::Model { .. }),
        "expected Error::Model, got {error:?}"
    );
    assert!(
        message.contains(&format!("`{name}` is missing")),
        "names the tensor: {message}"
    );
}

#[test]
fn predict_missing_feature_column_names_it() {
    let encoder = prepared_machines().features;
    let new_rows = Table::from_csv_reader("Type\nL\nM\n".as_bytes(), "new.csv").expect("valid CSV");
    let error = encoder
        .encode(&new_rows)
        .expect_err("the Torque column is missing");
    let message = error.to_string();
    assert!(
        matches!(error, DataError::ColumnNotFound { .. }),
        "expected DataError::ColumnNotFound, got {error:?}"
    );
    assert!(
        message.contains("feature column `Torque` not found in new.csv"),
        "names the column and input: {message}"
    );
}

#[test]
fn predict_unseen_category_names_value() {
    let encoder = prepared_machines().features;
    let text = "Type,Torque\nL,40.1\nH,38.2\n";
    let new_rows = Table::from_csv_reader(text.as_bytes(), "new.csv").expect("valid CSV");
    let error = encoder
        .encode(&new_rows)
        .expect_err("type H was not in the training data");
    let message = error.to_string();
    assert!(
        matches!(error, DataError::UnknownCategory { .. }),
        "expected DataError::UnknownCategory, got {error:?}"
    );
    assert!(
        message.contains("unknown category `H` in column `Type`"),
        "names the value and column: {message}"
    );
    assert!(
        message.contains("line 3 of new.csv"),
        "names the line: {message}"
    );
    assert!(
        message.contains("`L`, `M`"),
        "lists the known categories: {message}"
    );
}

/// A compiled two-class softmax classifier on the CPU with valid feeds for one step.
struct Classifier {
    session: Session,
    features: NodeId,
    labels: NodeId,
    weights: NodeId,
    feed_values: [Vec<f32>; 3],
}

impl Classifier {
    fn new() -> Classifier {
        let mut graph = Graph::new();
        let features = graph.input("features", [4, 3]).expect("input features");
        let w = graph
            .parameter("w", Tensor::uniform([3, 2], -0.5, 0.5, 0))
            .expect("parameter w");
        let labels = graph.input("labels", [4]).expect("input labels");
        let weights = graph.input("row weights", [4]).expect("input row weights");
        let logits = graph.matmul(features, w).expect("matmul");
        let loss = graph
            .softmax_cross_entropy(logits, labels, weights)
            .expect("softmax cross-entropy");
        let session = Session::training(graph, loss, Optimizer::sgd(0.1), &Device::Cpu)
            .expect("compile the classifier");
        let feed_values = [
            vec![
                0.5, -1.0, 2.0, 1.5, 0.0, -0.5, -2.0, 1.0, 0.25, 0.75, -1.5, 0.5,
            ],
            vec![0.0, 1.0, 1.0, 0.0],
            vec![1.0; 4],
        ];
        Classifier {
            session,
            features,
            labels,
            weights,
            feed_values,
        }
    }

    /// Runs a step with feed `index` (0 features, 1 labels, 2 row weights) replaced by
    /// `value`, and checks that it is rejected before any step is taken.
    fn step_error(&mut self, index: usize, value: &[f32]) -> Error {
        let mut values: Vec<&[f32]> = self.feed_values.iter().map(Vec::as_slice).collect();
        values[index] = value;
        let feeds = [
            (self.features, values[0]),
            (self.labels, values[1]),
            (self.weights, values[2]),
        ];
        let error = match self.session.step(&feeds) {
            Ok(loss) => panic!("expected feed {index} = {value:?} to be rejected, got loss {loss}"),
            Err(error) => error,
        };
        assert_eq!(
            self.session.steps_taken(),
            0,
            "a rejected feed takes no step: {error}"
        );
        error
    }

    /// Checks that a step with the valid feeds still succeeds after a rejected one.
    fn assert_valid_step(&mut self) {
        let [features, labels, weights] = &self.feed_values;
        let feeds = [
            (self.features, features.as_slice()),
            (self.labels, labels.as_slice()),
            (self.weights, weights.as_slice()),
        ];
        match self.session.step(&feeds) {
            Ok(loss) => assert!(
                loss.is_finite(),
                "valid feeds give a finite loss, got {loss}"
            ),
            Err(error) => panic!("valid feeds should train after a rejected feed: {error}"),
        }
    }
}

#[test]
fn feed_nan_names_input() {
    let mut classifier = Classifier::new();
    for bad in [f32::NAN, f32::INFINITY] {
        let mut features = classifier.feed_values[0].clone();
        features[5] = bad;
        let error = classifier.step_error(0, &features);
        let message = error.to_string();
        assert!(
            matches!(error, Error::Feed(_)),
            "expected Error::Feed for {bad}, got {error:?}"
        );
        assert!(
            message.contains(&format!("input `features` contains {bad} at index 5")),
            "names the input, value and index: {message}"
        );
    }
    classifier.assert_valid_step();
}

#[test]
fn feed_wrong_length_names_input() {
    let mut classifier = Classifier::new();
    let short = vec![0.5; 11];
    let error = classifier.step_error(0, &short);
    let message = error.to_string();
    assert!(
        matches!(error, Error::Feed(_)),
        "expected Error::Feed, got {error:?}"
    );
    assert!(
        message.contains("input `features` has shape [4, 3] (12 values)"),
        "names the input and its shape: {message}"
    );
    assert!(
        message.contains("but 11 values were fed"),
        "gives the fed length: {message}"
    );
    classifier.assert_valid_step();
}

#[test]
fn feed_label_out_of_range_names_input() {
    let mut classifier = Classifier::new();
    for bad in [2.0, -1.0, 0.5] {
        let labels = [0.0, 1.0, bad, 0.0];
        let error = classifier.step_error(1, &labels);
        let message = error.to_string();
        assert!(
            matches!(error, Error::Feed(_)),
            "expected Error::Feed for label {bad}, got {error:?}"
        );
        assert!(
            message.contains(&format!("input `labels` contains {bad} at index 2")),
            "names the input, value and index: {message}"
        );
        assert!(
            message.contains("not a class index in 0..2"),
            "gives the valid range: {message}"
        );
    }
    classifier.assert_valid_step();
}

#[test]
fn feed_all_zero_weights_names_input() {
    let mut classifier = Classifier::new();
    let error = classifier.step_error(2, &[0.0; 4]);
    let message = error.to_string();
    assert!(
        matches!(error, Error::Feed(_)),
        "expected Error::Feed, got {error:?}"
    );
    assert!(
        message.contains("input `row weights` is all zero"),
        "names the input and the problem: {message}"
    );
    classifier.assert_valid_step();
}

#[test]
fn optimizer_settings_out_of_range_rejected() {
    let adam = |edit: fn(&mut AdamConfig)| {
        let mut config = AdamConfig::with_lr(1e-3, 0.0);
        edit(&mut config);
        Optimizer::Adam(config)
    };
    let sgd = |lr, momentum, weight_decay| Optimizer::Sgd {
        lr,
        momentum,
        weight_decay,
    };
    let cases = [
        (sgd(-0.1, 0.0, 0.0), "learning rate is -0.1"),
        (sgd(f32::NAN, 0.0, 0.0), "learning rate is NaN"),
        (sgd(0.1, -3.0, 0.0), "momentum is -3"),
        (sgd(0.1, 1.0, 0.0), "momentum is 1"),
        (sgd(0.1, 0.9, -1.0), "weight decay is -1"),
        (adam(|c| c.lr = -1.0), "learning rate is -1"),
        (adam(|c| c.beta1 = 1.5), "beta1 is 1.5"),
        (adam(|c| c.beta2 = 1.0), "beta2 is 1"),
        (adam(|c| c.eps = 0.0), "epsilon is 0"),
        (
            adam(|c| c.weight_decay = f32::INFINITY),
            "weight decay is inf",
        ),
    ];
    for (optimizer, expected) in cases {
        let mut g = Graph::new();
        let w = g.parameter("w", Tensor::full([2], 1.0)).unwrap();
        let loss = g.sum(w).unwrap();
        let err = Session::training(g, loss, optimizer, &Device::Cpu)
            .err()
            .unwrap_or_else(|| panic!("{optimizer:?} was accepted"));
        assert!(matches!(err, Error::Optimizer { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(expected), "{message}");
    }
    // A rate of zero is valid: it computes gradients without moving the parameters.
    assert!(Optimizer::sgd(0.0).validate().is_ok());
}
