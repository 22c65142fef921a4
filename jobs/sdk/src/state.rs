//! The job state that crosses the ABI between segments, and its byte encoding (SDK state v1).
//!
//! The state is everything a segment needs besides the params and the dataset: the seed, the
//! number of steps taken, every model parameter and every optimizer slot. Nothing else survives
//! from one segment to the next (each ABI call runs in a fresh instance), so a segment is a pure
//! function of `(params, dataset, state, steps)` — which is what lets a verifier re-execute one.
//!
//! Encoding, little-endian throughout:
//!
//! ```text
//! magic "AGJS" | version u16 = 1 | seed u64 | step u64
//! | param count u32 | param*      (model parameters, in module visit order)
//! | slot count u32  | slot*       (optimizer slots: f32 values, one or two per parameter)
//! param = rank u8 | dims u32 × rank | f32 × product(dims)
//! slot  = len u32 | f32 × len
//! ```
//!
//! Decoding checks every length against the bytes present, and encoding refuses non-finite
//! values: a NaN or infinity never reaches a state hash (see `docs/nan-determinism.md`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Tensor, TensorData};

use crate::optim::slots_per_param;
use crate::params::Optimizer;

/// Magic bytes at the start of every state.
pub const MAGIC: &[u8; 4] = b"AGJS";
/// State encoding version.
pub const VERSION: u16 = 1;
/// Highest tensor rank stored.
pub const MAX_RANK: usize = 8;

/// One tensor's shape and values.
#[derive(Clone, Debug, PartialEq)]
pub struct Blob {
    /// Dimensions.
    pub dims: Vec<usize>,
    /// Values, row-major.
    pub values: Vec<f32>,
}

/// The decoded job state.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// The job seed (fixes the split and every shuffle).
    pub seed: u64,
    /// Training steps taken so far.
    pub step: u64,
    /// Model parameters in visit order.
    pub params: Vec<Blob>,
    /// Optimizer slots.
    pub slots: Vec<Vec<f32>>,
}

fn check_finite(values: &[f32], what: &str, step: u64) -> Result<(), String> {
    // `is_finite` depends only on whether a value is NaN/infinite, never on a NaN's sign or
    // payload bits, so this check has the same outcome on every machine.
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(format!(
            "{what} holds a non-finite value ({}) at index {i} after step {step}: training diverged (try a lower learning_rate)",
            values[i]
        )),
    }
}

impl State {
    /// Encode, refusing any non-finite value.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let floats: usize = self.params.iter().map(|b| b.values.len()).sum::<usize>()
            + self.slots.iter().map(Vec::len).sum::<usize>();
        let mut out = Vec::with_capacity(64 + 4 * floats);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&self.step.to_le_bytes());
        out.extend_from_slice(&(self.params.len() as u32).to_le_bytes());
        for (i, blob) in self.params.iter().enumerate() {
            check_finite(&blob.values, &format!("model parameter {i}"), self.step)?;
            out.push(blob.dims.len() as u8);
            for d in &blob.dims {
                out.extend_from_slice(&(*d as u32).to_le_bytes());
            }
            for v in &blob.values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&(self.slots.len() as u32).to_le_bytes());
        for (i, slot) in self.slots.iter().enumerate() {
            check_finite(slot, &format!("optimizer slot {i}"), self.step)?;
            out.extend_from_slice(&(slot.len() as u32).to_le_bytes());
            for v in slot {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        Ok(out)
    }

    /// Decode, checking the magic, version and every length.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("the state does not start with the magic bytes \"AGJS\"".into());
        }
        let version = u16::from_le_bytes(r.array()?);
        if version != VERSION {
            return Err(format!(
                "the state has encoding version {version}; this SDK reads {VERSION}"
            ));
        }
        let seed = u64::from_le_bytes(r.array()?);
        let step = u64::from_le_bytes(r.array()?);
        let count = r.u32()? as usize;
        let mut params = Vec::new();
        for i in 0..count {
            let rank = r.take(1)?[0] as usize;
            if rank == 0 || rank > MAX_RANK {
                return Err(format!(
                    "state parameter {i} has rank {rank}; expected 1..={MAX_RANK}"
                ));
            }
            let mut dims = Vec::with_capacity(rank);
            let mut len: usize = 1;
            for _ in 0..rank {
                let d = r.u32()? as usize;
                len = len
                    .checked_mul(d)
                    .ok_or_else(|| format!("state parameter {i} is too large"))?;
                dims.push(d);
            }
            params.push(Blob {
                dims,
                values: r.floats(len)?,
            });
        }
        let count = r.u32()? as usize;
        let mut slots = Vec::new();
        for _ in 0..count {
            let len = r.u32()? as usize;
            slots.push(r.floats(len)?);
        }
        if r.at != bytes.len() {
            return Err(format!(
                "the state has {} trailing bytes",
                bytes.len() - r.at
            ));
        }
        let state = Self {
            seed,
            step,
            params,
            slots,
        };
        Ok(state)
    }

    /// The state before the first step: `model`'s parameters and empty slots for `optimizer`
    /// (filled with zeros on first use).
    pub fn fresh<M: Module>(model: &M, seed: u64, optimizer: Optimizer) -> Self {
        let params = blobs(model);
        let slots = slots_per_param(optimizer) * params.len();
        Self {
            seed,
            step: 0,
            params,
            slots: alloc::vec![Vec::new(); slots],
        }
    }

    /// Check a decoded state against the params: the optimizer slot count `optimizer` needs and
    /// finite values.
    pub fn check_against(&self, optimizer: Optimizer) -> Result<(), String> {
        let want = slots_per_param(optimizer) * self.params.len();
        if self.slots.len() != want {
            return Err(format!(
                "the state has {} optimizer slots; {optimizer:?} over {} parameters needs {want}",
                self.slots.len(),
                self.params.len()
            ));
        }
        self.check_finite()
    }

    /// The same checks as [`State::encode`], without encoding.
    pub fn check_finite(&self) -> Result<(), String> {
        for (i, blob) in self.params.iter().enumerate() {
            check_finite(&blob.values, &format!("model parameter {i}"), self.step)?;
        }
        for (i, slot) in self.slots.iter().enumerate() {
            check_finite(slot, &format!("optimizer slot {i}"), self.step)?;
        }
        Ok(())
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| {
                format!(
                    "the state is truncated: {n} more bytes needed at offset {}",
                    self.at
                )
            })?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn floats(&mut self, len: usize) -> Result<Vec<f32>, String> {
        let bytes = self.take(len.checked_mul(4).ok_or("the state is too large")?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// Every float parameter of `module`, in visit order.
pub fn blobs<M: Module>(module: &M) -> Vec<Blob> {
    struct Collect(Vec<Blob>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let tensor = param.val();
            let dims = tensor.dims().to_vec();
            let data = tensor.into_data();
            let values = data
                .as_slice::<f32>()
                .map(<[f32]>::to_vec)
                .unwrap_or_default();
            self.0.push(Blob { dims, values });
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

/// Replace every float parameter of `module` with `blobs`, in visit order, checking shapes.
pub fn load<M: Module>(module: M, blobs: Vec<Blob>) -> Result<M, String> {
    struct Load {
        blobs: alloc::vec::IntoIter<Blob>,
        index: usize,
        error: Option<String>,
    }
    impl ModuleMapper for Load {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let index = self.index;
            self.index += 1;
            let Some(blob) = self.blobs.next() else {
                self.error.get_or_insert(format!(
                    "the state has {index} parameters; the model has more"
                ));
                return param;
            };
            param.map(|tensor| {
                let dims = tensor.dims();
                if blob.dims != dims {
                    self.error.get_or_insert(format!(
                        "state parameter {index} has shape {:?}; the model expects {dims:?}",
                        blob.dims
                    ));
                    return tensor;
                }
                let device = tensor.device();
                Tensor::<D>::from_data(TensorData::new(blob.values, dims), &device).require_grad()
            })
        }
    }
    let count = blobs.len();
    let mut loader = Load {
        blobs: blobs.into_iter(),
        index: 0,
        error: None,
    };
    let module = module.map(&mut loader);
    if let Some(error) = loader.error {
        return Err(error);
    }
    if loader.index != count {
        return Err(format!(
            "the state has {count} parameters; the model has {}",
            loader.index
        ));
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> State {
        State {
            seed: 7,
            step: 3,
            params: alloc::vec![Blob {
                dims: alloc::vec![2, 2],
                values: alloc::vec![1.0, -2.0, 0.5, 0.0]
            }],
            slots: alloc::vec![alloc::vec![0.25; 4]],
        }
    }

    #[test]
    fn round_trips() {
        let state = sample();
        assert_eq!(State::decode(&state.encode().unwrap()).unwrap(), state);
    }

    #[test]
    fn non_finite_values_are_refused() {
        let mut state = sample();
        state.params[0].values[2] = f32::NAN;
        let err = state.encode().unwrap_err();
        assert!(
            err.contains("model parameter 0") && err.contains("index 2") && err.contains("step 3"),
            "{err}"
        );
        let mut state = sample();
        state.slots[0][1] = f32::INFINITY;
        assert!(state.encode().unwrap_err().contains("optimizer slot 0"));
    }

    #[test]
    fn malformed_bytes_are_refused_with_a_reason() {
        let good = sample().encode().unwrap();
        assert!(State::decode(b"nope").unwrap_err().contains("magic"));
        assert!(State::decode(&good[..good.len() - 1])
            .unwrap_err()
            .contains("truncated"));
        let mut long = good.clone();
        long.push(0);
        assert!(State::decode(&long)
            .unwrap_err()
            .contains("1 trailing bytes"));
        let mut version = good.clone();
        version[4] = 9;
        assert!(State::decode(&version).unwrap_err().contains("version 9"));
        for cut in 0..good.len() {
            assert!(State::decode(&good[..cut]).is_err());
        }
    }
}
