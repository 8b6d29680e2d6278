//! The little XML OSS speaks: flat documents of elements with text, read and written without
//! a general XML parser (no attributes, namespaces or mixed content are needed). Shared with
//! the local cloud's OSS emulator.

/// Escapes `&`, `<`, `>`, `"` and `'` for element text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Undoes [`escape`] and decimal/hex character references.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32),
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The raw inner text of every `<tag>…</tag>` in `doc`, in order (not nested in themselves).
/// `<tag/>` counts as empty.
pub fn elements<'a>(doc: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let empty = format!("<{tag}/>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = doc;
    loop {
        let o = rest.find(&open);
        let e = rest.find(&empty);
        match (o, e) {
            (Some(o), e) if e.is_none_or(|e| o < e) => {
                let body = &rest[o + open.len()..];
                let Some(c) = body.find(&close) else { break };
                out.push(&body[..c]);
                rest = &body[c + close.len()..];
            }
            (_, Some(e)) => {
                out.push("");
                rest = &rest[e + empty.len()..];
            }
            _ => break,
        }
    }
    out
}

/// The unescaped text of the first `<tag>` in `doc`.
pub fn text(doc: &str, tag: &str) -> Option<String> {
    elements(doc, tag).first().map(|t| unescape(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flat_documents() {
        let doc = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>a &lt;b&gt; &amp; &#39;c&#x27;</Message>\
                   <Empty/><P><N>1</N></P><P><N>2</N></P></Error>";
        assert_eq!(text(doc, "Code").as_deref(), Some("NoSuchKey"));
        assert_eq!(text(doc, "Message").as_deref(), Some("a <b> & 'c'"));
        assert_eq!(text(doc, "Empty").as_deref(), Some(""));
        assert_eq!(text(doc, "Missing"), None);
        let parts: Vec<String> = elements(doc, "P").iter().filter_map(|p| text(p, "N")).collect();
        assert_eq!(parts, ["1", "2"]);
        assert_eq!(unescape(&escape("x<&>\"'y")), "x<&>\"'y");
    }
}
