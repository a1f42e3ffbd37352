//! The `<canvas>` that shows the remote desktop: dirty rectangles copied from the RGBA
//! framebuffer with `putImageData` (a 2D context, so tests can read pixels back with
//! `getImageData`), and the remote pointer shape as the canvas's CSS cursor.

use wasm_bindgen::{Clamped, JsCast, JsValue};
use web_sys::{
    CanvasRenderingContext2d, ContextAttributes2d, Document, HtmlCanvasElement, ImageData,
};

use crate::geometry::{DirtyRegion, Rect};

/// The canvas and what still has to be painted on it.
pub struct Screen {
    canvas: HtmlCanvasElement,
    context: CanvasRenderingContext2d,
    dirty: DirtyRegion,
    /// Reused between paints: one dirty rectangle's pixels.
    scratch: Vec<u8>,
}

/// Read access to a framebuffer: RGBA pixels, `stride` bytes per row.
pub struct Frame<'a> {
    pub pixels: &'a [u8],
    pub stride: usize,
    pub width: u16,
    pub height: u16,
}

impl Screen {
    /// A new canvas of `width` × `height`, not yet in the page.
    pub fn new(document: &Document, width: u16, height: u16) -> Result<Screen, JsValue> {
        let canvas: HtmlCanvasElement = document.create_element("canvas")?.dyn_into()?;
        canvas.set_width(u32::from(width));
        canvas.set_height(u32::from(height));
        let context = context_2d(&canvas, true)?;
        Ok(Screen {
            canvas,
            context,
            dirty: DirtyRegion::default(),
            scratch: Vec::new(),
        })
    }

    pub fn canvas(&self) -> &HtmlCanvasElement {
        &self.canvas
    }

    /// Gives the canvas the desktop's new size, which clears it; the next paint must be whole.
    pub fn resize(&mut self, width: u16, height: u16) {
        if self.canvas.width() != u32::from(width) {
            self.canvas.set_width(u32::from(width));
        }
        if self.canvas.height() != u32::from(height) {
            self.canvas.set_height(u32::from(height));
        }
        self.dirty = DirtyRegion::default();
        self.dirty.add(Rect::new(0, 0, width, height));
    }

    /// Remembers that `rect` changed.
    pub fn invalidate(&mut self, rect: Rect) {
        self.dirty.add(rect);
    }

    pub fn has_damage(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// Copies every changed rectangle from `frame`; returns whether anything was painted.
    pub fn paint(&mut self, frame: &Frame<'_>) -> bool {
        let mut painted = false;
        for rect in self.dirty.take(frame.width, frame.height) {
            if copy_rect(frame, rect, &mut self.scratch).is_none() {
                continue;
            }
            let image = ImageData::new_with_u8_clamped_array_and_sh(
                Clamped(&self.scratch),
                u32::from(rect.width),
                u32::from(rect.height),
            );
            if let Ok(image) = image {
                let _ = self
                    .context
                    .put_image_data(&image, f64::from(rect.x), f64::from(rect.y));
                painted = true;
            }
        }
        painted
    }

    /// Shows the remote pointer as `cursor` (a CSS `cursor` value).
    pub fn set_cursor(&self, cursor: &str) {
        let _ = self.canvas.style().set_property("cursor", cursor);
    }
}

/// Copies `rect` of `frame` into `out` as tightly packed, opaque RGBA; `None` if the frame is
/// smaller than it claims.
fn copy_rect(frame: &Frame<'_>, rect: Rect, out: &mut Vec<u8>) -> Option<()> {
    let row_bytes = usize::from(rect.width) * 4;
    out.clear();
    out.reserve(row_bytes * usize::from(rect.height));
    for row in 0..usize::from(rect.height) {
        let start = (usize::from(rect.y) + row) * frame.stride + usize::from(rect.x) * 4;
        out.extend_from_slice(frame.pixels.get(start..start + row_bytes)?);
    }
    // The framebuffer's alpha is not always set, and `putImageData` stores it as it is.
    for pixel in out.chunks_exact_mut(4) {
        pixel[3] = 0xff;
    }
    Some(())
}

fn context_2d(
    canvas: &HtmlCanvasElement,
    will_read_frequently: bool,
) -> Result<CanvasRenderingContext2d, JsValue> {
    let attributes = ContextAttributes2d::new();
    attributes.set_alpha(false);
    // Software rendering keeps `putImageData` cheap and lets tests read pixels back.
    attributes.set_will_read_frequently(will_read_frequently);
    canvas
        .get_context_with_context_options("2d", &attributes)?
        .ok_or_else(|| JsValue::from_str("no 2d context"))?
        .dyn_into()
        .map_err(JsValue::from)
}

/// The CSS `cursor` value for an RGBA pointer bitmap with its hotspot: a PNG data URL drawn
/// through an offscreen canvas.
pub fn bitmap_cursor(
    document: &Document,
    rgba: &[u8],
    width: u16,
    height: u16,
    hotspot_x: u16,
    hotspot_y: u16,
) -> Option<String> {
    if width == 0 || height == 0 || rgba.len() < usize::from(width) * usize::from(height) * 4 {
        return None;
    }
    let canvas: HtmlCanvasElement = document.create_element("canvas").ok()?.dyn_into().ok()?;
    canvas.set_width(u32::from(width));
    canvas.set_height(u32::from(height));
    let context: CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let pixels = &rgba[..usize::from(width) * usize::from(height) * 4];
    let image = ImageData::new_with_u8_clamped_array_and_sh(
        Clamped(pixels),
        u32::from(width),
        u32::from(height),
    )
    .ok()?;
    context.put_image_data(&image, 0.0, 0.0).ok()?;
    let url = canvas.to_data_url_with_type("image/png").ok()?;
    Some(cursor_css(
        &url,
        hotspot_x.min(width - 1),
        hotspot_y.min(height - 1),
    ))
}

/// `url("…") x y, default`: the fallback keeps a pointer when the image is refused (browsers
/// ignore cursor images larger than 128 pixels).
pub fn cursor_css(data_url: &str, hotspot_x: u16, hotspot_y: u16) -> String {
    format!("url(\"{data_url}\") {hotspot_x} {hotspot_y}, default")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_are_copied_row_by_row_and_made_opaque() {
        // A 3 × 2 frame with 4 bytes of padding per row.
        let stride = 3 * 4 + 4;
        let mut pixels = vec![0u8; stride * 2];
        for y in 0..2 {
            for x in 0..3 {
                let at = y * stride + x * 4;
                pixels[at..at + 4].copy_from_slice(&[x as u8, y as u8, 9, 0]);
            }
        }
        let frame = Frame {
            pixels: &pixels,
            stride,
            width: 3,
            height: 2,
        };
        let mut out = Vec::new();
        assert_eq!(copy_rect(&frame, Rect::new(1, 0, 2, 2), &mut out), Some(()));
        assert_eq!(
            out,
            vec![1, 0, 9, 255, 2, 0, 9, 255, 1, 1, 9, 255, 2, 1, 9, 255]
        );
        // A frame shorter than it says is skipped, not a panic.
        let short = Frame {
            pixels: &pixels[..stride],
            ..frame
        };
        assert_eq!(copy_rect(&short, Rect::new(0, 0, 3, 2), &mut out), None);
    }

    #[test]
    fn cursors_name_their_hotspot() {
        assert_eq!(
            cursor_css("data:image/png;base64,AAAA", 3, 7),
            "url(\"data:image/png;base64,AAAA\") 3 7, default"
        );
    }
}
