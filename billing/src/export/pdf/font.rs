//! The two fonts of invoice PDFs, Helvetica and Helvetica Bold: standard fonts every PDF
//! reader has, so none is embedded. Text is written in WinAnsiEncoding (Windows-1252), which
//! covers Western European names, `€`, `–` and `×`; any other character is written `?`.
//! Lines are measured with the fonts' advance widths (Adobe's AFM metrics) to align numbers
//! on the right and to wrap text within its column.

use pdf_writer::Name;

/// A font of the invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica Bold.
    Bold,
}

impl Font {
    /// Both fonts.
    pub(super) const ALL: [Font; 2] = [Font::Regular, Font::Bold];

    /// The name a page's resources give it.
    pub(super) fn resource(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"F1"),
            Font::Bold => Name(b"F2"),
        }
    }

    /// Its PostScript name.
    pub(super) fn base_font(self) -> Name<'static> {
        match self {
            Font::Regular => Name(b"Helvetica"),
            Font::Bold => Name(b"Helvetica-Bold"),
        }
    }

    /// The width of text at a size, in points.
    pub(super) fn width(self, text: &str, size: f32) -> f32 {
        let thousandths: u32 = encode(text)
            .into_iter()
            .map(|byte| u32::from(self.advance(byte)))
            .sum();
        thousandths as f32 * size / 1000.0
    }

    /// The advance of one WinAnsi character, in thousandths of the size.
    fn advance(self, byte: u8) -> u16 {
        let table = match self {
            Font::Regular => &REGULAR,
            Font::Bold => &BOLD,
        };
        match byte {
            b' '..=b'~' => table[usize::from(byte - b' ')],
            0x80 | 0x96 => 556,
            0xB7 => 278,
            0xD7 => 584,
            // Accented capitals are wider than most letters: measured generously, text wraps
            // a little early rather than running into the next column.
            _ => 722,
        }
    }
}

/// Helvetica's advances of the characters from space to `~`.
const REGULAR: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0 to ?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @ to O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P to _
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // ` to o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p to ~
];

/// Helvetica Bold's advances of the characters from space to `~`.
const BOLD: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278,
    278, // space to /
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0 to ?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @ to O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P to _
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // ` to o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p to ~
];

/// Text in WinAnsiEncoding: ASCII and Latin-1 as they are, the typographic characters
/// Windows-1252 adds in 0x80–0x9F, control characters as spaces, anything else `?`.
pub(super) fn encode(text: &str) -> Vec<u8> {
    text.chars()
        .map(|character| match character {
            ' '..='~' | '\u{A0}'..='\u{FF}' => u8::try_from(u32::from(character)).unwrap_or(b'?'),
            _ if character.is_control() => b' ',
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8A,
            '‹' => 0x8B,
            'Œ' => 0x8C,
            'Ž' => 0x8E,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9A,
            '›' => 0x9B,
            'œ' => 0x9C,
            'ž' => 0x9E,
            'Ÿ' => 0x9F,
            _ => b'?',
        })
        .collect()
}

/// Breaks text into lines no wider than `width` at `size`: between words where it can, inside
/// a word too long for a line of its own.
pub(super) fn wrap(font: Font, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ').filter(|word| !word.is_empty()) {
        let joined = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if font.width(&joined, size) <= width {
            current = joined;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        for character in word.chars() {
            let mut longer = current.clone();
            longer.push(character);
            if !current.is_empty() && font.width(&longer, size) > width {
                lines.push(std::mem::take(&mut current));
                current.push(character);
            } else {
                current = longer;
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn western_text_is_written_in_win_ansi_and_the_rest_as_question_marks() {
        assert_eq!(
            encode("Zoë’s 12,50 € – 3 × 4"),
            b"Zo\xEB\x92s 12,50 \x80 \x96 3 \xD7 4"
        );
        assert_eq!(encode("東京\tx"), b"?? x");
    }

    #[test]
    fn widths_follow_the_metrics_and_wrapping_keeps_to_the_width() {
        // Helvetica's digits are 556 thousandths wide, its period 278.
        assert!((Font::Regular.width("12.50", 10.0) - 25.02).abs() < 0.001);
        assert!(Font::Bold.width("Wide", 10.0) > Font::Regular.width("Wide", 10.0));
        let lines = wrap(
            Font::Regular,
            "Tokens of the large model, metered per request",
            9.0,
            100.0,
        );
        assert_eq!(
            lines,
            ["Tokens of the large", "model, metered per", "request"]
        );
        let long = wrap(Font::Regular, &"9".repeat(40), 9.0, 50.0);
        assert!(long.len() > 1);
        assert!(
            long.iter()
                .all(|line| Font::Regular.width(line, 9.0) <= 50.0)
        );
        assert_eq!(long.concat(), "9".repeat(40));
        assert_eq!(wrap(Font::Regular, "", 9.0, 50.0), [""]);
    }
}
