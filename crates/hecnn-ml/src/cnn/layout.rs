//! Where each element of a tensor lives in the slots.
//!
//! A batch of `B` images shares every ciphertext: element position `p` of
//! image `b` is slot `p·B + b`, so one rotation by `δ·B` slots moves the same
//! element of every image at once and a linear layer costs the same for one
//! image or `B` of them (Lee et al. 2022 call this multiplexing images).
//!
//! Within one image, a `[C, H, W]` tensor is laid out on the input's grid
//! (`grid_h × grid_w` positions per *block*) with a *gap* `g`: element
//! `(c, h, w)` sits at grid row `g·h + c_y`, column `g·w + c_x`, where channel
//! `c` takes sub-position `(c_y, c_x)` of the `g × g` cell and block `c / g²`.
//! A strided convolution or a pooling multiplies the gap instead of moving
//! data, so the diagonals of every convolution depend only on the kernel
//! offset and the channel pair, never on the output position; channels fill
//! the gaps (the multiplexed packing of Lee et al., "Low-complexity deep
//! convolutional neural networks on fully homomorphic encryption using
//! multiplexed parallel convolutions", ICML 2022). Flat vectors take
//! positions `k·stride`. Correctness never depends on the layout — every
//! linear map is compiled from explicit positions — only the number of
//! diagonals (rotations) does.

/// Geometry shared by every value of a circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Slots per ciphertext (N/2).
    pub slots: usize,
    /// Images per ciphertext, `B`.
    pub batch: usize,
    /// Grid rows of one block (the input image's height).
    pub grid_h: usize,
    /// Grid columns of one block (the input image's width).
    pub grid_w: usize,
}

impl Geometry {
    /// Positions per ciphertext available to one image.
    pub fn positions(&self) -> usize {
        self.slots / self.batch
    }

    /// Positions of one block.
    pub fn block(&self) -> usize {
        self.grid_h * self.grid_w
    }

    /// Blocks per ciphertext (at least 1: a block larger than a ciphertext
    /// is refused when the geometry is made).
    pub fn blocks_per_ct(&self) -> usize {
        (self.positions() / self.block()).max(1)
    }

    /// The largest batch `B` for which one `grid_h × grid_w` block per
    /// image fits a ciphertext (at least 1).
    pub fn max_batch(slots: usize, grid_h: usize, grid_w: usize) -> usize {
        (slots / (grid_h * grid_w).max(1)).max(1)
    }
}

/// Positions of every element of one value: `(ciphertext, position)`, the
/// slot of image `b` being `position·B + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Ciphertexts the value occupies.
    pub cts: usize,
    /// Gap of a `[C, H, W]` layout (1 for flat vectors).
    pub gap: usize,
    /// Per element (flattened, channel-major): ciphertext and position.
    pub pos: Vec<(u32, u32)>,
}

impl Layout {
    /// A `[C, H, W]` tensor on the grid with gap `gap`, or `None` when it
    /// does not fit the grid.
    pub fn grid(geo: &Geometry, shape: &[usize], gap: usize) -> Option<Layout> {
        let (c, h, w) = match *shape {
            [c, h, w] => (c, h, w),
            _ => return None,
        };
        if gap == 0 || gap * h > geo.grid_h || gap * w > geo.grid_w || h == 0 || w == 0 {
            return None;
        }
        let per_block = gap * gap;
        let bpc = geo.blocks_per_ct();
        if geo.block() > geo.positions() {
            return None;
        }
        let mut pos = Vec::with_capacity(c * h * w);
        for ch in 0..c {
            let (block, sub) = (ch / per_block, ch % per_block);
            let (sy, sx) = (sub / gap, sub % gap);
            let (ct, base) = (block / bpc, (block % bpc) * geo.block());
            for y in 0..h {
                for x in 0..w {
                    let p = base + (gap * y + sy) * geo.grid_w + gap * x + sx;
                    pos.push((ct as u32, p as u32));
                }
            }
        }
        let cts = c.div_ceil(per_block).div_ceil(bpc);
        Some(Layout { cts, gap, pos })
    }

    /// `len` values at positions `k·stride` (spilling into further
    /// ciphertexts), or `None` if `stride` is 0.
    pub fn flat(geo: &Geometry, len: usize, stride: usize) -> Option<Layout> {
        if stride == 0 || stride > geo.positions() {
            return None;
        }
        let per_ct = geo.positions() / stride;
        let pos = (0..len).map(|k| ((k / per_ct) as u32, ((k % per_ct) * stride) as u32)).collect();
        Some(Layout { cts: len.div_ceil(per_ct).max(1), gap: 1, pos })
    }

    /// Elements.
    pub fn len(&self) -> usize {
        self.pos.len()
    }

    /// True for a value with no elements.
    pub fn is_empty(&self) -> bool {
        self.pos.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_layout_is_injective_and_multiplexes_channels() {
        let geo = Geometry { slots: 4096, batch: 2, grid_h: 28, grid_w: 28 };
        let l = Layout::grid(&geo, &[15, 4, 4], 4).unwrap();
        let mut seen = std::collections::HashSet::new();
        assert!(l.pos.iter().all(|p| seen.insert(*p)));
        // 16 channels fit one block at gap 4: all in block 0.
        assert!(l.pos.iter().all(|&(ct, p)| ct == 0 && (p as usize) < geo.block()));
        assert!(Layout::grid(&geo, &[1, 8, 8], 4).is_none());
    }

    #[test]
    fn flat_layout_spills_into_more_ciphertexts() {
        let geo = Geometry { slots: 64, batch: 4, grid_h: 4, grid_w: 4 };
        let l = Layout::flat(&geo, 10, 2).unwrap();
        assert_eq!(l.cts, 2);
        assert_eq!(l.pos[8], (1, 0));
    }
}
