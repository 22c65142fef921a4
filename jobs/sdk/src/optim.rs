//! Optimizers on burn's autodiff gradients: SGD (with momentum) and Adam.
//!
//! `burn-optim` does not build without `std`, so the SDK applies updates itself. Each
//! parameter's gradient is taken out of burn's `Gradients`, the update runs as a plain loop over
//! `f32` values (no fused multiply-add, no reassociation: IEEE single precision, the same bits on
//! every target), and the result becomes the parameter again. Optimizer slots live in the job
//! state, one `Vec<f32>` per parameter and moment, in module visit order.

use alloc::string::String;
use alloc::vec::Vec;

use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Gradients, Tensor, TensorData};

use crate::params::{Optimizer, Training};
use crate::state::State;

/// Number of slots the optimizer keeps per parameter.
pub fn slots_per_param(optimizer: Optimizer) -> usize {
    match optimizer {
        Optimizer::Sgd { momentum } if momentum == 0.0 => 0,
        Optimizer::Sgd { .. } => 1,
        Optimizer::Adam { .. } => 2,
    }
}

/// One training step from a scalar `loss`: a non-finite loss stops the job with an error naming
/// the step (the same outcome on every machine); otherwise back-propagate, apply `training`'s
/// optimizer with `state`'s slots, and count the step.
pub fn step<M: Module>(
    model: M,
    loss: Tensor<1>,
    training: &Training,
    state: &mut State,
) -> Result<M, String> {
    let value: f32 = loss.clone().into_scalar::<f32>();
    if !value.is_finite() {
        return Err(alloc::format!(
            "the loss is {value} at step {}: training diverged (try a lower learning_rate)",
            state.step
        ));
    }
    let mut grads = loss.backward();
    let model = apply(
        model,
        &mut grads,
        training.optimizer,
        training.learning_rate,
        state.step,
        &mut state.slots,
    );
    state.step += 1;
    Ok(model)
}

/// Apply one update to every parameter that has a gradient.
///
/// `step` is the number of updates already applied (Adam's bias correction uses `step + 1`).
/// `slots` holds `slots_per_param` vectors per parameter, in visit order; empty vectors are
/// filled with zeros on first use.
pub fn apply<M: Module>(
    model: M,
    grads: &mut Gradients,
    optimizer: Optimizer,
    learning_rate: f32,
    step: u64,
    slots: &mut [Vec<f32>],
) -> M {
    // Bias correction folded into the step size, computed once in f64 with the pure-Rust libm.
    let t = (step + 1) as f64;
    let step_size = match optimizer {
        Optimizer::Adam { beta1, beta2, .. } => {
            let c1 = 1.0 - libm::pow(f64::from(beta1), t);
            let c2 = 1.0 - libm::pow(f64::from(beta2), t);
            (f64::from(learning_rate) * libm::sqrt(c2) / c1) as f32
        }
        Optimizer::Sgd { .. } => learning_rate,
    };
    let mut mapper = Apply {
        grads,
        optimizer,
        step_size,
        slots,
        index: 0,
    };
    model.map(&mut mapper)
}

struct Apply<'a> {
    grads: &'a mut Gradients,
    optimizer: Optimizer,
    step_size: f32,
    slots: &'a mut [Vec<f32>],
    index: usize,
}

impl Apply<'_> {
    fn update(&mut self, index: usize, weights: &mut [f32], grads: &[f32]) {
        let per = slots_per_param(self.optimizer);
        let slots = &mut self.slots[index * per..(index + 1) * per];
        for slot in slots.iter_mut() {
            if slot.len() != weights.len() {
                *slot = alloc::vec![0.0; weights.len()];
            }
        }
        let lr = self.step_size;
        match (self.optimizer, slots) {
            (Optimizer::Sgd { .. }, []) => {
                for (w, g) in weights.iter_mut().zip(grads) {
                    *w -= lr * g;
                }
            }
            (Optimizer::Sgd { momentum }, [buf]) => {
                for ((w, g), b) in weights.iter_mut().zip(grads).zip(buf.iter_mut()) {
                    *b = momentum * *b + g;
                    *w -= lr * *b;
                }
            }
            (
                Optimizer::Adam {
                    beta1,
                    beta2,
                    epsilon,
                },
                [m, v],
            ) => {
                let (one_b1, one_b2) = (1.0 - beta1, 1.0 - beta2);
                for (((w, g), m), v) in weights
                    .iter_mut()
                    .zip(grads)
                    .zip(m.iter_mut())
                    .zip(v.iter_mut())
                {
                    *m = beta1 * *m + one_b1 * g;
                    *v = beta2 * *v + one_b2 * (g * g);
                    *w -= lr * *m / (sqrtf(*v) + epsilon);
                }
            }
            _ => unreachable!("slot count matches the optimizer"),
        }
    }
}

impl ModuleMapper for Apply<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let index = self.index;
        self.index += 1;
        param.map(|tensor| {
            let Some(grad) = tensor.grad_remove(self.grads) else {
                return tensor;
            };
            let device = tensor.device();
            let dims = tensor.dims();
            let weights = tensor.without_autodiff().into_data();
            let grad = grad.into_data();
            let mut weights = weights
                .as_slice::<f32>()
                .map(<[f32]>::to_vec)
                .unwrap_or_default();
            let grad = grad.as_slice::<f32>().unwrap_or_default();
            self.update(index, &mut weights, grad);
            Tensor::<D>::from_data(TensorData::new(weights, dims), &device).require_grad()
        })
    }
}

/// The square root of `x`, correctly rounded, as `libm::sqrtf` gives it.
///
/// On wasm32 with SIMD128 (how every job module is built) this is the hardware `f32x4.sqrt` of
/// one lane: IEEE 754 square root, correctly rounded like libm's, so the same bits for every
/// input that is not a NaN — and a NaN never reaches a state (`docs/nan-determinism.md`). libm
/// itself reaches `f32.sqrt` only with a nightly-only feature and otherwise runs a software
/// loop, which was a fifth of an MLP step in Wasm (`docs/benchmarks.md`); `f32::sqrt` needs
/// `std`. Elsewhere (the native tools) it is libm's.
#[inline(always)]
fn sqrtf(x: f32) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        use core::arch::wasm32::{f32x4_extract_lane, f32x4_splat, f32x4_sqrt};
        f32x4_extract_lane::<0>(f32x4_sqrt(f32x4_splat(x)))
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        libm::sqrtf(x)
    }
}
