//! Reading a drawn buffer back as text, row by row, the way a user reads the screen.

use ratatui::buffer::Buffer;

/// The buffer's symbols, one line per row.
pub fn text_of(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        for x in 0..area.width {
            out.push_str(buffer[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}
