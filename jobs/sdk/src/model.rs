//! Building blocks for job models: seeded initialization and the exported classifier.
//!
//! Initial weights come from the SDK's own [`Rng`](crate::rng::Rng), never from burn's backend
//! RNG, so the same seed gives the same weights on every target.

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};

use crate::rng::Rng;

/// Seeded parameter initialization for a job's model.
pub struct Init {
    rng: Rng,
    device: Device,
}

impl Init {
    /// Initialization stream for `seed`, creating tensors on `device`.
    pub fn new(seed: u64, device: Device) -> Self {
        Self {
            rng: Rng::stream(seed, b"init", 0),
            device,
        }
    }

    /// The device parameters are created on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// A parameter of shape `dims` drawn uniformly from `[-bound, bound)`.
    pub fn uniform<const D: usize>(&mut self, dims: [usize; D], bound: f32) -> Param<Tensor<D>> {
        let len = dims.iter().product();
        let values = (0..len)
            .map(|_| self.rng.uniform(-bound, bound))
            .collect::<alloc::vec::Vec<_>>();
        Param::from_tensor(Tensor::<D>::from_data(
            TensorData::new(values, dims),
            &self.device,
        ))
    }

    /// A fully connected layer `d_input → d_output` with burn's default scheme: weights and
    /// bias uniform in `±1/√d_input`.
    pub fn linear(&mut self, d_input: usize, d_output: usize) -> Linear {
        let bound = 1.0 / libm::sqrtf(d_input as f32);
        Linear {
            weight: self.uniform([d_input, d_output], bound),
            bias: Some(self.uniform([d_output], bound)),
        }
    }
}

/// Feature standardization stored with the model: `(x − mean) × inv_std`.
#[derive(Module, Debug)]
pub struct Standardize {
    /// Per-feature mean of the training rows.
    pub mean: Param<Tensor<1>>,
    /// Per-feature inverse standard deviation of the training rows.
    pub inv_std: Param<Tensor<1>>,
}

impl Standardize {
    /// From the statistics of a prepared dataset.
    pub fn new(mean: &[f32], inv_std: &[f32], device: &Device) -> Self {
        let param = |v: &[f32]| {
            Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(v.to_vec(), [v.len()]),
                device,
            ))
        };
        Self {
            mean: param(mean),
            inv_std: param(inv_std),
        }
    }

    /// Standardize a `[rows, features]` batch.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        (x - self.mean.val().unsqueeze::<2>()) * self.inv_std.val().unsqueeze::<2>()
    }
}

/// The exported model: standardization followed by the job's network. Its burnpack record is
/// what a buyer receives; `Module::load_record` restores it in any burn program.
#[derive(Module, Debug)]
pub struct Classifier<M: Module> {
    /// Input standardization.
    pub standardize: Standardize,
    /// The job's network, producing class logits.
    pub net: M,
}

/// The inverse of target standardization, stored with a regression model: `y × std + mean`.
#[derive(Module, Debug)]
pub struct Destandardize {
    /// Mean of the training targets.
    pub mean: Param<Tensor<1>>,
    /// Standard deviation of the training targets.
    pub std: Param<Tensor<1>>,
}

impl Destandardize {
    /// From the target statistics of a prepared dataset.
    pub fn new(mean: f32, std: f32, device: &Device) -> Self {
        let param = |v: f32| {
            Param::from_tensor(Tensor::<1>::from_data(
                TensorData::new(alloc::vec![v], [1]),
                device,
            ))
        };
        Self {
            mean: param(mean),
            std: param(std),
        }
    }

    /// A `[rows, 1]` batch of network outputs in the target's units.
    pub fn forward(&self, y: Tensor<2>) -> Tensor<2> {
        y * self.std.val().unsqueeze::<2>() + self.mean.val().unsqueeze::<2>()
    }
}

/// The exported regression model: standardization, the job's network (one output), and the
/// target's units restored.
#[derive(Module, Debug)]
pub struct Regressor<M: Module> {
    /// Input standardization.
    pub standardize: Standardize,
    /// The job's network, producing the standardized target.
    pub net: M,
    /// Back to the target's units.
    pub target: Destandardize,
}
