//! Pixel arithmetic of the desktop canvas: dirty rectangles, pointer scaling, wheel units and
//! the desktop sizes RDP accepts. Pure, so it is tested natively.

/// A rectangle of desktop pixels; `width` and `height` are at least 1 once clipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
}

impl Rect {
    pub fn new(x: u16, y: u16, width: u16, height: u16) -> Rect {
        Rect {
            x,
            y,
            width,
            height,
        }
    }

    fn right(self) -> u32 {
        u32::from(self.x) + u32::from(self.width)
    }

    fn bottom(self) -> u32 {
        u32::from(self.y) + u32::from(self.height)
    }

    fn area(self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }

    /// The smallest rectangle holding both.
    pub fn union(self, other: Rect) -> Rect {
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        let right = self.right().max(other.right());
        let bottom = self.bottom().max(other.bottom());
        Rect {
            x,
            y,
            width: clamp_u16(right - u32::from(x)),
            height: clamp_u16(bottom - u32::from(y)),
        }
    }

    /// This rectangle cut to a `width` × `height` desktop; `None` when nothing is left.
    pub fn clip(self, width: u16, height: u16) -> Option<Rect> {
        let right = self.right().min(u32::from(width));
        let bottom = self.bottom().min(u32::from(height));
        (right > u32::from(self.x) && bottom > u32::from(self.y)).then(|| Rect {
            x: self.x,
            y: self.y,
            width: clamp_u16(right - u32::from(self.x)),
            height: clamp_u16(bottom - u32::from(self.y)),
        })
    }
}

fn clamp_u16(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// More separate rectangles than this per frame are painted as their union: each
/// `putImageData` call has a fixed cost, and a screenful of small updates is cheaper as one.
const MAX_RECTS: usize = 24;

/// The parts of the desktop changed since the last paint.
#[derive(Debug, Default)]
pub struct DirtyRegion {
    rects: Vec<Rect>,
}

impl DirtyRegion {
    /// Adds `rect`, merging it with the rectangles it covers, adjoins or overlaps, as long as
    /// the merged rectangle wastes little (a quarter of its area at most).
    pub fn add(&mut self, rect: Rect) {
        if rect.width == 0 || rect.height == 0 {
            return;
        }
        let mut current = rect;
        // Merging can make a rectangle that now merges with one skipped before: repeat.
        while let Some(index) = self
            .rects
            .iter()
            .position(|other| worth_merging(current, *other))
        {
            current = current.union(self.rects.swap_remove(index));
        }
        self.rects.push(current);
        if self.rects.len() > MAX_RECTS
            && let Some(all) = self.rects.iter().copied().reduce(Rect::union)
        {
            self.rects = vec![all];
        }
    }

    /// The rectangles to paint, clipped to the desktop, leaving the region empty.
    pub fn take(&mut self, width: u16, height: u16) -> Vec<Rect> {
        std::mem::take(&mut self.rects)
            .into_iter()
            .filter_map(|rect| rect.clip(width, height))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.rects.is_empty()
    }
}

fn worth_merging(a: Rect, b: Rect) -> bool {
    let union = a.union(b).area();
    // Touching or overlapping rectangles waste at most a quarter of the union.
    let touching = u32::from(a.x) <= b.right()
        && u32::from(b.x) <= a.right()
        && u32::from(a.y) <= b.bottom()
        && u32::from(b.y) <= a.bottom();
    touching && union * 4 <= (a.area() + b.area()) * 5
}

/// The desktop pixel under a pointer `offset` CSS pixels into a canvas shown `shown` CSS
/// pixels wide (or high) that holds `desktop` pixels: the canvas may be scaled down to fit.
pub fn to_desktop(offset: f64, shown: f64, desktop: u16) -> u16 {
    if desktop == 0 {
        return 0;
    }
    let scale = if shown > 0.0 && shown.is_finite() {
        f64::from(desktop) / shown
    } else {
        1.0
    };
    let pixel = (offset * scale).floor();
    if pixel.is_nan() || pixel < 0.0 {
        0
    } else if pixel >= f64::from(desktop) {
        desktop - 1
    } else {
        // In range by the checks above.
        pixel as u16
    }
}

/// `WheelEvent.deltaMode` values.
pub const DELTA_PIXEL: u32 = 0;
pub const DELTA_LINE: u32 = 1;
pub const DELTA_PAGE: u32 = 2;

/// RDP wheel units for one notch of a mouse wheel.
const NOTCH: f64 = 120.0;
/// RDP carries a wheel rotation in 9 signed bits.
const MAX_ROTATION: f64 = 255.0;

/// RDP wheel rotation for a DOM wheel `delta` (positive scrolls down or right) in `mode`
/// units: positive means up or left, as RDP counts it; 0 means nothing to send.
pub fn wheel_rotation(delta: f64, mode: u32) -> i16 {
    let units = match mode {
        // Browsers report about 100 pixels per notch.
        DELTA_PIXEL => delta * NOTCH / 100.0,
        // Three lines per notch.
        DELTA_LINE => delta * NOTCH / 3.0,
        DELTA_PAGE => delta * NOTCH,
        _ => 0.0,
    };
    if !units.is_finite() {
        return 0;
    }
    let rotation = (-units).round().clamp(-MAX_ROTATION, MAX_ROTATION);
    // Within ±255 after the clamp.
    rotation as i16
}

/// The smallest desktop side the display-control channel accepts.
pub const MIN_SIDE: u16 = 200;

/// A desktop size RDP accepts for a box of `width` × `height` CSS pixels: each side within
/// [`MIN_SIDE`] and `protocol::rdp::MAX_DESKTOP_SIDE`, the width even (MS-RDPEDISP).
pub fn desktop_size(width: f64, height: f64) -> (u16, u16) {
    let side = |value: f64| {
        let max = f64::from(protocol::rdp::MAX_DESKTOP_SIDE);
        let value = if value.is_finite() {
            value.floor()
        } else {
            0.0
        };
        // Clamped into u16 range first.
        value.clamp(f64::from(MIN_SIDE), max) as u16
    };
    (side(width) & !1, side(height))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjoining_strips_merge_into_one() {
        let mut dirty = DirtyRegion::default();
        for row in 0..10 {
            dirty.add(Rect::new(0, row * 16, 64, 16));
        }
        assert_eq!(dirty.take(1024, 768), vec![Rect::new(0, 0, 64, 160)]);
        assert!(dirty.is_empty());
    }

    #[test]
    fn contained_rectangles_vanish() {
        let mut dirty = DirtyRegion::default();
        dirty.add(Rect::new(10, 10, 100, 100));
        dirty.add(Rect::new(20, 20, 5, 5));
        dirty.add(Rect::new(0, 0, 200, 200));
        assert_eq!(dirty.take(1024, 768), vec![Rect::new(0, 0, 200, 200)]);
    }

    #[test]
    fn distant_rectangles_stay_apart() {
        let mut dirty = DirtyRegion::default();
        dirty.add(Rect::new(0, 0, 10, 10));
        dirty.add(Rect::new(500, 500, 10, 10));
        // Diagonal neighbours touch at a corner, but their union would be half empty.
        dirty.add(Rect::new(10, 10, 10, 10));
        let mut rects = dirty.take(1024, 768);
        rects.sort_by_key(|rect| (rect.x, rect.y));
        assert_eq!(
            rects,
            vec![
                Rect::new(0, 0, 10, 10),
                Rect::new(10, 10, 10, 10),
                Rect::new(500, 500, 10, 10)
            ]
        );
    }

    #[test]
    fn too_many_rectangles_become_their_union() {
        let mut dirty = DirtyRegion::default();
        for index in 0..=MAX_RECTS as u16 {
            dirty.add(Rect::new(index * 20, index * 20, 2, 2));
        }
        let last = MAX_RECTS as u16 * 20;
        assert_eq!(
            dirty.take(4096, 4096),
            vec![Rect::new(0, 0, last + 2, last + 2)]
        );
    }

    #[test]
    fn rectangles_are_clipped_to_the_desktop() {
        let mut dirty = DirtyRegion::default();
        dirty.add(Rect::new(1000, 700, 100, 100));
        dirty.add(Rect::new(2000, 0, 10, 10));
        dirty.add(Rect::new(0, 0, 0, 10));
        assert_eq!(dirty.take(1024, 768), vec![Rect::new(1000, 700, 24, 68)]);
        dirty.add(Rect::new(u16::MAX - 1, u16::MAX - 1, u16::MAX, u16::MAX));
        assert_eq!(
            dirty.take(u16::MAX, u16::MAX),
            vec![Rect::new(u16::MAX - 1, u16::MAX - 1, 1, 1)]
        );
    }

    #[test]
    fn pointer_positions_follow_the_scale() {
        // Shown at its own size.
        assert_eq!(to_desktop(10.0, 1024.0, 1024), 10);
        // Shown at half size: one CSS pixel is two desktop pixels.
        assert_eq!(to_desktop(10.0, 512.0, 1024), 20);
        assert_eq!(to_desktop(511.9, 512.0, 1024), 1023);
        // Outside the canvas (captured pointer) stays on the edge.
        assert_eq!(to_desktop(-5.0, 512.0, 1024), 0);
        assert_eq!(to_desktop(600.0, 512.0, 1024), 1023);
        // A canvas not laid out yet.
        assert_eq!(to_desktop(10.0, 0.0, 1024), 10);
        assert_eq!(to_desktop(f64::NAN, 512.0, 1024), 0);
        assert_eq!(to_desktop(10.0, 512.0, 0), 0);
    }

    #[test]
    fn wheel_notches_become_rdp_units() {
        assert_eq!(wheel_rotation(100.0, DELTA_PIXEL), -120);
        assert_eq!(wheel_rotation(-100.0, DELTA_PIXEL), 120);
        assert_eq!(wheel_rotation(3.0, DELTA_LINE), -120);
        assert_eq!(wheel_rotation(1.0, DELTA_PAGE), -120);
        assert_eq!(wheel_rotation(10_000.0, DELTA_PIXEL), -255);
        assert_eq!(wheel_rotation(-10_000.0, DELTA_LINE), 255);
        assert_eq!(wheel_rotation(0.2, DELTA_PIXEL), 0);
        assert_eq!(wheel_rotation(f64::INFINITY, DELTA_PIXEL), 0);
        assert_eq!(wheel_rotation(1.0, 7), 0);
    }

    #[test]
    fn desktop_sizes_stay_within_what_rdp_accepts() {
        assert_eq!(desktop_size(1280.0, 720.0), (1280, 720));
        assert_eq!(desktop_size(1281.7, 719.5), (1280, 719));
        assert_eq!(desktop_size(0.0, -3.0), (200, 200));
        assert_eq!(desktop_size(f64::NAN, f64::INFINITY), (200, 200));
        assert_eq!(desktop_size(100_000.0, 9000.0), (8192, 8192));
        assert_eq!(desktop_size(201.0, 201.0), (200, 201));
    }
}
