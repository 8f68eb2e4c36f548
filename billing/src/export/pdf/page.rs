//! Pages of A4 written top to bottom: text placed at a cursor that moves down, a new page when
//! the next block does not fit, and each page's footer written once the number of pages is
//! known.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use super::font::{Font, encode};

/// A4, in points.
pub(super) const WIDTH: f32 = 595.0;
const HEIGHT: f32 = 842.0;
/// The left and right margin.
pub(super) const MARGIN: f32 = 50.0;
/// Where the first line of a page stands.
const TOP: f32 = HEIGHT - 56.0;
/// Below this, a page is full (the footer lives under it).
const BOTTOM: f32 = 64.0;
/// The height of text a page holds.
pub(super) const CAPACITY: f32 = TOP - BOTTOM;

/// Text of one style: a font, a size and a grey (0 black, 1 white).
#[derive(Debug, Clone, Copy)]
pub(super) struct Style {
    pub(super) font: Font,
    pub(super) size: f32,
    pub(super) gray: f32,
}

/// The document being written: finished pages, the current one, and the cursor on it.
pub(super) struct Pages {
    done: Vec<Content>,
    current: Content,
    /// The baseline of the next line of text.
    y: f32,
}

impl Pages {
    /// Starts with an empty first page.
    pub(super) fn new() -> Self {
        Self {
            done: Vec::new(),
            current: Content::new(),
            y: TOP,
        }
    }

    /// The baseline of the next line.
    pub(super) fn y(&self) -> f32 {
        self.y
    }

    /// Moves the cursor down.
    pub(super) fn down(&mut self, by: f32) {
        self.y -= by;
    }

    /// Whether a block `height` tall fits on the rest of the page.
    pub(super) fn fits(&self, height: f32) -> bool {
        self.y - height >= BOTTOM
    }

    /// Ends the page and starts the next one, cursor at its top.
    pub(super) fn next_page(&mut self) {
        let full = std::mem::replace(&mut self.current, Content::new());
        self.done.push(full);
        self.y = TOP;
    }

    /// Writes text with its left end at `x` on the line at `y`.
    pub(super) fn text(&mut self, x: f32, y: f32, style: Style, text: &str) {
        write_text(&mut self.current, x, y, style, text);
    }

    /// Writes text with its right end at `right`.
    pub(super) fn text_right(&mut self, right: f32, y: f32, style: Style, text: &str) {
        let x = right - style.font.width(text, style.size);
        write_text(&mut self.current, x, y, style, text);
    }

    /// Draws a horizontal rule from margin to margin at `y`.
    pub(super) fn rule(&mut self, y: f32, gray: f32) {
        write_rule(&mut self.current, y, gray);
    }

    /// Writes the document: every page with the footer `footer` and its number, both fonts,
    /// and `title` as the document's title.
    pub(super) fn finish(mut self, title: &str, footer: &str) -> Vec<u8> {
        self.done.push(self.current);
        let count = self.done.len();
        let catalog_id = Ref::new(1);
        let tree_id = Ref::new(2);
        let info_id = Ref::new(3);
        let font_ids = [Ref::new(4), Ref::new(5)];
        let page_ids: Vec<Ref> = (0..count).map(|index| Ref::new(page_ref(index))).collect();
        let mut pdf = Pdf::new();
        pdf.catalog(catalog_id).pages(tree_id);
        pdf.pages(tree_id)
            .kids(page_ids.iter().copied())
            .count(i32::try_from(count).unwrap_or(i32::MAX));
        pdf.document_info(info_id)
            .title(TextStr(title))
            .producer(TextStr("Tally"));
        for (font, id) in Font::ALL.into_iter().zip(font_ids) {
            pdf.type1_font(id)
                .base_font(font.base_font())
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        let footer_style = Style {
            font: Font::Regular,
            size: 8.0,
            gray: 0.45,
        };
        for (index, (mut content, page_id)) in self
            .done
            .into_iter()
            .zip(page_ids.iter().copied())
            .enumerate()
        {
            let content_id = Ref::new(page_ref(index) + 1);
            write_rule(&mut content, BOTTOM - 16.0, 0.75);
            write_text(&mut content, MARGIN, BOTTOM - 28.0, footer_style, footer);
            let numbered = format!("Page {} of {count}", index + 1);
            let x = WIDTH - MARGIN - footer_style.font.width(&numbered, footer_style.size);
            write_text(&mut content, x, BOTTOM - 28.0, footer_style, &numbered);
            let mut page = pdf.page(page_id);
            page.media_box(Rect::new(0.0, 0.0, WIDTH, HEIGHT))
                .parent(tree_id)
                .contents(content_id);
            let mut resources = page.resources();
            let mut fonts = resources.fonts();
            for (font, id) in Font::ALL.into_iter().zip(font_ids) {
                fonts.pair(font.resource(), id);
            }
            fonts.finish();
            resources.finish();
            page.finish();
            pdf.stream(content_id, &content.finish());
        }
        pdf.finish()
    }
}

fn write_text(content: &mut Content, x: f32, y: f32, style: Style, text: &str) {
    content
        .set_fill_gray(style.gray)
        .begin_text()
        .set_font(style.font.resource(), style.size)
        .next_line(x, y)
        .show(Str(&encode(text)))
        .end_text();
}

fn write_rule(content: &mut Content, y: f32, gray: f32) {
    content
        .set_stroke_gray(gray)
        .set_line_width(0.5)
        .move_to(MARGIN, y)
        .line_to(WIDTH - MARGIN, y)
        .stroke();
}

/// The object number of a page; its content stream is the next one.
fn page_ref(index: usize) -> i32 {
    i32::try_from(6 + 2 * index).unwrap_or(i32::MAX)
}
