//! QR codes drawn in the terminal with Unicode half blocks, so an Account ID can be scanned
//! from the screen with a phone.
//!
//! Each character cell shows two modules stacked vertically: `█` both, `▀` the upper, `▄`
//! the lower, space neither. A terminal draws characters in its foreground colour, so which
//! modules get "ink" depends on the background: on a dark background the *light* modules are
//! drawn (like `qrencode -t UTF8`), on a light background the *dark* ones. A quiet zone of
//! [`QUIET_ZONE`] light modules surrounds the code.

use qrcode::{Color, QrCode};

/// Width of the light border around the code, in modules. The standard asks for 4; 2 keeps
/// the code small on screen and scans reliably with phone cameras.
pub const QUIET_ZONE: usize = 2;

/// The terminal's background colour, which decides which modules are drawn with ink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Background {
    /// Light text on a dark background: light modules are drawn.
    Dark,
    /// Dark text on a light background: dark modules are drawn.
    Light,
}

/// Encode `text` as a QR code and draw it; every line ends with `\n`.
pub fn render(text: &str, background: Background) -> Result<String, qrcode::types::QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let dark: Vec<bool> = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok(render_modules(code.width(), &dark, background))
}

/// Draw a square grid of `width` × `width` modules (`true` = dark, row by row) with a quiet
/// zone around it.
fn render_modules(width: usize, dark: &[bool], background: Background) -> String {
    let side = width + 2 * QUIET_ZONE;
    // Whether the module at (x, y) of the bordered grid is drawn with ink. Rows past the
    // bottom (the lower half of the last line when `side` is odd) are blank.
    let ink = |x: usize, y: usize| -> bool {
        if y >= side {
            return false;
        }
        let is_dark = x
            .checked_sub(QUIET_ZONE)
            .zip(y.checked_sub(QUIET_ZONE))
            .filter(|&(cx, cy)| cx < width && cy < width)
            .and_then(|(cx, cy)| dark.get(cy * width + cx).copied())
            .unwrap_or(false);
        match background {
            Background::Dark => !is_dark,
            Background::Light => is_dark,
        }
    };
    let mut out = String::with_capacity(side.div_ceil(2) * (side * 3 + 1));
    for y in (0..side).step_by(2) {
        for x in 0..side {
            out.push(match (ink(x, y), ink(x, y + 1)) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Reads the drawn picture back into modules (without the quiet zone).
    fn read_back(drawing: &str, width: usize, background: Background) -> Vec<bool> {
        let side = width + 2 * QUIET_ZONE;
        let mut ink = vec![false; side * (side + 1)];
        for (row, line) in drawing.lines().enumerate() {
            for (x, ch) in line.chars().enumerate() {
                let (top, bottom) = match ch {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected {other:?}"),
                };
                ink[2 * row * side + x] = top;
                ink[(2 * row + 1) * side + x] = bottom;
            }
        }
        let mut modules = Vec::new();
        for y in 0..width {
            for x in 0..width {
                let i = ink[(y + QUIET_ZONE) * side + x + QUIET_ZONE];
                modules.push(match background {
                    Background::Dark => !i,
                    Background::Light => i,
                });
            }
        }
        modules
    }

    #[test]
    fn dark_modules_are_ink_on_a_light_background() {
        // A 1×1 "code" that is dark: on a light background only it gets ink. The bordered
        // grid is 5×5; the dark module is at (2, 2), the upper half of the second line.
        let drawing = render_modules(1, &[true], Background::Light);
        assert_eq!(drawing, "     \n  ▀  \n     \n");
    }

    #[test]
    fn light_modules_are_ink_on_a_dark_background() {
        // The same dark module on a dark background: everything but it gets ink, and the
        // half line below the grid stays blank.
        let drawing = render_modules(1, &[true], Background::Dark);
        assert_eq!(drawing, "█████\n██▄██\n▀▀▀▀▀\n");
    }

    #[test]
    fn each_cell_stacks_two_rows() {
        // 2×2: dark on the diagonal (top-left, bottom-right), light background.
        let drawing = render_modules(2, &[true, false, false, true], Background::Light);
        assert_eq!(drawing, "      \n  ▀▄  \n      \n");
    }

    #[test]
    fn known_text_renders_deterministically() {
        let drawing = render("05", Background::Light).unwrap();
        assert_eq!(drawing, render("05", Background::Light).unwrap());
        // "05" fits a version 1 code: 21 modules plus the quiet zone, two rows per line.
        let side = 21 + 2 * QUIET_ZONE;
        assert_eq!(drawing.lines().count(), side.div_ceil(2));
        assert!(drawing.lines().all(|l| l.chars().count() == side));
        // The top-left finder pattern starts below the quiet zone: its first row is all dark,
        // its second dark only at both ends, so the first code line reads `█▀▀▀▀▀█`.
        let first_code_line: String = drawing
            .lines()
            .nth(1)
            .unwrap()
            .chars()
            .skip(2)
            .take(7)
            .collect();
        assert_eq!(first_code_line, "█▀▀▀▀▀█");
        assert_eq!(drawing, GOLDEN_05);
    }

    #[test]
    fn drawing_reads_back_to_the_encoded_modules() {
        let id = "05d871fc80ca007eed9b2f4df72853e2a2d5465a92fcb1889fb5c84aa2833b3b40";
        let code = QrCode::new(id.as_bytes()).unwrap();
        let modules: Vec<bool> = code.to_colors().iter().map(|&c| c == Color::Dark).collect();
        for background in [Background::Dark, Background::Light] {
            let drawing = render(id, background).unwrap();
            assert_eq!(read_back(&drawing, code.width(), background), modules);
        }
    }

    /// `render("05", Background::Light)`, decoded back to `05` with `zbarimg` when recorded.
    const GOLDEN_05: &str = concat!(
        "                         \n",
        "  █▀▀▀▀▀█ ▄██▀▄ █▀▀▀▀▀█  \n",
        "  █ ███ █  ▄▄▀▄ █ ███ █  \n",
        "  █ ▀▀▀ █ ▀  █▀ █ ▀▀▀ █  \n",
        "  ▀▀▀▀▀▀▀ ▀ ▀ ▀ ▀▀▀▀▀▀▀  \n",
        "  ▀ █▄█▄▀ ▄ ▀▄▀▄ ▄▀▄ █   \n",
        "  ▄  ▄ █▀▄ █▀█▄█▀█▄▄▀▄▄  \n",
        "  ▀ ▀▀ ▀▀ █ ▄▀ ▀█▀  █▄▀  \n",
        "  █▀▀▀▀▀█  █▀ ▀ ▄ ▀ ▄▄   \n",
        "  █ ███ █ ▀▀█▄▀▄▀▄▀▄▀▄▀  \n",
        "  █ ▀▀▀ █ ▀█▀█▄█▀█▄█▀ ▀  \n",
        "  ▀▀▀▀▀▀▀ ▀▀ ▀ ▀▀▀ ▀▀ ▀  \n",
        "                         \n",
    );
}
