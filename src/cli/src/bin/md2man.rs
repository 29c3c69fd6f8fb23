//! Build tool (not installed): turns one of docs/*.md into a man page, so that socketbox(8) and
//! sockswap-rules(5) are the documentation itself and cannot drift from it.
//!
//!     md2man NAME SECTION SUMMARY FILE.md [SYNOPSIS_FILE] > NAME.SECTION
//!
//! Handles the Markdown the docs use: headings, paragraphs, indented and fenced code, bullet and
//! numbered lists, pipe tables (rendered as tagged paragraphs, which never overflow the page the
//! way wide tbl tables do), inline code, emphasis and links. The first `# ` heading is replaced by
//! the NAME section; SYNOPSIS_FILE (e.g. the program's --help output) becomes the SYNOPSIS.

use std::process::ExitCode;

/// Text escaped for roff: backslashes, hyphens (so options copy as ASCII minus), a leading control
/// character, and non-ASCII punctuation as named glyphs (which have ASCII renderings, so the
/// page reads the same in a C locale).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\e"),
            '-' => out.push_str("\\-"),
            '\u{2014}' => out.push_str("\\(em"),
            '\u{2013}' => out.push_str("\\(en"),
            '\u{2026}' => out.push_str("..."),
            '\u{2192}' => out.push_str("\\(->"),
            '\u{00d7}' => out.push_str("\\(mu"),
            '\u{2264}' => out.push_str("\\(<="),
            '\u{2265}' => out.push_str("\\(>="),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("\\[u{:04X}]", u32::from(c))),
        }
    }
    let s = out;
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// Inline Markdown to roff fonts: `code` and **strong** bold, *em* italic, [text](url) as text.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('`') {
            if let Some(end) = r.find('`') {
                out.push_str(&format!("\\fB{}\\fR", escape(&r[..end])));
                rest = &r[end + 1..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix("**") {
            if let Some(end) = r.find("**") {
                out.push_str(&format!("\\fB{}\\fR", inline(&r[..end])));
                rest = &r[end + 2..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('*') {
            if let Some(end) = r.find('*').filter(|&e| e > 0) {
                out.push_str(&format!("\\fI{}\\fR", inline(&r[..end])));
                rest = &r[end + 1..];
                continue;
            }
        }
        if let Some(r) = rest.strip_prefix('[') {
            if let Some(close) = r.find("](") {
                if let Some(end) = r[close..].find(')') {
                    out.push_str(&inline(&r[..close]));
                    rest = &r[close + end + 1..];
                    continue;
                }
            }
        }
        let first = rest.chars().next().map_or(1, char::len_utf8);
        let next = rest[first..]
            .find(['`', '*', '['])
            .map_or(rest.len(), |i| i + first);
        out.push_str(&escape(&rest[..next]));
        rest = &rest[next..];
    }
    out
}

fn cells(row: &str) -> Vec<String> {
    let row = row.trim().trim_start_matches('|').trim_end_matches('|');
    // A `|` inside backquotes belongs to the cell.
    let (mut cells, mut cur, mut in_code) = (Vec::new(), String::new(), false);
    let mut chars = row.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' if chars.peek() == Some(&'|') => cur.push(chars.next().unwrap_or('|')),
            '`' => {
                in_code = !in_code;
                cur.push(ch);
            }
            '|' if !in_code => cells.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(ch),
        }
    }
    cells.push(cur.trim().to_owned());
    cells
}

fn literal(out: &mut String, lines: &[&str]) {
    out.push_str(".PP\n.RS 4\n.nf\n");
    for l in lines {
        out.push_str(&format!("{}\n", escape(l)));
    }
    out.push_str(".fi\n.RE\n");
}

fn convert(name: &str, section: &str, summary: &str, md: &str, synopsis: Option<&str>) -> String {
    let mut out = format!(
        ".TH {} {section} \"\" \"sockswap {}\"\n.SH NAME\n{} \\- {}\n",
        name.to_uppercase(),
        env!("CARGO_PKG_VERSION"),
        escape(name),
        escape(summary)
    );
    if let Some(syn) = synopsis {
        out.push_str(".SH SYNOPSIS\n");
        literal(&mut out, &syn.lines().collect::<Vec<_>>());
    }
    out.push_str(".SH DESCRIPTION\n");
    let lines: Vec<&str> = md.lines().collect();
    let mut i = 0;
    let mut seen_title = false;
    while i < lines.len() {
        let line = lines[i];
        let t = line.trim();
        if t.is_empty() {
            i += 1;
        } else if t.starts_with("<!--") {
            while i < lines.len() && !lines[i].contains("-->") {
                i += 1;
            }
            i += 1;
        } else if let Some(h) = line.strip_prefix("# ") {
            if seen_title {
                out.push_str(&format!(".SH \"{}\"\n", inline(h).to_uppercase()));
            }
            seen_title = true;
            i += 1;
        } else if let Some(h) = line.strip_prefix("## ") {
            out.push_str(&format!(".SH \"{}\"\n", inline(h).to_uppercase()));
            i += 1;
        } else if let Some(h) = line.strip_prefix("### ").or(line.strip_prefix("#### ")) {
            out.push_str(&format!(".SS \"{}\"\n", inline(h)));
            i += 1;
        } else if t.starts_with("```") {
            let start = i + 1;
            i = start;
            while i < lines.len() && !lines[i].trim_start().starts_with("```") {
                i += 1;
            }
            literal(&mut out, &lines[start..i.min(lines.len())]);
            i += 1;
        } else if line.starts_with("    ") {
            let start = i;
            while i < lines.len() && (lines[i].starts_with("    ") || lines[i].trim().is_empty()) {
                i += 1;
            }
            let mut end = i;
            while end > start && lines[end - 1].trim().is_empty() {
                end -= 1;
            }
            let block: Vec<&str> = lines[start..end]
                .iter()
                .map(|l| l.get(4..).unwrap_or(""))
                .collect();
            literal(&mut out, &block);
        } else if t.starts_with('|') {
            let header = cells(t);
            i += 1;
            if i < lines.len() && lines[i].trim().starts_with("|-")
                || lines
                    .get(i)
                    .is_some_and(|l| l.trim().starts_with("| -") || l.trim().starts_with("|:"))
            {
                i += 1;
            }
            while i < lines.len() && lines[i].trim().starts_with('|') {
                let row = cells(lines[i]);
                out.push_str(&format!(".TP\n{}\n", inline(row.first().map_or("", |s| s))));
                for (k, cell) in row.iter().enumerate().skip(1) {
                    if k > 1 {
                        out.push_str(".br\n");
                    }
                    if row.len() > 2 {
                        let head = header.get(k).map_or("", |s| s);
                        out.push_str(&format!("\\fI{}\\fR: ", inline(head)));
                    }
                    out.push_str(&format!("{}\n", inline(cell)));
                }
                i += 1;
            }
        } else if t.starts_with("- ") || t.starts_with("* ") || starts_numbered(t) {
            // One list item with its indented continuation lines.
            let (tag, first) = match t.split_once(' ') {
                Some((n, rest)) if starts_numbered(t) => (n.to_owned(), rest),
                _ => ("\\(bu".to_owned(), &t[2..]),
            };
            let indent = line.len() - line.trim_start().len();
            let mut text = vec![first.to_owned()];
            i += 1;
            while i < lines.len()
                && !lines[i].trim().is_empty()
                && lines[i].len() - lines[i].trim_start().len() > indent
            {
                text.push(lines[i].trim().to_owned());
                i += 1;
            }
            out.push_str(&format!(".IP {tag} 4\n{}\n", inline(&text.join(" "))));
        } else {
            let mut text = Vec::new();
            while i < lines.len() {
                let l = lines[i].trim();
                if l.is_empty() || l.starts_with('#') || l.starts_with('|') || l.starts_with("```")
                {
                    break;
                }
                text.push(l);
                i += 1;
            }
            out.push_str(&format!(".PP\n{}\n", inline(&text.join(" "))));
        }
    }
    out
}

fn starts_numbered(t: &str) -> bool {
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && t[digits..].starts_with(". ")
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, section, summary, file, rest @ ..] = args.as_slice() else {
        eprintln!("usage: md2man NAME SECTION SUMMARY FILE.md [SYNOPSIS_FILE]");
        return ExitCode::from(2);
    };
    let read =
        |p: &str| std::fs::read_to_string(p).map_err(|e| eprintln!("md2man: cannot read {p}: {e}"));
    let Ok(md) = read(file) else {
        return ExitCode::from(1);
    };
    let synopsis = match rest.first() {
        Some(p) => match read(p) {
            Ok(s) => Some(s),
            Err(()) => return ExitCode::from(1),
        },
        None => None,
    };
    print!(
        "{}",
        convert(name, section, summary, &md, synopsis.as_deref())
    );
    ExitCode::SUCCESS
}
