//! The two standard fonts the layout uses, their glyph widths (Adobe's Helvetica and
//! Helvetica-Bold metrics, in thousandths of the font size) and WinAnsi encoding.

/// One of the built-in fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
}

impl Font {
    /// The name of the font in a page's resources.
    pub fn resource(self) -> &'static [u8] {
        match self {
            Font::Regular => b"F1",
            Font::Bold => b"F2",
        }
    }
}

/// Widths of the printable ASCII characters 0x20..=0x7E.
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

const HELVETICA_BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0..?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P.._
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // `..o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p..~
];

fn width_of(c: char, font: Font) -> u16 {
    let table = match font {
        Font::Regular => &HELVETICA,
        Font::Bold => &HELVETICA_BOLD,
    };
    match c as u32 {
        n @ 0x20..=0x7E => table[(n - 0x20) as usize],
        // Accented letters and other Latin-1 glyphs: close to a lower-case letter.
        _ => 556,
    }
}

/// The width of `s` in points at `size`.
pub fn text_width(s: &str, font: Font, size: f32) -> f32 {
    let units: u32 = s.chars().map(|c| u32::from(width_of(c, font))).sum();
    units as f32 * size / 1000.0
}

/// `s` in WinAnsi (Windows-1252): Latin-1 as is, the typographic extras at 0x80..0x9F, anything
/// else (and control characters) as `?`.
pub fn win_ansi(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| match c as u32 {
            n @ 0x20..=0x7E => n as u8,
            n @ 0xA0..=0xFF => n as u8,
            _ => match c {
                '€' => 0x80,
                '‚' => 0x82,
                '„' => 0x84,
                '…' => 0x85,
                '‰' => 0x89,
                '‘' => 0x91,
                '’' => 0x92,
                '“' => 0x93,
                '”' => 0x94,
                '•' => 0x95,
                '–' => 0x96,
                '—' => 0x97,
                '™' => 0x99,
                'Š' => 0x8A,
                'š' => 0x9A,
                'Œ' => 0x8C,
                'œ' => 0x9C,
                'Ž' => 0x8E,
                'ž' => 0x9E,
                'Ÿ' => 0x9F,
                _ => b'?',
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_encoding() {
        assert_eq!(text_width("0", Font::Regular, 10.0), 5.56);
        assert!(text_width("W", Font::Bold, 10.0) > text_width("i", Font::Bold, 10.0));
        assert_eq!(win_ansi("Aé€–×"), vec![b'A', 0xE9, 0x80, 0x96, 0xD7]);
        assert_eq!(win_ansi("日\u{7}"), vec![b'?', b'?']);
    }
}
