//! Draws an SVG chart of loadcheck's to a PNG, with the charts' embedded
//! font alone (no system font), on white: scripts/example-reports uses it
//! so a reviewer can look at every chart without an SVG viewer.
//!
//!   svg2png IN.svg OUT.png

use std::sync::Arc;

use resvg::{tiny_skia, usvg};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: svg2png IN.svg OUT.png");
        std::process::exit(2);
    };
    if let Err(e) = convert(input, output) {
        eprintln!("svg2png: {input}: {e}");
        std::process::exit(1);
    }
}

fn convert(input: &str, output: &str) -> Result<(), String> {
    let svg = std::fs::read_to_string(input).map_err(|e| e.to_string())?;
    let mut db = usvg::fontdb::Database::new();
    db.load_font_data(loadcheck::report::svg::FONT.to_vec());
    let opt = usvg::Options {
        fontdb: Arc::new(db),
        font_family: "DejaVu Sans".to_string(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(&svg, &opt).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("the chart has no size")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.save_png(output).map_err(|e| e.to_string())
}
