//! Renders a ratatui [`Buffer`] as an SVG picture, so README screenshots are made from the
//! same cells the terminal shows rather than from a screen grab.
//!
//! The picture is one rectangle in the default background, then the backgrounds that differ
//! from it, then the text:
//!
//! - Backgrounds are merged into one rectangle per run of equal colour on a row, and a run
//!   repeated at the same columns on the rows below grows that rectangle instead of adding
//!   one per row (panels and selection bars stay a handful of elements).
//! - Text is grouped by style (one `<g>` per colour and modifier set) and written in chunks
//!   that each start at an explicit `x`. A chunk holds only characters likely to come from
//!   the same font (Latin-like text, box drawing and blocks, or Braille) and carries a
//!   `textLength` of its cell count times the cell width, so a font whose glyphs are not
//!   exactly one cell wide cannot push later columns out of line. Wide characters (CJK,
//!   emoji) and multi-character graphemes are chunks of their own, placed at their first
//!   cell; the cells they cover draw no text and take their background, as a terminal does.
//! - Modifiers: bold, italic, underlined, crossed out and dim become presentation
//!   attributes, reversed swaps the colours, hidden draws no text. Blinking is a still
//!   picture's steady state: not drawn.
//!
//! Output depends only on the buffer and the options (no maps iterated in hash order, fixed
//! number formatting), so a regenerated picture diffs cleanly against the committed one.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::palette::rgb;
use ratatui::buffer::{Buffer, Cell, CellDiffOption, CellWidth};
use ratatui::style::Modifier;

/// A monospace font stack that finds a terminal-like font on macOS, Windows and Linux.
pub const DEFAULT_FONT_FAMILY: &str = "ui-monospace, SFMono-Regular, 'Cascadia Mono', \
     'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace";

/// Cell width as a share of the font size: the advance of common monospace fonts.
pub const CELL_WIDTH_EM: f64 = 0.6;

/// Cell height as a share of the font size: a terminal's usual line height.
pub const CELL_HEIGHT_EM: f64 = 1.2;

/// Font size of [`SvgOptions::default`], in px; 15 px gives whole-pixel cells (9 x 18), so
/// background edges fall on pixel boundaries.
pub const DEFAULT_FONT_SIZE: f64 = 15.0;

/// Opacity that stands for the dim modifier (terminals blend dim text towards the background).
const DIM_OPACITY: &str = "0.5";

type Rgb = (u8, u8, u8);

/// How a buffer is drawn: colours for `Color::Reset`, the font and the cell grid.
#[derive(Debug, Clone, PartialEq)]
pub struct SvgOptions {
    /// Text colour of cells whose foreground is `Color::Reset`.
    pub foreground: (u8, u8, u8),
    /// Colour of the whole picture and of cells whose background is `Color::Reset`.
    pub background: (u8, u8, u8),
    /// CSS font-family list; should name monospace fonts only.
    pub font_family: String,
    /// Font size in px.
    pub font_size: f64,
    /// Width of one buffer cell in px.
    pub cell_width: f64,
    /// Height of one buffer row in px.
    pub cell_height: f64,
    /// Written as the picture's `<title>` (shown as a tooltip and read by screen readers).
    pub title: Option<String>,
}

impl SvgOptions {
    /// Default colours and font at `font_size` px, with cells of
    /// [`CELL_WIDTH_EM`] x [`CELL_HEIGHT_EM`] of it.
    pub fn with_font_size(font_size: f64) -> Self {
        SvgOptions {
            font_size,
            cell_width: font_size * CELL_WIDTH_EM,
            cell_height: font_size * CELL_HEIGHT_EM,
            ..SvgOptions::default()
        }
    }
}

impl Default for SvgOptions {
    fn default() -> Self {
        SvgOptions {
            foreground: (0xd4, 0xd4, 0xd4),
            background: (0x1e, 0x1e, 0x1e),
            font_family: DEFAULT_FONT_FAMILY.to_string(),
            font_size: DEFAULT_FONT_SIZE,
            cell_width: DEFAULT_FONT_SIZE * CELL_WIDTH_EM,
            cell_height: DEFAULT_FONT_SIZE * CELL_HEIGHT_EM,
            title: None,
        }
    }
}

/// Draws every cell of `buffer` with its colours and modifiers; the picture is
/// `width * cell_width` by `height * cell_height` px.
pub fn buffer_to_svg(buffer: &Buffer, options: &SvgOptions) -> String {
    let grid = Grid::new(options);
    let columns = usize::from(buffer.area.width);
    let rows = usize::from(buffer.area.height);
    let mut backgrounds = BackgroundBlocks::default();
    let mut texts = TextGroups::default();
    for (row, cells) in buffer
        .content()
        .chunks(columns.max(1))
        .take(rows)
        .enumerate()
    {
        let painted = paint_row(cells, options);
        backgrounds.add_row(row, &painted.backgrounds, options.background);
        for chunk in chunk_row(&painted.glyphs) {
            texts.add(&chunk, row, &grid);
        }
    }

    let width = number(columns as f64 * grid.cell_width);
    let height = number(rows as f64 * grid.cell_height);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"{}\" font-size=\"{}\" \
         xml:space=\"preserve\">",
        escape(&options.font_family),
        number(grid.font_size),
    );
    if let Some(title) = &options.title {
        let _ = writeln!(svg, "<title>{}</title>", escape(title));
    }
    let _ = writeln!(
        svg,
        "<rect width=\"{width}\" height=\"{height}\" fill=\"{}\"/>",
        hex(options.background)
    );
    backgrounds.write(&mut svg, &grid);
    texts.write(&mut svg);
    svg.push_str("</svg>\n");
    svg
}

/// Cell and font sizes in px, with unusable option values replaced by the defaults so the
/// output never carries `NaN` or a negative size.
struct Grid {
    font_size: f64,
    cell_width: f64,
    cell_height: f64,
    /// Distance from a row's top to the text baseline: the middle of the capitals
    /// (about 0.35 em above the baseline) sits on the middle of the row.
    baseline: f64,
}

impl Grid {
    fn new(options: &SvgOptions) -> Self {
        let font_size = positive_or(options.font_size, DEFAULT_FONT_SIZE);
        let cell_width = positive_or(options.cell_width, font_size * CELL_WIDTH_EM);
        let cell_height = positive_or(options.cell_height, font_size * CELL_HEIGHT_EM);
        Grid {
            font_size,
            cell_width,
            cell_height,
            baseline: cell_height / 2.0 + font_size * 0.35,
        }
    }
}

fn positive_or(value: f64, fallback: f64) -> f64 {
    if value.is_finite() && value > 0.0 {
        value
    } else {
        fallback
    }
}

/// One row resolved into what is drawn: a background per column and the visible glyphs.
struct PaintedRow {
    backgrounds: Vec<Rgb>,
    glyphs: Vec<Glyph>,
}

/// Visible text of one buffer cell (possibly spanning the cells after it).
struct Glyph {
    column: usize,
    cells: usize,
    text: String,
    style: TextStyle,
}

impl Glyph {
    /// The one character of a glyph that fills exactly one cell, the kind that may share a
    /// chunk with its neighbours.
    fn single_char(&self) -> Option<char> {
        let mut chars = self.text.chars();
        match (chars.next(), chars.next()) {
            (Some(ch), None) if self.cells == 1 => Some(ch),
            _ => None,
        }
    }
}

/// Everything that decides how a glyph is drawn, after reversed and `Reset` are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TextStyle {
    fill: Rgb,
    bold: bool,
    italic: bool,
    underlined: bool,
    crossed_out: bool,
    dim: bool,
}

impl TextStyle {
    fn new(fill: Rgb, modifier: Modifier) -> Self {
        TextStyle {
            fill,
            bold: modifier.contains(Modifier::BOLD),
            italic: modifier.contains(Modifier::ITALIC),
            underlined: modifier.contains(Modifier::UNDERLINED),
            crossed_out: modifier.contains(Modifier::CROSSED_OUT),
            dim: modifier.contains(Modifier::DIM),
        }
    }

    /// Whether blank cells in this style still draw something (a line through or under them).
    fn decorated(&self) -> bool {
        self.underlined || self.crossed_out
    }

    fn attributes(&self) -> String {
        let mut out = format!(" fill=\"{}\"", hex(self.fill));
        if self.bold {
            out.push_str(" font-weight=\"bold\"");
        }
        if self.italic {
            out.push_str(" font-style=\"italic\"");
        }
        match (self.underlined, self.crossed_out) {
            (true, true) => out.push_str(" text-decoration=\"underline line-through\""),
            (true, false) => out.push_str(" text-decoration=\"underline\""),
            (false, true) => out.push_str(" text-decoration=\"line-through\""),
            (false, false) => {}
        }
        if self.dim {
            let _ = write!(out, " opacity=\"{DIM_OPACITY}\"");
        }
        out
    }
}

fn paint_row(cells: &[Cell], options: &SvgOptions) -> PaintedRow {
    let mut backgrounds = Vec::with_capacity(cells.len());
    let mut glyphs = Vec::new();
    let mut column = 0;
    while column < cells.len() {
        let cell = &cells[column];
        let mut fg = rgb(cell.fg, options.foreground);
        let mut bg = rgb(cell.bg, options.background);
        if cell.modifier.contains(Modifier::REVERSED) {
            std::mem::swap(&mut fg, &mut bg);
        }
        let text = printable(cell.symbol());
        let width = if text.is_empty() {
            1
        } else {
            match cell.diff_option {
                CellDiffOption::ForcedWidth(width) => usize::from(width.get()),
                _ => usize::from(text.as_str().cell_width()),
            }
        };
        // A glyph is at least one cell (a lone combining mark still owns its cell) and is cut
        // at the row's end, where a terminal cuts it too.
        let cells_covered = width.clamp(1, cells.len() - column);
        backgrounds.extend(std::iter::repeat_n(bg, cells_covered));

        let style = TextStyle::new(fg, cell.modifier);
        // Blanks draw nothing unless a line runs under or through them.
        let shows_something = text.chars().any(|ch| ch != ' ') || style.decorated();
        let drawn = !text.is_empty()
            && shows_something
            && !cell.modifier.contains(Modifier::HIDDEN)
            && cell.diff_option != CellDiffOption::Skip;
        if drawn {
            glyphs.push(Glyph {
                column,
                cells: cells_covered,
                text,
                style,
            });
        }
        column += cells_covered;
    }
    PaintedRow {
        backgrounds,
        glyphs,
    }
}

/// The symbol without what XML forbids or what would reorder or hide text: control
/// characters, the two non-characters XML excludes, and bidi controls (a terminal lays
/// cells out left to right whatever they say).
fn printable(symbol: &str) -> String {
    symbol
        .chars()
        .filter(|&ch| {
            !ch.is_control()
                && !matches!(
                    ch,
                    '\u{FFFE}'
                        | '\u{FFFF}'
                        | '\u{061C}'
                        | '\u{200E}'
                        | '\u{200F}'
                        | '\u{202A}'..='\u{202E}'
                        | '\u{2066}'..='\u{2069}'
                )
        })
        .collect()
}

/// Which fonts a character is likely drawn from: characters of one class in one chunk are
/// assumed to have equal advances, so stretching the chunk to its cells keeps every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GlyphClass {
    /// Latin, Greek and Cyrillic: what every monospace font covers.
    Text,
    /// Box drawing and block elements: borders, bars, sparklines.
    Blocks,
    /// Braille patterns: charts drawn at sub-cell resolution.
    Braille,
    /// Anything else (symbols, icons, wide characters): one glyph per chunk.
    Other,
}

fn glyph_class(ch: char) -> GlyphClass {
    match ch {
        '\u{0020}'..='\u{02FF}' | '\u{0370}'..='\u{052F}' => GlyphClass::Text,
        '\u{2500}'..='\u{259F}' => GlyphClass::Blocks,
        '\u{2800}'..='\u{28FF}' => GlyphClass::Braille,
        _ => GlyphClass::Other,
    }
}

/// Consecutive glyphs of one style and class, written as one `<text>` element.
struct Chunk {
    style: TextStyle,
    class: GlyphClass,
    column: usize,
    /// Column after the last cell in the chunk.
    end: usize,
    text: String,
    glyphs: usize,
}

impl Chunk {
    fn start(glyph: &Glyph) -> Self {
        Chunk {
            style: glyph.style,
            class: glyph.single_char().map_or(GlyphClass::Other, glyph_class),
            column: glyph.column,
            end: glyph.column + glyph.cells,
            text: glyph.text.clone(),
            glyphs: 1,
        }
    }

    /// Adds `glyph` when it continues this chunk: same style and class, right after it or
    /// after one blank cell inside undecorated text (written as a space, which draws nothing,
    /// so words of a sentence share one element).
    fn try_extend(&mut self, glyph: &Glyph) -> bool {
        let Some(ch) = glyph.single_char() else {
            return false;
        };
        if glyph.style != self.style || self.class == GlyphClass::Other {
            return false;
        }
        if glyph_class(ch) != self.class {
            return false;
        }
        let bridges_a_blank = glyph.column == self.end + 1
            && self.class == GlyphClass::Text
            && !self.style.decorated();
        if glyph.column != self.end && !bridges_a_blank {
            return false;
        }
        if bridges_a_blank {
            self.text.push(' ');
        }
        self.text.push(ch);
        self.end = glyph.column + 1;
        self.glyphs += 1;
        true
    }
}

fn chunk_row(glyphs: &[Glyph]) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    for glyph in glyphs {
        let extended = chunks
            .last_mut()
            .is_some_and(|chunk| chunk.try_extend(glyph));
        if !extended {
            chunks.push(Chunk::start(glyph));
        }
    }
    chunks
}

/// Text elements grouped by style, groups in order of first appearance.
#[derive(Default)]
struct TextGroups {
    index: HashMap<TextStyle, usize>,
    groups: Vec<(TextStyle, String)>,
}

impl TextGroups {
    fn add(&mut self, chunk: &Chunk, row: usize, grid: &Grid) {
        let slot = *self.index.entry(chunk.style).or_insert_with(|| {
            self.groups.push((chunk.style, String::new()));
            self.groups.len() - 1
        });
        let Some((_, elements)) = self.groups.get_mut(slot) else {
            return;
        };
        let x = number(chunk.column as f64 * grid.cell_width);
        let y = number(row as f64 * grid.cell_height + grid.baseline);
        let _ = write!(elements, "<text x=\"{x}\" y=\"{y}\"");
        if chunk.glyphs > 1 {
            let length = (chunk.end - chunk.column) as f64 * grid.cell_width;
            let _ = write!(elements, " textLength=\"{}\"", number(length));
        }
        let _ = writeln!(elements, ">{}</text>", escape(&chunk.text));
    }

    fn write(&self, svg: &mut String) {
        for (style, elements) in &self.groups {
            let _ = writeln!(svg, "<g{}>", style.attributes());
            svg.push_str(elements);
            svg.push_str("</g>\n");
        }
    }
}

/// A rectangle of one background colour, in cells.
struct Block {
    column: usize,
    end: usize,
    row: usize,
    rows: usize,
    fill: Rgb,
}

/// Background rectangles for the cells whose colour is not the picture's.
#[derive(Default)]
struct BackgroundBlocks {
    blocks: Vec<Block>,
    /// Blocks that reach the last row added, by their columns and colour: a run on the next
    /// row with the same key extends the block downwards.
    open: HashMap<(usize, usize, Rgb), usize>,
}

impl BackgroundBlocks {
    fn add_row(&mut self, row: usize, backgrounds: &[Rgb], picture: Rgb) {
        let mut still_open = HashMap::new();
        let mut column = 0;
        while column < backgrounds.len() {
            let fill = backgrounds[column];
            let end = backgrounds[column..]
                .iter()
                .position(|&other| other != fill)
                .map_or(backgrounds.len(), |run| column + run);
            if fill != picture {
                let key = (column, end, fill);
                let slot = match self.open.get(&key) {
                    Some(&slot) => {
                        if let Some(block) = self.blocks.get_mut(slot) {
                            block.rows += 1;
                        }
                        slot
                    }
                    None => {
                        self.blocks.push(Block {
                            column,
                            end,
                            row,
                            rows: 1,
                            fill,
                        });
                        self.blocks.len() - 1
                    }
                };
                still_open.insert(key, slot);
            }
            column = end;
        }
        self.open = still_open;
    }

    /// Writes the blocks grouped by colour (colours in order of first appearance); blocks
    /// never overlap, so the grouping cannot change what is seen.
    fn write(&self, svg: &mut String, grid: &Grid) {
        let mut by_fill: Vec<(Rgb, Vec<&Block>)> = Vec::new();
        for block in &self.blocks {
            match by_fill.iter_mut().find(|(fill, _)| *fill == block.fill) {
                Some((_, blocks)) => blocks.push(block),
                None => by_fill.push((block.fill, vec![block])),
            }
        }
        if by_fill.is_empty() {
            return;
        }
        // Crisp edges: anti-aliased edges of adjacent rectangles would let the picture's
        // background show through as a hairline between them.
        svg.push_str("<g shape-rendering=\"crispEdges\">\n");
        for (fill, blocks) in by_fill {
            let _ = writeln!(svg, "<g fill=\"{}\">", hex(fill));
            for block in blocks {
                let _ = writeln!(
                    svg,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                    number(block.column as f64 * grid.cell_width),
                    number(block.row as f64 * grid.cell_height),
                    number((block.end - block.column) as f64 * grid.cell_width),
                    number(block.rows as f64 * grid.cell_height),
                );
            }
            svg.push_str("</g>\n");
        }
        svg.push_str("</g>\n");
    }
}

/// A coordinate with at most two decimals and no trailing zeros ("8.4", not
/// "8.400000000000002"): short, and the same on every platform.
fn number(value: f64) -> String {
    let fixed = format!("{value:.2}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    match trimmed {
        "-0" | "" => "0".to_string(),
        other => other.to_string(),
    }
}

fn hex((red, green, blue): Rgb) -> String {
    format!("#{red:02x}{green:02x}{blue:02x}")
}

/// Escapes text for XML content and attribute values alike.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::layout::Rect;
    use ratatui::style::{Color, Style};

    use super::*;
    use crate::ui::sample::{SampleBuilder, sample_now};
    use crate::ui::{App, Msg, Theme, draw};

    /// A drawn `<text>` or `<rect>` with the presentation attributes it inherits.
    #[derive(Debug)]
    struct Drawn {
        content: String,
        x: f64,
        y: f64,
        text_length: Option<f64>,
        width: f64,
        height: f64,
        fill: String,
        attributes: Vec<(String, String)>,
    }

    impl Drawn {
        fn inherited(&self, name: &str) -> Option<&str> {
            self.attributes
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        }
    }

    fn parse_drawn(svg: &str, element: &str) -> Vec<Drawn> {
        let document = roxmltree::Document::parse(svg).unwrap();
        let number = |node: roxmltree::Node, name: &str| {
            node.attribute(name)
                .map(|value| value.parse::<f64>().unwrap())
        };
        document
            .descendants()
            .filter(|node| node.has_tag_name(element))
            .map(|node| {
                let mut attributes: Vec<(String, String)> = Vec::new();
                for ancestor in node.ancestors() {
                    for attribute in ancestor.attributes() {
                        if !attributes.iter().any(|(key, _)| key == attribute.name()) {
                            attributes.push((attribute.name().into(), attribute.value().into()));
                        }
                    }
                }
                let fill = attributes
                    .iter()
                    .find(|(key, _)| key == "fill")
                    .map(|(_, value)| value.clone())
                    .unwrap_or_default();
                Drawn {
                    content: node.text().unwrap_or_default().to_string(),
                    x: number(node, "x").unwrap_or(0.0),
                    y: number(node, "y").unwrap_or(0.0),
                    text_length: number(node, "textLength"),
                    width: number(node, "width").unwrap_or(0.0),
                    height: number(node, "height").unwrap_or(0.0),
                    fill,
                    attributes,
                }
            })
            .collect()
    }

    fn texts(svg: &str) -> Vec<Drawn> {
        parse_drawn(svg, "text")
    }

    /// Cell backgrounds, without the rectangle that paints the whole picture.
    fn cell_rects(svg: &str) -> Vec<Drawn> {
        parse_drawn(svg, "rect").into_iter().skip(1).collect()
    }

    fn text_with<'a>(drawn: &'a [Drawn], content: &str) -> &'a Drawn {
        drawn
            .iter()
            .find(|text| text.content == content)
            .unwrap_or_else(|| panic!("no text {content:?} in {drawn:#?}"))
    }

    fn options() -> SvgOptions {
        SvgOptions::default()
    }

    fn sample_screen(width: u16, height: u16) -> Buffer {
        let snapshot = SampleBuilder::new(sample_now()).build();
        let mut app = App::watching();
        app.update(Msg::Snapshot(Arc::new(snapshot.clone())));
        let theme = Theme::default();
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| draw(frame, &app, &snapshot, sample_now(), &theme))
            .unwrap();
        terminal.backend().buffer().clone()
    }

    #[test]
    fn every_modifier_wide_characters_and_markup_symbols_give_well_formed_xml() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 40, 3));
        let modifiers = [
            Modifier::BOLD,
            Modifier::DIM,
            Modifier::ITALIC,
            Modifier::UNDERLINED,
            Modifier::SLOW_BLINK,
            Modifier::RAPID_BLINK,
            Modifier::REVERSED,
            Modifier::CROSSED_OUT,
        ];
        for (column, modifier) in modifiers.into_iter().enumerate() {
            buffer.set_string(
                column as u16 * 2,
                0,
                "m",
                Style::new().add_modifier(modifier),
            );
        }
        buffer.set_string(20, 0, "secret", Style::new().add_modifier(Modifier::HIDDEN));
        buffer.set_string(0, 1, "<&>\"'", Style::new().fg(Color::Red));
        buffer.set_string(6, 1, "日本🚀┌─┐", Style::new());
        let options = SvgOptions {
            title: Some("a <title> & \"quotes\"".to_string()),
            ..options()
        };

        let svg = buffer_to_svg(&buffer, &options);
        let drawn = texts(&svg);

        assert_eq!(text_with(&drawn, "<&>\"'").fill, "#cd0000");
        assert!(drawn.iter().all(|text| !text.content.contains("secret")));
        let document = roxmltree::Document::parse(&svg).unwrap();
        let title = document
            .descendants()
            .find(|node| node.has_tag_name("title"));
        assert_eq!(
            title.and_then(|node| node.text()),
            Some("a <title> & \"quotes\"")
        );
        let modified = |name: &str, value: &str| {
            drawn
                .iter()
                .any(|text| text.content == "m" && text.inherited(name) == Some(value))
        };
        assert!(modified("font-weight", "bold"));
        assert!(modified("opacity", DIM_OPACITY));
        assert!(modified("font-style", "italic"));
        assert!(modified("text-decoration", "underline"));
        assert!(modified("text-decoration", "line-through"));
        for wide in ["日", "本", "🚀"] {
            text_with(&drawn, wide);
        }
        text_with(&drawn, "┌─┐");
    }

    #[test]
    fn control_characters_are_dropped_from_text() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 6, 1));
        let symbols = ["a", "\u{7}", "\u{1b}b", "\u{9b}", "c\u{202e}", "\u{FFFF}"];
        for (column, symbol) in symbols.into_iter().enumerate() {
            buffer[(column as u16, 0)].set_symbol(symbol);
        }

        let svg = buffer_to_svg(&buffer, &options());
        let drawn = texts(&svg);

        // The emptied cells keep their columns: they become the blanks between the letters,
        // and the chunk still spans the five cells from "a" to "c".
        assert_eq!(drawn.len(), 1, "{drawn:#?}");
        assert_eq!(drawn[0].content, "a b c");
        assert_eq!(drawn[0].x, 0.0);
        assert_eq!(drawn[0].text_length, Some(5.0 * options().cell_width));
    }

    #[test]
    fn a_row_of_one_background_is_one_rect() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 30, 3));
        buffer.set_style(Rect::new(0, 1, 30, 1), Style::new().bg(Color::Blue));
        buffer.set_string(3, 1, "some text on the bar", Style::new().fg(Color::White));

        let svg = buffer_to_svg(&buffer, &options());
        let rects = cell_rects(&svg);

        assert_eq!(rects.len(), 1, "{rects:#?}");
        let cell = options();
        assert_eq!(rects[0].fill, "#0000ee");
        assert_eq!(
            (rects[0].x, rects[0].y, rects[0].width, rects[0].height),
            (
                0.0,
                cell.cell_height,
                30.0 * cell.cell_width,
                cell.cell_height
            )
        );
    }

    #[test]
    fn background_runs_split_where_the_colour_changes() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 12, 1));
        buffer.set_style(Rect::new(0, 0, 4, 1), Style::new().bg(Color::Red));
        buffer.set_style(Rect::new(4, 0, 4, 1), Style::new().bg(Color::Green));
        buffer.set_style(Rect::new(10, 0, 2, 1), Style::new().bg(Color::Red));

        let svg = buffer_to_svg(&buffer, &options());
        let rects = cell_rects(&svg);

        let width = options().cell_width;
        let mut runs: Vec<(f64, f64, &str)> = rects
            .iter()
            .map(|rect| (rect.x / width, rect.width / width, rect.fill.as_str()))
            .collect();
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(
            runs,
            [
                (0.0, 4.0, "#cd0000"),
                (4.0, 4.0, "#00cd00"),
                (10.0, 2.0, "#cd0000")
            ]
        );
    }

    #[test]
    fn equal_runs_on_stacked_rows_merge_into_one_rect() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 10, 5));
        buffer.set_style(Rect::new(2, 1, 5, 3), Style::new().bg(Color::Indexed(236)));

        let svg = buffer_to_svg(&buffer, &options());
        let rects = cell_rects(&svg);

        let cell = options();
        assert_eq!(rects.len(), 1, "{rects:#?}");
        assert_eq!(
            (rects[0].x, rects[0].y, rects[0].width, rects[0].height),
            (
                2.0 * cell.cell_width,
                cell.cell_height,
                5.0 * cell.cell_width,
                3.0 * cell.cell_height
            )
        );
    }

    #[test]
    fn cells_in_the_default_background_draw_no_rect() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 10, 2));
        buffer.set_string(0, 0, "plain", Style::new().fg(Color::Yellow));
        let (red, green, blue) = options().background;
        buffer.set_style(
            Rect::new(0, 1, 10, 1),
            Style::new().bg(Color::Rgb(red, green, blue)),
        );

        let svg = buffer_to_svg(&buffer, &options());

        assert!(cell_rects(&svg).is_empty());
    }

    #[test]
    fn named_indexed_rgb_and_reset_colours_become_hex() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 20, 1));
        let cells = [
            ("a", Color::LightBlue, "#5c5cff"),
            ("b", Color::Indexed(9), "#ff0000"),
            ("c", Color::Indexed(16), "#000000"),
            ("d", Color::Indexed(110), "#87afd7"),
            ("e", Color::Indexed(231), "#ffffff"),
            ("f", Color::Indexed(232), "#080808"),
            ("g", Color::Indexed(255), "#eeeeee"),
            ("h", Color::Rgb(0x12, 0xab, 0xef), "#12abef"),
            ("i", Color::Reset, "#d4d4d4"),
        ];
        for (column, (symbol, color, _)) in cells.iter().enumerate() {
            buffer.set_string(column as u16 * 2, 0, symbol, Style::new().fg(*color));
        }
        buffer.set_style(Rect::new(19, 0, 1, 1), Style::new().bg(Color::DarkGray));

        let svg = buffer_to_svg(&buffer, &options());
        let drawn = texts(&svg);

        for (symbol, _, expected) in cells {
            assert_eq!(
                text_with(&drawn, symbol).fill,
                expected,
                "colour of {symbol}"
            );
        }
        let rects = cell_rects(&svg);
        assert_eq!(rects.len(), 1);
        assert_eq!(rects[0].fill, "#7f7f7f");
        let picture = &parse_drawn(&svg, "rect")[0];
        assert_eq!(picture.fill, "#1e1e1e");
    }

    #[test]
    fn reversed_swaps_foreground_and_background() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 8, 2));
        let reversed = Style::new().add_modifier(Modifier::REVERSED);
        buffer.set_string(0, 0, "set", reversed.fg(Color::Green).bg(Color::Blue));
        buffer.set_string(0, 1, "reset", reversed);

        let svg = buffer_to_svg(&buffer, &options());
        let drawn = texts(&svg);
        let rects = cell_rects(&svg);

        let set = text_with(&drawn, "set");
        assert_eq!(set.fill, "#0000ee");
        let reset = text_with(&drawn, "reset");
        assert_eq!(
            reset.fill, "#1e1e1e",
            "default background as the text colour"
        );
        let fills: Vec<&str> = rects.iter().map(|rect| rect.fill.as_str()).collect();
        assert_eq!(fills, ["#00cd00", "#d4d4d4"]);
    }

    #[test]
    fn the_cell_after_a_wide_character_starts_at_its_own_column() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 12, 1));
        buffer.set_string(0, 0, "ab日本x🚀y", Style::new().bg(Color::Red));

        let svg = buffer_to_svg(&buffer, &options());
        let drawn = texts(&svg);

        let width = options().cell_width;
        let columns: Vec<(&str, f64)> = drawn
            .iter()
            .map(|text| (text.content.as_str(), text.x / width))
            .collect();
        assert_eq!(
            columns,
            [
                ("ab", 0.0),
                ("日", 2.0),
                ("本", 4.0),
                ("x", 6.0),
                ("🚀", 7.0),
                ("y", 9.0)
            ]
        );
        // The cells a wide character covers keep its background, as on a terminal.
        let rects = cell_rects(&svg);
        assert_eq!(rects.len(), 1);
        assert_eq!(rects[0].width, 10.0 * width);
    }

    #[test]
    fn chunks_are_stretched_to_their_cells_and_split_between_fonts() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 30, 1));
        buffer.set_string(0, 0, "┌──┐ up 3 ✓ ⠁⠂⠄", Style::new());

        let svg = buffer_to_svg(&buffer, &options());
        let drawn = texts(&svg);

        let width = options().cell_width;
        let chunks: Vec<(&str, f64, Option<f64>)> = drawn
            .iter()
            .map(|text| {
                let cells = text.text_length.map(|length| length / width);
                (text.content.as_str(), text.x / width, cells)
            })
            .collect();
        assert_eq!(
            chunks,
            [
                ("┌──┐", 0.0, Some(4.0)),
                ("up 3", 5.0, Some(4.0)),
                ("✓", 10.0, None),
                ("⠁⠂⠄", 12.0, Some(3.0)),
            ]
        );
    }

    #[test]
    fn underlined_blanks_are_drawn_so_the_line_continues() {
        let mut buffer = Buffer::empty(Rect::new(0, 0, 12, 1));
        buffer.set_string(
            0,
            0,
            "a  b",
            Style::new().add_modifier(Modifier::UNDERLINED),
        );
        buffer.set_string(6, 0, "c  d", Style::new());

        let svg = buffer_to_svg(&buffer, &options());
        let drawn = texts(&svg);

        let underlined = text_with(&drawn, "a  b");
        assert_eq!(underlined.text_length, Some(4.0 * options().cell_width));
        // Undecorated, a two-cell gap starts a new chunk at its own column.
        assert_eq!(text_with(&drawn, "d").x, 9.0 * options().cell_width);
    }

    #[test]
    fn the_same_buffer_gives_the_same_bytes() {
        let buffer = sample_screen(120, 40);

        let first = buffer_to_svg(&buffer, &options());
        let second = buffer_to_svg(&buffer.clone(), &options());

        assert_eq!(first, second);
        assert!(texts(&first).len() > 50, "the sample screen draws text");
    }

    #[test]
    fn size_is_columns_and_rows_times_the_cell_size() {
        let buffer = Buffer::empty(Rect::new(0, 0, 7, 3));
        let options = SvgOptions::with_font_size(20.0);

        let svg = buffer_to_svg(&buffer, &options);

        let document = roxmltree::Document::parse(&svg).unwrap();
        let root = document.root_element();
        assert_eq!(root.attribute("width"), Some("84"));
        assert_eq!(root.attribute("height"), Some("72"));
        assert_eq!(root.attribute("viewBox"), Some("0 0 84 72"));
        assert_eq!(root.attribute("font-size"), Some("20"));
    }

    #[test]
    fn unusable_sizes_fall_back_to_the_defaults() {
        let buffer = Buffer::empty(Rect::new(0, 0, 2, 1));
        let options = SvgOptions {
            font_size: f64::NAN,
            cell_width: -1.0,
            cell_height: 0.0,
            ..options()
        };

        let svg = buffer_to_svg(&buffer, &options);

        let document = roxmltree::Document::parse(&svg).unwrap();
        assert_eq!(document.root_element().attribute("width"), Some("18"));
        assert_eq!(document.root_element().attribute("height"), Some("18"));
    }

    #[test]
    fn a_full_sample_screen_stays_small() {
        let buffer = sample_screen(160, 48);

        let svg = buffer_to_svg(&buffer, &options());

        let cells = 160 * 48;
        let drawn = texts(&svg);
        assert!(drawn.len() < cells / 4, "{} text elements", drawn.len());
        // About 43 kB today; one element per cell would be several times the budget.
        assert!(svg.len() < 80_000, "{} bytes", svg.len());
    }
}
