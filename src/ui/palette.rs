//! Colour facts for everything that draws: the RGB value behind each terminal colour (xterm's
//! defaults for the 16 ANSI colours and the 256-colour table), the nearest colour on terminals
//! that show fewer colours, what the terminal in use can show ([`detect`]), and the measures
//! the themes are checked with: WCAG 2.x contrast ratio, CIE Lab colour difference, and a
//! simulation of colour-vision deficiencies.
//!
//! Nearest colours are chosen by CIE Lab distance, not RGB distance, so a dark blue maps to
//! the dark blue a person would pick rather than to whatever is numerically closest.

use ratatui::style::Color;

/// A colour as red, green and blue, 0-255 each (sRGB).
pub type Rgb = (u8, u8, u8);

/// xterm's default values of the 16 ANSI colours, by index (0 black ... 15 bright white).
/// Terminals let users change these, so they are a best guess, exact only for xterm.
pub const XTERM_16: [Rgb; 16] = [
    (0, 0, 0),
    (205, 0, 0),
    (0, 205, 0),
    (205, 205, 0),
    (0, 0, 238),
    (205, 0, 205),
    (0, 205, 205),
    (229, 229, 229),
    (127, 127, 127),
    (255, 0, 0),
    (0, 255, 0),
    (255, 255, 0),
    (92, 92, 255),
    (255, 0, 255),
    (0, 255, 255),
    (255, 255, 255),
];

/// ratatui's names for the 16 ANSI colours, by index (ratatui calls index 7 `Gray` and index
/// 15 `White`).
const ANSI_16: [Color; 16] = [
    Color::Black,
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::Gray,
    Color::DarkGray,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::White,
];

/// The channel values of xterm's 6x6x6 colour cube (indices 16-231).
const CUBE_LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// First index of xterm's 24-step grey ramp (232-255: 8, 18, ..., 238).
const GREY_RAMP_START: u8 = 232;

/// The RGB value of a 256-colour index: the 16 ANSI colours, the 6x6x6 cube, the grey ramp.
pub fn indexed_rgb(index: u8) -> Rgb {
    match index {
        0..=15 => XTERM_16[usize::from(index)],
        16..=231 => {
            let cube = index - 16;
            (
                CUBE_LEVELS[usize::from(cube / 36)],
                CUBE_LEVELS[usize::from(cube / 6 % 6)],
                CUBE_LEVELS[usize::from(cube % 6)],
            )
        }
        _ => {
            let level = 8 + 10 * (index - GREY_RAMP_START);
            (level, level, level)
        }
    }
}

/// The RGB value a terminal colour shows as, with xterm's defaults for the named and indexed
/// colours. `Reset` (the terminal's own colour, unknown here) gives `fallback`.
pub fn rgb(color: Color, fallback: (u8, u8, u8)) -> (u8, u8, u8) {
    match color {
        Color::Reset => fallback,
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(index) => indexed_rgb(index),
        named => ANSI_16
            .iter()
            .position(|candidate| *candidate == named)
            .map_or(fallback, |index| XTERM_16[index]),
    }
}

/// The 256-colour index that looks closest to `rgb`, from the cube and the grey ramp (16-255).
/// Indices 0-15 are left out: terminals restyle them, so they would not show what was meant.
pub fn nearest_256(rgb: Rgb) -> u8 {
    let target = lab(rgb);
    (16..=255u8)
        .min_by(|a, b| {
            distance(target, lab(indexed_rgb(*a)))
                .total_cmp(&distance(target, lab(indexed_rgb(*b))))
        })
        .unwrap_or(16)
}

/// The ANSI colour (by xterm's defaults) that looks closest to `rgb`.
pub fn nearest_16(rgb: Rgb) -> Color {
    let target = lab(rgb);
    XTERM_16
        .iter()
        .zip(ANSI_16)
        .min_by(|(a, _), (b, _)| distance(target, lab(**a)).total_cmp(&distance(target, lab(**b))))
        .map_or(Color::Reset, |(_, color)| color)
}

/// What a terminal can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ColorSupport {
    /// 24-bit colour: every `#rrggbb` shows as written.
    #[default]
    TrueColor,
    /// xterm's 256 colours.
    Ansi256,
    /// The 16 ANSI colours only.
    Ansi16,
    /// No colour at all: asked for with `NO_COLOR`, or a `dumb` terminal.
    NoColor,
}

/// What the terminal can show, from environment variables read through `env` (so tests pass
/// a table): `NO_COLOR` set to anything non-empty turns colour off (no-color.org); `TERM=dumb`
/// cannot show colour; `COLORTERM=truecolor` or `24bit`, a `TERM` ending in `-direct`, or
/// Windows Terminal (`WT_SESSION`) show 24-bit colour; a `TERM` containing `256color` shows
/// 256; anything else, `TERM` unset included, gets the 16 colours every colour terminal has.
pub fn detect(env: impl Fn(&str) -> Option<String>) -> ColorSupport {
    let set = |name: &str| env(name).filter(|value| !value.is_empty());
    if set("NO_COLOR").is_some() {
        return ColorSupport::NoColor;
    }
    let term = set("TERM").map(|term| term.to_ascii_lowercase());
    if term.as_deref() == Some("dumb") {
        return ColorSupport::NoColor;
    }
    let colorterm = set("COLORTERM").map(|value| value.to_ascii_lowercase());
    if matches!(colorterm.as_deref(), Some("truecolor" | "24bit")) || set("WT_SESSION").is_some() {
        return ColorSupport::TrueColor;
    }
    match term {
        Some(term) if term.ends_with("-direct") || term.contains("truecolor") => {
            ColorSupport::TrueColor
        }
        Some(term) if term.contains("256color") => ColorSupport::Ansi256,
        _ => ColorSupport::Ansi16,
    }
}

/// [`detect`] on this process's environment.
pub fn detect_from_env() -> ColorSupport {
    detect(|name| std::env::var_os(name).map(|value| value.to_string_lossy().into_owned()))
}

/// `color` as the terminal with `support` can show it: `#rrggbb` becomes the nearest
/// 256-colour index or ANSI colour, and with no colour everything becomes `Reset` (the
/// terminal's own colours). Colours the terminal can already show stay as they are.
pub fn adapt(color: Color, support: ColorSupport) -> Color {
    match (support, color) {
        (ColorSupport::NoColor, _) => Color::Reset,
        (ColorSupport::TrueColor, color) => color,
        (ColorSupport::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(nearest_256((r, g, b))),
        (ColorSupport::Ansi16, Color::Indexed(index)) if index < 16 => ANSI_16[usize::from(index)],
        (ColorSupport::Ansi16, color @ (Color::Rgb(..) | Color::Indexed(_))) => {
            nearest_16(rgb(color, (0, 0, 0)))
        }
        (_, color) => color,
    }
}

/// An sRGB channel (0-255) as linear light (0-1), the sRGB transfer function. WCAG 2.x
/// prints 0.03928 as the threshold, a leftover from a draft of sRGB; for 8-bit values it
/// picks the same branch as the standard's 0.04045.
fn linear(channel: u8) -> f64 {
    let c = f64::from(channel) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light (0-1, clamped) back to an sRGB channel.
fn encode(linear: f64) -> u8 {
    let c = linear.clamp(0.0, 1.0);
    let encoded = if c <= 0.003_130_8 {
        12.92 * c
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    };
    // Clamped to 0-1 above, so the product is within 0-255.
    (encoded * 255.0).round() as u8
}

/// WCAG 2.x relative luminance: 0 for black, 1 for white.
pub fn relative_luminance(rgb: Rgb) -> f64 {
    0.2126 * linear(rgb.0) + 0.7152 * linear(rgb.1) + 0.0722 * linear(rgb.2)
}

/// WCAG 2.x contrast ratio between two colours, 1 (same) to 21 (black and white). Text needs
/// 4.5 for level AA, 7 for AAA.
pub fn contrast_ratio(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (relative_luminance(a), relative_luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// CIE L*a*b* (D65 white) of an sRGB colour: L* 0-100 is lightness, a* green-red, b*
/// blue-yellow.
pub fn lab(rgb: Rgb) -> [f64; 3] {
    let (r, g, b) = (linear(rgb.0), linear(rgb.1), linear(rgb.2));
    // sRGB to XYZ, each divided by the D65 white point's value.
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f64| {
        const EPSILON: f64 = 216.0 / 24389.0;
        const KAPPA: f64 = 24389.0 / 27.0;
        if t > EPSILON {
            t.cbrt()
        } else {
            (KAPPA * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

fn distance(a: [f64; 3], b: [f64; 3]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// CIE76 colour difference (distance in L*a*b*). About 2.3 is just noticeable side by side;
/// colours meant to be told apart at a glance need several times that.
pub fn delta_e(a: Rgb, b: Rgb) -> f64 {
    distance(lab(a), lab(b))
}

/// A colour-vision deficiency, at full strength (dichromacy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deficiency {
    /// No working long-wavelength (red) cones.
    Protanopia,
    /// No working medium-wavelength (green) cones: the most common deficiency.
    Deuteranopia,
    /// No working short-wavelength (blue) cones.
    Tritanopia,
}

/// How `rgb` looks with `deficiency`, by the matrices of Machado, Oliveira and Fernandes
/// (2009) at severity 1.0, applied to linear sRGB.
pub fn simulate(rgb: Rgb, deficiency: Deficiency) -> Rgb {
    let matrix: [[f64; 3]; 3] = match deficiency {
        Deficiency::Protanopia => [
            [0.152_286, 1.052_583, -0.204_868],
            [0.114_503, 0.786_281, 0.099_216],
            [-0.003_882, -0.048_116, 1.051_998],
        ],
        Deficiency::Deuteranopia => [
            [0.367_322, 0.860_646, -0.227_968],
            [0.280_085, 0.672_501, 0.047_413],
            [-0.011_820, 0.042_940, 0.968_881],
        ],
        Deficiency::Tritanopia => [
            [1.255_528, -0.076_749, -0.178_779],
            [-0.078_411, 0.930_809, 0.147_602],
            [0.004_733, 0.691_367, 0.303_900],
        ],
    };
    let input = [linear(rgb.0), linear(rgb.1), linear(rgb.2)];
    let channel = |row: [f64; 3]| encode(row[0] * input[0] + row[1] * input[1] + row[2] * input[2]);
    (channel(matrix[0]), channel(matrix[1]), channel(matrix[2]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WHITE: Rgb = (255, 255, 255);
    const BLACK: Rgb = (0, 0, 0);

    #[test]
    fn named_and_indexed_colours_have_xterm_values() {
        assert_eq!(rgb(Color::Red, WHITE), (205, 0, 0));
        assert_eq!(rgb(Color::Gray, WHITE), (229, 229, 229));
        assert_eq!(rgb(Color::DarkGray, WHITE), (127, 127, 127));
        assert_eq!(rgb(Color::White, BLACK), (255, 255, 255));
        assert_eq!(rgb(Color::Indexed(9), BLACK), (255, 0, 0));
        assert_eq!(rgb(Color::Indexed(16), WHITE), (0, 0, 0));
        assert_eq!(rgb(Color::Indexed(208), BLACK), (255, 135, 0));
        assert_eq!(rgb(Color::Indexed(231), BLACK), (255, 255, 255));
        assert_eq!(rgb(Color::Indexed(232), BLACK), (8, 8, 8));
        assert_eq!(rgb(Color::Indexed(255), BLACK), (238, 238, 238));
        assert_eq!(rgb(Color::Rgb(1, 2, 3), BLACK), (1, 2, 3));
        assert_eq!(rgb(Color::Reset, (9, 8, 7)), (9, 8, 7));
    }

    #[test]
    fn every_named_colour_matches_its_index() {
        for (index, named) in ANSI_16.iter().enumerate() {
            let index = u8::try_from(index).unwrap();
            assert_eq!(
                rgb(*named, (1, 1, 1)),
                rgb(Color::Indexed(index), (2, 2, 2))
            );
        }
    }

    #[test]
    fn nearest_256_finds_cube_and_grey_entries() {
        assert_eq!(nearest_256((255, 135, 0)), 208);
        assert_eq!(nearest_256((250, 130, 5)), 208);
        // Mid grey is on the ramp (8 + 10 * 12 = 128), not the cube's 135 grey.
        assert_eq!(nearest_256((128, 128, 128)), 244);
        assert_eq!(nearest_256(BLACK), 16);
        assert_eq!(nearest_256(WHITE), 231);
    }

    #[test]
    fn every_cube_and_ramp_colour_maps_back_to_its_own_index() {
        for index in 16..=255u8 {
            assert_eq!(nearest_256(indexed_rgb(index)), index, "index {index}");
        }
    }

    #[test]
    fn nearest_16_picks_the_closest_ansi_colour() {
        assert_eq!(nearest_16((250, 0, 0)), Color::LightRed);
        assert_eq!(nearest_16((200, 10, 0)), Color::Red);
        assert_eq!(nearest_16((20, 20, 24)), Color::Black);
        assert_eq!(nearest_16((250, 250, 250)), Color::White);
        for (value, named) in XTERM_16.iter().zip(ANSI_16) {
            assert_eq!(nearest_16(*value), named);
        }
    }

    #[test]
    fn contrast_ratio_matches_known_pairs() {
        assert!((contrast_ratio(WHITE, BLACK) - 21.0).abs() < 1e-9);
        assert!((contrast_ratio(BLACK, WHITE) - 21.0).abs() < 1e-9);
        let grey_on_white = contrast_ratio((0x77, 0x77, 0x77), WHITE);
        assert!((grey_on_white - 4.48).abs() < 0.01, "{grey_on_white}");
        // The darkest grey that passes AA on white.
        assert!(contrast_ratio((0x76, 0x76, 0x76), WHITE) >= 4.5);
        assert!((contrast_ratio((0x33, 0x66, 0x99), (0x33, 0x66, 0x99)) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn relative_luminance_weights_green_most() {
        assert!((relative_luminance((255, 0, 0)) - 0.2126).abs() < 1e-9);
        assert!((relative_luminance((0, 255, 0)) - 0.7152).abs() < 1e-9);
        assert!((relative_luminance((0, 0, 255)) - 0.0722).abs() < 1e-9);
    }

    #[test]
    fn lab_of_black_white_and_red() {
        let [l, a, b] = lab(WHITE);
        assert!((l - 100.0).abs() < 0.01 && a.abs() < 0.01 && b.abs() < 0.01);
        assert!(lab(BLACK).iter().all(|v| v.abs() < 1e-9));
        // Published L*a*b* of sRGB red: 53.24, 80.09, 67.20.
        let [l, a, b] = lab((255, 0, 0));
        assert!((l - 53.24).abs() < 0.05, "{l}");
        assert!((a - 80.09).abs() < 0.05, "{a}");
        assert!((b - 67.20).abs() < 0.05, "{b}");
        assert!((delta_e(WHITE, BLACK) - 100.0).abs() < 0.01);
    }

    #[test]
    fn simulation_keeps_greys_and_merges_the_confused_colours() {
        for deficiency in [
            Deficiency::Protanopia,
            Deficiency::Deuteranopia,
            Deficiency::Tritanopia,
        ] {
            let (r, g, b) = simulate((128, 128, 128), deficiency);
            for channel in [r, g, b] {
                assert!(channel.abs_diff(128) <= 1, "{deficiency:?}: {r},{g},{b}");
            }
        }
        let red_green = |d| delta_e(simulate((220, 50, 50), d), simulate((50, 160, 50), d));
        let blue_yellow = |d| delta_e(simulate((60, 60, 220), d), simulate((220, 200, 60), d));
        let (normal_rg, normal_by) = (
            delta_e((220, 50, 50), (50, 160, 50)),
            delta_e((60, 60, 220), (220, 200, 60)),
        );
        // Red-green blindness takes most of the red-green difference and little of blue-yellow;
        // tritanopia the other way round.
        for d in [Deficiency::Protanopia, Deficiency::Deuteranopia] {
            assert!(red_green(d) < normal_rg / 2.0, "{d:?}");
            assert!(blue_yellow(d) > normal_by / 2.0, "{d:?}");
        }
        assert!(blue_yellow(Deficiency::Tritanopia) < red_green(Deficiency::Tritanopia));
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn detect_reads_no_color_colorterm_and_term() {
        use ColorSupport::*;
        let cases: &[(&[(&str, &str)], ColorSupport)] = &[
            (&[("NO_COLOR", "1"), ("COLORTERM", "truecolor")], NoColor),
            (&[("NO_COLOR", "0"), ("TERM", "xterm-256color")], NoColor),
            // An empty NO_COLOR is unset (no-color.org).
            (&[("NO_COLOR", ""), ("TERM", "xterm-256color")], Ansi256),
            (&[("TERM", "dumb"), ("COLORTERM", "truecolor")], NoColor),
            (
                &[("TERM", "xterm-256color"), ("COLORTERM", "truecolor")],
                TrueColor,
            ),
            (&[("TERM", "xterm"), ("COLORTERM", "24BIT")], TrueColor),
            (&[("TERM", "xterm-direct")], TrueColor),
            (&[("WT_SESSION", "c0ffee")], TrueColor),
            (&[("TERM", "tmux-256color")], Ansi256),
            (
                &[("TERM", "screen-256color"), ("COLORTERM", "yes")],
                Ansi256,
            ),
            (&[("TERM", "xterm")], Ansi16),
            (&[("TERM", "linux")], Ansi16),
            (&[], Ansi16),
        ];
        for (vars, expected) in cases {
            assert_eq!(detect(env(vars)), *expected, "{vars:?}");
        }
    }

    #[test]
    fn adapt_converts_only_what_the_terminal_cannot_show() {
        let orange = Color::Rgb(255, 135, 0);
        assert_eq!(adapt(orange, ColorSupport::TrueColor), orange);
        assert_eq!(adapt(orange, ColorSupport::Ansi256), Color::Indexed(208));
        assert_eq!(adapt(Color::Red, ColorSupport::Ansi256), Color::Red);
        assert_eq!(
            adapt(Color::Indexed(99), ColorSupport::Ansi256),
            Color::Indexed(99)
        );
        assert_eq!(
            adapt(Color::Rgb(250, 0, 0), ColorSupport::Ansi16),
            Color::LightRed
        );
        assert_eq!(adapt(Color::Indexed(4), ColorSupport::Ansi16), Color::Blue);
        assert_eq!(
            adapt(Color::Indexed(46), ColorSupport::Ansi16),
            Color::LightGreen
        );
        assert_eq!(adapt(Color::Reset, ColorSupport::Ansi16), Color::Reset);
        for color in [orange, Color::Red, Color::Indexed(99), Color::Reset] {
            assert_eq!(adapt(color, ColorSupport::NoColor), Color::Reset);
        }
    }
}
