//! edgegrad trains and runs small neural networks on any GPU through WebGPU compute shaders,
//! with a plain CPU reference for every kernel.
//!
//! Build a [`Graph`] of ops, compile it into a [`Session`] on a [`Device`] (the GPU through
//! wgpu, or the CPU reference), and call [`Session::step`] once per batch:
//!
//! ```
//! use edgegrad::{Device, Graph, Optimizer, Session, Tensor};
//!
//! let mut g = Graph::new();
//! let x = g.input("x", [4, 3])?;
//! let w = g.parameter("w", Tensor::uniform([3, 1], -0.5, 0.5, 0))?;
//! let y = g.input("y", [4])?;
//! let weights = g.input("weights", [4])?;
//! let logits = g.matmul(x, w)?;
//! let loss = g.binary_cross_entropy(logits, y, weights)?;
//!
//! let mut session = Session::training(g, loss, Optimizer::adam(1e-2), &Device::Cpu)?;
//! let features = [0.5, -1.0, 2.0, 1.5, 0.0, -0.5, -2.0, 1.0, 0.25, 0.75, -1.5, 0.5];
//! let first = session.step(&[(x, &features), (y, &[1.0, 0.0, 1.0, 0.0]), (weights, &[1.0; 4])])?;
//! assert!(first.is_finite());
//! # Ok::<(), edgegrad::Error>(())
//! ```
#![warn(missing_docs)]

pub mod cpu;
pub mod data;
pub mod error;
pub mod gpu;
pub mod graph;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod session;
pub mod spec;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
pub use graph::{Graph, NodeId, Op};
pub use optim::{AdamConfig, Optimizer};
pub use session::{Device, Mode, Session, SessionOptions};
pub use tensor::{Shape, Tensor};
