//! The charts' one font, a Latin subset of DejaVu Sans committed in
//! `assets/fonts` (licence beside it). plotters measures text with it (its
//! `ab_glyph` backend, registered once), and every SVG carries it as a WOFF
//! `@font-face`, so that a viewer shows the text with the glyphs it was laid
//! out with, whatever fonts its machine has. The text stays `<text>`:
//! selectable, searchable and readable by screen readers.

use std::io::Write as _;
use std::sync::OnceLock;

use base64::Engine as _;
use plotters::style::FontStyle;

/// The `font-family` of every `<text>`: the embedded face first, then any
/// sans-serif for a viewer that ignores `@font-face`. It is also the name the
/// face is registered under in plotters.
pub const FAMILY: &str = "DejaVu Sans, sans-serif";

/// The subset of DejaVu Sans (TrueType).
pub static TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers [`TTF`] with plotters under [`FAMILY`], once per process.
pub fn register() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, TTF)
            .map_err(|_| "the embedded chart font is not a font".to_string())
    })
    .clone()
}

/// The `<defs>` to put first in every chart: the font as a WOFF data URL.
pub fn defs() -> &'static str {
    static DEFS: OnceLock<String> = OnceLock::new();
    DEFS.get_or_init(|| {
        let (mime, data) = match woff(TTF) {
            Some(w) => ("font/woff", w),
            None => ("font/ttf", TTF.to_vec()),
        };
        format!(
            "<defs><style>@font-face{{font-family:\"DejaVu Sans\";src:url(data:{mime};base64,{}) format(\"{}\");}}</style></defs>\n",
            base64::engine::general_purpose::STANDARD.encode(data),
            if mime == "font/woff" { "woff" } else { "truetype" },
        )
    })
}

/// WOFF 1.0 of a TrueType font: its tables, each zlib-compressed when that
/// makes it smaller. `None` when `ttf` is not a well-formed sfnt.
pub fn woff(ttf: &[u8]) -> Option<Vec<u8>> {
    let u16_at = |o: usize| ttf.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let u32_at = |o: usize| ttf.get(o..o + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let flavor = u32_at(0)?;
    let n = usize::from(u16_at(4)?);
    let mut tables = Vec::with_capacity(n);
    for i in 0..n {
        let rec = 12 + 16 * i;
        let (tag, checksum) = (u32_at(rec)?, u32_at(rec + 4)?);
        let (offset, len) = (u32_at(rec + 8)? as usize, u32_at(rec + 12)? as usize);
        tables.push((tag, checksum, ttf.get(offset..offset.checked_add(len)?)?));
    }
    let pad4 = |n: usize| (n + 3) & !3;
    let sfnt_size = 12 + 16 * n + tables.iter().map(|t| pad4(t.2.len())).sum::<usize>();
    let start = 44 + 20 * n;
    let mut dir = Vec::with_capacity(20 * n);
    let mut body: Vec<u8> = Vec::new();
    for (tag, checksum, data) in tables {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(data).ok()?;
        let z = z.finish().ok()?;
        let stored: &[u8] = if z.len() < data.len() { &z } else { data };
        body.resize(pad4(body.len()), 0);
        for v in [
            tag,
            (start + body.len()) as u32,
            stored.len() as u32,
            data.len() as u32,
            checksum,
        ] {
            dir.extend_from_slice(&v.to_be_bytes());
        }
        body.extend_from_slice(stored);
    }
    body.resize(pad4(body.len()), 0);
    let mut out = Vec::with_capacity(start + body.len());
    out.extend_from_slice(b"wOFF");
    out.extend_from_slice(&flavor.to_be_bytes());
    out.extend_from_slice(&((start + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(sfnt_size as u32).to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    // No metadata, no private data.
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(&dir);
    out.extend_from_slice(&body);
    Some(out)
}
