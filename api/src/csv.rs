//! CSV for people's spreadsheets (RFC 4180): lines of quoted-when-needed fields, each field
//! first neutralised against formula injection. Spreadsheets run a cell that starts with `=`,
//! `+`, `-` or `@` (or a tab or carriage return before one) as a formula, so such text gets a
//! leading `'` (OWASP's rule); plain numbers, such as a negative value `-1.5`, stay numbers.
//! Every CSV writer of the API goes through [`line()`].

use std::borrow::Cow;

/// Characters that make a spreadsheet read a cell as a formula when they come first.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Returns the cell as a spreadsheet should show it: text that would start a formula gets a
/// leading `'`; anything else, and plain decimal numbers such as `-1.5`, unchanged.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) && !is_plain_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Whether `text` is a plain decimal number: an optional sign, digits, and optionally a point
/// and more digits.
fn is_plain_number(text: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_digit());
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    match unsigned.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(unsigned),
    }
}

/// One CSV line ending in CRLF: every field neutralised, then quoted if it holds a comma, a
/// quote or a line break, with quotes doubled.
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|field| {
            let field = neutralise(field.as_ref());
            if field.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", field.replace('"', "\"\""))
            } else {
                field.into_owned()
            }
        })
        .collect();
    format!("{}\r\n", quoted.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let fields = ["plain", "a,b", "say \"hi\""];
        assert_eq!(line(&fields), "plain,\"a,b\",\"say \"\"hi\"\"\"\r\n");
    }

    #[test]
    fn text_that_starts_a_formula_is_neutralised_and_numbers_are_not() {
        for formula in [
            "=HYPERLINK(\"http://x\")",
            "+1+2",
            "-2+3",
            "@SUM(A1)",
            "\t=1",
            "-",
            "+",
            "-1.",
            "-.5",
            "-1e5",
            "--1",
        ] {
            assert_eq!(neutralise(formula), format!("'{formula}"), "{formula:?}");
        }
        for kept in [
            "-1.5",
            "+2",
            "-0",
            "12",
            "1.25",
            "plain",
            "",
            "a=b",
            "2026-01-01",
        ] {
            assert_eq!(neutralise(kept), kept, "{kept:?}");
        }
        assert_eq!(
            line(&["=1,2", "-1.5", "\r@x"]),
            "\"'=1,2\",-1.5,\"'\r@x\"\r\n"
        );
    }
}
